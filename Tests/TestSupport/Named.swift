import Core
import Foundation
import Provisioning
import Testing

/// A private named started by `scripts/named.sh` for one suite (zones
/// semail.email and the dynamic dyn.semail.test), stopped and removed after.
public final class Named: ScriptedService {
    public let dir: String
    public let env: [String: String]

    @TaskLocal public static var current: Named?
    public static let script = "named"
    public static func withCurrent(_ s: Named, _ body: () async throws -> Void) async throws {
        try await $current.withValue(s) { try await body() }
    }
    public init(dir: String, env: [String: String]) { self.dir = dir; self.env = env }

    public var port: String { env["DNS_PORT"]! }
    public var rndcPort: String { env["RNDC_PORT"]! }
    public var rndcKey: String { env["RNDC_KEY"]! }
    public var zoneFile: String { env["ZONE_FILE"]! }
    public var dynZoneFile: String { env["DYN_ZONE_FILE"]! }

    /// The `[dns]` section for a zone of this server.
    public func dnsSection(
        zone: String = "semail.email", file: String? = nil, mxHost: String? = nil, rndcPort: String? = nil
    ) -> String {
        """
        [dns]
        zone = "\(zone)"
        zone_file = "\(file ?? zoneFile)"
        mx_host = "\(mxHost ?? "mx.\(zone).")"
        rndc_server = "127.0.0.1"
        rndc_port = \(rndcPort ?? self.rndcPort)
        rndc_key = "\(rndcKey)"
        resolver = "127.0.0.1:\(port)"
        """
    }

    /// `dig +short` against this server.
    public func dig(_ name: String, _ type: String) throws -> [String] {
        let r = try ProcessRunner().run(["dig", "@127.0.0.1", "-p", port, name, type, "+short", "+norecurse"])
        return r.text.split(separator: "\n").map(String.init)
    }

    public func serial(_ zone: String = "semail.email") throws -> UInt32 {
        let soa = try dig(zone, "SOA").first ?? ""
        return UInt32(soa.split(separator: " ")[2])!
    }

    public func rndc(_ args: [String]) throws {
        try ProcessRunner().run(["rndc", "-s", "127.0.0.1", "-p", rndcPort, "-k", rndcKey] + args)
    }
}

/// A config file with only what a test needs (no LDAP is contacted).
public func writeConfig(_ dir: String, _ body: String) throws -> String {
    let path = "\(dir)/semail-\(UUID().uuidString.prefix(6)).toml"
    try "[state]\ndir = \"\(dir)/state\"\n\n\(body)\n".write(toFile: path, atomically: true, encoding: .utf8)
    return path
}

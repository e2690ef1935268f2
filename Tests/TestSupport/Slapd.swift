import Core
import Foundation
import Provisioning
import Testing

/// A private slapd started by `scripts/slapd.sh` for one suite, stopped and
/// removed afterwards (also when the suite fails).
public final class Slapd: ScriptedService {
    public let dir: String
    public let env: [String: String]

    @TaskLocal public static var current: Slapd?
    public static let script = "slapd"
    public static func withCurrent(_ s: Slapd, _ body: () async throws -> Void) async throws {
        try await $current.withValue(s) { try await body() }
    }
    public init(dir: String, env: [String: String]) { self.dir = dir; self.env = env }

    public var uri: String { env["LDAP_URI"]! }
    public var ldapiURI: String { env["LDAPI_URI"]! }
    /// ldaps:// on its own port (the test CA's certificate).
    public var ldapsURI: String { env["LDAPS_URI"]! }
    public var adminDN: String { env["LDAP_ADMIN_DN"]! }
    public var secretFile: String { env["LDAP_SECRET"]! }
    public var caFile: String { env["LDAP_CA"]! }
    public var adminPassword: [UInt8] { Array(FileManager.default.contents(atPath: secretFile)!) }
    public var pid: Int32 {
        Int32(
            ((try? String(contentsOfFile: "\(dir)/slapd.pid", encoding: .utf8)) ?? "").trimmingCharacters(
                in: .whitespacesAndNewlines)) ?? 0
    }

    /// A configuration pointing at this server, written to `<dir>/semail.toml`.
    public func config(extra: String = "") throws -> (config: Config, path: String) {
        let path = "\(dir)/semail.toml"
        let text = """
            [ldap]
            uri = "\(uri)"
            base = "dc=semail,dc=email"
            people = "ou=Personnes"
            bind_dn = "\(adminDN)"
            bind_password_file = "\(secretFile)"

            [state]
            dir = "\(dir)/state"
            \(extra)
            """
        try text.write(toFile: path, atomically: true, encoding: .utf8)
        let (c, problems) = try Config.parse(text, path: path)
        precondition(problems.isEmpty, "\(problems)")
        return (c, path)
    }
}

/// A unique, valid uid prefix per test so tests sharing a server never collide.
public func uniqueUID(_ prefix: String = "t") -> String {
    "\(prefix)\(UUID().uuidString.prefix(8).lowercased().filter { $0.isLetter || $0.isNumber })"
}

/// Runs the built semailctl binary with arguments (never through a shell).
public func semailctl(_ args: [String], stdin: String? = nil, env: [String: String] = [:]) throws -> ProcessOutput {
    let bin = ProcessInfo.processInfo.environment["SEMAILCTL"] ?? "\(repoRoot)/.build/debug/semailctl"
    var e = ProcessInfo.processInfo.environment
    e.removeValue(forKey: "SEMAIL_CONFIG")
    for (k, v) in env { e[k] = v }
    return try ProcessRunner(environment: e).run([bin] + args, stdin: stdin.map { Data($0.utf8) }, check: false)
}

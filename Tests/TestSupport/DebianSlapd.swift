import Core
import Foundation
import Provisioning
import Testing

/// A private slapd configured the way Debian 12's package configures it
/// (cn=config from /usr/share/slapd/slapd.init.ldif, the package's ACLs,
/// root manages cn=config over ldapi with SASL EXTERNAL; no syncprov, no
/// semail or openssh-lpk schema), started by `scripts/slapd-debian.sh` for
/// one suite, stopped and removed afterwards (also when the suite fails).
public final class DebianSlapd: ScriptedService {
    public let dir: String
    public let env: [String: String]

    @TaskLocal public static var current: DebianSlapd?
    public static let script = "slapd-debian"
    public static func withCurrent(_ s: DebianSlapd, _ body: () async throws -> Void) async throws {
        try await $current.withValue(s) { try await body() }
    }
    public init(dir: String, env: [String: String]) { self.dir = dir; self.env = env }

    /// ldap:// on a loopback port (simple binds, e.g. as the rootdn).
    public var uri: String { env["LDAP_URI"]! }
    /// ldapi:// on the private socket (root with SASL EXTERNAL).
    public var ldapiURI: String { env["LDAPI_URI"]! }
    /// The slapd.d directory (cn=config).
    public var configDir: String { env["SLAPD_CONFIG_DIR"]! }
    public var base: String { env["LDAP_BASE"]! }
    /// The olcRootDN of the database (debconf's admin, no entry of its own).
    public var adminDN: String { env["LDAP_ADMIN_DN"]! }
    public var secretFile: String { env["LDAP_SECRET"]! }
    public var adminPassword: [UInt8] { Array(FileManager.default.contents(atPath: secretFile)!) }

    /// A configuration as an admin on the server writes it: ldapi://, SASL
    /// EXTERNAL as root (empty bind_dn). Written to `<dir>/semail.toml`.
    public func config(extra: String = "") throws -> (config: Config, path: String) {
        let path = "\(dir)/semail.toml"
        let text = """
            [ldap]
            uri = "\(ldapiURI)"
            base = "\(base)"
            people = "ou=Personnes"
            bind_dn = ""

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

extension Trait where Self == ServiceTrait<DebianSlapd> { public static var debianSlapd: Self { Self() } }

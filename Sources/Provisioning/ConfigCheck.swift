import LDAPClient

public struct ConfigReport: Sendable, Codable {
    public struct Component: Sendable, Codable {
        public var name: String
        public var ok: Bool
        public var message: String
        public var hint: String?
    }
    public var file: String
    public var problems: [Config.Problem]
    public var components: [Component]
}

/// `config check`: every problem in the file, then a live check of each
/// configured component.
public enum ConfigChecker {
    public static func check(path: String) throws -> ConfigReport {
        let (config, problems) = try Config.loadWithProblems(path)
        var components: [ConfigReport.Component] = []
        components.append(checkLDAP(config))
        return ConfigReport(file: path, problems: problems, components: components)
    }

    static func checkLDAP(_ config: Config) -> ConfigReport.Component {
        do {
            let c = try Host.connect(config.ldap)
            defer { c.close() }
            try Host.bindAdmin(c, config.ldap)
            let who = (try? c.whoAmI()) ?? ""
            var found = false
            try c.search(base: config.peopleDN, scope: .base, attributes: ["1.1"]) { _ in found = true }
            return .init(name: "ldap", ok: found, message: "connected to \(config.ldap.uri), bound as \(who.isEmpty ? config.ldap.bindDN : who)" +
                         (found ? ", \(config.peopleDN) exists" : ""))
        } catch let e as SemailError {
            return .init(name: "ldap", ok: false, message: "\(e.what): \(e.why)", hint: e.hint)
        } catch let e as LDAPError where e.code == .noSuchObject {
            return .init(name: "ldap", ok: false, message: "the people OU \(config.peopleDN) does not exist",
                         hint: "create it, or fix [ldap] base / people")
        } catch {
            return .init(name: "ldap", ok: false, message: "\(error)")
        }
    }
}

import Core
import Foundation

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
        // LDAP always; the other services only when their section is in the file.
        let components =
            MailboxComponents.all.flatMap { $0.check(config) } + checkWeb(config, path: path)
            + [checkUsage(config)]
        return ConfigReport(file: path, problems: problems, components: components)
    }
}

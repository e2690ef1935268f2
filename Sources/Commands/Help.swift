import ArgumentParser
import Core
import Provisioning

extension CommandConfiguration {
    /// A leaf command's configuration: its help ends with the exit codes
    /// (`semailctl --help` and every man page list them the same way).
    static func leaf(
        commandName: String, abstract: String, discussion: String = "",
        exitCodes: [ExitStatus] = ExitStatus.allCases.filter { $0 != .changes }
    ) -> CommandConfiguration {
        CommandConfiguration(
            commandName: commandName, abstract: abstract,
            discussion: (discussion.isEmpty ? "" : discussion + "\n\n") + ExitStatus.help(exitCodes))
    }
}

extension ExitStatus {
    /// The EXIT CODES section of a help text.
    static func help(_ codes: [ExitStatus] = allCases) -> String {
        "EXIT CODES\n"
            + codes.map { "  \(String($0.rawValue).padding(toLength: 4, withPad: " ", startingAt: 0))\($0.meaning)" }
            .joined(separator: "\n")
    }
}

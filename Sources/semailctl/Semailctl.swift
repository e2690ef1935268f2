import ArgumentParser
import Provisioning

@main
struct Semailctl: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "semailctl",
        abstract: "Provision and keep in shape a multi-user mail host (LDAP users, volumes, containers, DNS).",
        discussion: """
        Configuration: --config PATH, else $SEMAIL_CONFIG, else /etc/semail/semail.toml.
        Every command takes --json: one JSON document on stdout, logs on stderr.

        EXIT CODES
        \(ExitStatus.allCases.map { "  \(String($0.rawValue).padding(toLength: 4, withPad: " ", startingAt: 0))\($0.meaning)" }.joined(separator: "\n"))
        """,
        version: "0.1.0",
        subcommands: [ConfigCommand.self, UserCommand.self, ImportCommand.self, VolumeCommand.self, ContainerCommand.self, SSHConfigCommand.self, ImageCommand.self, ZoneCommand.self, MailboxCommand.self, ReconcileCommand.self, QuarantineCommand.self, RecoverCommand.self]
    )
}

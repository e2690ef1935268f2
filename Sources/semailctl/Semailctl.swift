import ArgumentParser
import Logging
import Provisioning

@main
struct Semailctl: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "semailctl",
        abstract: "Provision and keep in shape a multi-user mail host (LDAP users, volumes, containers, DNS).",
        discussion: """
        Configuration: --config PATH (anywhere on the command line), else $SEMAIL_CONFIG, else /etc/semail/semail.toml.
        Every command takes --json: one JSON document on stdout, logs on stderr.

        FILES
          /etc/semail/semail.toml      the configuration (root, mode 0600)
          <prefix>/share/semail/       templates/ (template_dir's default), schema/,
                                       examples/semail.toml (every key, its default)
          <prefix>/lib/systemd/system  semailctl-watch.service (installed, not enabled)
        <prefix> is the directory above this binary's sbin/ (make install's PREFIX);
        template_dir falls back to /usr/share/semail/templates when not found there.

        EXIT CODES
        \(ExitStatus.allCases.map { "  \(String($0.rawValue).padding(toLength: 4, withPad: " ", startingAt: 0))\($0.meaning)" }.joined(separator: "\n"))
        """,
        version: "0.1.0",
        subcommands: [ConfigCommand.self, DirectoryCommand.self, UserCommand.self, ImportCommand.self, VolumeCommand.self, ContainerCommand.self, SSHConfigCommand.self, ImageCommand.self, ZoneCommand.self, MailboxCommand.self, ReconcileCommand.self, QuarantineCommand.self, RecoverCommand.self]
    )

    /// The entry point: `--config` given before the subcommand is moved after it.
    /// Every `Logger` of the process writes through `StderrLogHandler`.
    static func main() async {
        LoggingSystem.bootstrap { _ in StderrLogHandler() }
        await main(CommandLineArguments.normalized(Array(CommandLine.arguments.dropFirst())))
    }
}

import ArgumentParser
import Logging
import Core
import Provisioning

public struct Semailctl: AsyncParsableCommand {
    public static let configuration = CommandConfiguration(
        commandName: "semailctl",
        abstract: "Provision and keep in shape a multi-user mail host (LDAP users, volumes, containers, DNS).",
        discussion: """
            Configuration: --config PATH (anywhere on the command line), else $SEMAIL_CONFIG, else \
            /etc/semail/semail.toml.
            Every command takes --json: one JSON document on stdout, logs on stderr.

            FILES
              /etc/semail/semail.toml      the configuration (root, mode 0600)
              <prefix>/share/semail/       templates/ (template_dir's default), schema/,
                                           examples/semail.toml (every key, its default)
              <prefix>/lib/systemd/system  semailctl-watch.service (installed, not enabled)
            <prefix> is the directory above this binary's sbin/ (make install's PREFIX);
            template_dir falls back to /usr/share/semail/templates when not found there.

            \(ExitStatus.help())
            """,
        version: "0.1.0",
        subcommands: [
            ConfigCommand.self, DirectoryCommand.self, UserCommand.self, ImportCommand.self, VolumeCommand.self,
            ContainerCommand.self, SSHConfigCommand.self, ImageCommand.self, ZoneCommand.self, MailboxCommand.self,
            ReconcileCommand.self, QuarantineCommand.self, RecoverCommand.self, AuditCommand.self
        ]
    )

    public init() {}

    /// The entry point (the executable calls it): `--config` given before
    /// the subcommand is moved after it. Every `Logger` of the process
    /// writes through `StderrLogHandler`.
    public static func main(commandLine: [String]) async {
        CallTrace.mark("main")
        LoggingSystem.bootstrap { _ in StderrLogHandler() }
        await main(CommandLineArguments.normalized(Array(commandLine.dropFirst())))
    }
}

import ArgumentParser
import Core
import Directory
import Provisioning

struct DirectorySetupCommand: SemailCommand {
    static let configuration = CommandConfiguration.leaf(
        commandName: "setup",
        abstract:
            "Load the schema, syncprov, indexes, the mailbox uniqueness constraint and write access into a "
            + "cn=config slapd.",
        discussion: """
            Run as root on the LDAP server: it talks to slapd over ldapi:// with SASL EXTERNAL, the identity \
            Debian's package lets manage cn=config. Idempotent: it changes only what is missing, and a second \
            run says "nothing to do". A schema already loaded with another definition is reported, not changed.

            URI: --uri, else [ldap] uri when it is ldapi://, else ldapi:/// (/var/run/slapd/ldapi).
            Exit codes: 0 done (or nothing to do), 1 a change failed or a conflict was found, 64 not an \
            ldapi:// URI, 69 slapd unreachable, 77 not root or root may not manage cn=config, 78 not a \
            cn=config server or no database for [ldap] base.
            """)

    @Option(name: .long, help: "The ldapi:// URI of slapd's socket.")
    var uri: String?

    @Flag(name: .long, help: "Print the changes it would make and change nothing.")
    var dryRun = false

    @OptionGroup var global: GlobalOptions

    func execute(_ ctx: CommandContext) throws -> ExitStatus {
        let report = try DirectorySetup(config: ctx.config(), uri: uri, reporter: ctx.out.reporter).run(dryRun: dryRun)
        ctx.emit(report) { r in
            var lines: [String] = []
            if r.changes.isEmpty {
                lines.append("nothing to do: \(r.database) on \(r.uri) is set up")
            } else {
                lines.append(
                    r.dryRun
                        ? "would change \(r.changes.count) thing(s) (dry run, nothing changed):"
                        : "changed \(r.changes.count) thing(s):")
                lines += r.changes.map { "  \($0.description)" }
            }
            lines += r.conflicts.map { "conflict: \($0)" }
            return lines.joined(separator: "\n")
        }
        return report.conflicts.isEmpty ? .success : .failure
    }
}

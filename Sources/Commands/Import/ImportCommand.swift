import ArgumentParser
import Core
import Directory
import Foundation
import LDAPClient
import Provisioning

struct ImportCommand: SemailCommand {
    static let configuration = CommandConfiguration.leaf(
        commandName: "import",
        abstract: "Apply an LDIF file (RFC 2849), idempotently, with many requests in flight.",
        discussion: """
            An entry that already exists with the same attributes (as the server matches them) is skipped; one that
            differs is reported, and its differing attributes replaced only with --update. Exit code 1 when any \
            record failed.
            Records are applied in file order: one is sent ahead of earlier ones only when no entry it touches (nor an
            ancestor or descendant) is in flight. `control:` lines are sent with their record; increment: is supported.
            Without --continue-on-error nothing is sent after the first failure; records already in flight then are
            listed as applied after the failure (--window 1 applies one record at a time, as ldapmodify does).
            Records outside the people OU are refused (each one said), unless --outside-people.
            Entries that carry semailMailbox (and optionally semailVolumeSize, in bytes), in add or modify records,
            get a mailbox instead of the attributes: each one is its own `mailbox create` transaction (with its checks),
            --jobs at a time; one failure does not stop the others. A modify that removes them is refused.
            """)

    @Argument(help: "The LDIF file.") var file: String
    @Flag(help: "Say what would change; change nothing.") var dryRun = false
    @Flag(help: "Go on past malformed or failing records.") var continueOnError = false
    @Flag(help: "Replace the differing attributes of entries that already exist.") var update = false
    @Option(help: "Requests kept in flight (1: one at a time, as ldapmodify).") var window = 64
    @Option(
        help: "Mailboxes provisioned in parallel (default: twice the number of cores; they mostly wait on dockerd).")
    var jobs = 2 * ProcessInfo.processInfo.activeProcessorCount
    @Flag(help: "Fail at once if another semailctl holds the state lock.") var noWait = false
    @Flag(help: "Also apply records outside the people OU ([ldap] people); refused otherwise.")
    var outsidePeople = false
    @OptionGroup var global: GlobalOptions

    func execute(_ ctx: CommandContext) throws -> ExitStatus {
        guard let data = FileManager.default.contents(atPath: file) else {
            throw SemailError(
                "cannot read \(file)",
                why: FileManager.default.fileExists(atPath: file) ? "permission denied" : "no such file",
                status: .dataError)
        }
        let host = try ctx.host()
        var parsed = LDIF.parse(Array(data), file: file)
        if !outsidePeople { parsed = BulkProvisioning.confine(parsed, to: host.config.peopleDN, file: file) }
        let (items, requests) = BulkProvisioning.split(parsed, file: file)
        let importer = Importer(
            connection: try host.ldap(),
            options: ImportOptions(
                dryRun: dryRun, continueOnError: continueOnError, update: update,
                window: max(1, window)),
            reporter: host.reporter)
        let s = try importer.run(file: file, items: items)
        var provisioning: BulkProvisioning.Summary?
        if !requests.isEmpty && !dryRun && s.ok {
            provisioning = try ctx.locked(wait: !noWait) { host in
                BulkProvisioning.run(requests, host: host, jobs: max(1, jobs))
            }
        }
        /// The LDAP summary's keys at the top, plus the mailboxes.
        struct Doc: Encodable {
            var ldap: ImportSummary
            var mailboxes: BulkProvisioning.Summary?
            var requested: [MailboxRequest]
            enum K: String, CodingKey { case mailboxes, requested }
            func encode(to encoder: Encoder) throws {
                try ldap.encode(to: encoder)
                var c = encoder.container(keyedBy: K.self)
                try c.encodeIfPresent(mailboxes, forKey: .mailboxes)
                try c.encode(requested, forKey: .requested)
            }
        }
        ctx.emit(Doc(ldap: s, mailboxes: provisioning, requested: requests)) { d in
            var l = [d.ldap.text(update: update)]
            if let p = d.mailboxes {
                l.append(
                    "mailboxes: \(p.created) created, \(p.unchanged) already there, \(p.failed) failed, in "
                        + "\(String(format: "%.1f", p.seconds)) s"
                )
                l += p.results.filter { !$0.ok }.map {
                    "  failed: \($0.subject) at \($0.failedStep ?? "start"): \($0.reason ?? "")"
                }
            } else if !d.requested.isEmpty {
                l.append(
                    d.ldap.dryRun
                        ? "dry run: would provision \(d.requested.count) mailbox(es)"
                        : "mailboxes not provisioned: the LDIF import failed")
            }
            return l.joined(separator: "\n")
        }
        if let p = provisioning, p.failed > 0 { return .failure }
        return s.ok ? .success : (s.failures.contains { $0.dn == nil } ? .dataError : .failure)
    }
}

extension ImportSummary {
    func text(update: Bool) -> String {
        let s = self
        var l = [
            "\(s.dryRun ? "dry run: would have " : "")added \(s.added), modified \(s.modified), deleted "
                + "\(s.deleted), renamed \(s.renamed), skipped \(s.skipped), failed \(s.failed)"
                + (s.notApplied > 0 ? ", not applied after the first failure \(s.notApplied)" : "")
        ]
        if let line = s.notSentFromLine {
            l.append("  not sent: every record from line \(line) on (stopped at the first failure)")
        }
        l += s.appliedAfterFailure.map { "  applied after the failure: \($0.dn ?? "") (line \($0.line)): \($0.reason)" }
        l += s.differing.map {
            "  differs: \($0.dn ?? "") (line \($0.line)): \($0.reason)" + (update ? "" : " (use --update)")
        }
        l += s.failures.map { "  failed: \($0.dn.map { "\($0) " } ?? "")(line \($0.line)): \($0.reason)" }
        return l.joined(separator: "\n")
    }
}

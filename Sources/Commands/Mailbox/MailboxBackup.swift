import ArgumentParser
import Core
import Foundation
import Provisioning
import Storage

struct MailboxBackup: SemailCommand {
    static let configuration = CommandConfiguration.leaf(
        commandName: "backup",
        abstract:
            "Back up UID's Maildir, live, to a new archive file (mode 0600, with a manifest and a checksum; read "
            + "back before it is named), or every mailbox with --all into a directory.",
        discussion:
            """
            The archive is an uncompressed tar: semail-backup.json (uid, address, message count, bytes, SHA-256 \
            of the rest), then Maildir/[.Folder/]{new,cur}/ messages with their flags, dovecot-keywords, \
            subscriptions. No downtime: messages that move or are flagged meanwhile are found again; one deleted \
            meanwhile is left out. Links and other non-regular files in the Maildir are reported, never followed. \
            With --all the files are DIR/UID-YYYYMMDDTHHMMSSZ.semail-backup.tar; one failure does not stop the \
            others (exit 1 when any failed).
            """)
    @Argument(help: "The mailbox's uid (or --all).") var uid: String?
    @Flag(help: "Back up every mailbox; --to is then a directory.") var all = false
    @Option(help: "The archive to create (must not exist), or the directory with --all.") var to: String
    @OptionGroup var global: GlobalOptions

    func validate() throws {
        if all == (uid != nil) { throw ValidationError("give either a UID or --all") }
    }

    func execute(_ ctx: CommandContext) throws -> ExitStatus {
        if let uid { _ = try Validate.uid(uid) }
        let host = try ctx.host()
        let reporter = ctx.out.reporter
        let boxes = Mailboxes(host: host)
        guard all else {
            let r = try boxes.backup(uid: uid!, to: to) { reporter.progress($0, $1) }
            reporter.progress(1, 1)
            ctx.emit(r) { MailboxBackup.text($0) }
            return .success
        }
        let s = try boxes.backupAll(to: to) { done, total, _ in reporter.progress(done, total) }
        ctx.emit(s) { MailboxBackup.text($0) }
        return s.failures.isEmpty ? .success : .failure
    }

    static func text(_ r: MaildirBackup.Result) -> String {
        var t =
            "\(r.uid): \(r.messages) messages, \(ByteSize.format(r.bytes)) in \(r.file) "
            + "(\(ByteSize.format(r.archiveBytes)), sha256 \(r.sha256.prefix(16))…, read back, "
            + String(format: "%.1f s)", r.seconds)
        if r.moved > 0 || r.vanished > 0 {
            t += "\n  \(r.moved) found again after a move, \(r.vanished) deleted meanwhile"
        }
        for s in r.skipped { t += "\n  left out: \(s)" }
        return t
    }

    static func text(_ s: BackupSummary) -> String {
        var lines = ["UID       MESSAGES  BYTES     FILE"]
        for r in s.backups {
            lines.append(
                r.uid.padding(toLength: 10, withPad: " ", startingAt: 0)
                    + String(r.messages).padding(toLength: 10, withPad: " ", startingAt: 0)
                    + ByteSize.format(r.bytes).padding(toLength: 10, withPad: " ", startingAt: 0) + r.file)
            for x in r.skipped { lines.append("  \(r.uid): left out: \(x)") }
        }
        for f in s.failures { lines.append("FAILED \(f.uid): \(f.error)") }
        lines.append("\(s.backups.count) backed up, \(s.failures.count) failed, in \(s.dir)")
        return lines.joined(separator: "\n")
    }
}

import ArgumentParser
import Core
import Provisioning
import Storage

struct MailboxRestore: SemailCommand {
    static let configuration = CommandConfiguration.leaf(
        commandName: "restore",
        abstract:
            "Restore a `mailbox backup` archive into UID's existing mailbox: adds the messages that are not there "
            + "(by their unique name), keeps their flags and folders, never overwrites; a second run adds nothing.",
        discussion:
            """
            The whole archive is checked first (manifest, checksum, counts, every member a file of a Maildir): \
            an archive with a member that leaves the Maildir (an absolute path, .., a link, a device) is refused \
            with nothing written (exit 65). The mailbox must exist: create it first with `semailctl mailbox \
            create UID --address ADDRESS`. Messages are written as a delivery would (tmp/, then linked into \
            new/ or cur/), owned by the mailbox's owner, with their times kept.
            """)
    @Argument(help: "The mailbox to restore into.") var uid: String
    @Option(help: "The archive made by `mailbox backup`.") var from: String
    @OptionGroup var mutation: MutationOptions
    @OptionGroup var global: GlobalOptions

    func execute(_ ctx: CommandContext) throws -> ExitStatus {
        _ = try Validate.uid(uid)
        if mutation.dryRun {
            _ = try ctx.host()
            let m = try MaildirRestore.check(from)
            ctx.emit(m) {
                "\(from): a valid backup of \(Validate.printable($0.uid)) (\(Validate.quoted($0.address))), \($0.messages) messages; nothing written"
            }
            return .success
        }
        let r = try ctx.locked(wait: !mutation.noWait) { host in
            try Mailboxes(host: host).restore(uid: uid, from: from)
        }
        ctx.emit(r) { MailboxRestore.text($0) }
        return .success
    }

    static func text(_ r: MaildirRestore.Result) -> String {
        var t = "\(r.uid): \(r.added) messages added (\(ByteSize.format(r.bytesAdded))), \(r.skipped) already there"
        t += "; \(r.filesAdded) files added, \(r.filesKept) kept"
        if !r.foldersCreated.isEmpty { t += "; folders made: \(r.foldersCreated.joined(separator: " "))" }
        if r.archiveUID != r.uid { t += " (a backup of \(r.archiveUID))" }
        return t
    }
}

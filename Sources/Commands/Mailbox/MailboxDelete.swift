import ArgumentParser
import Core
import Directory
import Provisioning

struct MailboxDelete: SemailCommand {
    static let configuration = CommandConfiguration.leaf(
        commandName: "delete",
        abstract:
            "Delete UID's mailbox: container, (archive), volume, MX record, directory attributes, address map line.")
    @Argument var uid: String
    @Option(help: "Archive the Maildir to this .tar.gz first (read back before anything is destroyed).")
    var archive: String?
    @OptionGroup var asUser: AsUserOptions
    @OptionGroup var password: PasswordOptions
    @OptionGroup var confirmation: Confirmation
    @OptionGroup var mutation: MutationOptions
    @OptionGroup var global: GlobalOptions

    var selfService: Bool { asUser.selfService }

    func execute(_ ctx: CommandContext) throws -> ExitStatus {
        _ = try Validate.uid(uid)
        if asUser.selfService, archive != nil {
            // root would write the archive wherever the user says.
            throw SemailError(
                "--archive is refused with --as-user", why: "the archive is written as root to the path given",
                hint: "copy your mail out over ssh first, or ask the administrator for an archive", status: .usage)
        }
        try asUser.authenticate(try ctx.host(), target: uid, password: password)
        _ = try ctx.host()  // the configuration is checked before the question
        if !mutation.dryRun {
            try confirmation.ask(
                "Delete the mailbox of \(uid)\(archive == nil ? " and ALL its mail" : " (archived to \(archive!))")?",
                what: "delete \(uid)'s mailbox")
        }
        let r = try ctx.locked(wait: !mutation.noWait) { host in
            try Mailboxes(host: host).delete(uid: uid, archive: archive, dryRun: mutation.dryRun)
        }
        ctx.emit(r) { $0.text }
        return r.ok ? .success : .failure
    }
}

import ArgumentParser
import Core
import Directory
import Provisioning

struct MailboxSuspend: SemailCommand {
    static let configuration = CommandConfiguration.leaf(
        commandName: "suspend",
        abstract:
            "Suspend UID's mailbox: semailState=suspended on the entry, then the container stopped and kept "
            + "stopped. Mail keeps arriving; nothing is deleted.",
        discussion: """
            One journaled transaction (directory-check, state, container); running it again changes nothing. \
            reconcile and `reconcile --watch` keep the container stopped while the entry says so (an \
            `ldapmodify` setting semailState has the same effect at the next pass); `ssh-config UID` refuses. \
            `semailctl mailbox resume UID` gives access back.
            """)
    @Argument var uid: String
    @Option(help: "Why (shown by `mailbox list/show`): 1-200 printable characters on one line.")
    var reason: String?
    @OptionGroup var mutation: MutationOptions
    @OptionGroup var global: GlobalOptions

    func execute(_ ctx: CommandContext) throws -> ExitStatus {
        _ = try Validate.uid(uid)
        if let reason { _ = try Suspension.validReason(reason) }
        let r = try ctx.locked(wait: !mutation.noWait) { host in
            try Mailboxes(host: host).suspend(uid: uid, reason: reason, dryRun: mutation.dryRun)
        }
        ctx.emit(r) { $0.text }
        return r.ok ? .success : .failure
    }
}

struct MailboxResume: SemailCommand {
    static let configuration = CommandConfiguration.leaf(
        commandName: "resume",
        abstract:
            "Resume UID's suspended mailbox: semailState and semailStateReason removed from the entry, then the "
            + "container started again (rebuilt if its template, keys or packages changed meanwhile).",
        discussion: """
            One journaled transaction (directory-check, state, container); running it again changes nothing. \
            Removing semailState with `ldapmodify` has the same effect at the next reconcile.
            """)
    @Argument var uid: String
    @OptionGroup var mutation: MutationOptions
    @OptionGroup var global: GlobalOptions

    func execute(_ ctx: CommandContext) throws -> ExitStatus {
        _ = try Validate.uid(uid)
        let r = try ctx.locked(wait: !mutation.noWait) { host in
            try Mailboxes(host: host).resume(uid: uid, dryRun: mutation.dryRun)
        }
        ctx.emit(r) { $0.text }
        return r.ok ? .success : .failure
    }
}

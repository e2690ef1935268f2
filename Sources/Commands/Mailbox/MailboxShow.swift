import ArgumentParser
import Core
import Directory
import Provisioning

struct MailboxShow: SemailCommand {
    static let configuration = CommandConfiguration.leaf(commandName: "show", abstract: "One mailbox in detail.")
    @Argument var uid: String
    @OptionGroup var asUser: AsUserOptions
    @OptionGroup var password: PasswordOptions
    @OptionGroup var global: GlobalOptions

    var selfService: Bool { asUser.selfService }

    func execute(_ ctx: CommandContext) throws -> ExitStatus {
        _ = try Validate.uid(uid)
        try asUser.authenticate(try ctx.host(), target: uid, password: password, whileSuspended: true)
        guard let m = try Mailboxes(host: ctx.host()).status(uid) else {
            throw SemailError(
                "\(uid) has no mailbox", why: "no semailMailbox on the entry", hint: "see `semailctl mailbox list`",
                status: .failure)
        }
        ctx.emit(m) { MailboxText.show($0) }
        return .success
    }
}

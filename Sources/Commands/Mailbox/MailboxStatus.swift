import ArgumentParser
import Core
import Provisioning

struct MailboxStatusCommand: SemailCommand {
    static let configuration = CommandConfiguration.leaf(
        commandName: "status",
        abstract:
            "A user's own view: entry, SSH keys, packages, the mailbox's state, the ssh-config block, and for an "
            + "external domain the MX check and the record to publish (what the portal shows).")
    @Argument var uid: String
    @OptionGroup var asUser: AsUserOptions
    @OptionGroup var password: PasswordOptions
    @OptionGroup var global: GlobalOptions

    var selfService: Bool { asUser.selfService }

    func execute(_ ctx: CommandContext) throws -> ExitStatus {
        _ = try Validate.uid(uid)
        try asUser.authenticate(try ctx.host(), target: uid, password: password, whileSuspended: true)
        let s = try Mailboxes(host: ctx.host()).selfStatus(uid)
        ctx.emit(s) { $0.text }
        return .success
    }
}

struct MailboxCheckAddress: SemailCommand {
    static let configuration = CommandConfiguration.leaf(
        commandName: "check-address",
        abstract:
            "Say whether `mailbox create UID --address ADDRESS` would be allowed, and if not which rule refuses it "
            + "and what to do; for an external domain, the records to publish. Changes nothing.",
        discussion: "Exit status: 0 allowed, 1 refused.")
    @Argument var uid: String
    @Option(help: "The address, ID@DOMAIN.") var address: String
    @OptionGroup var asUser: AsUserOptions
    @OptionGroup var password: PasswordOptions
    @OptionGroup var global: GlobalOptions

    var selfService: Bool { asUser.selfService }

    func execute(_ ctx: CommandContext) throws -> ExitStatus {
        _ = try Validate.uid(uid)
        _ = try Validate.address(address)
        try asUser.authenticate(try ctx.host(), target: uid, password: password, whileSuspended: true)
        let p = try Mailboxes(host: ctx.host()).preview(uid: uid, address: address, by: asUser.requester)
        ctx.emit(p) { $0.text }
        return p.allowed ? .success : .failure
    }
}

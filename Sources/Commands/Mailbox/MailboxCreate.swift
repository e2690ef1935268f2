import ArgumentParser
import Core
import Directory
import Provisioning

struct MailboxCreate: SemailCommand {
    static let configuration = CommandConfiguration.leaf(
        commandName: "create",
        abstract:
            "Create UID's mailbox: volume, ext4, mount and Maildir, container, MX record, directory entry, "
            + "address map.",
        discussion:
            "Each step is skipped when already done, so running it again completes a half-made mailbox. A failed "
            + "step rolls back what this run made."
    )
    @Argument(help: "The uid (an existing user).") var uid: String
    @Option(help: "The mailbox address, ID@DOMAIN.") var address: String
    @Option(help: "Volume size (default: [storage] default_size).") var size: String?
    @Option(help: "SSH public keys for the user's container (a file, one key per line).") var sshKey: String?
    @OptionGroup var asUser: AsUserOptions
    @OptionGroup var password: PasswordOptions
    @OptionGroup var mutation: MutationOptions
    @OptionGroup var global: GlobalOptions

    var selfService: Bool { asUser.selfService }

    func execute(_ ctx: CommandContext) throws -> ExitStatus {
        _ = try Validate.uid(uid)
        _ = try Validate.address(address)
        let bytes = try size.map { try ByteSize.parse($0) }
        // Self-service: the user proves who they are before any file they named is opened
        // (the [policy] rules for users apply).
        try asUser.authenticate(try ctx.host(), target: uid, password: password)
        try SudoGuard.refuseFiles([("--ssh-key", sshKey)], config: ctx.config())
        let keys = try sshKey.map { try SSHKeys.read($0) }
        let r = try ctx.locked(wait: !mutation.noWait) { host in
            try Mailboxes(host: host).create(
                uid: uid, address: address, size: bytes, sshKeys: keys,
                by: asUser.requester, dryRun: mutation.dryRun)
        }
        ctx.emit(r) { $0.text }
        return r.ok ? .success : .failure
    }
}

import ArgumentParser
import Core
import Directory
import Provisioning

struct UserPasswd: SemailCommand {
    static let configuration = CommandConfiguration.leaf(
        commandName: "passwd",
        abstract: "Set a user's password (Password Modify extended operation, RFC 3062).",
        discussion:
            "With --as-user UID the user changes their own: standard input holds the current password on the "
            + "first line and the new one on the second; the change is made bound as the user, the current "
            + "password in the request.")
    @Argument var uid: String
    @OptionGroup var asUser: AsUserOptions
    @OptionGroup var password: PasswordOptions
    @OptionGroup var global: GlobalOptions

    struct Result: Encodable {
        var uid: String
        var passwordSet: Bool
    }

    var selfService: Bool { asUser.selfService }

    func execute(_ ctx: CommandContext) throws -> ExitStatus {
        _ = try Validate.uid(uid)
        if let me = asUser.uid {
            try AsUserOptions.checkTarget(asUser: me, target: uid)
            guard password.passwordFile == nil else {
                throw SemailError(
                    "--password-file is refused with --as-user for passwd",
                    why: "the current and the new password come on standard input, one per line", status: .usage)
            }
            let (old, new) = try Secrets.twoLines(Secrets.readStdin())
            try ctx.host().directory().changeOwnPassword(uid, old: old, new: new)
        } else {
            let host = try ctx.host()
            let secret = try password.read(required: true)!
            try host.directory().setPassword(uid, secret)
        }
        ctx.emit(Result(uid: uid, passwordSet: true)) { "password set for \($0.uid)" }
        return .success
    }
}

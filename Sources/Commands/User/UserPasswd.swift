import ArgumentParser
import Core
import Directory
import Provisioning

struct UserPasswd: SemailCommand {
    static let configuration = CommandConfiguration.leaf(
        commandName: "passwd",
        abstract: "Set a user's password (Password Modify extended operation).")
    @Argument var uid: String
    @OptionGroup var password: PasswordOptions
    @OptionGroup var global: GlobalOptions

    struct Result: Encodable {
        var uid: String
        var passwordSet: Bool
    }

    func execute(_ ctx: CommandContext) throws -> ExitStatus {
        _ = try Validate.uid(uid)
        let host = try ctx.host()
        let secret = try password.read(required: true)!
        try host.directory().setPassword(uid, secret)
        ctx.emit(Result(uid: uid, passwordSet: true)) { "password set for \($0.uid)" }
        return .success
    }
}

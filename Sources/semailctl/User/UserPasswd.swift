import ArgumentParser
import Core
import Provisioning

struct UserPasswd: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "passwd",
                                                    abstract: "Set a user's password (Password Modify extended operation).")
    @Argument var uid: String
    @OptionGroup var password: PasswordOptions
    @OptionGroup var global: GlobalOptions

    struct Result: Encodable { var uid: String; var passwordSet: Bool }

    func run() async throws {
        let out = global.output
        try await out.run {
            _ = try Validate.uid(uid)
            let host = try global.host()
            let secret = try password.read(required: true)!
            try host.directory().setPassword(uid, secret)
            out.emit(Result(uid: uid, passwordSet: true)) { "password set for \($0.uid)" }
            return .success
        }
    }
}

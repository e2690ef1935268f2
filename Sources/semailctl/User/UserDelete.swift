import ArgumentParser
import Core
import Provisioning

struct UserDelete: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "delete", abstract: "Delete a user entry (asks on a terminal).")
    @Argument var uid: String
    @Flag(help: "Do not ask; required when standard input is not a terminal.") var yes = false
    @OptionGroup var global: GlobalOptions

    func run() async throws {
        let out = global.output
        try await out.run {
            _ = try Validate.uid(uid)
            let dir = try global.host().directory()
            let u = try dir.user(uid)
            try Terminal.confirm("Delete \(u.dn)?", yes: yes, what: "delete \(uid)")
            let deleted = try dir.delete(uid)
            out.emit(deleted) { "deleted \($0.dn)" }
            return .success
        }
    }
}

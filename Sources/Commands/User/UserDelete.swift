import ArgumentParser
import Core
import Directory
import Provisioning

struct UserDelete: SemailCommand {
    static let configuration = CommandConfiguration.leaf(
        commandName: "delete", abstract: "Delete a user entry (asks on a terminal).")
    @Argument var uid: String
    @OptionGroup var confirmation: Confirmation
    @OptionGroup var global: GlobalOptions

    func execute(_ ctx: CommandContext) throws -> ExitStatus {
        _ = try Validate.uid(uid)
        let dir = try ctx.host().directory()
        let u = try dir.user(uid)
        try confirmation.ask("Delete \(u.dn)?", what: "delete \(uid)")
        let deleted = try dir.delete(uid)
        ctx.emit(deleted) { "deleted \($0.dn)" }
        return .success
    }
}

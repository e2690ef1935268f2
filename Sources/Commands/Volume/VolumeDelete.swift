import ArgumentParser
import Core
import Provisioning
import Storage

struct VolumeDelete: SemailCommand {
    static let configuration = CommandConfiguration.leaf(
        commandName: "delete", abstract: "Unmount, detach and remove UID's volume (its mail is gone).")
    @Argument var uid: String
    @OptionGroup var confirmation: Confirmation
    @OptionGroup var global: GlobalOptions

    func execute(_ ctx: CommandContext) throws -> ExitStatus {
        _ = try Validate.uid(uid)
        let host = try ctx.host()
        try confirmation.ask("Delete the volume of \(uid) and all the mail on it?", what: "delete \(uid)'s volume")
        let r = try host.volumes().delete(uid: uid)
        ctx.emit(r) { r in
            r.removed.isEmpty
                ? "nothing to remove for \(r.uid)" : r.removed.map { "removed \($0)" }.joined(separator: "\n")
        }
        return .success
    }
}

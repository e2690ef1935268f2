import ArgumentParser
import Core
import Provisioning
import Storage

struct QuarantineAdd: SemailCommand {
    static let configuration = CommandConfiguration.leaf(
        commandName: "add",
        abstract: "Set UID's volume aside by hand: unmount it, drop its fstab entry and move it to the quarantine "
            + "(nothing is wiped).")
    @Argument var uid: String
    @OptionGroup var global: GlobalOptions

    func execute(_ ctx: CommandContext) throws -> ExitStatus {
        _ = try Validate.uid(uid)
        let e = try ctx.locked(wait: true) { host in
            try host.volumes().quarantine(uid: uid, days: host.config.state.quarantineDays)
        }
        ctx.emit(e) { "quarantined \($0.uid)'s volume as \($0.id) (\($0.place)), until \($0.expiry)" }
        return .success
    }
}

import ArgumentParser
import Core
import Provisioning
import Storage

struct QuarantineRestore: SemailCommand {
    static let configuration = CommandConfiguration.leaf(
        commandName: "restore",
        abstract: "Put a quarantined volume back and mount it (its mail intact).")
    @Argument(help: "The quarantine id (see `quarantine list`).") var id: String
    @OptionGroup var global: GlobalOptions

    func execute(_ ctx: CommandContext) throws -> ExitStatus {
        let r = try ctx.locked(wait: true) { host in
            let e = try host.volumes().entry(id)
            return try host.volumes().restore(id: id, owner: try host.mailOwner(e.uid))
        }
        ctx.emit(r) { "restored \($0.volume.source), mounted at \($0.volume.mountPoint)" }
        return .success
    }
}

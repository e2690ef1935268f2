import ArgumentParser
import Core
import Provisioning
import Storage

struct VolumeList: SemailCommand {
    static let configuration = CommandConfiguration.leaf(
        commandName: "list", abstract: "Every mailbox volume, observed at once.")
    @OptionGroup var global: GlobalOptions

    func execute(_ ctx: CommandContext) throws -> ExitStatus {
        let l = try ctx.host().volumes().list()
        ctx.emit(l) { VolumeState.table($0) }
        return .success
    }
}

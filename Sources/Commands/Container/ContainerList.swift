import ArgumentParser
import Containers
import Core
import Provisioning

struct ContainerList: SemailCommand {
    static let configuration = CommandConfiguration.leaf(
        commandName: "list", abstract: "Every semail container (one API call).")
    @OptionGroup var global: GlobalOptions

    func execute(_ ctx: CommandContext) throws -> ExitStatus {
        let host = try ctx.host()
        let l = host.checkVolumes(try host.containers().list())
        ctx.emit(l) { ContainerState.table($0) }
        return .success
    }
}

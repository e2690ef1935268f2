import ArgumentParser
import Containers
import Core
import Provisioning

struct ContainerNetworkRemove: SemailCommand {
    static let configuration = CommandConfiguration.leaf(
        commandName: "network-remove",
        abstract:
            "Remove the [containers] network and its firewall chains (no container may use it). Create/rebuild "
            + "make it again."
    )
    @OptionGroup var global: GlobalOptions

    struct Removed: Encodable { var network: String }

    func execute(_ ctx: CommandContext) throws -> ExitStatus {
        let host = try ctx.host()
        try host.containers().network().remove()
        ctx.emit(Removed(network: host.config.containers.network)) {
            "removed the network \($0.network) and its firewall rules"
        }
        return .success
    }
}

import ArgumentParser
import Containers
import Core
import Provisioning

struct ContainerCreate: SemailCommand {
    static let configuration = CommandConfiguration.leaf(
        commandName: "create",
        abstract: "Render UID's Dockerfile, build it, create and start semail-UID (idempotent).")
    @Argument(help: "The uid.") var uid: String
    @Option(help: "The mailbox address (default: the entry's first mail).") var address: String?
    @OptionGroup var global: GlobalOptions

    func execute(_ ctx: CommandContext) throws -> ExitStatus {
        _ = try Validate.uid(uid)
        let host = try ctx.host()
        let r = try host.containers().ensure(host.containerInput(uid, address: address))
        ctx.emit(r) { $0.text }
        return .success
    }
}

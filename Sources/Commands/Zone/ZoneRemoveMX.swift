import ArgumentParser
import Core
import DNS
import Provisioning

struct ZoneRemoveMX: SemailCommand {
    static let configuration = CommandConfiguration.leaf(
        commandName: "remove-mx", abstract: "Remove the MX (and A/AAAA) records semailctl added for NAME.")
    @Argument(help: "A name inside the zone.") var name: String
    @Flag(help: "Also remove MX records of NAME written by hand.") var force = false
    @OptionGroup var global: GlobalOptions

    func execute(_ ctx: CommandContext) throws -> ExitStatus {
        let r = try ctx.host().dns.removeMX(name, force: force)
        ctx.emit(r) { $0.summary }
        return .success
    }
}

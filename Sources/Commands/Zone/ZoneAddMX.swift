import ArgumentParser
import Core
import DNS
import Provisioning

struct ZoneAddMX: SemailCommand {
    static let configuration = CommandConfiguration.leaf(
        commandName: "add-mx", abstract: "Add NAME MX <mx_priority> <mx_host> (idempotent).")
    @Argument(
        help: "A name inside the zone: one label (ssow) or in full (ssow.semail.email); other dotted names are refused."
    ) var name: String
    @Option(name: .customLong("a"), help: "Also add an A record for NAME (repeatable).") var a: [String] = []
    @Option(name: .customLong("aaaa"), help: "Also add an AAAA record for NAME (repeatable).") var aaaa: [String] = []
    @OptionGroup var global: GlobalOptions

    func execute(_ ctx: CommandContext) throws -> ExitStatus {
        let r = try ctx.host().dns.addMX(name, a: a, aaaa: aaaa)
        ctx.emit(r) { $0.summary }
        return .success
    }
}

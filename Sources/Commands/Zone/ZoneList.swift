import ArgumentParser
import Core
import DNS
import Provisioning

struct ZoneList: SemailCommand {
    static let configuration = CommandConfiguration.leaf(
        commandName: "list", abstract: "The records semailctl manages, and every MX record of the zone.")
    @OptionGroup var global: GlobalOptions

    func execute(_ ctx: CommandContext) throws -> ExitStatus {
        let l = try ctx.host().dns.list()
        ctx.emit(l) { l in
            var lines = [
                "zone \(l.zone) (\(l.file)), serial \(l.serial.map(String.init) ?? "?")", "managed by semailctl:"
            ]
            lines +=
                l.managed.isEmpty
                ? ["  (none)"] : l.managed.map { "  \($0.owner) \($0.ttl) \($0.rrclass) \($0.type) \($0.rdataText)" }
            lines.append("all MX records:")
            lines += l.mx.map {
                "  \($0.owner) \($0.type) \($0.rdataText)  "
                    + "[\($0.managed ? "semailctl" : "by hand, \($0.file):\($0.line)")]"
            }
            return lines.joined(separator: "\n")
        }
        return .success
    }
}

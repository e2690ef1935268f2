import ArgumentParser
import Core
import Provisioning

struct RecoverCommand: SemailCommand {
    static let configuration = CommandConfiguration.leaf(
        commandName: "recover",
        abstract:
            "Repair what an interrupted command left (also done by every mutating command): roll back, or finish "
            + "past the point of no return."
    )
    @Flag(help: "Fail at once if another semailctl holds the state lock.") var noWait = false
    @OptionGroup var global: GlobalOptions

    func execute(_ ctx: CommandContext) throws -> ExitStatus {
        let reports = try Mailboxes(host: ctx.host()).locked(wait: !noWait) { $0 }
        ctx.emit(reports) { rs in rs.isEmpty ? "nothing to recover" : rs.map(\.text).joined(separator: "\n") }
        return reports.allSatisfy(\.ok) ? .success : .failure
    }
}

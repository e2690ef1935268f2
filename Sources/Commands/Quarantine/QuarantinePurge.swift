import ArgumentParser
import Core
import Provisioning
import Storage

struct QuarantinePurge: SemailCommand {
    static let configuration = CommandConfiguration.leaf(
        commandName: "purge",
        abstract: "Destroy quarantined volumes: the given ids, or every expired one.")
    @Argument(help: "Quarantine ids (default: every expired one).") var ids: [String] = []
    @OptionGroup var confirmation: Confirmation
    @OptionGroup var global: GlobalOptions

    func execute(_ ctx: CommandContext) throws -> ExitStatus {
        _ = try ctx.host()  // the configuration is checked before the question
        let what = ids.isEmpty ? "every expired quarantined volume" : ids.joined(separator: ", ")
        try confirmation.ask("Destroy \(what) and the mail on it?", what: "purge")
        let r = try ctx.locked(wait: true) { host in try host.volumes().purge(ids: ids) }
        ctx.emit(r) { r in
            r.isEmpty ? "nothing to purge" : r.map { "purged \($0.id) (\($0.place))" }.joined(separator: "\n")
        }
        return .success
    }
}

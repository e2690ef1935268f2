import ArgumentParser
import Core
import Provisioning

struct ConfigCheck: SemailCommand {
    static let configuration = CommandConfiguration.leaf(
        commandName: "check",
        abstract: "Load the configuration, report unknown keys and wrong types with their line, and try each component."
    )

    @OptionGroup var global: GlobalOptions

    func execute(_ ctx: CommandContext) throws -> ExitStatus {
        let report = try ConfigChecker.check(path: Config.resolvePath(global.config))
        ctx.emit(report) { r in
            var lines = ["configuration \(r.file)"]
            lines += r.problems.map { "  \($0.fatal ? "error" : "warning"): \($0)" }
            if r.problems.isEmpty { lines.append("  no unknown keys, all types right") }
            lines += r.components.map { c in
                "  \(c.name): \(c.ok ? "ok" : "FAILED") - \(c.message)" + (c.hint.map { "\n    hint: \($0)" } ?? "")
            }
            return lines.joined(separator: "\n")
        }
        let ok = report.problems.isEmpty && report.components.allSatisfy(\.ok)
        if !ok { return report.problems.isEmpty ? .unavailable : .config }
        return .success
    }
}

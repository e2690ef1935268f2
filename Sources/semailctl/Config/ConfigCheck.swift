import ArgumentParser
import Core
import Provisioning

struct ConfigCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "config", abstract: "Inspect the configuration.",
                                                    subcommands: [ConfigCheck.self])
}

struct ConfigCheck: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "check",
        abstract: "Load the configuration, report unknown keys and wrong types with their line, and try each component.")

    @OptionGroup var global: GlobalOptions

    func run() async throws {
        let out = global.output
        try await out.run {
            let report = try ConfigChecker.check(path: Config.resolvePath(global.config))
            out.emit(report) { r in
                var lines = ["configuration \(r.file)"]
                lines += r.problems.map { "  \($0.fatal ? "error" : "warning"): \($0)" }
                if r.problems.isEmpty { lines.append("  no unknown keys, all types right") }
                lines += r.components.map { c in
                    "  \(c.name): \(c.ok ? "ok" : "FAILED") - \(c.message)" + (c.hint.map { "\n    hint: \($0)" } ?? "")
                }
                return lines.joined(separator: "\n")
            }
            if !r_ok(report) { return report.problems.isEmpty ? .unavailable : .config }
            return .success
        }
    }

    private func r_ok(_ r: ConfigReport) -> Bool { r.problems.isEmpty && r.components.allSatisfy(\.ok) }
}

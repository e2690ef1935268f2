import ArgumentParser
import Core
import Provisioning

/// A leaf command. Its file declares what it parses and `execute`s it: one
/// call into Provisioning and one `emit`. Everything around that is here,
/// once: the context (configuration, host, output), the state lock and the
/// recovery before a mutation, and errors printed (as JSON too with --json)
/// and turned into the documented exit codes (`Output.run`).
protocol SemailCommand: AsyncParsableCommand {
    var global: GlobalOptions { get }
    /// The command's work; the exit status it returns is the process's.
    func execute(_ c: CommandContext) async throws -> ExitStatus
    /// Whether this run acts for a user who proved their password (`--as-user`).
    var selfService: Bool { get }
}

extension SemailCommand {
    var selfService: Bool { false }

    func run() async throws { try await runCommand() }

    /// What `run` does; a command that maps exit codes itself (reconcile
    /// --detailed-exitcode) calls it from its own `run`.
    func runCommand() async throws {
        AuditLog.begin(.from(Array(CommandLine.arguments.dropFirst())))
        let c = CommandContext(global)
        try await c.out.run {
            try SudoGuard.check(selfService: selfService) { try c.config() }
            return try await execute(c)
        }
    }
}

/// What a command runs with, built once per command: the output (text or
/// JSON; messages on stderr) and the host, made from the configuration on
/// first use, so a command refused for its arguments never reads it.
final class CommandContext {
    let out: Output
    let configPath: String?
    private var made: Provisioning.Host?

    init(_ global: GlobalOptions) {
        out = global.output
        configPath = global.config
    }

    /// The configuration, loaded once (unknown keys are warned about).
    func config() throws -> Config { try host().config }

    /// The one host of this command.
    func host() throws -> Provisioning.Host {
        if let made { return made }
        let out = self.out
        CallTrace.mark("parsed")
        let config = try Config.load(configPath, warn: { out.warn($0) })
        let host = Provisioning.Host(config: config, reporter: out.reporter)
        CallTrace.mark("configured")
        made = host
        return host
    }

    /// Runs a mutating command's body under the state lock, after repairing
    /// (and saying) what an interrupted command left.
    func locked<T>(wait: Bool, _ body: (Provisioning.Host) throws -> T) throws -> T {
        let host = try host()
        let out = self.out
        return try Mailboxes(host: host).locked(wait: wait) { recovered in
            CallTrace.mark("locked")
            for r in recovered { out.info("recovered: \(r.text)") }
            return try body(host)
        }
    }

    /// Prints the result: `value` as JSON with --json, else `text(value)`.
    func emit<T: Encodable>(_ value: T, text: (T) -> String) { out.emit(value, text: text) }
}

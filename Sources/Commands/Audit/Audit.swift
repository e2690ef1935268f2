import ArgumentParser
import Core
import Foundation
import Provisioning

struct AuditCommand: SemailCommand {
    static let configuration = CommandConfiguration.leaf(
        commandName: "audit",
        abstract:
            "The audit log (<state dir>/audit.log): one line per transaction that committed, rolled back or failed: "
            + "when, who (user, sudo user, --as-user), command, uid, steps, result.",
        discussion: """
            Lines that are not audit records are reported (on stderr, and in --json's `unreadable`), not fatal; \
            the log is never read through a symbolic link. --since takes a date (2026-12-01, UTC) or an ISO-8601 \
            time (2026-12-01T08:00:00Z).
            """)
    @Option(help: ArgumentHelp("Only records at or after this date or time.", valueName: "DATE")) var since: String?
    @Option(help: "Only records about this uid.") var uid: String?
    @OptionGroup var global: GlobalOptions

    struct Report: Codable {
        var path: String
        var records: [AuditRecord]
        var unreadable: [AuditLog.Unreadable]
    }

    /// A date (midnight UTC) or an ISO-8601 time.
    static func parseSince(_ s: String) throws -> Date {
        if let d = JSONDates.date(s) { return d }
        if s.count == 10, let d = JSONDates.date(s + "T00:00:00Z") { return d }
        throw SemailError(
            "invalid --since \(Validate.quoted(s))", why: "expected a date (2026-12-01) or an ISO-8601 time",
            status: .usage)
    }

    func execute(_ ctx: CommandContext) throws -> ExitStatus {
        let since = try since.map(Self.parseSince)
        let uid = try uid.map(Validate.uid)
        let log = AuditLog(stateDir: try ctx.config().state.dir)
        let (all, bad) = try log.read()
        for b in bad { ctx.out.warn("\(log.path) line \(b.line): not an audit record: \(b.text)") }
        let records = all.filter { r in
            (uid == nil || r.uid == uid) && (since.map { s in JSONDates.date(r.time).map { $0 >= s } ?? false } ?? true)
        }
        ctx.emit(Report(path: log.path, records: records, unreadable: bad)) { rep in
            guard !rep.records.isEmpty else { return "no audit records" + (all.isEmpty ? " in \(rep.path)" : "") }
            return TextTable.render(
                rep.records.map { r in
                    var who = r.user
                    if let s = r.sudoUser { who += " (sudo \(s))" }
                    if let a = r.asUser { who += " as \(a)" }
                    var result = r.result.rawValue
                    if let e = r.error { result += ": \(e)" }
                    return [r.time, who, r.command, r.uid, r.applied.joined(separator: ","), result]
                }, minimum: [24, 8, 16, 12, 10])
        }
        return .success
    }
}

extension AuditContext {
    /// This process's context: the command path (the subcommand names in
    /// ARGS, never their arguments) and `--as-user`'s value.
    static func from(_ args: [String], root: ParsableCommand.Type = Semailctl.self) -> AuditContext {
        var path: [String] = []
        var command = root
        var i = 0
        while i < args.count {
            let a = args[i]
            if a == "--config" { i += 2; continue }
            if a.hasPrefix("--config=") { i += 1; continue }
            guard
                let sub = command.configuration.subcommands.first(where: {
                    $0._commandName == a || $0.configuration.aliases.contains(a)
                })
            else { break }
            path.append(a)
            command = sub
            i += 1
        }
        var asUser: String?
        for (i, a) in args.enumerated() {
            if a == "--as-user", i + 1 < args.count { asUser = args[i + 1] }
            if a.hasPrefix("--as-user=") { asUser = String(a.dropFirst("--as-user=".count)) }
        }
        return .process(command: path.isEmpty ? "-" : path.joined(separator: " "), asUser: asUser)
    }
}

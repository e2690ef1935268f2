import ArgumentParser
import Core
import Foundation
import Provisioning

struct ReconcileCommand: SemailCommand {
    static let configuration = CommandConfiguration.leaf(
        commandName: "reconcile",
        abstract:
            "Make the host match the directory: repair drift per mailbox, report orphans (remove them with --prune).",
        discussion: """
            Observes each component once (one LDAP search, one volume listing, one container listing, one zone \
            parse), prints the plan, \
            then repairs each mailbox as its own transaction. Pruned volumes go to the quarantine (see \
            `semailctl quarantine`). \
            A run that would remove or recreate more than [state] guard_percent% of the mailboxes (at least \
            guard_min) stops unless --force.
            With --dry-run --detailed-exitcode: exit 0 when nothing would change, 2 when something would, 1 on error.
            Each pass (not a dry run) also measures every volume and sends the usage warnings due (see `mailbox \
            usage`); --watch also checks usage every [usage] interval seconds between passes and, with [metrics] \
            listen, serves Prometheus metrics there.
            """,
        exitCodes: ExitStatus.allCases)
    @Flag(help: "Print the plan only.") var dryRun = false
    @Flag(help: "Remove orphans: containers and MX records go, volumes are moved to the quarantine.") var prune = false
    @Flag(help: "Go past the mass-change guard.") var force = false
    @Flag(help: "With --dry-run: exit 2 when changes are pending, 0 when none, 1 on error.")
    var detailedExitcode = false
    @Flag(
        help: ArgumentHelp(
            "Stay running and reconcile whenever the directory changes (LDAP Content Synchronization, RFC 4533). "
                + "With --json: one JSON document per line, one per pass.")
    ) var watch = false
    @Flag(help: "Fail at once if another semailctl holds the state lock.") var noWait = false
    @OptionGroup var global: GlobalOptions

    func validate() throws {
        if detailedExitcode && !dryRun { throw ValidationError("--detailed-exitcode needs --dry-run") }
        if watch && dryRun { throw ValidationError("--watch applies changes; it does not take --dry-run") }
    }

    func run() async throws {
        do { try await runCommand() } catch let e as ExitCode
            where detailedExitcode && e.rawValue != 0 && e.rawValue != 2
        {
            throw ExitCode(1)
        }
    }

    func execute(_ ctx: CommandContext) throws -> ExitStatus {
        let host = try ctx.host()
        var opt = Reconciler.Options()
        opt.dryRun = dryRun
        opt.prune = prune
        opt.force = force
        if watch {
            try Watcher(host: host, options: opt, noWait: noWait, out: ctx.out).run()
            return .success
        }
        let r: ReconcileReport
        if dryRun {
            r = try Reconciler(host: host).run(opt)  // read-only: no lock
        } else {
            r = try ctx.locked(wait: !noWait) { host in try Reconciler(host: host).run(opt) }
        }
        CallTrace.mark("reconciled")
        ctx.emit(r) { $0.text }
        CallTrace.mark("written")
        if !r.errors.isEmpty { return .failure }
        if detailedExitcode && r.changesPending { return .changes }
        return .success
    }
}

extension ReconcileReport {
    var text: String {
        var l: [String] = []
        let calls = observeCalls.sorted { $0.key < $1.key }.map { "\($0.value) \($0.key)" }.joined(separator: ", ")
        l.append("observed \(mailboxes) mailboxes with \(calls)")
        if items.isEmpty { l.append("no drift: nothing to change") }
        if !items.isEmpty {
            let rows = items.map { [$0.kind.rawValue, $0.uid, $0.component.rawValue, "\($0.action): \($0.reason)"] }
            l.append(TextTable.render(rows, minimum: [7, 14, 11], indent: "  "))
        }
        if !prune && items.contains(where: { $0.kind == .orphan }) {
            l.append("orphans are kept; --prune removes them (volumes go to the quarantine)")
        }
        if dryRun {
            l.append(changesPending ? "dry run: changes are pending" : "dry run: nothing would change")
            return l.joined(separator: "\n")
        }
        for a in applied {
            l.append(
                a.ok
                    ? "repaired \(a.subject): \(a.applied.joined(separator: ", "))"
                    : "FAILED \(a.subject) at \(a.failedStep ?? "?"): \(a.reason ?? ""); rolled back "
                        + "\(a.rolledBack.joined(separator: ", "))"
            )
        }
        for p in pruned { l.append("pruned \(p)") }
        for q in quarantined {
            l.append(
                "quarantined \(q.uid)'s volume as \(q.id) (until \(ISO8601DateFormatter().string(from: q.expires)))")
        }
        for w in usage?.sent ?? [] { l.append("warned \(w.uid): \(w.percent)% used, past \(w.threshold)%") }
        for e in errors { l.append("error: \(e)") }
        return l.joined(separator: "\n")
    }
}

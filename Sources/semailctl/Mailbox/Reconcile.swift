import ArgumentParser
import Foundation
import Provisioning

struct ReconcileCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "reconcile",
        abstract: "Make the host match the directory: repair drift per mailbox, report orphans (remove them with --prune).",
        discussion: """
        Observes each component once (one LDAP search, one volume listing, one container listing, one zone parse), prints the plan, \
        then repairs each mailbox as its own transaction. Pruned volumes go to the quarantine (see `semailctl quarantine`). \
        A run that would remove or recreate more than [state] guard_percent% of the mailboxes (at least guard_min) stops unless --force.
        With --dry-run --detailed-exitcode: exit 0 when nothing would change, 2 when something would, 1 on error.
        """)
    @Flag(help: "Print the plan only.") var dryRun = false
    @Flag(help: "Remove orphans: containers and MX records go, volumes are moved to the quarantine.") var prune = false
    @Flag(help: "Go past the mass-change guard.") var force = false
    @Flag(help: "With --dry-run: exit 2 when changes are pending, 0 when none, 1 on error.") var detailedExitcode = false
    @Flag(help: "Stay running and reconcile whenever the directory changes (LDAP Content Synchronization, RFC 4533). With --json: one JSON document per line, one per pass.") var watch = false
    @Flag(help: "Fail at once if another semailctl holds the state lock.") var noWait = false
    @OptionGroup var global: GlobalOptions

    func validate() throws {
        if detailedExitcode && !dryRun { throw ValidationError("--detailed-exitcode needs --dry-run") }
        if watch && dryRun { throw ValidationError("--watch applies changes; it does not take --dry-run") }
    }

    func run() async throws {
        let out = global.output
        do {
            try await out.run {
                let host = try global.host()
                var opt = Reconciler.Options()
                opt.dryRun = dryRun; opt.prune = prune; opt.force = force
                if watch { try Watcher(host: host, options: opt, noWait: noWait, out: out).run(); return .success }
                let r: ReconcileReport
                if dryRun {
                    r = try Reconciler(host: host).run(opt)   // read-only: no lock
                } else {
                    r = try out.locked(host, wait: !noWait) { try Reconciler(host: host).run(opt) }
                }
                out.emit(r) { $0.text }
                if !r.errors.isEmpty { return .failure }
                if detailedExitcode && r.changesPending { return .changes }
                return .success
            }
        } catch let e as ExitCode where detailedExitcode && e.rawValue != 0 && e.rawValue != 2 {
            throw ExitCode(1)
        }
    }
}

extension ReconcileReport {
    var text: String {
        var l: [String] = []
        let calls = observeCalls.sorted { $0.key < $1.key }.map { "\($0.value) \($0.key)" }.joined(separator: ", ")
        l.append("observed \(mailboxes) mailboxes with \(calls)")
        if items.isEmpty { l.append("no drift: nothing to change") }
        if !items.isEmpty {
            let rows = items.map { [$0.kind.rawValue, $0.uid, $0.component, "\($0.action): \($0.reason)"] }
            l.append(TextTable.render(rows, minimum: [7, 14, 11], indent: "  "))
        }
        if !prune && items.contains(where: { $0.kind == .orphan }) { l.append("orphans are kept; --prune removes them (volumes go to the quarantine)") }
        if dryRun { l.append(changesPending ? "dry run: changes are pending" : "dry run: nothing would change"); return l.joined(separator: "\n") }
        for a in applied { l.append(a.ok ? "repaired \(a.subject): \(a.applied.joined(separator: ", "))" : "FAILED \(a.subject) at \(a.failedStep ?? "?"): \(a.reason ?? ""); rolled back \(a.rolledBack.joined(separator: ", "))") }
        for p in pruned { l.append("pruned \(p)") }
        for q in quarantined { l.append("quarantined \(q.uid)'s volume as \(q.id) (until \(ISO8601DateFormatter().string(from: q.expires)))") }
        for e in errors { l.append("error: \(e)") }
        return l.joined(separator: "\n")
    }
}

struct QuarantineCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "quarantine",
        abstract: "Volumes set aside (by `reconcile --prune` or `quarantine add`), kept [state] quarantine_days before they may be purged.",
        subcommands: [List.self, Add.self, Restore.self, Purge.self])

    struct Add: AsyncParsableCommand {
        static let configuration = CommandConfiguration(commandName: "add",
            abstract: "Set UID's volume aside by hand: unmount it, drop its fstab entry and move it to the quarantine (nothing is wiped).")
        @Argument var uid: String
        @OptionGroup var global: GlobalOptions
        func run() async throws {
            let out = global.output
            try await out.run {
                _ = try Validate.uid(uid)
                let host = try global.host()
                let e = try out.locked(host, wait: true) { try host.volumes().quarantine(uid: uid, days: host.config.state.quarantineDays) }
                out.emit(e) { "quarantined \($0.uid)'s volume as \($0.id) (\($0.place)), until \(ISO8601DateFormatter().string(from: $0.expires))" }
                return .success
            }
        }
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(commandName: "list", abstract: "Quarantined volumes.")
        @OptionGroup var global: GlobalOptions
        func run() async throws {
            let out = global.output
            try await out.run {
                let l = try global.host().volumes().quarantined()
                let f = ISO8601DateFormatter()
                out.emit(l) { $0.map { "\($0.id)  \($0.uid)  \(ByteSize.format($0.size))  \($0.place)  expires \(f.string(from: $0.expires))" }.joined(separator: "\n") }
                return .success
            }
        }
    }

    struct Restore: AsyncParsableCommand {
        static let configuration = CommandConfiguration(commandName: "restore", abstract: "Put a quarantined volume back and mount it (its mail intact).")
        @Argument(help: "The quarantine id (see `quarantine list`).") var id: String
        @OptionGroup var global: GlobalOptions
        func run() async throws {
            let out = global.output
            try await out.run {
                let host = try global.host()
                let r = try out.locked(host, wait: true) {
                    let e = try host.volumes().entry(id)
                    return try host.volumes().restore(id: id, owner: try host.mailOwner(e.uid))
                }
                out.emit(r) { "restored \($0.volume.source), mounted at \($0.volume.mountPoint)" }
                return .success
            }
        }
    }

    struct Purge: AsyncParsableCommand {
        static let configuration = CommandConfiguration(commandName: "purge", abstract: "Destroy quarantined volumes: the given ids, or every expired one.")
        @Argument(help: "Quarantine ids (default: every expired one).") var ids: [String] = []
        @Flag(help: "Do not ask; required when standard input is not a terminal.") var yes = false
        @OptionGroup var global: GlobalOptions
        func run() async throws {
            let out = global.output
            try await out.run {
                let host = try global.host()
                try Terminal.confirm("Destroy \(ids.isEmpty ? "every expired quarantined volume" : ids.joined(separator: ", ")) and the mail on it?", yes: yes, what: "purge")
                let r = try out.locked(host, wait: true) { try host.volumes().purge(ids: ids) }
                out.emit(r) { r in r.isEmpty ? "nothing to purge" : r.map { "purged \($0.id) (\($0.place))" }.joined(separator: "\n") }
                return .success
            }
        }
    }
}

import Containers
import Foundation
import Core
import Storage

/// The state of each mailbox as a reconcile pass observed it (before its
/// repairs), for the metrics' `semail_mailboxes{state=...}`. One function
/// to extend when a mailbox gains a state (e.g. suspended).
public enum MailboxStates {
    /// Every state, so a state with no mailbox is exported as 0.
    public static let all = [
        "active", "suspended", "refused", "missing-volume", "unmounted", "missing-container", "container-stopped"
    ]

    /// The state of one mailbox entry.
    public static func state(
        refused: Bool, suspended: Bool = false, volume: VolumeState?, container: ContainerState?
    ) -> String {
        if refused { return "refused" }
        if suspended { return "suspended" }
        guard let volume else { return "missing-volume" }
        if !volume.mounted { return "unmounted" }
        guard let container else { return "missing-container" }
        return container.isUp ? "active" : "container-stopped"
    }

    /// Counts by state of every mailbox entry in the observation.
    static func count(_ o: Observation) -> [String: Int] {
        var out = Dictionary(uniqueKeysWithValues: all.map { ($0, 0) })
        for m in o.all {
            let s = state(
                refused: o.refused[m.uid] != nil, suspended: m.suspension != nil, volume: o.volumes[m.uid],
                container: o.containers[m.uid])
            out[s, default: 0] += 1
        }
        return out
    }
}

extension Reconciler {
    /// A reconcile pass's usage check (one fstatvfs per mailbox, a warning at
    /// each threshold crossing) and its mailboxes by state.
    func usagePass(_ o: Observation) -> UsagePass {
        var p: UsagePass
        do {
            p = try UsageMonitor(config: host.config, reporter: host.reporter).run(o.mailboxes, send: true)
        } catch {
            p = UsagePass(thresholds: host.config.usage.warnPercent)
            p.errors.append("usage: \(SemailError.text(error))")
        }
        p.states = MailboxStates.count(o)
        return p
    }
}

extension ConfigChecker {
    /// `[usage]` and `[metrics]` (validated when the file is read): what they make happen.
    static func checkUsage(_ config: Config) -> ConfigReport.Component {
        let w = config.usage.warnPercent
        let warn =
            w.isEmpty
            ? "no usage warnings"
            : "usage warnings at \(w.map { "\($0)%" }.joined(separator: ", ")) from \(config.usageFrom)"
        let m =
            config.metrics.listen.isEmpty
            ? "no metrics" : "reconcile --watch serves metrics on \(config.metrics.listen)"
        return .init(name: "usage", ok: true, message: "\(warn); \(m)")
    }
}

extension DirectoryWatcher {
    /// Mail fills a volume without any directory change: between passes the
    /// watch checks usage alone every `[usage] interval` seconds.
    func usageDue(since last: Date) -> Bool {
        config.usage.interval > 0 && Date().timeIntervalSince(last) >= Double(config.usage.interval)
    }

    /// One usage check (a directory search, one fstatvfs per mailbox, the warnings due).
    func usageCheck() {
        let host = Host(config: config, reporter: reporter)
        do {
            let p = try UsageMonitor(config: config, reporter: reporter).run(
                try UsageMonitor.mailboxes(host), send: true)
            for e in p.errors { reporter.warn("usage: \(e)") }
            metrics?.recordUsage(p)
        } catch {
            reporter.warn("usage check failed: \(SemailError.text(error))")
            metrics?.recordUsageFailure()
        }
    }
}

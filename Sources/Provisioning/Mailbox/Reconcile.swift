import Containers
import Core
import DNS
import Foundation
import Synchronization
import Storage

/// One line of a reconcile plan.
public struct ReconcileItem: Sendable, Codable, Equatable {
    /// `attention`: something semailctl must not repair by itself (a
    /// Maildir directory replaced by a link, a size above the maximum):
    /// reported as an error, and that mailbox is left alone.
    /// `refused`: a directory mailbox that is neither provisioned nor listed in
    /// the address map (invalid value, address claimed by another, address policy).
    public enum Kind: String, Sendable, Codable { case create, repair, orphan, attention, refused }
    public var kind: Kind
    public var uid: String
    public var component: ComponentName
    /// What the action works on: a uid, or for DNS items the domain.
    public var target: String
    public var action: String
    public var reason: String
    /// Removes or recreates something (counted by the mass-change guard).
    public var destructive: Bool
}

/// What `reconcile` saw, planned and did.
public struct ReconcileReport: Sendable, Codable {
    public var mailboxes: Int
    public var items: [ReconcileItem]
    /// External calls made to observe (LDAP searches, Docker API calls,
    /// programs run, zone files parsed): independent of the mailbox count.
    public var observeCalls: [String: Int]
    /// Milliseconds spent observing each component and planning.
    public var millis: [String: Double] = [:]
    public var applied: [PipelineReport] = []
    public var pruned: [String] = []
    public var quarantined: [QuarantineEntry] = []
    public var errors: [String] = []
    /// Usage measured, warnings sent, mailboxes by state (`UsageMonitor`; nil on a dry run).
    public var usage: UsagePass? = nil
    public var dryRun: Bool
    public var prune: Bool
    /// Would a real run change anything (repairs, or orphans with --prune)?
    public var changesPending: Bool {
        items.contains { $0.kind == .create || $0.kind == .repair || ($0.kind == .orphan && prune) }
    }
}

/// The reconcile plan: a pure function of an observation and the
/// configuration (no service is called), composed from the components.
enum ReconcilePlanner {
    static func plan(
        _ o: Observation, _ config: Config,
        components: [any MailboxComponent] = MailboxComponents.all
    ) -> [ReconcileItem] {
        // A refused entry's things are not orphans: it may be its owner's mailbox with a bad value written over it.
        let wanted = Set((o.all.isEmpty ? o.mailboxes : o.all).map(\.uid))
        var items = components.flatMap { $0.hostDrift(o, config) }
        for m in o.mailboxes { items += components.flatMap { $0.drift(of: m, o, config) } }
        items += components.flatMap { $0.sharedDrift(o, config) }
        items += components.flatMap { $0.orphans(o, wanted: wanted, config) }
        return items
    }

    /// The directory can lie (outage, wrong base, empty result): stop
    /// before a mass change (removing or recreating more than
    /// max(guard_min, guard_percent% of the mailboxes)) unless forced.
    static func checkMassChange(
        _ items: [ReconcileItem], mailboxes: Int, _ opt: Reconciler.Options,
        _ config: Config
    ) throws {
        let risky = items.filter { $0.destructive && ($0.kind != .orphan || opt.prune) }.count
        let limit = max(config.state.guardMin, mailboxes * config.state.guardPercent / 100)
        if risky > limit && !opt.force && !opt.dryRun {
            throw SemailError(
                "reconcile stopped by the mass-change guard",
                why: "it would remove or recreate \(risky) things; the limit is \(limit) "
                    + "(\(config.state.guardPercent)% of \(mailboxes) mailboxes, at least \(config.state.guardMin))",
                hint: "check the directory (base DN, outage) with `semailctl reconcile --dry-run`; "
                    + "if the plan is right, add --force", status: .failure)
        }
    }
}

/// `reconcile`: the desired state is LDAP's mailboxes; the actual state is
/// observed in one batched call per component; drift is repaired one
/// mailbox per transaction; orphans are reported, and pruned (volumes to
/// the quarantine) only with `--prune`.
public struct Reconciler: Sendable {
    public let host: Host
    public init(host: Host) { self.host = host }

    var components: [any MailboxComponent] { MailboxComponents.all }

    /// Every component at once, each in its own copy: the time of the
    /// slowest, not the sum. The directory's (first in the list) decides
    /// which mailboxes are wanted; the parts of the others that need that
    /// wait for it (`Observation.wanted()`), the rest does not.
    func observe() throws -> Observation {
        let mb = Mailboxes(host: host)
        let components = components
        let seen = DirectorySeen()
        let parts = Mutex<[Int: Result<Observation, any Error>]>([:])
        @Sendable func run(_ k: Int) {
            var part = Observation()
            if k > 0 { part.directory = seen }
            let r = Result { () throws -> Observation in
                // The directory's decision is handed on however its observation ends.
                defer { if k == 0 { seen.set(all: part.all, mailboxes: part.mailboxes) } }
                try components[k].observe(&part, .reconcile, mb)
                return part
            }
            parts.withLock { $0[k] = r }
        }
        // The directory on this thread, each other on its own.
        Concurrently.run(components.indices.map { k in { run(k) } })
        let results = parts.withLock { $0 }
        var o = Observation()
        for (k, c) in components.enumerated() {
            guard let part = try results[k]?.get() else { continue }
            c.adopt(part, into: &o)
            o.calls.merge(part.calls, uniquingKeysWith: +)
            o.millis.merge(part.millis, uniquingKeysWith: +)
        }
        return o
    }

    func plan(_ o: Observation) -> [ReconcileItem] { ReconcilePlanner.plan(o, host.config, components: components) }

    public struct Options: Sendable {
        public var dryRun = false
        public var prune = false
        public var force = false
        public init() {}
    }

    public func run(_ opt: Options) throws -> ReconcileReport {
        CallTrace.mark("observe")
        let o = try observe()
        CallTrace.mark("observed")
        let tp = Date()
        let items = plan(o)
        var report = ReconcileReport(
            mailboxes: max(o.all.count, o.mailboxes.count), items: items, observeCalls: o.calls, dryRun: opt.dryRun,
            prune: opt.prune)
        report.errors += o.refused.sorted { $0.key < $1.key }.map { "\($0.key): refused, not provisioned: \($0.value)" }
        report.millis = o.millis
        report.millis["plan"] = Date().timeIntervalSince(tp) * 1000
        if let e = o.zoneError { report.errors.append("zone: \(e)") }
        try ReconcilePlanner.checkMassChange(items, mailboxes: o.mailboxes.count, opt, host.config)
        if opt.dryRun { return report }
        let mb = Mailboxes(host: host)
        // The host as a whole first, outermost first (the network before the volumes' mount points).
        for c in components.reversed() { c.repairHost(items, host, errors: &report.errors) }
        // What needs an admin is reported and that mailbox left alone.
        let attention = Set(items.filter { $0.kind == .attention }.map(\.uid))
        for i in items where i.kind == .attention { report.errors.append("\(i.uid): needs an admin: \(i.reason)") }
        // Repairs: one transaction per mailbox (every step checks first).
        let approved = mb.approvedAddresses()
        let byUID = Dictionary(
            grouping: items.filter { ($0.kind == .create || $0.kind == .repair) && $0.uid != "-" }, by: \.uid)
        for m in o.mailboxes where byUID[m.uid] != nil && !attention.contains(m.uid) {
            do {
                for c in components { try c.prepare(m, o, host) }
                // An address never approved nor provisioned is checked as a user's request would be.
                // A directory request: a failure keeps it, with why, for the next pass.
                let r = try mb.provision(
                    uid: m.uid, address: m.address,
                    size: m.size ?? (try ByteSize.parse(host.config.storage.defaultSize)),
                    requestSize: m.size,
                    by: o.current[m.uid] == m.address || approved[m.uid] == m.address ? .admin : .user)
                report.applied.append(r)
                if !r.ok { report.errors.append("\(m.uid): \(r.reason ?? "failed")") }
            } catch {
                report.errors.append("\(m.uid): \(SemailError.text(error))")
            }
        }
        for c in components { c.repairShared(items, mb, errors: &report.errors) }
        if opt.prune {
            // Orphans in the plan's order, the volumes last (after the containers that mount them).
            for last in [false, true] {
                for i in items where i.kind == .orphan {
                    for c in components where c.prunesLast == last {
                        do {
                            switch try c.prune(i, host) {
                            case .removed(let what)?: report.pruned.append(what)
                            case .quarantined(let q)?: report.quarantined.append(q)
                            case nil: continue
                            }
                        } catch {
                            let what = last ? "quarantine \(i.uid)" : "prune \(i.component.rawValue) \(i.uid)"
                            report.errors.append("\(what): \(SemailError.text(error))")
                        }
                    }
                }
            }
        }
        report.usage = usagePass(o)
        report.errors += report.usage?.errors ?? []
        return report
    }
}

import Core
import Foundation
import Prometheus
import Storage
import Synchronization

/// The metrics `reconcile --watch` serves (Prometheus text format, through
/// swift-prometheus's registry), updated after each pass and on each change
/// of the directory connection.
public final class WatchMetrics: Sendable {
    public let registry = PrometheusCollectorRegistry()
    let passSeconds: ValueHistogram
    let passes, failedPasses, driftFound, driftRepaired, errors: Prometheus.Counter
    let lastSuccess, lastPass, connected, lastUsage: Gauge
    struct Volume { var used, size, available: Gauge }
    private let volumes = Mutex<[String: Volume]>([:])

    static func name(_ sub: String, _ metric: String, _ unit: String, _ help: String) -> MetricNameDescriptor {
        MetricNameDescriptor(namespace: "semail", subsystem: sub, metricName: metric, unitName: unit, helpText: help)
    }

    /// THRESHOLDS: `[usage] warn_percent`, so their counters start at 0.
    public init(thresholds: [Int] = []) {
        let r = registry
        passSeconds = r.makeValueHistogram(
            descriptor: Self.name("reconcile", "pass_duration", "seconds", "Time a reconcile pass took."),
            buckets: [0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300])
        passes = r.makeCounter(descriptor: Self.name("reconcile", "passes", "total", "Reconcile passes run."))
        failedPasses = r.makeCounter(
            descriptor: Self.name("reconcile", "failed_passes", "total", "Passes that stopped before the end."))
        driftFound = r.makeCounter(
            descriptor: Self.name("reconcile", "drift_found", "total", "Plan items found (repairs, orphans, ...)."))
        driftRepaired = r.makeCounter(
            descriptor: Self.name(
                "reconcile", "drift_repaired", "total", "Mailboxes repaired and orphans pruned or quarantined."))
        errors = r.makeCounter(
            descriptor: Self.name("reconcile", "errors", "total", "Errors reported by passes (a failed pass is one)."))
        lastSuccess = r.makeGauge(
            descriptor: Self.name(
                "reconcile", "last_success", "timestamp_seconds", "When the last pass that ran to its end ended."))
        lastPass = r.makeGauge(
            descriptor: Self.name("reconcile", "last_pass", "timestamp_seconds", "When the last pass ended."))
        connected = r.makeGauge(
            descriptor: Self.name("directory", "connected", "", "1 while the directory watch is connected."))
        lastUsage = r.makeGauge(
            descriptor: Self.name(
                "usage", "last_check", "timestamp_seconds", "When usage was last measured (a pass or a check)."))
        for s in MailboxStates.all { _ = stateGauge(s) }
        for t in thresholds { _ = warningCounter(t) }
    }

    func stateGauge(_ state: String) -> Gauge {
        registry.makeGauge(
            descriptor: Self.name("", "mailboxes", "", "Mailboxes by state, as the last pass observed them."),
            labels: [("state", state)])
    }

    func warningCounter(_ threshold: Int) -> Prometheus.Counter {
        registry.makeCounter(
            descriptor: Self.name("usage", "warnings_sent", "total", "Usage warnings delivered into Maildirs."),
            labels: [("threshold", "\(threshold)")])
    }

    public func setConnected(_ up: Bool) { connected.set(up ? 1.0 : 0.0) }

    /// A pass that ran to its end (its report may still hold errors).
    public func record(_ r: ReconcileReport, seconds: Double, at: Date = Date()) {
        passes.increment()
        passSeconds.record(seconds)
        driftFound.increment(by: Int64(r.items.count))
        driftRepaired.increment(by: Int64(r.applied.filter(\.ok).count + r.pruned.count + r.quarantined.count))
        errors.increment(by: Int64(r.errors.count))
        lastSuccess.set(at.timeIntervalSince1970)
        lastPass.set(at.timeIntervalSince1970)
        guard let u = r.usage else { return }
        if let states = u.states {
            for s in Set(MailboxStates.all).union(states.keys) { stateGauge(s).set(Double(states[s] ?? 0)) }
        }
        recordUsage(u, at: at, countErrors: false)  // already in the report's errors
    }

    /// A usage measure (in a pass, or the watch's check between passes).
    public func recordUsage(_ u: UsagePass, at: Date = Date(), countErrors: Bool = true) {
        for w in u.sent { warningCounter(w.threshold).increment() }
        if countErrors { errors.increment(by: Int64(u.errors.count)) }
        setVolumes(u.rows)
        lastUsage.set(at.timeIntervalSince1970)
    }

    /// A usage check between passes that could not run (directory unreachable).
    public func recordUsageFailure() { errors.increment() }

    /// A pass that threw (directory lost, mass-change guard, ...).
    public func recordFailure(seconds: Double, at: Date = Date()) {
        passes.increment()
        failedPasses.increment()
        errors.increment()
        passSeconds.record(seconds)
        lastPass.set(at.timeIntervalSince1970)
    }

    /// Per-mailbox volume gauges; a mailbox gone or unmounted loses its series.
    func setVolumes(_ rows: [UsageRow]) {
        volumes.withLock { vols in
            let now = Dictionary(rows.compactMap { r in r.usage.map { (r.uid, $0) } }, uniquingKeysWith: { a, _ in a })
            for (uid, v) in vols where now[uid] == nil {
                registry.unregisterGauge(v.used)
                registry.unregisterGauge(v.size)
                registry.unregisterGauge(v.available)
                vols[uid] = nil
            }
            for (uid, u) in now {
                let v =
                    vols[uid]
                    ?? Volume(
                        used: volumeGauge("used", "Bytes used on the mailbox's volume.", uid),
                        size: volumeGauge("size", "Size of the mailbox's volume.", uid),
                        available: volumeGauge("available", "Bytes the mailbox's owner can still write.", uid))
                vols[uid] = v
                v.used.set(Double(u.used))
                v.size.set(Double(u.size))
                v.available.set(Double(u.available))
            }
        }
    }

    func volumeGauge(_ what: String, _ help: String, _ uid: String) -> Gauge {
        registry.makeGauge(descriptor: Self.name("volume", what, "bytes", help), labels: [("uid", uid)])
    }

    /// The text exposition (format 0.0.4).
    public func render() -> [UInt8] { registry.emitToBuffer() }
}

import Core
import Foundation
import Provisioning
import Synchronization

/// Set by SIGTERM/SIGINT (a lock-free atomic: safe in a signal handler).
let watchStopRequested = Atomic<Bool>(false)

/// `reconcile --watch`: prints each reconcile it runs; stops on SIGTERM/SIGINT.
/// A server that cannot serve the watch ends it with exit status 78
/// (EX_CONFIG), which the shipped unit does not restart.
struct Watcher {
    let host: Provisioning.Host
    let options: Reconciler.Options
    let noWait: Bool
    let out: Output
    func run() throws {
        signal(SIGTERM) { _ in watchStopRequested.store(true, ordering: .relaxed) }
        signal(SIGINT) { _ in watchStopRequested.store(true, ordering: .relaxed) }
        var w = DirectoryWatcher(config: host.config, reporter: host.reporter, options: options)
        if !host.config.metrics.listen.isEmpty {
            let metrics = WatchMetrics(thresholds: host.config.usage.warnPercent)
            let server = try MetricsServer(listen: host.config.metrics.listen) { metrics.render() }
            server.start(stop: { watchStopRequested.load(ordering: .relaxed) })
            w.metrics = metrics
            out.info("serving metrics on http://\(host.config.metrics.listen)/metrics")
        }
        try w.run(stop: { watchStopRequested.load(ordering: .relaxed) }) { result in
            switch result {
            case let .success(r):
                if r.items.isEmpty && (r.usage?.sent ?? []).isEmpty && !out.json {
                    out.note("no drift")
                } else {
                    out.emitLine(r) { $0.text }
                }
            case let .failure(e):
                out.warn("reconcile failed: \((e as? SemailError)?.description ?? "\(e)")")
            }
        }
        out.info("stopped")
    }
}

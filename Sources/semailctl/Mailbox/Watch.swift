import Core
import Foundation
import Provisioning

nonisolated(unsafe) var watchStopRequested: sig_atomic_t = 0

/// `reconcile --watch`: prints each reconcile it runs; stops on SIGTERM/SIGINT.
/// A server that cannot serve the watch ends it with exit status 78
/// (EX_CONFIG), which the shipped unit does not restart.
struct Watcher {
    let host: Provisioning.Host
    let options: Reconciler.Options
    let noWait: Bool
    let out: Output
    func run() throws {
        signal(SIGTERM) { _ in watchStopRequested = 1 }
        signal(SIGINT) { _ in watchStopRequested = 1 }
        let w = DirectoryWatcher(config: host.config, reporter: host.reporter, options: options)
        try w.run(stop: { watchStopRequested != 0 }) { result in
            switch result {
            case let .success(r):
                if r.items.isEmpty && !out.json { out.note("no drift") } else { out.emitLine(r) { $0.text } }
            case let .failure(e):
                out.warn("reconcile failed: \((e as? SemailError)?.description ?? "\(e)")")
            }
        }
        out.info("stopped")
    }
}

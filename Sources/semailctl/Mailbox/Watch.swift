import Foundation
import Provisioning

/// `reconcile --watch` (filled in below).
struct Watcher {
    let host: Provisioning.Host
    let options: Reconciler.Options
    let noWait: Bool
    let out: Output
    func run() throws {
        throw SemailError("--watch is not available yet", why: "not built", status: .software)
    }
}

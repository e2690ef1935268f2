import Foundation
import LDAPClient

/// `reconcile --watch`: a refreshAndPersist search (RFC 4533) on the people
/// OU; every change, once the directory has been quiet for a moment, runs a
/// reconcile (under the state lock). No polling: the server pushes changes.
/// When the server goes away the watcher reconnects with a growing delay.
public struct DirectoryWatcher: Sendable {
    public let config: Config
    public let reporter: Reporter
    public let options: Reconciler.Options
    public var quiet: TimeInterval = 0.5
    public init(config: Config, reporter: Reporter, options: Reconciler.Options) {
        self.config = config; self.reporter = reporter; self.options = options
    }

    /// Runs until `stop()` says so; `report` sees each reconcile.
    public func run(stop: @escaping () -> Bool, report: (Result<ReconcileReport, Error>) -> Void) throws {
        var delay: TimeInterval = 1
        while !stop() {
            do {
                let c = try Host.connect(config.ldap)
                defer { c.close() }
                try Host.bindAdmin(c, config.ldap)
                reporter.info("watching \(config.peopleDN) (\(config.ldap.uri)) for changes")
                var refreshed = false, pending = false, last = Date()
                try c.syncWatch(base: config.peopleDN, filter: .equal("objectClass", "inetOrgPerson"),
                                attributes: ["uid", "semailMailbox", "semailVolumeSize", "sshPublicKey", "uidNumber", "gidNumber"]) { ev in
                    switch ev {
                    case .entry: pending = true; last = Date()
                    case .refreshDone: refreshed = true; pending = true; last = Date()
                    case .idle: break
                    }
                    delay = 1
                    if refreshed && pending && Date().timeIntervalSince(last) >= quiet {
                        pending = false
                        report(Result { try reconcile() })
                    }
                    return !stop()
                }
            } catch {
                if stop() { break }
                let why = (error as? SemailError)?.description ?? "\(error)"
                reporter.warn("lost the directory (\(why)); reconnecting in \(Int(delay)) s")
                let until = Date().addingTimeInterval(delay)
                while Date() < until && !stop() { usleep(100_000) }
                delay = min(delay * 2, 30)
            }
        }
    }

    /// One reconcile with fresh connections (the old ones may be dead after an outage).
    func reconcile() throws -> ReconcileReport {
        let host = Host(config: config, reporter: reporter)
        return try Mailboxes(host: host).locked(wait: true) { _ in try Reconciler(host: host).run(options) }
    }
}

import Core
import Directory
import Foundation
import LDAPClient
import Synchronization

/// `reconcile --watch`: a refreshAndPersist search (RFC 4533) on the people
/// OU. Once the search is sent, a full reconcile runs (so drift from before
/// the start, or from an outage, is repaired without waiting for a change);
/// afterwards every change of the directory, of the Dockerfile template
/// directory (inotify) or of the base image's tag (Docker's event stream),
/// once things have been quiet for a moment, runs another (under the state
/// lock). No polling: every source pushes its changes.
/// When the server goes away the watcher reconnects with a growing delay;
/// when the server cannot serve the watch at all (no syncprov, no people
/// OU, refused credentials or access) it throws a `.config` error, which a
/// restart cannot fix.
public struct DirectoryWatcher: Sendable {
    public let config: Config
    public let reporter: Reporter
    public let options: Reconciler.Options
    public var quiet: TimeInterval = 0.5
    /// Sees each pass and the directory connection (`[metrics] listen`).
    public var metrics: WatchMetrics? = nil
    public init(config: Config, reporter: Reporter, options: Reconciler.Options) {
        self.config = config; self.reporter = reporter; self.options = options
    }

    /// Runs until `stop()` says so; `report` sees each reconcile.
    public func run(stop: @escaping @Sendable () -> Bool, report: (Result<ReconcileReport, Error>) -> Void) throws {
        let changes = ChangeSignal()
        TemplateWatch(directory: config.containers.templateDir, reporter: reporter).start(stop: stop) {
            changes.mark("template \($0)")
        }
        ImageWatch(socket: config.containers.socket, image: config.containers.baseImage, reporter: reporter)
            .start(stop: stop) { changes.mark("base image \($0)") }
        var delay: TimeInterval = 1
        var lastUsage = Date()
        while !stop() {
            do {
                let c = try DirectoryServer.connect(config.ldap)
                defer { c.close() }
                try DirectoryServer.bindAdmin(c, config.ldap)
                var refreshed = false
                try c.syncWatch(
                    base: config.peopleDN, filter: .equal("objectClass", "inetOrgPerson"),
                    attributes: [
                        "uid", "semailMailbox", "semailVolumeSize", "sshPublicKey", "uidNumber", "gidNumber",
                        Suspension.attribute, Suspension.reasonAttribute
                    ]
                ) { ev in
                    switch ev {
                    case .started:
                        // Changes made from now on come as persist-phase entries:
                        // one pass now covers everything before them.
                        reporter.info(
                            """
                            watching \(config.peopleDN) (\(config.ldap.uri)), \(config.containers.templateDir) and \
                            \(config.containers.baseImage) for changes
                            """
                        )
                        metrics?.setConnected(true)
                        _ = changes.take(quiet: 0)
                        report(pass())
                        lastUsage = Date()
                    case .entry: if refreshed { changes.mark("directory") }
                    case .refreshDone: refreshed = true; delay = 1
                    case .idle: break
                    }
                    if let why = changes.take(quiet: quiet) {
                        reporter.info("changed: \(why.joined(separator: ", "))")
                        report(pass())
                        lastUsage = Date()
                    }
                    if usageDue(since: lastUsage) {
                        usageCheck()
                        lastUsage = Date()
                    }
                    return !stop()
                }
            } catch {
                metrics?.setConnected(false)
                if stop() { break }
                if let fatal = Self.fatal(error, config: config) { throw fatal }
                let why = (error as? SemailError)?.description ?? "\(error)"
                reporter.warn("lost the directory (\(why)); reconnecting in \(Int(delay)) s")
                let until = Date().addingTimeInterval(delay)
                while Date() < until && !stop() { usleep(100_000) }
                delay = min(delay * 2, 30)
            }
        }
    }

    /// The failures a restart cannot fix, as a `.config` error (exit 78,
    /// which the shipped unit's RestartPreventExitStatus= names); nil for
    /// the transient ones (server down, connection lost). By result code.
    static func fatal(_ error: Error, config: Config) -> SemailError? {
        let people = config.peopleDN
        if let e = error as? LDAPError {
            switch e.code {
            case .unavailableCriticalExtension:
                return SemailError(
                    "the LDAP server cannot serve reconcile --watch",
                    why: "it refused the Content Synchronization search on \(people) (\(e.code), \(e.code.rawValue)): "
                        + "the syncprov overlay is not on the database",
                    hint:
                        """
                        load it with `semailctl directory setup` (or `overlay syncprov` on the database in \
                        slapd.conf), then start the watch again
                        """,
                    status: .config)
            case .noSuchObject:
                return SemailError(
                    "cannot watch \(people)", why: "it does not exist (\(e))",
                    hint: "create the people OU, or fix [ldap] base and people", status: .config)
            case .insufficientAccessRights, .invalidCredentials, .inappropriateAuthentication:
                return SemailError(
                    "cannot watch \(people)", why: e.description,
                    hint:
                        "the bind identity needs read access to the people OU (`semailctl directory setup` grants it)",
                    status: .config)
            default:
                return nil
            }
        }
        if let e = error as? SemailError, e.status == .noPermission || e.status == .config {
            return SemailError(e.what, why: e.why, hint: e.hint, status: .config)
        }
        return nil
    }

    /// One reconcile, timed for the metrics.
    func pass() -> Result<ReconcileReport, Error> {
        let t = Date()
        let r = Result { try reconcile() }
        let seconds = Date().timeIntervalSince(t)
        switch r {
        case .success(let report): metrics?.record(report, seconds: seconds)
        case .failure: metrics?.recordFailure(seconds: seconds)
        }
        return r
    }

    /// One reconcile with fresh connections (the old ones may be dead after an outage).
    func reconcile() throws -> ReconcileReport {
        let host = Host(config: config, reporter: reporter)
        return try Mailboxes(host: host).locked(wait: true) { _ in try Reconciler(host: host).run(options) }
    }
}

/// Changes seen by the watch's sources, debounced: `take` answers once
/// nothing new has arrived for `quiet` seconds.
final class ChangeSignal: Sendable {
    private struct State { var reasons: [String] = []; var last = Date.distantPast }
    private let state = Mutex(State())

    func mark(_ why: String) {
        state.withLock {
            if !$0.reasons.contains(why) { $0.reasons.append(why) }
            $0.last = Date()
        }
    }

    /// The reasons, if any and quiet for long enough; clears them.
    func take(quiet: TimeInterval) -> [String]? {
        state.withLock { state in
            guard !state.reasons.isEmpty, Date().timeIntervalSince(state.last) >= quiet else { return nil }
            defer { state.reasons.removeAll() }
            return state.reasons
        }
    }
}

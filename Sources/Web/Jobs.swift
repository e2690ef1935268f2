import Core
import Foundation
import Synchronization

/// The mailbox create and delete a user started: they take seconds, so the
/// portal runs them in the background and the progress page (which reloads
/// itself, no script) shows each step as semailctl reaches it.
final class Jobs: Sendable {
    enum Kind: String, Sendable { case create, delete }

    struct Job: Sendable {
        var kind: Kind
        var address: String
        /// The steps begun so far, in order (from semailctl's stderr).
        var begun: [String] = []
        var done = false
        var report: Docs.Report?
        var failure: Docs.Failure?
    }

    private let jobs = Mutex<[String: Job]>([:])

    func job(_ uid: String) -> Job? { jobs.withLock { $0[uid] } }
    func forget(_ uid: String) { jobs.withLock { if $0[uid]?.done == true { $0[uid] = nil } } }

    /// The step names semailctl logs as it begins them (`<uid>: <step>`).
    static func steps(in stderr: String, uid: String) -> [String] {
        var out: [String] = []
        for line in stderr.split(separator: "\n") {
            // `<6>TIME uid: step` (or `uid: step` on a terminal): the uid whole, not the end of another.
            let l = " " + line
            guard let r = l.range(of: " \(uid): ", options: .backwards) else { continue }
            let step = String(l[r.upperBound...])
            if Steps.label(step) != nil, !out.contains(step) { out.append(step) }
        }
        return out
    }

    /// Starts BODY for UID unless a job of UID still runs; false then.
    func start(
        uid: String, kind: Kind, address: String, _ body: @escaping @Sendable (Int32) async throws -> Semailctl.Run
    ) -> Bool {
        let started = jobs.withLock { j -> Bool in
            if let running = j[uid], !running.done { return false }
            j[uid] = Job(kind: kind, address: address)
            return true
        }
        guard started else { return false }
        Task.detached { [self] in
            let fd: Int32
            do { fd = try ProcessRunner.anonymousFile() } catch {
                finish(uid, nil, Docs.Failure(what: "cannot start", why: "\(error)", hint: nil))
                return
            }
            defer { close(fd) }
            let watcher = Task.detached { [self] in
                while !Task.isCancelled {
                    let seen = Self.steps(in: String(decoding: ProcessRunner.contents(fd), as: UTF8.self), uid: uid)
                    jobs.withLock { $0[uid]?.begun = seen }
                    try? await Task.sleep(for: .milliseconds(200))
                }
            }
            do {
                let run = try await body(fd)
                watcher.cancel()
                let seen = Self.steps(in: run.stderr, uid: uid)
                jobs.withLock { $0[uid]?.begun = seen }
                let report = run.decode(Docs.Report.self)
                finish(uid, report, report == nil || run.status != 0 ? run.error : nil)
            } catch {
                watcher.cancel()
                finish(uid, nil, Docs.Failure(what: "semailctl could not be run", why: "\(error)", hint: nil))
            }
        }
        return true
    }

    private func finish(_ uid: String, _ report: Docs.Report?, _ failure: Docs.Failure?) {
        jobs.withLock {
            $0[uid]?.done = true
            $0[uid]?.report = report
            $0[uid]?.failure =
                report?.ok == true
                ? nil
                : (failure
                    ?? report.map { r in
                        Docs.Failure(what: "failed at step \(r.failedStep ?? "?")", why: r.reason ?? "", hint: nil)
                    })
        }
    }
}

/// The steps in words a mailbox owner reads.
enum Steps {
    static let create = [
        "directory-check", "request", "volume", "dockerfile", "container", "dns", "directory", "address-map"
    ]
    static let delete = [
        "directory-check", "stop-delivery", "container", "archive", "volume", "dns", "directory", "address-map",
        "dockerfile", "address"
    ]

    static func label(_ step: String, kind: Jobs.Kind = .create) -> String? {
        switch (step, kind) {
        case ("directory-check", _): "Checking your address against the address policy"
        case ("request", _): "Recording your request"
        case ("stop-delivery", _): "Stopping mail delivery"
        case ("volume", .create): "Making your mail volume"
        case ("volume", .delete): "Destroying your mail volume and the mail in it"
        case ("archive", _): "Archiving the mail"
        case ("dockerfile", .create): "Writing your container's recipe"
        case ("dockerfile", .delete): "Removing your container's recipe"
        case ("container", .create): "Building and starting your container"
        case ("container", .delete): "Stopping and removing your container"
        case ("dns", .create): "Publishing the MX record"
        case ("dns", .delete): "Removing the MX record"
        case ("directory", _): "Updating your directory entry"
        case ("address-map", .create): "Turning mail delivery on"
        case ("address-map", .delete): "Removing the address from delivery"
        case ("address", _): "Releasing your container's network address"
        default: nil
        }
    }
}

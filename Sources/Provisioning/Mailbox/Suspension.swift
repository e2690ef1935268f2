import Containers
import Core
import Directory
import Foundation

/// `mailbox suspend` and `mailbox resume`: the state goes on the entry
/// first (`semailState`, `semailStateReason`: what reconcile and `--watch`
/// follow), then the container stops and is kept stopped (restart policy
/// "no"), or runs again. The volume stays mounted, mail keeps arriving,
/// nothing is deleted. Journaled transactions like create and delete.
extension Mailboxes {
    /// The step names of the suspend and resume pipelines (the journal's, `--dry-run`'s, `--json`'s).
    enum StateStep: String { case directoryCheck = "directory-check", state, container }

    public func suspendPipeline(uid: String, address: String, reason: String?) throws -> Pipeline {
        let uid = try Validate.uid(uid)
        let reason = try reason.map(Suspension.validReason)
        let host = self.host
        let steps = [
            checkStep(uid),
            Step(
                StateStep.state.rawValue,
                why: "record semailState=suspended" + (reason == nil ? "" : " and the reason") + " on \(uid)'s entry",
                check: {
                    let (s, r) = try host.directory().storedState(uid)
                    return s == Suspension.suspended && (reason == nil || r == reason)
                },
                observe: { try Self.stateRecord(host.directory().storedState(uid)) },
                apply: {
                    let kept = try host.directory().storedState(uid).reason
                    try host.directory().setSuspension(uid, Suspension(reason: reason ?? kept))
                },
                undo: { before in
                    try host.directory().restoreState(uid, state: before["state"], reason: before["reason"])
                }),
            Step(
                StateStep.container.rawValue,
                why: "stop semail-\(uid) and keep it stopped (restart policy \"no\"); the volume stays mounted",
                check: { try host.containers().isKeptStopped(uid: uid) },
                observe: { ["running": try host.containers().show(uid: uid)?.isUp == true ? "1" : "0"] },
                apply: { try host.containers().keepStopped(uid: uid) },
                undo: { before in if before["running"] == "1" { try host.containers().startKept(uid: uid) } })
        ]
        var params = ["uid": uid, "address": address]
        if let reason { params["reason"] = reason }
        return Pipeline(kind: PipelineKind.suspend.rawValue, subject: uid, params: params, steps: steps)
    }

    public func resumePipeline(uid: String, address: String) throws -> Pipeline {
        let uid = try Validate.uid(uid)
        let host = self.host
        let steps = [
            checkStep(uid),
            Step(
                StateStep.state.rawValue, why: "remove semailState and semailStateReason from \(uid)'s entry",
                check: {
                    let s = try host.directory().storedState(uid)
                    return s.state == nil && s.reason == nil
                },
                observe: { try Self.stateRecord(host.directory().storedState(uid)) },
                apply: { try host.directory().setSuspension(uid, nil) },
                undo: { before in
                    try host.directory().restoreState(uid, state: before["state"], reason: before["reason"])
                }),
            Step(
                StateStep.container.rawValue,
                why: "start semail-\(uid) (restart policy \"unless-stopped\" again; made or rebuilt when needed)",
                check: { try host.containers().show(uid: uid)?.state == "running" },
                observe: {
                    let c = try host.containers().show(uid: uid)
                    return ["existed": c == nil ? "0" : "1", "running": c?.isUp == true ? "1" : "0"]
                },
                apply: { _ = try host.containers().ensure(host.containerInput(uid, address: address)) },
                undo: { before in
                    if before["existed"] == "0" {
                        _ = try host.containers().remove(uid: uid)
                    } else if before["running"] == "0" {
                        try host.containers().keepStopped(uid: uid)
                    }
                })
        ]
        return Pipeline(
            kind: PipelineKind.resume.rawValue, subject: uid, params: ["uid": uid, "address": address], steps: steps)
    }

    func checkStep(_ uid: String) -> Step {
        let host = self.host
        return Step(
            StateStep.directoryCheck.rawValue, why: "the admin bind works and \(uid) has a mailbox",
            apply: {
                guard try host.directory().mailbox(uid) != nil else { throw Self.noMailbox(uid) }
            })
    }

    static func stateRecord(_ s: (state: String?, reason: String?)) -> [String: String] {
        var d: [String: String] = [:]
        if let v = s.state { d["state"] = v }
        if let v = s.reason { d["reason"] = v }
        return d
    }

    static func noMailbox(_ uid: String) -> SemailError {
        SemailError(
            "\(uid) has no mailbox", why: "the entry has no semailMailbox attribute",
            hint: "see `semailctl mailbox list`", status: .failure)
    }

    /// The suspend or resume pipeline a journaled transaction was running.
    func statePipeline(for p: Journal.Pending) throws -> Pipeline? {
        guard let start = p.records.first, let params = start.params, let uid = params["uid"],
            let address = params["address"]
        else { return nil }
        switch start.kind.flatMap(PipelineKind.init(rawValue:)) {
        case .suspend: return try suspendPipeline(uid: uid, address: address, reason: params["reason"])
        case .resume: return try resumePipeline(uid: uid, address: address)
        default: return nil
        }
    }

    /// `mailbox suspend`: the pipeline, or its plan with `dryRun`.
    public func suspend(uid: String, reason: String?, dryRun: Bool = false) throws -> PipelineReport {
        let uid = try Validate.uid(uid)
        guard let m = try host.directory().mailbox(uid) else { throw Self.noMailbox(uid) }
        let p = try suspendPipeline(uid: uid, address: m.address, reason: reason)
        return dryRun ? p.plan() : try p.run(journal: journal, reporter: host.reporter)
    }

    /// `mailbox resume`: the pipeline, or its plan with `dryRun`.
    public func resume(uid: String, dryRun: Bool = false) throws -> PipelineReport {
        let uid = try Validate.uid(uid)
        guard let m = try host.directory().mailbox(uid) else { throw Self.noMailbox(uid) }
        let p = try resumePipeline(uid: uid, address: m.address)
        return dryRun ? p.plan() : try p.run(journal: journal, reporter: host.reporter)
    }

    /// How users reach their containers (`ssh-config`), without the
    /// suspended ones: asked for one, a suspended uid is refused with why;
    /// in the full list it is skipped (said through `skipped`).
    public func sshAccess(only uid: String?, skipped: (String, String) -> Void = { _, _ in }) throws -> [SSHAccess] {
        let uid = try uid.map(Validate.uid)
        let suspended: [String: Suspension]
        if let uid {
            suspended = try host.directory().mailbox(uid)?.suspension.map { [uid: $0] } ?? [:]
        } else {
            suspended = Dictionary(
                try host.directory().mailboxes().compactMap { m in m.suspension.map { (m.uid, $0) } },
                uniquingKeysWith: { a, _ in a })
        }
        if let uid, let s = suspended[uid] {
            throw SemailError(
                "\(uid) is suspended: no SSH access", why: "the mailbox is \(s.summary); its container is stopped",
                hint: "the administrator gives access back with `semailctl mailbox resume \(uid)`",
                status: .noPermission)
        }
        return try SSHAccess.entries(host.containers(), only: uid, skipped: skipped).filter { a in
            guard let s = suspended[a.uid] else { return true }
            skipped(a.uid, "suspended (\(s.summary))")
            return false
        }
    }
}

extension DirectoryService {
    /// UID's suspension, as its entry records it (nil: active).
    public func suspension(_ uid: String) throws -> Suspension? { try user(uid).suspension }

    // A directory that cannot suspend (a test's fake) says so.
    public func storedState(_ uid: String) throws -> (state: String?, reason: String?) {
        throw Self.cannotSuspend()
    }
    public func setSuspension(_ uid: String, _ s: Suspension?) throws { throw Self.cannotSuspend() }
    public func restoreState(_ uid: String, state: String?, reason: String?) throws { throw Self.cannotSuspend() }
    static func cannotSuspend() -> SemailError {
        SemailError("this directory cannot record a suspension", why: "not an LDAP directory", status: .software)
    }
}

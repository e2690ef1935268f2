import Core
import Foundation
import Hummingbird
import HummingbirdAuth

/// My mailbox, its creation (the policy before submit, the progress) and its deletion.
extension Portal {
    // MARK: My mailbox

    func status(_ me: Me) async throws -> Result<Docs.Status, Docs.Failure> {
        let r = try await run(me, ["mailbox", "status", me.uid])
        guard r.status == 0, let s = r.decode(Docs.Status.self) else { return .failure(r.error) }
        return .success(s)
    }

    func home(_ me: Me, _ ctx: Ctx) async throws -> Response {
        let s: Docs.Status
        switch try await status(me) {
        case .failure(let f):
            return page("error", "My mailbox", me, ctx, ["message": Self.text(f)], status: .badGateway)
        case .success(let x): s = x
        }
        var v: [String: Any] = ["job": jobs.job(me.uid).map { !$0.done } ?? false, "cn": s.cn]
        if let m = s.mailbox {
            let domain = String(m.address.split(separator: "@").last ?? "")
            var mb: [String: Any] = [
                "address": m.address, "state": m.container?.state ?? "missing", "delivered": m.inAddressMap,
                "managed": s.mx == nil && s.publish.isEmpty, "domain": domain, "mxOk": m.dns == "ok",
                "publish": s.publish, "hasKeys": !s.sshKeys.isEmpty
            ]
            if let r = m.refused { mb["refused"] = r }
            if let vol = m.volume, vol.mounted, let size = vol.fsSize, size > 0 {
                let used = vol.fsUsed ?? 0
                mb["volume"] = [
                    "sizeBytes": "\(size)", "usedBytes": "\(used)", "size": ByteSize.format(size),
                    "used": ByteSize.format(used), "percent": "\(Int((Double(used) / Double(size) * 100).rounded()))"
                ]
            }
            if let c = m.container?.ssh { mb["sshCommand"] = c }
            if let ssh = s.ssh {
                mb["sshConfig"] = ssh.config; mb["knownHosts"] = ssh.knownHosts; mb["sshHost"] = ssh.host
            }
            if let mx = s.mx { mb["mx"] = ["ok": mx.ok, "message": mx.message] }
            v["mailbox"] = mb
        }
        return page("home", "My mailbox", me, ctx, v)
    }

    func checkMX(_ me: Me, _ ctx: Ctx) async throws -> Response {
        guard case .success(let s) = try await status(me), let m = s.mailbox,
            let domain = m.address.split(separator: "@").last.map(String.init)
        else { return redirect("/", ctx, flash: "You have no mailbox.", error: true) }
        let r = try await run(me, ["zone", "check-mx", domain])
        if let mx = r.decode(Docs.MX.self) {
            return redirect("/", ctx, flash: "MX of \(domain): \(mx.message)", error: !mx.ok)
        }
        return redirect("/", ctx, flash: Self.text(r.error), error: true)
    }

    // MARK: Create

    func createPage(_ me: Me, _ ctx: Ctx, form: Form?) async throws -> Response {
        var v: [String: Any] = [
            "zone": config.dns.zone, "roles": config.policy.roles.sorted().joined(separator: ", "),
            "sub": me.uid, "local": me.uid
        ]
        guard let form else { return page("create", "Create my mailbox", me, ctx, v) }
        let local = form["local"].trimmingCharacters(in: .whitespaces).lowercased()
        let external = form["kind"] == "ext"
        let domain =
            external
            ? form["ext"].trimmingCharacters(in: .whitespaces).lowercased()
            : "\(form["sub"].trimmingCharacters(in: .whitespaces).lowercased()).\(config.dns.zone)"
        v["local"] = local; v["sub"] = form["sub"]; v["ext"] = form["ext"]; v["external"] = external
        let address = "\(local)@\(domain)"
        guard (try? Validate.address(address)) != nil else {
            v["preview"] = [
                "allowed": false, "refusal": "\(address) is not a valid address",
                "why": "an address is letters, digits and . _ - before the @ and a domain name after it"
            ]
            return page("create", "Create my mailbox", me, ctx, v, status: .badRequest)
        }
        let r = try await run(me, ["mailbox", "check-address", me.uid, "--address", address])
        if let p = r.decode(Docs.Preview.self) {
            var pv: [String: Any] = [
                "allowed": p.allowed, "address": p.address, "publish": p.publish, "hasPublish": !p.publish.isEmpty
            ]
            if let x = p.refusal { pv["refusal"] = x }
            if let x = p.why { pv["why"] = x }
            if let x = p.hint { pv["hint"] = x }
            v["preview"] = pv
        } else {
            let f = r.error
            v["preview"] = ["allowed": false, "refusal": f.what, "why": f.why, "hint": f.hint ?? ""]
        }
        return page("create", "Create my mailbox", me, ctx, v)
    }

    func create(_ me: Me, _ ctx: Ctx, _ form: Form) async throws -> Response {
        let address = form["address"]
        guard (try? Validate.address(address)) != nil else {
            return Response.redirect(to: "/create", type: .normal)
        }
        if let refusal = countChange(me) { return redirect("/create", ctx, flash: refusal, error: true) }
        let started = jobs.start(uid: me.uid, kind: .create, address: address) { fd in
            try await run(me, ["mailbox", "create", me.uid, "--address=\(address)"], stderrFD: fd)
        }
        logger.info("mailbox create \(me.uid) \(address)\(started ? "" : ": another job runs")")
        return Response.redirect(to: "/progress", type: .normal)
    }

    func progressPage(_ me: Me, _ ctx: Ctx) async throws -> Response {
        guard let job = jobs.job(me.uid) else { return Response.redirect(to: "/", type: .normal) }
        let order = job.kind == .create ? Steps.create : Steps.delete
        let failedStep = job.report?.failedStep
        var steps: [[String: Any]] = []
        for name in order {
            guard let label = Steps.label(name, kind: job.kind) else { continue }
            let begun = job.begun.contains(name) || job.report?.skipped.contains(name) == true
            let state: String
            if name == failedStep {
                state = "failed"
            } else if job.report?.applied.contains(name) == true || job.report?.skipped.contains(name) == true {
                state = "done"
            } else if begun && !job.done && job.begun.last == name {
                state = "running"
            } else if begun {
                state = job.done && job.report?.ok != true ? "undone" : "done"
            } else {
                if name == "request" || name == "archive" { continue }  // not part of every run
                state = "pending"
            }
            let mark = ["done": "✓", "failed": "✗", "running": "…", "undone": "↺"][state] ?? "·"
            steps.append(["label": label, "state": state, "mark": mark])
        }
        var v: [String: Any] = [
            "what": job.kind == .create ? "Creating" : "Deleting", "address": job.address, "steps": steps,
            "running": !job.done, "refresh": !job.done, "ok": job.done && job.report?.ok == true
        ]
        if job.done, let f = job.failure {
            v["failure"] = [
                "what": f.what, "why": f.why, "hint": f.hint ?? "", "rolledBack": job.report?.rolledBack ?? [],
                "hasRolledBack": !(job.report?.rolledBack.isEmpty ?? true)
            ]
        }
        return page("progress", job.kind == .create ? "Creating your mailbox" : "Deleting your mailbox", me, ctx, v)
    }

    // MARK: Delete

    func deletePage(_ me: Me, _ ctx: Ctx) async throws -> Response {
        guard case .success(let s) = try await status(me), let m = s.mailbox else {
            return redirect("/", ctx, flash: "You have no mailbox to delete.", error: true)
        }
        return page(
            "delete", "Delete my mailbox", me, ctx,
            [
                "address": m.address, "managed": s.mx == nil && s.publish.isEmpty,
                "domain": String(m.address.split(separator: "@").last ?? "")
            ])
    }

    func delete(_ me: Me, _ ctx: Ctx, _ form: Form) async throws -> Response {
        guard case .success(let s) = try await status(me), let m = s.mailbox else {
            return redirect("/", ctx, flash: "You have no mailbox to delete.", error: true)
        }
        guard form["confirm"].trimmingCharacters(in: .whitespaces).lowercased() == m.address else {
            return redirect(
                "/delete", ctx, flash: "What you typed is not your address: nothing was deleted.", error: true)
        }
        if let refusal = countChange(me) { return redirect("/delete", ctx, flash: refusal, error: true) }
        _ = jobs.start(uid: me.uid, kind: .delete, address: m.address) { fd in
            try await run(me, ["mailbox", "delete", me.uid, "--yes"], stderrFD: fd)
        }
        logger.info("mailbox delete \(me.uid) \(m.address)")
        return Response.redirect(to: "/progress", type: .normal)
    }
}

import Core
import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdAuth
import NIOCore

/// A logged-in user's request: who, and the password semailctl needs.
struct Me: Sendable {
    var uid: String
    var password: [UInt8]
    var session: PortalSession
}

extension Portal {
    typealias Ctx = PortalContext

    func routes(_ router: Router<Ctx>) {
        router.get("/style.css") { _, _ in
            Response(
                status: .ok, headers: [.contentType: "text/css; charset=utf-8", .cacheControl: "max-age=3600"],
                body: .init(byteBuffer: ByteBuffer(string: Templates.css)))
        }
        router.get("/login") { _, ctx in try await loginPage(ctx) }
        router.post("/login") { req, ctx in try await login(req, ctx) }
        router.post("/logout") { req, ctx in
            let form = try await Form.read(req)
            try guardian.check(req, form: form, session: ctx.sessions.session)
            if let uid = ctx.sessions.session?.uid { logger.info("logout \(uid)") }
            ctx.sessions.clearSession()
            return Response.redirect(to: "/login", type: .normal)
        }
        router.get("/") { req, ctx in try await signedIn(ctx) { me in try await home(me, ctx) } }
        router.post("/mx") { req, ctx in try await posted(req, ctx) { me, _ in try await checkMX(me, ctx) } }
        router.get("/create") { _, ctx in try await signedIn(ctx) { me in try await createPage(me, ctx, form: nil) } }
        router.post("/create/check") { req, ctx in
            try await posted(req, ctx) { me, form in try await createPage(me, ctx, form: form) }
        }
        router.post("/create") { req, ctx in try await posted(req, ctx) { me, form in try await create(me, form) } }
        router.get("/progress") { _, ctx in try await signedIn(ctx) { me in try await progressPage(me, ctx) } }
        router.get("/keys") { _, ctx in try await signedIn(ctx) { me in try await keysPage(me, ctx) } }
        router.post("/keys/add") { req, ctx in
            try await posted(req, ctx) { me, form in
                try await change(
                    me, ctx, ["user", "ssh-key", "add", me.uid, form["key"]], done: "Key added.", to: "/keys")
            }
        }
        router.post("/keys/remove") { req, ctx in
            try await posted(req, ctx) { me, form in
                try await change(
                    me, ctx, ["user", "ssh-key", "remove", me.uid, form["fingerprint"]], done: "Key removed.",
                    to: "/keys")
            }
        }
        router.get("/software") { _, ctx in try await signedIn(ctx) { me in try await softwarePage(me, ctx) } }
        router.post("/software/add") { req, ctx in
            try await posted(req, ctx) { me, form in
                try await change(
                    me, ctx, ["user", "packages", me.uid, "--add", form["package"]],
                    done: "Added; your container was rebuilt.", to: "/software")
            }
        }
        router.post("/software/remove") { req, ctx in
            try await posted(req, ctx) { me, form in
                try await change(
                    me, ctx, ["user", "packages", me.uid, "--remove", form["package"]],
                    done: "Removed; your container was rebuilt.", to: "/software")
            }
        }
        router.get("/password") { _, ctx in
            try await signedIn(ctx) { me in page("password", "Change my password", me, ctx) }
        }
        router.post("/password") { req, ctx in
            try await posted(req, ctx) { me, form in try await changePassword(me, ctx, form) }
        }
        router.get("/delete") { _, ctx in try await signedIn(ctx) { me in try await deletePage(me, ctx) } }
        router.post("/delete") { req, ctx in try await posted(req, ctx) { me, form in try await delete(me, ctx, form) }
        }
    }

    // MARK: Sessions and pages

    /// The page for a logged-in user, or the way to the login.
    func signedIn(_ ctx: Ctx, _ body: (Me) async throws -> Response) async throws -> Response {
        guard let s = ctx.sessions.session, let uid = s.uid, let pw = s.password else {
            return Response.redirect(to: "/login", type: .normal)
        }
        return try await body(Me(uid: uid, password: pw, session: s))
    }

    /// A form post of a logged-in user: same origin, the session's CSRF token.
    func posted(_ req: Request, _ ctx: Ctx, _ body: (Me, Form) async throws -> Response) async throws -> Response {
        let form = try await Form.read(req)
        guard guardian.sameOrigin(req) else {
            logger.warning("refused a form from another origin (\(req.headers[.origin] ?? "")) at \(req.uri.path)")
            return errorPage("This form was posted from another site: refused.", status: .forbidden, ctx)
        }
        guard let s = ctx.sessions.session, let uid = s.uid, let pw = s.password else {
            return errorPage("Your session has ended: log in again.", status: .forbidden, ctx)
        }
        guard !form["csrf"].isEmpty, Token.equal(form["csrf"], s.csrf) else {
            logger.warning("refused a form without this session's token for \(uid) at \(req.uri.path)")
            return errorPage(
                "This form is stale or was not made by this portal: reload the page.", status: .forbidden, ctx)
        }
        return try await body(Me(uid: uid, password: pw, session: s), form)
    }

    func render(_ name: String, _ values: [String: Any]) -> String {
        pages.render(values, withTemplate: name) ?? "page \(name) missing"
    }

    /// A page with the values every page has (title, uid, csrf, the flash message, taken once).
    func page(
        _ name: String, _ title: String, _ me: Me?, _ ctx: Ctx, _ values: [String: Any] = [:],
        status: HTTPResponse.Status = .ok
    ) -> Response {
        var v = values
        v["title"] = title
        let s = ctx.sessions.session
        if let me { v["uid"] = me.uid }
        v["csrf"] = s?.csrf ?? ""
        if var s, let flash = s.flash {
            v["flash"] = flash; v["flashError"] = s.flashIsError
            s.flash = nil; s.flashIsError = false
            _ = ctx.sessions.updateSession(s)
        }
        return Response(
            status: status, headers: [.contentType: "text/html; charset=utf-8"],
            body: .init(byteBuffer: ByteBuffer(string: render(name, v))))
    }

    func errorPage(_ message: String, status: HTTPResponse.Status, _ ctx: Ctx) -> Response {
        page("error", "Refused", nil, ctx, ["message": message], status: status)
    }

    /// Redirects to PATH with a message for the next page.
    func redirect(_ path: String, _ ctx: Ctx, flash: String, error: Bool = false) -> Response {
        if var s = ctx.sessions.session {
            s.flash = flash; s.flashIsError = error
            _ = ctx.sessions.updateSession(s)
        }
        return Response.redirect(to: path, type: .normal)
    }

    /// semailctl as the user; the password first on stdin.
    func run(_ me: Me, _ args: [String], extra: [UInt8]? = nil, stderrFD: Int32? = nil) async throws -> Semailctl.Run {
        var stdin = me.password
        if let extra { stdin += [0x0A] + extra }
        return try await semailctl.run(
            args, uid: me.uid, stdin: stdin, passwordOnStdin: extra == nil, stderrFD: stderrFD)
    }

    static func text(_ f: Docs.Failure) -> String {
        [f.what, f.why.isEmpty ? nil : "(\(f.why))", f.hint.map { "What to do: \($0)" }].compactMap { $0 }.joined(
            separator: " ")
    }

    // MARK: Login

    func loginPage(_ ctx: Ctx, given: String = "", status: HTTPResponse.Status = .ok) async throws -> Response {
        if ctx.sessions.session == nil || ctx.sessions.session?.uid != nil {
            ctx.sessions.createSession(.anonymous(), expiresIn: .seconds(15 * 60))
        }
        return page("login", "Log in", nil, ctx, ["given": given, "attempts": config.web.loginAttempts], status: status)
    }

    func login(_ req: Request, _ ctx: Ctx) async throws -> Response {
        let form = try await Form.read(req)
        guard guardian.sameOrigin(req) else {
            return errorPage("This form was posted from another site: refused.", status: .forbidden, ctx)
        }
        guard let s = ctx.sessions.session, !form["csrf"].isEmpty, Token.equal(form["csrf"], s.csrf) else {
            return errorPage("This form is stale: reload the login page.", status: .forbidden, ctx)
        }
        let uid = form["uid"].trimmingCharacters(in: .whitespaces).lowercased()
        let password = Array(form["password"].utf8)
        func again(_ message: String, _ status: HTTPResponse.Status) async throws -> Response {
            var a = PortalSession.anonymous()
            a.flash = message; a.flashIsError = true
            ctx.sessions.createSession(a, expiresIn: .seconds(15 * 60))
            return page(
                "login", "Log in", nil, ctx, ["given": uid, "attempts": config.web.loginAttempts], status: status)
        }
        let client = client(req, ctx)
        let keys = ["client:\(client)", "uid:\(uid)"]
        if let wait = throttle.wait(keys) {
            logger.warning("login throttled for \(Validate.printable(uid)) from \(client)")
            return try await again("Too many failed attempts: wait \(wait) seconds, then try again.", .tooManyRequests)
        }
        switch await bind.login(uid: uid, password: password) {
        case .ok:
            throttle.succeeded(uid: uid)
            logger.info("login \(uid) from \(client)")
            // A new session (a new id) at login: an id set before it is worth nothing after.
            ctx.sessions.createSession(PortalSession(uid: uid, password: password, csrf: Token.make()))
            return Response.redirect(to: "/", type: .normal)
        case .empty:
            return try await again("Enter your password (an empty one is never sent).", .badRequest)
        case .wrong, .invalidUID:
            throttle.failed(keys)
            logger.notice("login failed for \(Validate.printable(uid)) from \(client)")
            return try await again("Wrong user name or password.", .unauthorized)
        case .unavailable(let why):
            logger.error("login: the directory is unavailable: \(why)")
            return try await again("The directory cannot be reached now; try again later.", .serviceUnavailable)
        }
    }

    /// The client's address: the peer's, or behind the reverse proxy (on loopback, `trust_proxy`) its X-Real-IP.
    func client(_ req: Request, _ ctx: Ctx) -> String {
        let loopback = ctx.peer.hasPrefix("127.") || ctx.peer == "::1"
        if config.web.trustProxy, loopback, let real = req.headers[HTTPField.Name("X-Real-IP")!], !real.isEmpty,
            real.count <= 64
        {
            return real
        }
        return ctx.peer
    }

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

    func create(_ me: Me, _ form: Form) async throws -> Response {
        let address = form["address"]
        guard (try? Validate.address(address)) != nil else {
            return Response.redirect(to: "/create", type: .normal)
        }
        let started = jobs.start(uid: me.uid, kind: .create, address: address) { fd in
            try await run(me, ["mailbox", "create", me.uid, "--address", address], stderrFD: fd)
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

    // MARK: Keys, software, password

    func keysPage(_ me: Me, _ ctx: Ctx) async throws -> Response {
        switch try await status(me) {
        case .failure(let f): return page("error", "SSH keys", me, ctx, ["message": Self.text(f)], status: .badGateway)
        case .success(let s):
            let keys = s.sshKeys.map { ["type": $0.type, "fingerprint": $0.fingerprint, "comment": $0.comment] }
            return page("keys", "SSH keys", me, ctx, ["keys": keys])
        }
    }

    func softwarePage(_ me: Me, _ ctx: Ctx) async throws -> Response {
        switch try await status(me) {
        case .failure(let f):
            return page("error", "My software", me, ctx, ["message": Self.text(f)], status: .badGateway)
        case .success(let s):
            return page(
                "software", "My software", me, ctx,
                ["packages": s.packages, "global": s.globalPackages, "hasGlobal": !s.globalPackages.isEmpty])
        }
    }

    /// A change that semailctl makes at once (keys, packages): back to TO with what happened.
    func change(_ me: Me, _ ctx: Ctx, _ args: [String], done: String, to: String) async throws -> Response {
        let r = try await run(me, args)
        guard r.status == 0 else { return redirect(to, ctx, flash: Self.text(r.error), error: true) }
        return redirect(to, ctx, flash: done)
    }

    func changePassword(_ me: Me, _ ctx: Ctx, _ form: Form) async throws -> Response {
        let current = Array(form["current"].utf8), new = Array(form["new"].utf8)
        guard !current.isEmpty, !new.isEmpty else {
            return redirect("/password", ctx, flash: "Fill in every field.", error: true)
        }
        guard form["new"] == form["again"] else {
            return redirect("/password", ctx, flash: "The two new passwords differ.", error: true)
        }
        guard !new.contains(0x0A), !new.contains(0x0D), new.count <= 512 else {
            return redirect("/password", ctx, flash: "A password cannot hold a line break.", error: true)
        }
        let r = try await semailctl.run(
            ["user", "passwd", me.uid], uid: me.uid, stdin: current + [0x0A] + new, passwordOnStdin: false)
        guard r.status == 0 else { return redirect("/password", ctx, flash: Self.text(r.error), error: true) }
        logger.info("password changed by \(me.uid)")
        var s = me.session
        s.password = new
        s.flash = "Your password was changed."
        s.flashIsError = false
        _ = ctx.sessions.updateSession(s)
        return Response.redirect(to: "/", type: .normal)
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
        _ = jobs.start(uid: me.uid, kind: .delete, address: m.address) { fd in
            try await run(me, ["mailbox", "delete", me.uid, "--yes"], stderrFD: fd)
        }
        logger.info("mailbox delete \(me.uid) \(m.address)")
        return Response.redirect(to: "/progress", type: .normal)
    }
}

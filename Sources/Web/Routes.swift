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
        router.post("/create") { req, ctx in try await posted(req, ctx) { me, form in try await create(me, ctx, form) }
        }
        router.get("/progress") { _, ctx in try await signedIn(ctx) { me in try await progressPage(me, ctx) } }
        router.get("/keys") { _, ctx in try await signedIn(ctx) { me in try await keysPage(me, ctx) } }
        router.post("/keys/add") { req, ctx in
            try await posted(req, ctx) { me, form in
                try await change(
                    me, ctx, ["user", "ssh-key", "add", me.uid], value: form["key"], done: "Key added.", to: "/keys")
            }
        }
        router.post("/keys/remove") { req, ctx in
            try await posted(req, ctx) { me, form in
                try await change(
                    me, ctx, ["user", "ssh-key", "remove", me.uid], value: form["fingerprint"], done: "Key removed.",
                    to: "/keys")
            }
        }
        router.get("/software") { _, ctx in try await signedIn(ctx) { me in try await softwarePage(me, ctx) } }
        router.post("/software/add") { req, ctx in
            try await posted(req, ctx) { me, form in
                try await change(
                    me, ctx, ["user", "packages", me.uid, "--add"], value: form["package"],
                    done: "Added; your container was rebuilt.", to: "/software")
            }
        }
        router.post("/software/remove") { req, ctx in
            try await posted(req, ctx) { me, form in
                try await change(
                    me, ctx, ["user", "packages", me.uid, "--remove"], value: form["package"],
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

    /// The session cookie's name.
    var sessionCookie: String { config.web.secureCookies ? "__Host-semail" : "semail" }

    /// The login cookie's name (the nonce half of the login form's token).
    var loginCookie: String { config.web.secureCookies ? "__Host-semail-login" : "semail-login" }

    /// The login page. It stores nothing (its token is signed, not kept);
    /// a session still open here is ended, on the server too.
    func loginPage(
        _ ctx: Ctx, given: String = "", flash: String? = nil, status: HTTPResponse.Status = .ok
    ) async throws -> Response {
        if ctx.sessions.session != nil { ctx.sessions.clearSession() }
        let (nonce, token) = loginToken.make()
        var v: [String: Any] = [
            "title": "Log in", "given": given, "attempts": config.web.loginAttempts, "csrf": token
        ]
        if let flash { v["flash"] = flash; v["flashError"] = true }
        var r = Response(
            status: status, headers: [.contentType: "text/html; charset=utf-8"],
            body: .init(byteBuffer: ByteBuffer(string: render("login", v))))
        r.setCookie(
            Cookie(
                name: loginCookie, value: nonce, maxAge: Int(loginToken.lifetime), path: "/",
                secure: config.web.secureCookies, httpOnly: true, sameSite: .strict))
        return r
    }

    func login(_ req: Request, _ ctx: Ctx) async throws -> Response {
        let form = try await Form.read(req)
        guard guardian.sameOrigin(req) else {
            return errorPage("This form was posted from another site: refused.", status: .forbidden, ctx)
        }
        guard loginToken.valid(form["csrf"], nonce: req.cookies[loginCookie]?.value) else {
            return errorPage("This form is stale: reload the login page.", status: .forbidden, ctx)
        }
        let uid = form["uid"].trimmingCharacters(in: .whitespaces).lowercased()
        let password = Array(form["password"].utf8)
        func again(_ message: String, _ status: HTTPResponse.Status) async throws -> Response {
            try await loginPage(ctx, given: uid, flash: message, status: status)
        }
        let client = client(req, ctx)
        // A uid that cannot be one is never bound, and is not a key of its own (the table stays small).
        let validUID = (try? Validate.uid(uid)) != nil
        let keys = ["client:\(client)"] + (validUID ? ["uid:\(uid)"] : [])
        let started = Date()
        switch throttle.begin(keys, now: started) {
        case .go: break
        case .wait(let seconds):
            logger.warning("login throttled for \(Validate.quoted(uid)) from \(Validate.quoted(client))")
            return try await again(
                "Too many failed attempts: wait \(seconds) seconds, then try again.", .tooManyRequests)
        case .busy:
            logger.warning(
                "login refused for \(Validate.quoted(uid)) from \(Validate.quoted(client)): one is in progress")
            return try await again(
                "Another login for this name is in progress: try again in a moment.", .tooManyRequests)
        }
        let outcome = await bind.login(uid: uid, password: password)
        switch outcome {
        case .ok:
            throttle.end(keys, started: started, .succeeded)
            logger.info("login \(uid) from \(Validate.quoted(client))")
            // A new session (a new id) at login, and the one the request came with removed from the store.
            if req.cookies[sessionCookie] != nil {
                _ = try? await sessionStorage.delete(request: req)
            }
            ctx.sessions.createSession(PortalSession(uid: uid, password: password, csrf: Token.make()))
            return Response.redirect(to: "/", type: .normal)
        case .empty:
            throttle.end(keys, started: started, .notMade)
            return try await again("Enter your password (an empty one is never sent).", .badRequest)
        case .wrong, .invalidUID:
            throttle.end(keys, started: started, .failed)
            logger.notice("login failed for \(Validate.quoted(uid)) from \(Validate.quoted(client))")
            return try await again("Wrong user name or password.", .unauthorized)
        case .unavailable(let why):
            throttle.end(keys, started: started, .notMade)
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
}

import Core
import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import Logging
import Testing

@testable import Web

/// The portal's decisions without a browser: templates, forms, tokens,
/// throttling, progress, and the anonymous routes through the router.
@Suite struct WebUnitTests {
    func portal(secure: Bool = true, origin: String = "") throws -> Portal {
        var c = Config()
        c.web.secureCookies = secure
        c.web.origin = origin
        c.ldap.uri = "ldap://127.0.0.1:9"  // nothing listens: a login attempt finds the directory unavailable
        return try Portal(config: c, configPath: nil, logger: Logger(label: "test"))
    }

    /// {{{ }}} would insert a directory value unescaped: no template has it.
    @Test func noTemplateInsertsUnescaped() {
        for (name, text) in Templates.all {
            #expect(!text.contains("{{{") && !text.contains("{{&"), "\(name)")
            #expect(!text.lowercased().contains("<script"), "\(name)")
        }
    }

    @Test func directoryValuesAreEscaped() throws {
        let html = try portal().render(
            "home",
            [
                "title": "My mailbox", "uid": "mallory", "cn": "<script>alert(1)</script>\"'&",
                "mailbox": ["address": "<b>x</b>@y.org", "state": "running", "sshConfig": "Host <i>"]
            ])
        #expect(html.contains("&lt;script&gt;alert(1)&lt;/script&gt;&quot;"), "\(html)")
        #expect(!html.contains("<script>") && !html.contains("<b>x</b>") && !html.contains("Host <i>"))
    }

    /// A suspended mailbox says so, with the reason from the directory escaped.
    @Test func aSuspensionIsShownEscaped() throws {
        let html = try portal().render(
            "home",
            [
                "title": "My mailbox", "uid": "mallory", "cn": "m",
                "mailbox": [
                    "address": "m@y.org", "state": "exited", "suspended": ["reason": "<img src=x onerror=alert(1)>"]
                ]
            ])
        #expect(html.contains("Suspended by the administrator: &lt;img src=x onerror=alert(1)&gt;"), "\(html)")
        #expect(!html.contains("<img"))
        let active = try portal().render(
            "home",
            ["title": "My mailbox", "uid": "m", "cn": "m", "mailbox": ["address": "m@y.org", "state": "running"]])
        #expect(!active.contains("Suspended"))
    }

    @Test func formsAreDecoded() {
        let f = Form("a=1&b=x+y%26z&a=2&empty=&novalue&c=%3Cscript%3E")
        #expect(f["a"] == "1" && f["b"] == "x y&z" && f["empty"] == "" && f["novalue"] == "" && f["missing"] == "")
        #expect(f["c"] == "<script>")
    }

    @Test func tokens() {
        let a = Token.make(), b = Token.make()
        #expect(a != b && a.count == 43 && a.allSatisfy { $0.isLetter || $0.isNumber || $0 == "-" || $0 == "_" })
        #expect(Token.equal(a, a) && !Token.equal(a, b) && !Token.equal(a, String(a.dropLast())))
    }

    @Test func loginsAreThrottledPerClientAndPerUid() {
        let t = Throttle(limit: 3, window: 60)
        let now = Date()
        for _ in 0..<3 {
            #expect(t.begin(["client:1.2.3.4", "uid:bob"], now: now) == .go)
            t.end(["client:1.2.3.4", "uid:bob"], started: now, .failed)
        }
        if case .wait = t.begin(["client:1.2.3.4", "uid:alice"], now: now) {} else { Issue.record("same client") }
        if case .wait = t.begin(["client:5.6.7.8", "uid:bob"], now: now) {} else { Issue.record("bob elsewhere") }
        #expect(t.begin(["client:5.6.7.8", "uid:alice"], now: now) == .go)
        t.end(["client:5.6.7.8", "uid:alice"], started: now, .succeeded)
        #expect(t.begin(["client:1.2.3.4", "uid:bob"], now: now.addingTimeInterval(61)) == .go)
    }

    /// The attack of parallel guesses: every request passes a check made
    /// before any is counted. Counting at the start, and one attempt in
    /// flight per key, lets through one bind, never the limit's worth at once.
    @Test func parallelLoginsAreCountedBeforeTheBind() {
        let t = Throttle(limit: 5, window: 60)
        let now = Date()
        let decisions = (0..<50).map { _ in t.begin(["client:1.2.3.4", "uid:bob"], now: now) }
        #expect(decisions.filter { $0 == .go }.count == 1)
        #expect(decisions.filter { $0 == .busy }.count == 49)
        t.end(["client:1.2.3.4", "uid:bob"], started: now, .failed)
        // In turn, no more than the limit, and the failures stay counted.
        var goes = 1
        for _ in 0..<50 where t.begin(["client:9.9.9.9", "uid:bob"], now: now) == .go {
            goes += 1
            t.end(["client:9.9.9.9", "uid:bob"], started: now, .failed)
        }
        #expect(goes == 5)
    }

    /// A success clears the uid; an attempt never made (empty password,
    /// directory down) is handed back; the client keeps only its failures.
    @Test func successAndUnmadeAttemptsAreHandedBack() {
        let t = Throttle(limit: 2, window: 60)
        let now = Date()
        let k = ["client:1.1.1.1", "uid:carol"]
        #expect(t.begin(k, now: now) == .go)
        t.end(k, started: now, .notMade)
        #expect(t.begin(k, now: now) == .go)
        t.end(k, started: now, .failed)
        #expect(t.begin(k, now: now) == .go)
        t.end(k, started: now, .succeeded)
        #expect(t.begin(["uid:carol"], now: now) == .go)  // carol's count cleared
        t.end(["uid:carol"], started: now, .notMade)
        #expect(t.begin(["client:1.1.1.1"], now: now) == .go)  // one failure left on the client
        t.end(["client:1.1.1.1"], started: now, .failed)
        if case .wait = t.begin(["client:1.1.1.1"], now: now) {} else { Issue.record("client not limited") }
    }

    /// Memory stays bounded whatever keys are sent.
    @Test func theThrottleTableIsCapped() {
        let t = Throttle(limit: 5, window: 60, maxKeys: 1000)
        let now = Date()
        for i in 0..<5000 {
            let k = ["client:\(i)"]
            _ = t.begin(k, now: now.addingTimeInterval(Double(i) / 1000))
            t.end(k, started: now.addingTimeInterval(Double(i) / 1000), .failed)
        }
        #expect(t.keys <= 1001)
        #expect(t.begin(["client:x"], now: now.addingTimeInterval(120)) == .go)
        #expect(t.keys == 1)  // a window later, everything old is gone
    }

    /// The login form's token is signed, not stored: it needs its cookie,
    /// its own MAC, and time left; another portal's key refuses it.
    @Test func loginTokensAreSignedAndBoundToTheirCookie() {
        let l = LoginToken(lifetime: 60)
        let now = Date()
        let (nonce, token) = l.make(now: now)
        #expect(l.valid(token, nonce: nonce, now: now))
        #expect(!l.valid(token, nonce: nil, now: now))
        #expect(!l.valid(token, nonce: Token.make(), now: now))
        #expect(!l.valid(token, nonce: nonce, now: now.addingTimeInterval(61)))
        #expect(!LoginToken().valid(token, nonce: nonce, now: now))
        let parts = token.split(separator: ".")
        let later = "\(Int(now.timeIntervalSince1970) + 99999).\(parts[1]).\(parts[2])"
        #expect(!l.valid(later, nonce: nonce, now: now))  // the expiry is under the MAC
        #expect(!l.valid("", nonce: "", now: now) && !l.valid("a.b", nonce: "b", now: now))
    }

    /// One run at a time per user; a full queue is refused; the others are not held up.
    @Test func theGateSerializesEachUserAndBoundsTheQueue() async throws {
        actor Track {
            var running: [String: Int] = [:]
            var most = 0
            func enter(_ uid: String) { running[uid, default: 0] += 1; most = max(most, running[uid]!) }
            func leave(_ uid: String) { running[uid]! -= 1 }
        }
        let gate = Gate(total: 2, queuePerUser: 1)
        let track = Track()
        try await withThrowingTaskGroup(of: Bool.self) { g in
            for i in 0..<6 {
                let uid = i < 4 ? "mallory" : "user\(i)"
                g.addTask {
                    do {
                        try await gate.run(uid) {
                            await track.enter(uid)
                            try await Task.sleep(for: .milliseconds(100))
                            await track.leave(uid)
                        }
                        return true
                    } catch is Gate.Busy { return false }
                }
            }
            var refused = 0
            for try await ok in g where !ok { refused += 1 }
            #expect(refused == 2)  // mallory: one running, one waiting, two refused
        }
        #expect(await track.most == 1)
    }

    @Test func progressIsReadFromSemailctlsLog() {
        let err = """
            <6>2026-12-05T23:55:36.814Z alice: directory-check
            <6>2026-12-05T23:55:36.900Z alice: volume
            <6>2026-12-05T23:55:37.000Z malice: dns
            <6>2026-12-05T23:55:37.100Z alice: something else
            <6>2026-12-05T23:55:37.200Z alice: volume
            <6>2026-12-05T23:55:37.300Z alice: container
            """
        #expect(Jobs.steps(in: err, uid: "alice") == ["directory-check", "volume", "container"])
        for s in Steps.create + Steps.delete { #expect(Steps.label(s) != nil, "\(s)") }
    }

    /// The portal runs semailctl as `sudo -n PROGRAM ARGS --as-user UID --json [--password-stdin] --config PATH`:
    /// the form the shipped sudo rule allows.
    @Test func theCommandLineIsTheOneTheSudoRuleAllows() {
        let s = Semailctl(sudo: "/usr/bin/sudo", program: "/usr/sbin/semailctl", configPath: "/etc/semail/semail.toml")
        #expect(
            s.argv(["mailbox", "status", "alice"], uid: "alice")
                == [
                    "/usr/bin/sudo", "-n", "/usr/sbin/semailctl", "mailbox", "status", "alice", "--as-user", "alice",
                    "--json", "--password-stdin", "--config", "/etc/semail/semail.toml"
                ])
        #expect(
            s.argv(["user", "passwd", "alice"], uid: "alice", passwordOnStdin: false).suffix(5)
                == ["--as-user", "alice", "--json", "--config", "/etc/semail/semail.toml"])
    }

    @Test func headersAndTheSessionCookie() async throws {
        let p = try portal()
        // The session cookie, as the session store makes it at login.
        let session = try await p.sessionStorage.save(session: .anonymous(), expiresIn: .seconds(60)).description
        #expect(
            session.hasPrefix("__Host-semail=") && session.contains("HttpOnly") && session.contains("Secure")
                && session.contains("SameSite=Strict") && session.contains("Path=/"), "\(session)")
        let app = p.application()
        try await app.test(.router) { client in
            try await client.execute(uri: "/login", method: .get) { r in
                #expect(r.status == .ok)
                let csp = r.headers[.contentSecurityPolicy] ?? ""
                #expect(csp.contains("default-src 'none'") && csp.contains("frame-ancestors 'none'"))
                #expect(r.headers[HTTPField.Name("X-Frame-Options")!] == "DENY")
                #expect(r.headers[.cacheControl] == "no-store")
                // The login page's only cookie is the nonce of its signed token: no session is stored for it.
                #expect(r.headers[values: .setCookie].count == 1)
                let cookie = r.headers[.setCookie] ?? ""
                #expect(
                    cookie.hasPrefix("__Host-semail-login=") && cookie.contains("HttpOnly") && cookie.contains("Secure")
                        && cookie.contains("SameSite=Strict") && cookie.contains("Path=/"), "\(cookie)")
            }
        }
    }

    @Test func postsWithoutTokenOrFromElsewhereAreRefused() async throws {
        let app = try portal(secure: false, origin: "https://mail.example.org").application()
        try await app.test(.router) { client in
            let form: HTTPFields = [.contentType: "application/x-www-form-urlencoded"]
            // No session, no token.
            try await client.execute(
                uri: "/login", method: .post, headers: form, body: ByteBuffer(string: "uid=a&password=b")
            ) { r in #expect(r.status == .forbidden) }
            // A session's page, then its token posted from another origin, then without the token.
            var cookie = ""
            var token = ""
            try await client.execute(uri: "/login", method: .get) { r in
                cookie = String((r.headers[.setCookie] ?? "").prefix { $0 != ";" })
                let body = String(buffer: r.body)
                token =
                    body.range(of: #"name="csrf" value="[^"]+""#, options: .regularExpression).map {
                        String(body[$0].dropFirst(19).dropLast())
                    } ?? ""
            }
            #expect(!cookie.isEmpty && !token.isEmpty)
            var h = form
            h[.cookie] = cookie
            h[.origin] = "https://evil.example"
            try await client.execute(
                uri: "/login", method: .post, headers: h, body: ByteBuffer(string: "uid=a&password=b&csrf=\(token)")
            ) { r in #expect(r.status == .forbidden) }
            h[.origin] = "https://mail.example.org"
            try await client.execute(
                uri: "/login", method: .post, headers: h, body: ByteBuffer(string: "uid=a&password=b&csrf=x\(token)")
            ) { r in #expect(r.status == .forbidden) }
            // The right token and origin: the login is tried (the directory is down here: 503, not a crash).
            try await client.execute(
                uri: "/login", method: .post, headers: h, body: ByteBuffer(string: "uid=a&password=b&csrf=\(token)")
            ) { r in #expect(r.status == .serviceUnavailable) }
            // An empty password is refused before any connection.
            try await client.execute(uri: "/login", method: .get) { r in
                cookie = String((r.headers[.setCookie] ?? "").prefix { $0 != ";" })
                let body = String(buffer: r.body)
                token =
                    body.range(of: #"name="csrf" value="[^"]+""#, options: .regularExpression).map {
                        String(body[$0].dropFirst(19).dropLast())
                    } ?? ""
            }
            h[.cookie] = cookie
            try await client.execute(
                uri: "/login", method: .post, headers: h, body: ByteBuffer(string: "uid=a&password=&csrf=\(token)")
            ) { r in
                #expect(r.status == .badRequest)
                #expect(String(buffer: r.body).contains("an empty one is never sent"))
            }
            // Pages of a user need a session.
            try await client.execute(uri: "/", method: .get) { r in
                #expect(r.status == .seeOther && r.headers[.location] == "/login")
            }
            try await client.execute(uri: "/keys/add", method: .post, headers: form, body: ByteBuffer(string: "key=x"))
            { r in #expect(r.status == .forbidden) }
        }
    }
}

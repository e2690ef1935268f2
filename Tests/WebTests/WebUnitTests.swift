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
        let t = LoginThrottle(limit: 3, window: 60)
        let now = Date()
        for _ in 0..<3 { t.failed(["client:1.2.3.4", "uid:bob"], now: now) }
        #expect(t.wait(["client:1.2.3.4", "uid:alice"], now: now) != nil)  // the same client, another uid
        #expect(t.wait(["client:5.6.7.8", "uid:bob"], now: now) != nil)  // bob, from elsewhere
        #expect(t.wait(["client:5.6.7.8", "uid:alice"], now: now) == nil)
        #expect(t.wait(["client:1.2.3.4", "uid:bob"], now: now.addingTimeInterval(61)) == nil)
        t.failed(["uid:carol"], now: now)
        t.succeeded(uid: "carol")
        #expect(t.wait(["uid:carol"], now: now) == nil)
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
        let app = try portal().application()
        try await app.test(.router) { client in
            try await client.execute(uri: "/login", method: .get) { r in
                #expect(r.status == .ok)
                let csp = r.headers[.contentSecurityPolicy] ?? ""
                #expect(csp.contains("default-src 'none'") && csp.contains("frame-ancestors 'none'"))
                #expect(r.headers[HTTPField.Name("X-Frame-Options")!] == "DENY")
                #expect(r.headers[.cacheControl] == "no-store")
                let cookie = r.headers[.setCookie] ?? ""
                #expect(
                    cookie.hasPrefix("__Host-semail=") && cookie.contains("HttpOnly") && cookie.contains("Secure")
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

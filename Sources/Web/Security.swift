import Core
import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdAuth
import Synchronization

/// Headers on every response: no framing, no script, nothing from
/// elsewhere, no caching of pages that show a user's data.
struct SecurityHeaders<Context: RequestContext>: RouterMiddleware {
    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws
        -> Response
    {
        var r = try await next(request, context)
        r.headers[.contentSecurityPolicy] =
            "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; frame-ancestors 'none'; "
            + "base-uri 'none'"
        r.headers[HTTPField.Name("X-Frame-Options")!] = "DENY"
        r.headers[HTTPField.Name("X-Content-Type-Options")!] = "nosniff"
        // Not no-referrer: with it, browsers send `Origin: null` on a form post, and the Origin check needs it.
        r.headers[HTTPField.Name("Referrer-Policy")!] = "same-origin"
        if r.headers[.cacheControl] == nil { r.headers[.cacheControl] = "no-store" }
        return r
    }
}

/// A form post must come from this portal: its Origin (when the browser
/// sends one, as they all do on POST) is the configured origin or this
/// request's own, and it carries the session's CSRF token.
struct RequestGuard: Sendable {
    let origin: String?
    let secure: Bool

    func sameOrigin(_ request: Request) -> Bool {
        guard let o = request.headers[.origin] else { return true }
        if let origin { return o.lowercased() == origin }
        guard let host = request.head.authority else { return false }
        return o.lowercased() == "\(secure ? "https" : "http")://\(host.lowercased())"
    }

    func check(_ request: Request, form: Form, session: PortalSession?) throws {
        guard sameOrigin(request) else {
            throw HTTPError(.forbidden, message: "refused: this form was posted from another site")
        }
        guard let session, !form["csrf"].isEmpty, Token.equal(form["csrf"], session.csrf) else {
            throw HTTPError(.forbidden, message: "refused: the form is stale or was not made by this portal; reload it")
        }
    }
}

/// Failed logins counted per client address and per uid; over the limit
/// a login is refused before any bind, so a storm never reaches slapd.
final class LoginThrottle: Sendable {
    let limit: Int
    let window: TimeInterval
    private let failures = Mutex<[String: [Date]]>([:])

    init(limit: Int, window: TimeInterval) { self.limit = limit; self.window = window }

    /// Seconds to wait before KEY may try again; nil when it may now.
    func wait(_ keys: [String], now: Date = Date()) -> Int? {
        failures.withLock { f in
            var longest: TimeInterval?
            for k in keys {
                let recent = (f[k] ?? []).filter { now.timeIntervalSince($0) < window }
                f[k] = recent.isEmpty ? nil : recent
                if recent.count >= limit, let first = recent.first {
                    longest = max(longest ?? 0, window - now.timeIntervalSince(first))
                }
            }
            return longest.map { Int($0.rounded(.up)) }
        }
    }

    func failed(_ keys: [String], now: Date = Date()) {
        failures.withLock { f in for k in keys { f[k, default: []].append(now) } }
    }

    func succeeded(uid: String) { failures.withLock { $0["uid:\(uid)"] = nil } }
}

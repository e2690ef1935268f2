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

/// Attempts counted per key (a client address, a uid) in a sliding
/// window. A login attempt is counted when it starts, under the lock, and
/// handed back only if the bind succeeds or was never made; a key with an
/// attempt in flight gets no second one at once. So parallel requests
/// cannot each pass the check before any is counted, and a storm over the
/// limit never reaches slapd. The table is pruned and capped.
final class Throttle: Sendable {
    let limit: Int
    let window: TimeInterval
    let maxKeys: Int
    private struct State {
        var attempts: [String: [Date]] = [:]
        var inFlight: Set<String> = []
        var pruned = Date.distantPast
    }
    private let state = Mutex(State())

    enum Decision: Equatable, Sendable {
        case go
        /// Over the limit: seconds until the oldest counted attempt leaves the window.
        case wait(Int)
        /// An attempt of one of the keys is still running.
        case busy
    }

    enum Outcome: Sendable { case failed, succeeded, notMade }

    init(limit: Int, window: TimeInterval, maxKeys: Int = 100_000) {
        self.limit = limit; self.window = window; self.maxKeys = maxKeys
    }

    /// Before an attempt: `.go` counts it for every key and marks it in flight (end it with `end`).
    func begin(_ keys: [String], now: Date = Date()) -> Decision {
        state.withLock { s in
            prune(&s, now)
            var longest: TimeInterval?
            for k in keys {
                let recent = (s.attempts[k] ?? []).filter { now.timeIntervalSince($0) < window }
                s.attempts[k] = recent.isEmpty ? nil : recent
                if recent.count >= limit, let first = recent.first {
                    longest = max(longest ?? 0, window - now.timeIntervalSince(first))
                }
            }
            if let longest { return .wait(max(1, Int(longest.rounded(.up)))) }
            if keys.contains(where: { s.inFlight.contains($0) }) { return .busy }
            for k in keys {
                s.attempts[k, default: []].append(now)
                s.inFlight.insert(k)
            }
            return .go
        }
    }

    /// After an attempt begun at STARTED: a failure stays counted; a success
    /// clears the uid's count and hands back the client's; an attempt never
    /// made (empty password, directory down) is handed back.
    func end(_ keys: [String], started: Date, _ outcome: Outcome) {
        state.withLock { s in
            for k in keys {
                s.inFlight.remove(k)
                switch outcome {
                case .failed: break
                case .succeeded where k.hasPrefix("uid:"): s.attempts[k] = nil
                case .succeeded, .notMade:
                    if var a = s.attempts[k], let i = a.lastIndex(of: started) {
                        a.remove(at: i)
                        s.attempts[k] = a.isEmpty ? nil : a
                    }
                }
            }
        }
    }

    /// The number of keys held (for tests).
    var keys: Int { state.withLock { $0.attempts.count } }

    /// Drops keys with nothing in the window (at most once a window, or
    /// when over the cap); over the cap still, the keys whose last attempt
    /// is oldest go first, so memory stays bounded whatever is sent.
    private func prune(_ s: inout State, _ now: Date) {
        guard s.attempts.count > maxKeys || now.timeIntervalSince(s.pruned) >= window else { return }
        s.pruned = now
        s.attempts = s.attempts.filter { $0.value.contains { now.timeIntervalSince($0) < window } }
        if s.attempts.count > maxKeys {
            let drop = s.attempts.count - maxKeys * 3 / 4
            for (k, _) in s.attempts.sorted(by: { ($0.value.last ?? .distantPast) < ($1.value.last ?? .distantPast) })
                .prefix(drop) where !s.inFlight.contains(k)
            {
                s.attempts[k] = nil
            }
        }
    }
}

/// The login form's CSRF token, kept by nobody: `EXPIRY.NONCE.MAC`, the
/// MAC an HMAC-SHA256 under a key made at start, the nonce also in a
/// cookie of its own (HttpOnly, SameSite=Strict). Showing the login page
/// stores nothing, so asking for it a million times costs no memory.
struct LoginToken: Sendable {
    let key: [UInt8]
    let lifetime: TimeInterval

    init(lifetime: TimeInterval = 15 * 60) {
        var g = SystemRandomNumberGenerator()
        key = (0..<32).map { _ in UInt8.random(in: 0...255, using: &g) }
        self.lifetime = lifetime
    }

    func make(now: Date = Date()) -> (nonce: String, token: String) {
        let nonce = Token.make()
        let body = "\(Int(now.timeIntervalSince1970 + lifetime)).\(nonce)"
        return (nonce, body + "." + mac(body))
    }

    func valid(_ token: String, nonce: String?, now: Date = Date()) -> Bool {
        let parts = token.split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count == 3, let nonce, let expiry = Int(parts[0]), Double(expiry) > now.timeIntervalSince1970
        else { return false }
        return Token.equal(String(parts[1]), nonce) && Token.equal(String(parts[2]), mac("\(parts[0]).\(parts[1])"))
    }

    private func mac(_ body: String) -> String { Token.base64url(HMAC.sha256(key: key, message: Array(body.utf8))) }
}

/// Privileged work for users: one semailctl at a time per user (a few more
/// may wait; beyond that, refused), and at most `total` at once for all;
/// users wait for the global slots in turn, one request each, so one user
/// looping requests cannot crowd out the others.
actor Gate {
    let total: Int
    let queuePerUser: Int
    private var running = 0
    private var waiting: [CheckedContinuation<Void, Never>] = []
    private var users: [String: Int] = [:]
    private var userWaiting: [String: [CheckedContinuation<Void, Never>]] = [:]

    struct Busy: Error {}

    init(total: Int, queuePerUser: Int = 4) { self.total = total; self.queuePerUser = queuePerUser }

    func enter(_ uid: String) async throws {
        let n = users[uid, default: 0]
        guard n <= queuePerUser else { throw Busy() }
        users[uid] = n + 1
        if n > 0 { await withCheckedContinuation { userWaiting[uid, default: []].append($0) } }
        if running < total { running += 1 } else { await withCheckedContinuation { waiting.append($0) } }
    }

    func leave(_ uid: String) {
        if waiting.isEmpty { running -= 1 } else { waiting.removeFirst().resume() }
        let n = users[uid, default: 1] - 1
        users[uid] = n == 0 ? nil : n
        if var w = userWaiting[uid], !w.isEmpty {
            let next = w.removeFirst()
            userWaiting[uid] = w.isEmpty ? nil : w
            next.resume()
        }
    }

    /// Runs BODY inside the gate for UID.
    func run<T: Sendable>(_ uid: String, _ body: @Sendable () async throws -> T) async throws -> T {
        try await enter(uid)
        do {
            let r = try await body()
            leave(uid)
            return r
        } catch {
            leave(uid)
            throw error
        }
    }
}

import Foundation
import Hummingbird
import HummingbirdAuth
import NIOCore

/// What a session holds. The password stays in this process's memory only
/// (the session store is in memory, never written, never logged): each
/// privileged action hands it to `semailctl --as-user` on standard input.
/// A session without a uid is the anonymous one the login form runs in.
public struct PortalSession: Codable, Sendable {
    public var uid: String?
    var password: [UInt8]?
    /// The CSRF token every form of this session carries.
    public var csrf: String
    /// A message for the next page (after a redirect).
    var flash: String?
    var flashIsError = false

    static func anonymous() -> PortalSession { PortalSession(uid: nil, password: nil, csrf: Token.make()) }
}

/// The request context: sessions (hummingbird-auth) and the peer's address.
public struct PortalContext: SessionRequestContext, RequestContext {
    public typealias Session = PortalSession
    public var coreContext: CoreRequestContextStorage
    public let sessions: SessionContext<PortalSession>
    public let peer: String

    public init(source: ApplicationRequestContextSource) {
        coreContext = .init(source: source)
        sessions = .init()
        peer = source.channel.remoteAddress?.ipAddress ?? "unknown"
    }
}

enum Token {
    /// 32 random bytes, base64url.
    static func make() -> String {
        var g = SystemRandomNumberGenerator()
        return base64url((0..<32).map { _ in UInt8.random(in: 0...255, using: &g) })
    }

    static func base64url(_ bytes: [UInt8]) -> String {
        Data(bytes).base64EncodedString().replacingOccurrences(of: "+", with: "-")
            .replacingOccurrences(of: "/", with: "_").replacingOccurrences(of: "=", with: "")
    }

    /// Compares without stopping at the first difference.
    static func equal(_ a: String, _ b: String) -> Bool {
        let x = Array(a.utf8), y = Array(b.utf8)
        guard x.count == y.count else { return false }
        return zip(x, y).reduce(0) { $0 | ($1.0 ^ $1.1) } == 0
    }
}

/// An application/x-www-form-urlencoded body.
struct Form: Sendable {
    var fields: [String: String] = [:]

    init(_ body: String) {
        for pair in body.split(separator: "&") {
            let kv = pair.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            func decode(_ s: Substring) -> String {
                String(s).replacingOccurrences(of: "+", with: " ").removingPercentEncoding ?? ""
            }
            let k = decode(kv[0])
            if fields[k] == nil { fields[k] = kv.count > 1 ? decode(kv[1]) : "" }
        }
    }

    subscript(_ k: String) -> String { fields[k] ?? "" }

    static func read(_ request: Request) async throws -> Form {
        var r = request
        let buffer = try await r.collectBody(upTo: 64 * 1024)
        return Form(String(buffer: buffer))
    }
}

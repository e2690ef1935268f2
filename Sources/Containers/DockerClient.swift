import CCurl
import Core
import Foundation
import Synchronization

/// A failed Docker Engine API call: the HTTP status and the engine's message.
public struct DockerError: Error, Sendable, CustomStringConvertible {
    public var status: Int
    public var message: String
    public var request: String
    public var description: String { "\(request): HTTP \(status): \(message)" }
}

/// The Docker Engine API over its Unix socket, with libcurl
/// (CURLOPT_UNIX_SOCKET_PATH). One easy handle, reused under a lock, so
/// consecutive calls share the connection. The API version is negotiated
/// from `/_ping` on first use. `@unchecked`: it owns a C handle (the
/// `CURL *` easy handle), used only under `lock`, held for a whole request.
public final class DockerClient: @unchecked Sendable {
    public let socket: String
    private let lock = NSLock()
    private var handle: OpaquePointer?
    /// The API version, once negotiated (threads asking at once wait for one negotiation).
    private let negotiated = Mutex<String?>(nil)
    /// The newest API version this client was written against.
    static let maxVersion = (1, 45)
    static let minVersion = (1, 40)

    public init(socket: String) {
        self.socket = socket
        _ = DockerClient.globalInit
    }

    deinit { if let handle { curl_easy_cleanup(UnsafeMutableRawPointer(handle)) } }

    private static let globalInit: Void = { curl_global_init(Int(CURL_GLOBAL_DEFAULT)) }()

    /// Accumulates a response; `line` sees each complete line as it arrives.
    final class Sink {
        var data = Data()
        var line: ((Data) -> Void)?
        var pending = Data()
        /// A stream (events) keeps no body, and stops when this says so.
        var streaming = false
        var abort: (() -> Bool)?
        /// Response headers by lowercased name.
        var headers: [String: String] = [:]
        func header(_ p: UnsafeRawBufferPointer) {
            let line = String(decoding: p, as: UTF8.self)
            guard let colon = line.firstIndex(of: ":") else { return }
            headers[line[..<colon].lowercased()] = line[line.index(after: colon)...].trimmingCharacters(
                in: .whitespacesAndNewlines)
        }
        func append(_ p: UnsafeRawBufferPointer) {
            if !streaming { data.append(contentsOf: p) }
            guard let line else { return }
            pending.append(contentsOf: p)
            while let nl = pending.firstIndex(of: 0x0A) {
                line(pending[pending.startIndex..<nl])
                pending.removeSubrange(pending.startIndex...nl)
            }
        }
    }

    public struct Response: Sendable {
        public var status: Int
        public var body: Data
        /// Response headers by lowercased name.
        public var headers: [String: String] = [:]
    }

    /// One request. `path` starts with "/" and is sent under the negotiated
    /// version unless `versioned` is false.
    @discardableResult
    public func call(
        _ method: String, _ path: String, query: [(String, String)] = [], body: Data? = nil,
        contentType: String = "application/json", versioned: Bool = true,
        expect: Set<Int> = [200, 201, 204], timeout: Int = 0, line: ((Data) -> Void)? = nil,
        abort: (() -> Bool)? = nil
    ) throws -> Response {
        let prefix = versioned ? "/v\(try apiVersion())" : ""
        var url = "http://localhost\(prefix)\(path)"
        if !query.isEmpty {
            url += "?" + query.map { "\(Self.escape($0.0))=\(Self.escape($0.1))" }.joined(separator: "&")
        }
        let r = try perform(
            method: method, url: url, body: body, contentType: contentType, timeout: timeout, line: line, abort: abort)
        guard expect.contains(r.status) else {
            struct Msg: Decodable { var message: String }
            let msg =
                (try? JSONDecoder().decode(Msg.self, from: r.body))?.message
                ?? String(decoding: r.body.prefix(500), as: UTF8.self)
            throw DockerError(
                status: r.status, message: msg.trimmingCharacters(in: .whitespacesAndNewlines),
                request: "\(method) \(path)")
        }
        return r
    }

    static func escape(_ s: String) -> String {
        s.addingPercentEncoding(withAllowedCharacters: .alphanumerics.union(CharacterSet(charactersIn: "-._~"))) ?? s
    }

    private func perform(
        method: String, url: String, body: Data?, contentType: String, timeout: Int, line: ((Data) -> Void)?,
        abort: (() -> Bool)?
    ) throws -> Response {
        lock.lock(); defer { lock.unlock() }
        CallTrace.docker.withLock { $0 += 1 }
        if handle == nil { handle = OpaquePointer(curl_easy_init()) }
        guard let h = handle.map({ UnsafeMutableRawPointer($0) }) else { throw unavailable("curl_easy_init failed") }
        curl_easy_reset(h)
        let sink = Sink()
        sink.line = line
        sink.abort = abort
        sink.streaming = abort != nil
        let ctx = Unmanaged.passRetained(sink)
        defer { ctx.release() }
        var headers: UnsafeMutablePointer<curl_slist>? = nil
        headers = curl_slist_append(headers, "Content-Type: \(contentType)")
        headers = curl_slist_append(headers, "Expect:")
        defer { curl_slist_free_all(headers) }
        var rc = semail_curl_setopt_ptr(h, CURLOPT_UNIX_SOCKET_PATH, socket)
        rc = rc == CURLE_OK ? semail_curl_setopt_ptr(h, CURLOPT_URL, url) : rc
        rc = rc == CURLE_OK ? semail_curl_setopt_ptr(h, CURLOPT_CUSTOMREQUEST, method) : rc
        rc = rc == CURLE_OK ? semail_curl_setopt_ptr(h, CURLOPT_HTTPHEADER, headers) : rc
        rc = rc == CURLE_OK ? semail_curl_setopt_long(h, CURLOPT_NOSIGNAL, 1) : rc
        rc = rc == CURLE_OK ? semail_curl_setopt_long(h, CURLOPT_CONNECTTIMEOUT, 10) : rc
        if timeout > 0 { rc = rc == CURLE_OK ? semail_curl_setopt_long(h, CURLOPT_TIMEOUT, timeout) : rc }
        rc = rc == CURLE_OK ? semail_curl_setopt_ptr(h, CURLOPT_WRITEDATA, ctx.toOpaque()) : rc
        rc =
            rc == CURLE_OK
            ? semail_curl_setopt_write(
                h, CURLOPT_WRITEFUNCTION,
                { ptr, size, n, user in
                    let sink = Unmanaged<Sink>.fromOpaque(user!).takeUnretainedValue()
                    sink.append(UnsafeRawBufferPointer(start: ptr, count: size * n))
                    return sink.abort?() == true ? 0 : size * n
                }) : rc
        rc = rc == CURLE_OK ? semail_curl_setopt_ptr(h, CURLOPT_HEADERDATA, ctx.toOpaque()) : rc
        rc =
            rc == CURLE_OK
            ? semail_curl_setopt_write(
                h, CURLOPT_HEADERFUNCTION,
                { ptr, size, n, user in
                    Unmanaged<Sink>.fromOpaque(user!).takeUnretainedValue().header(
                        UnsafeRawBufferPointer(start: ptr, count: size * n))
                    return size * n
                }) : rc
        if abort != nil {
            // Called about once a second while idle: a stream ends when `abort` says so.
            rc = rc == CURLE_OK ? semail_curl_setopt_long(h, CURLOPT_NOPROGRESS, 0) : rc
            rc = rc == CURLE_OK ? semail_curl_setopt_ptr(h, CURLOPT_XFERINFODATA, ctx.toOpaque()) : rc
            rc =
                rc == CURLE_OK
                ? semail_curl_setopt_xferinfo(
                    h, CURLOPT_XFERINFOFUNCTION,
                    { user, _, _, _, _ in
                        Unmanaged<Sink>.fromOpaque(user!).takeUnretainedValue().abort?() == true ? 1 : 0
                    }) : rc
        }
        // The body is copied by libcurl (COPYPOSTFIELDS), so no pointer outlives this call.
        if let body {
            rc = rc == CURLE_OK ? semail_curl_setopt_long(h, CURLOPT_POSTFIELDSIZE_LARGE, body.count) : rc
            rc =
                rc == CURLE_OK
                ? body.withUnsafeBytes {
                    semail_curl_setopt_ptr(h, CURLOPT_COPYPOSTFIELDS, $0.baseAddress ?? UnsafeRawPointer(bitPattern: 1))
                } : rc
        }
        guard rc == CURLE_OK else { throw unavailable(String(cString: curl_easy_strerror(rc))) }
        let res = curl_easy_perform(h)
        if abort?() == true, res == CURLE_ABORTED_BY_CALLBACK || res == CURLE_WRITE_ERROR {
            return Response(status: 200, body: Data())
        }
        guard res == CURLE_OK else { throw unavailable(String(cString: curl_easy_strerror(res))) }
        if !sink.pending.isEmpty { line?(sink.pending) }
        var status = 0
        _ = semail_curl_getinfo_long(h, CURLINFO_RESPONSE_CODE, &status)
        return Response(status: status, body: sink.data, headers: sink.headers)
    }

    func unavailable(_ why: String) -> SemailError {
        SemailError(
            "cannot reach Docker at \(socket)", why: why,
            hint: "start it (`systemctl start docker`, or `dockerd &`) and check [containers] socket",
            status: .unavailable)
    }

    /// The API version: the engine's, capped at what this client knows.
    public func apiVersion() throws -> String {
        try negotiated.withLock { negotiated in
            if let negotiated { return negotiated }
            let v = try negotiate()
            negotiated = v
            return v
        }
    }

    private func negotiate() throws -> String {
        // `/_ping` names it in a header, as the docker CLI negotiates
        // (`/version` makes the engine run runc and docker-init first).
        let server: String
        if let v = try call("GET", "/_ping", versioned: false).headers["api-version"] {
            server = v
        } else {
            struct V: Decodable { var ApiVersion: String }
            server = try JSONDecoder().decode(V.self, from: call("GET", "/version", versioned: false).body).ApiVersion
        }
        let parts = server.split(separator: ".").compactMap { Int($0) }
        guard parts.count == 2 else {
            throw SemailError(
                "unexpected Docker API version \(server)", why: "expected MAJOR.MINOR", status: .unavailable)
        }
        let v = (parts[0], parts[1])
        guard v >= Self.minVersion else {
            throw SemailError(
                "Docker is too old",
                why:
                    "API \(server); semailctl needs \(Self.minVersion.0).\(Self.minVersion.1) or newer (Docker 19.03+)",
                status: .unavailable)
        }
        let use = min(v, Self.maxVersion)
        let s = "\(use.0).\(use.1)"
        return s
    }

    // MARK: Typed calls

    public func ping() throws -> Bool { try call("GET", "/_ping", versioned: false).status == 200 }

    public struct Version: Codable, Sendable { public var Version: String; public var ApiVersion: String }
    public func version() throws -> Version { try decode(call("GET", "/version", versioned: false)) }

    public struct Info: Codable, Sendable {
        public var Containers: Int; public var Images: Int; public var ServerVersion: String; public var Driver: String
    }
    public func info() throws -> Info { try decode(call("GET", "/info")) }

    public func decode<T: Decodable>(_ r: Response) throws -> T {
        do { return try JSONDecoder().decode(T.self, from: r.body) } catch {
            throw SemailError("unexpected answer from Docker", why: "\(error)", status: .software)
        }
    }
}

extension DockerClient.Response {
    var json: Any? { try? JSONSerialization.jsonObject(with: body) }
}

private func >= (a: (Int, Int), b: (Int, Int)) -> Bool { a.0 > b.0 || (a.0 == b.0 && a.1 >= b.1) }
private func min(_ a: (Int, Int), _ b: (Int, Int)) -> (Int, Int) { a >= b ? b : a }

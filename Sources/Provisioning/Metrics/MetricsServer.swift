import Core
import Foundation
#if canImport(Glibc)
    import Glibc
#endif

/// A GET-only HTTP/1.x responder for `/metrics` on one thread of its own:
/// one connection at a time, requests up to 8 KiB, 2 s in all to send one, the
/// connection closed after each answer. Small on purpose: semailctl starts
/// for every command, so nothing of an event loop is started unless the
/// watch serves metrics, and a scrape endpoint needs nothing more.
public final class MetricsServer: Sendable {
    let fd: Int32
    /// The port it listens on (the one asked for, or the kernel's pick for 0).
    public let port: Int
    let render: @Sendable () -> [UInt8]

    /// Binds LISTEN ("127.0.0.1:9468", "[::1]:9468") now, so a taken port fails the start.
    public convenience init(listen: String, render: @escaping @Sendable () -> [UInt8]) throws {
        guard let a = Config.Web.listenAddress(listen) else {
            throw SemailError(
                "invalid [metrics] listen \(Validate.quoted(listen))", why: "expected IPv4:port or [IPv6]:port",
                hint: "e.g. listen = \"127.0.0.1:9468\"", status: .config)
        }
        try self.init(host: a.host, port: a.port, render: render)
    }

    /// PORT 0: the kernel picks one (`port` says which).
    init(host: String, port: Int, render: @escaping @Sendable () -> [UInt8]) throws {
        self.render = render
        let a = (host: host, port: port), listen = host.contains(":") ? "[\(host)]:\(port)" : "\(host):\(port)"
        let v6 = a.host.contains(":")
        let s = socket(v6 ? AF_INET6 : AF_INET, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard s >= 0 else { throw Self.failure(listen, errno) }
        var one: Int32 = 1
        setsockopt(s, SOL_SOCKET, SO_REUSEADDR, &one, socklen_t(MemoryLayout<Int32>.size))
        var rc: Int32
        if v6 {
            var sa = sockaddr_in6()
            sa.sin6_family = sa_family_t(AF_INET6)
            sa.sin6_port = in_port_t(UInt16(a.port).bigEndian)
            inet_pton(AF_INET6, a.host, &sa.sin6_addr)
            rc = withUnsafePointer(to: &sa) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                    bind(s, $0, socklen_t(MemoryLayout<sockaddr_in6>.size))
                }
            }
        } else {
            var sa = sockaddr_in()
            sa.sin_family = sa_family_t(AF_INET)
            sa.sin_port = in_port_t(UInt16(a.port).bigEndian)
            inet_pton(AF_INET, a.host, &sa.sin_addr)
            rc = withUnsafePointer(to: &sa) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                    bind(s, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
                }
            }
        }
        guard rc == 0, Glibc.listen(s, 16) == 0 else {
            let e = errno
            close(s)
            throw Self.failure(listen, e)
        }
        fd = s
        var sa = sockaddr_storage()
        var len = socklen_t(MemoryLayout<sockaddr_storage>.size)
        _ = withUnsafeMutablePointer(to: &sa) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(s, $0, &len) }
        }
        self.port = withUnsafePointer(to: &sa) { p in
            v6
                ? Int(
                    UInt16(bigEndian: p.withMemoryRebound(to: sockaddr_in6.self, capacity: 1) { $0.pointee.sin6_port }))
                : Int(UInt16(bigEndian: p.withMemoryRebound(to: sockaddr_in.self, capacity: 1) { $0.pointee.sin_port }))
        }
    }

    static func failure(_ listen: String, _ e: Int32) -> SemailError {
        SemailError(
            "cannot serve metrics on \(listen)", why: SystemState.errnoText(e),
            hint: e == EADDRINUSE
                ? "another program listens there: pick another port in [metrics] listen"
                : "check [metrics] listen", status: .config)
    }

    /// Serves on a thread of its own until STOP says so (checked twice a second).
    public func start(stop: @escaping @Sendable () -> Bool) {
        let t = Thread { [self] in
            while !stop() {
                var p = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
                guard poll(&p, 1, 500) > 0 else { continue }
                let c = accept(fd, nil, nil)
                if c < 0 { continue }
                _ = fcntl(c, F_SETFD, FD_CLOEXEC)
                serve(c)
                close(c)
            }
            close(fd)
        }
        t.name = "metrics"
        t.start()
    }

    func serve(_ c: Int32) {
        var tv = timeval(tv_sec: 2, tv_usec: 0)
        setsockopt(c, SOL_SOCKET, SO_RCVTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
        setsockopt(c, SOL_SOCKET, SO_SNDTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
        var req: [UInt8] = []
        var buf = [UInt8](repeating: 0, count: 2048)
        let end: [UInt8] = Array("\r\n\r\n".utf8)
        // 2 s for the whole request, however slowly its bytes come (each read also times out after 2 s).
        let deadline = Date().addingTimeInterval(2)
        while req.count < 8192 && Date() < deadline {
            let n = read(c, &buf, buf.count)
            if n < 0 && errno == EINTR { continue }
            if n <= 0 { break }
            req += buf[0..<n]
            if req.firstRange(of: end) != nil { break }
        }
        let (status, body, type) = Self.answer(req, render)
        let head =
            "HTTP/1.1 \(status)\r\nContent-Type: \(type)\r\nContent-Length: \(body.count)\r\nConnection: close\r\n\r\n"
        let out = Array(head.utf8) + body
        var done = 0
        // And 5 s to take the answer, however slowly it is read: one scraper cannot keep the others out.
        let sendBy = Date().addingTimeInterval(5)
        while done < out.count && Date() < sendBy {
            let n = out.withUnsafeBytes { write(c, $0.baseAddress! + done, out.count - done) }
            if n < 0 && errno == EINTR { continue }
            if n <= 0 { break }
            done += n
        }
    }

    /// The status line's code and reason, the body and its type for a request's bytes.
    static func answer(_ req: [UInt8], _ render: () -> [UInt8]) -> (String, [UInt8], String) {
        let text = "text/plain; charset=utf-8"
        guard let lineEnd = req.firstRange(of: Array("\r\n".utf8)) else {
            return ("400 Bad Request", Array("bad request\n".utf8), text)
        }
        let parts = String(decoding: req[..<lineEnd.lowerBound], as: UTF8.self).split(separator: " ")
        guard parts.count == 3, parts[2].hasPrefix("HTTP/1.") else {
            return ("400 Bad Request", Array("bad request\n".utf8), text)
        }
        guard parts[0] == "GET" else { return ("405 Method Not Allowed", Array("GET only\n".utf8), text) }
        guard parts[1] == "/metrics" || parts[1] == "/" else {
            return ("404 Not Found", Array("the metrics are at /metrics\n".utf8), text)
        }
        return ("200 OK", render(), "text/plain; version=0.0.4; charset=utf-8")
    }
}

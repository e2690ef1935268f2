import Foundation
import Testing
@testable import DNS

/// The libresolv shim against a hostile name server (any user can point
/// their domain's name server at one): a truncated UDP answer, then a TCP
/// answer far larger than the shim's buffer. It must fail cleanly, never
/// read past its buffer (it crashed the process before).
@Suite struct ResolverTests {
    /// A name server on 127.0.0.1 that answers every query over UDP with TC
    /// set and over TCP with one record of `type` holding ~64 KB.
    static let server = #"""
        import socket, struct, sys, threading
        qtype = int(sys.argv[1])
        def question(d):
            i = 12
            while d[i] != 0: i += 1 + d[i]
            return d[12:i + 5]
        def answer(d, big):
            flags = 0x8400 | (0 if big else 0x0200)
            rr = b''
            if big:
                if qtype == 16: rdata = (bytes([255]) + b'A' * 255) * 250
                else: rdata = struct.pack('>H', 10) + (bytes([63]) + b'm' * 63) * 3 + b'\x00'
                rr = b'\xc0\x0c' + struct.pack('>HHIH', qtype, 1, 60, len(rdata)) + rdata
                if qtype != 16: rr = rr * 600
            return d[:2] + struct.pack('>HHHHH', flags, 1, 1 if qtype == 16 and big else (600 if big else 0), 0, 0) + question(d) + rr
        u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); u.bind(('127.0.0.1', 0))
        port = u.getsockname()[1]
        t = socket.socket(); t.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1); t.bind(('127.0.0.1', port)); t.listen(5)
        print(port, flush=True)
        def udp():
            while True:
                d, a = u.recvfrom(4096); u.sendto(answer(d, False), a)
        threading.Thread(target=udp, daemon=True).start()
        while True:
            c, _ = t.accept(); l = struct.unpack('>H', c.recv(2))[0]; d = b''
            while len(d) < l: d += c.recv(l - len(d))
            r = answer(d, True)[:65535]; c.sendall(struct.pack('>H', len(r)) + r); c.close()
        """#

    func withServer(type: Int, _ body: (String) throws -> Void) throws {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/python3")
        p.arguments = ["-c", Self.server, "\(type)"]
        let out = Pipe()
        p.standardOutput = out
        try p.run()
        defer { kill(p.processIdentifier, SIGKILL); p.waitUntilExit() }
        let line = String(decoding: out.fileHandleForReading.availableData, as: UTF8.self).trimmingCharacters(
            in: .whitespacesAndNewlines)
        let port = try #require(Int(line), "the test name server did not start: \(line)")
        try body("127.0.0.1:\(port)")
    }

    @Test func aHugeTXTAnswerFailsCleanly() throws {
        try withServer(type: 16) { server in
            #expect(throws: MXResolver.Failure.self) { _ = try TXTResolver.lookup("_semail.evil.test", server: server) }
        }
    }

    @Test func aHugeMXAnswerFailsCleanly() throws {
        try withServer(type: 15) { server in
            #expect(throws: MXResolver.Failure.self) { _ = try MXResolver.lookup("evil.test", server: server) }
        }
    }
}

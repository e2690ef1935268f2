import Core
import Foundation
import Provisioning

/// A private Postfix (Debian's package) started by `scripts/postfix.sh` for
/// one test: its own config, queue and data directories, one smtpd on a
/// loopback port, the test's own main.cf lines (the virtual maps). `stop()`
/// ends it and removes its directory; call it from a `defer`.
public final class Postfix: Sendable {
    public let dir: String
    public let port: Int

    /// Starts an instance whose main.cf ends with MAINCF (`name = value` lines).
    public static func start(mainCF: [String]) throws -> Postfix {
        let dir = "/tmp/semail-test-postfix-\(UUID().uuidString.prefix(8))"
        let script = "\(repoRoot)/scripts/postfix.sh"
        do {
            try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
            try (mainCF.joined(separator: "\n") + "\n").write(
                toFile: "\(dir)/extra.cf", atomically: true, encoding: .utf8)
            try ProcessRunner().run([script, "start", dir])
            guard let port = Int(try readEnv("\(dir)/env")["SMTP_PORT"] ?? "") else {
                throw SemailError("postfix.sh did not write its env", why: "\(dir)/env has no SMTP_PORT")
            }
            return Postfix(dir: dir, port: port)
        } catch {
            _ = try? ProcessRunner().run([script, "stop", dir], check: false)
            throw error
        }
    }

    init(dir: String, port: Int) { self.dir = dir; self.port = port }

    public func stop() { _ = try? ProcessRunner().run(["\(repoRoot)/scripts/postfix.sh", "stop", dir], check: false) }

    /// `postfix reload`: texthash tables are read again by new processes.
    public func reload() throws { try ProcessRunner().run(["postfix", "-c", "\(dir)/etc", "reload"]) }

    /// Its log (maillog_file), for failure messages.
    public var log: String { (try? String(contentsOfFile: "\(dir)/maillog", encoding: .utf8)) ?? "" }

    /// What the server answered to one SMTP transaction.
    public struct Reply: Sendable, Decodable {
        /// recipient -> [code, text] of its RCPT TO.
        public var rcpt: [String: Reply.Line]
        /// The answer to DATA, when a recipient was accepted.
        public var data: Reply.Line?
        public struct Line: Sendable, Decodable {
            public var code: Int
            public var text: String
            public init(from decoder: Decoder) throws {
                var c = try decoder.unkeyedContainer()
                code = try c.decode(Int.self); text = try c.decode(String.self)
            }
        }
    }

    /// Sends MESSAGE from FROM to each of TO over SMTP (python3's smtplib,
    /// one RCPT per recipient), and tells what the server said to each.
    public func send(from: String, to: [String], message: String) throws -> Reply {
        let client = """
            import json, smtplib, sys
            port, sender, rcpts = int(sys.argv[1]), sys.argv[2], sys.argv[3:]
            msg = sys.stdin.buffer.read()
            s = smtplib.SMTP("127.0.0.1", port, timeout=30)
            s.ehlo("client.semail.test")
            s.mail(sender)
            out = {"rcpt": {}, "data": None}
            for r in rcpts:
                code, text = s.rcpt(r)
                out["rcpt"][r] = [code, text.decode()]
            if any(v[0] // 100 == 2 for v in out["rcpt"].values()):
                code, text = s.data(msg)
                out["data"] = [code, text.decode()]
            s.quit()
            print(json.dumps(out))
            """
        let r = try ProcessRunner().run(["python3", "-c", client, "\(port)", from] + to, stdin: Data(message.utf8))
        return try JSONDecoder().decode(Reply.self, from: r.stdout)
    }
}

import Core
import Foundation
import TestSupport
import Testing

/// Usage warnings and metrics on real volumes: a volume filled past 80 %
/// then past 95 % gets exactly one warning per threshold, none on the next
/// passes, another after it went back below; a real `reconcile --watch`
/// serves the series over HTTP with the volume's own numbers.
@Suite(.slapd, .named, .dockerd, .serialized) struct UsageIntegrationTests {
    func json(_ r: ProcessOutput) throws -> [String: Any] {
        try #require(JSONSerialization.jsonObject(with: r.stdout) as? [String: Any], "\(r.text) \(r.stderr)")
    }

    func df(_ path: String) -> (used: UInt64, avail: UInt64, size: UInt64) {
        var s = statvfs()
        _ = statvfs(path, &s)
        let b = UInt64(s.f_frsize)
        return ((UInt64(s.f_blocks) - UInt64(s.f_bfree)) * b, UInt64(s.f_bavail) * b, UInt64(s.f_blocks) * b)
    }

    /// Allocates a file so that the volume is PERCENT full (df's Use%).
    func fill(_ w: World, _ uid: String, to percent: UInt64, name: String) throws {
        let mp = w.mountPoint(uid)
        let d = df(mp)
        let want = (d.used + d.avail) * percent / 100 - d.used
        try ProcessRunner().run(["fallocate", "-l", "\(want)", "\(mp)/Maildir/cur/\(name)"])
    }

    func warnings(_ w: World, _ uid: String) -> [String] {
        ((try? FileManager.default.contentsOfDirectory(atPath: "\(w.mountPoint(uid))/Maildir/new")) ?? []).sorted()
    }

    /// The thresholds warned about for UID: `mailbox usage`'s `sent`, or a reconcile report's `usage.sent`.
    func sent(_ doc: [String: Any], _ uid: String) -> [Int] {
        let pass = (doc["usage"] as? [String: Any]) ?? doc
        #expect(pass["sent"] is [Any], "no sent list in \(doc)")
        return ((pass["sent"] as? [[String: Any]]) ?? []).filter { $0["uid"] as? String == uid }.compactMap {
            $0["threshold"] as? Int
        }
    }

    @Test func oneWarningPerThresholdCrossing() throws {
        let w = try World.ready()
        defer { w.cleanup() }
        let uid = uniqueUID("us")
        try w.addUser(uid)
        let address = "\(uid)@\(uid).\(w.zone)"
        var r = try w.run(["mailbox", "create", uid, "--address", address, "-q"])
        #expect(r.status == 0, "\(r.stderr)")

        r = try w.run(["mailbox", "usage", uid, "--json"])
        #expect(r.status == 0, "\(r.stderr)")
        var doc = try json(r)
        let row = try #require((doc["rows"] as? [[String: Any]])?.first)
        let usage = try #require(row["usage"] as? [String: Any])
        #expect(usage["size"] as? Int == Int(df(w.mountPoint(uid)).size))
        #expect((usage["inodesUsed"] as? Int ?? 0) > 0)
        #expect(sent(doc, uid).isEmpty && warnings(w, uid).isEmpty)

        // Past 80 %: `mailbox usage` sends one warning, nothing more on the next passes.
        try fill(w, uid, to: 82, name: "big1")
        doc = try json(try w.run(["mailbox", "usage", "--json"]))
        #expect(sent(doc, uid) == [80], "\(doc)")
        #expect(warnings(w, uid).count == 1)
        let message = try String(
            contentsOfFile: "\(w.mountPoint(uid))/Maildir/new/\(warnings(w, uid)[0])", encoding: .utf8)
        #expect(message.contains("To: <\(address)>") && message.contains("From: Postmaster <postmaster@\(w.zone)>"))
        #expect(message.contains("Subject: Your mailbox is 8") && message.contains("\nMessage-ID: <"))
        var st = stat()
        #expect(stat("\(w.mountPoint(uid))/Maildir/new/\(warnings(w, uid)[0])", &st) == 0)
        #expect(st.st_uid >= 1000 && st.st_mode & 0o777 == 0o600, "owned by the mailbox owner")
        doc = try json(try w.run(["mailbox", "usage", "--json"]))
        #expect(sent(doc, uid).isEmpty)
        r = try w.run(["reconcile", "--json"])
        #expect(sent(try json(r), uid).isEmpty && warnings(w, uid).count == 1, "\(r.text)")

        // Past 95 %: the reconcile pass sends it; the next sends nothing.
        try fill(w, uid, to: 96, name: "big2")
        r = try w.run(["reconcile", "--json"])
        #expect(sent(try json(r), uid) == [95], "\(r.text) \(r.stderr)")
        #expect(warnings(w, uid).count == 2)
        r = try w.run(["reconcile"])
        #expect(!r.text.contains("warned \(uid)") && warnings(w, uid).count == 2, "\(r.text)")
        r = try w.run(["mailbox", "list"])
        #expect(r.text.split(separator: "\n").contains { $0.contains(uid) && $0.contains("warned 95%") }, "\(r.text)")

        // Back below 80 %, then past it again: warned again (re-armed), once.
        for f in ["big1", "big2"] {
            try FileManager.default.removeItem(atPath: "\(w.mountPoint(uid))/Maildir/cur/\(f)")
        }
        doc = try json(try w.run(["mailbox", "usage", uid, "--json"]))
        #expect(sent(doc, uid).isEmpty)
        try fill(w, uid, to: 83, name: "big3")
        doc = try json(try w.run(["mailbox", "usage", uid, "--json"]))
        #expect(sent(doc, uid) == [80])
        #expect(warnings(w, uid).count == 3)
        #expect(sent(try json(try w.run(["mailbox", "usage", uid, "--json"])), uid).isEmpty)
        #expect(warnings(w, uid).count == 3)
    }

    /// The series of a scrape, "name{labels}" -> value.
    func scrape(_ port: Int) -> (String, [String: Double]) {
        let text =
            (try? ProcessRunner().run(["curl", "-sf", "--max-time", "5", "http://127.0.0.1:\(port)/metrics"]))?.text
            ?? ""
        let samples = Dictionary(
            text.split(separator: "\n").filter { !$0.hasPrefix("#") }.compactMap { line -> (String, Double)? in
                guard let sp = line.lastIndex(of: " "), let v = Double(line[line.index(after: sp)...]) else {
                    return nil
                }
                return (String(line[..<sp]), v)
            }, uniquingKeysWith: { a, _ in a })
        return (text, samples)
    }

    func waitFor(_ seconds: Double, _ what: () -> Bool) -> Bool {
        let until = Date().addingTimeInterval(seconds)
        while Date() < until { if what() { return true }; usleep(300_000) }
        return what()
    }

    /// A real watch: the first pass's series; then mail fills the volume
    /// with no directory change, and the watch's own usage check (every
    /// [usage] interval seconds) warns and updates the volume's series.
    @Test func theWatchServesMetrics() throws {
        let port = try freePort()
        let w = try World.ready("[usage]\ninterval = 2\n\n[metrics]\nlisten = \"127.0.0.1:\(port)\"\n")
        defer { w.cleanup() }
        let uid = uniqueUID("um")
        try w.addUser(uid)
        let r = try w.run(["mailbox", "create", uid, "--address", "\(uid)@\(uid).\(w.zone)", "-q"])
        #expect(r.status == 0, "\(r.stderr)")
        let started = Date().timeIntervalSince1970
        let p = try WatchProcess(w, ["reconcile", "--watch"])
        defer { p.stop() }
        var (text, s) = scrape(port)
        #expect(
            waitFor(90) {
                (text, s) = scrape(port)
                return s["semail_reconcile_passes_total"] == 1
            }, "\(text)\n\(p.stderr)")
        var d = df(w.mountPoint(uid))
        #expect(s["semail_volume_size_bytes{uid=\"\(uid)\"}"] == Double(d.size), "\(text)")
        #expect(s["semail_volume_used_bytes{uid=\"\(uid)\"}"] == Double(d.used), "\(text)")
        #expect(s["semail_mailboxes{state=\"active\"}"] == 1, "\(text)")
        #expect(s["semail_mailboxes{state=\"missing-volume\"}"] == 0)
        #expect(s["semail_directory_connected"] == 1)
        #expect(s["semail_reconcile_errors_total"] == 0, "\(text)\n\(p.stderr)")
        #expect(s["semail_reconcile_failed_passes_total"] == 0)
        #expect(s["semail_reconcile_pass_duration_seconds_count"] == 1)
        #expect(s["semail_usage_warnings_sent_total{threshold=\"80\"}"] == 0, "\(text)")
        let last = try #require(s["semail_reconcile_last_success_timestamp_seconds"], "\(text)")
        #expect(last >= started - 1 && last <= Date().timeIntervalSince1970 + 1)
        #expect(p.stderr.contains("serving metrics on http://127.0.0.1:\(port)/metrics"), "\(p.stderr)")

        // Mail arrives (no directory change): the watch's usage check warns once and updates the series.
        try fill(w, uid, to: 85, name: "big")
        #expect(
            waitFor(30) {
                (text, s) = scrape(port)
                return s["semail_usage_warnings_sent_total{threshold=\"80\"}"] == 1
            }, "\(text)\n\(p.stderr)")
        #expect(warnings(w, uid).count == 1)
        sleep(5)  // two more checks: still one warning
        (text, s) = scrape(port)
        #expect(s["semail_usage_warnings_sent_total{threshold=\"80\"}"] == 1 && warnings(w, uid).count == 1)
        d = df(w.mountPoint(uid))
        #expect(s["semail_volume_used_bytes{uid=\"\(uid)\"}"] == Double(d.used), "\(text)")
        #expect(s["semail_volume_available_bytes{uid=\"\(uid)\"}"] == Double(d.avail), "\(text)")
        #expect(s["semail_reconcile_passes_total"] == 1, "no pass ran: the check did it")
        #expect((s["semail_usage_last_check_timestamp_seconds"] ?? 0) > last)
        // Anything but GET /metrics is refused.
        let other = try ProcessRunner().run(
            ["curl", "-s", "-o", "/dev/null", "-w", "%{http_code}", "-X", "POST", "http://127.0.0.1:\(port)/metrics"])
        #expect(other.text == "405")
    }

    /// A port nobody listens on now (bound to 0, then released).
    func freePort() throws -> Int {
        let s = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(s) }
        var sa = sockaddr_in()
        sa.sin_family = sa_family_t(AF_INET)
        sa.sin_addr.s_addr = inet_addr("127.0.0.1")
        var len = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafePointer(to: &sa) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(s, $0, len) } }
        _ = withUnsafeMutablePointer(to: &sa) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(s, $0, &len) }
        }
        return Int(UInt16(bigEndian: sa.sin_port))
    }
}

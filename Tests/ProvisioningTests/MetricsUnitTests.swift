import Core
import Foundation
import Glibc
@testable import Provisioning
import Storage
import Synchronization
import Testing

/// The metrics text `reconcile --watch` serves, and its tiny responder.
@Suite struct MetricsUnitTests {
    func report(_ rows: [UsageRow], sent: [UsageWarningSent] = [], states: [String: Int]) -> ReconcileReport {
        var r = ReconcileReport(mailboxes: rows.count, items: [], observeCalls: [:], dryRun: false, prune: false)
        r.items = [
            ReconcileItem(
                kind: .repair, uid: "alice", component: .container, target: "alice", action: "start",
                reason: "stopped", destructive: false)
        ]
        r.applied = [
            PipelineReport(kind: "create", subject: "alice", ok: true, applied: ["container"])
        ]
        r.errors = ["bob: something"]
        r.usage = UsagePass(rows: rows, sent: sent, errors: [], thresholds: [80, 95], states: states)
        return r
    }

    func row(_ uid: String, used: UInt64, avail: UInt64) -> UsageRow {
        let u = VolumeUsage(used: used, available: avail, size: used + avail, inodesUsed: 3, inodes: 10)
        return UsageRow(uid: uid, address: "\(uid)@example.org", usage: u, percent: u.percent)
    }

    /// Lines that are samples (not # HELP/# TYPE), as "name{labels} value".
    func samples(_ m: WatchMetrics) -> Set<String> {
        Set(
            String(decoding: m.render(), as: UTF8.self).split(separator: "\n").filter { !$0.hasPrefix("#") }.map(
                String.init))
    }

    /// A suspended mailbox counts as suspended whatever its container does (it is kept stopped);
    /// refused comes first, a missing part after.
    @Test func mailboxStates() {
        #expect(MailboxStates.state(refused: false, suspended: true, volume: nil, container: nil) == "suspended")
        #expect(MailboxStates.state(refused: true, suspended: true, volume: nil, container: nil) == "refused")
        #expect(MailboxStates.state(refused: false, suspended: false, volume: nil, container: nil) == "missing-volume")
        #expect(MailboxStates.all.contains("suspended"))
    }

    @Test func aPassBecomesSeries() throws {
        let m = WatchMetrics()
        m.setConnected(true)
        let at = Date(timeIntervalSince1970: 1_700_000_000)
        m.record(
            report(
                [row("alice", used: 960, avail: 40), row("bob", used: 100, avail: 900)],
                sent: [UsageWarningSent(uid: "alice", threshold: 95, percent: 96, file: "f")],
                states: ["active": 1, "container-stopped": 1]),
            seconds: 0.3, at: at)
        let s = samples(m)
        for want in [
            #"semail_volume_used_bytes{uid="alice"} 960.0"#, #"semail_volume_size_bytes{uid="alice"} 1000.0"#,
            #"semail_volume_available_bytes{uid="alice"} 40.0"#, #"semail_volume_used_bytes{uid="bob"} 100.0"#,
            #"semail_mailboxes{state="active"} 1.0"#, #"semail_mailboxes{state="container-stopped"} 1.0"#,
            #"semail_mailboxes{state="missing-volume"} 0.0"#,
            "semail_reconcile_passes_total 1", "semail_reconcile_drift_found_total 1",
            "semail_reconcile_drift_repaired_total 1", "semail_reconcile_errors_total 1",
            "semail_reconcile_last_success_timestamp_seconds 1700000000.0", "semail_directory_connected 1.0",
            #"semail_usage_warnings_sent_total{threshold="95"} 1"#,
            "semail_reconcile_pass_duration_seconds_count 1",
            #"semail_reconcile_pass_duration_seconds_bucket{le="0.5"} 1"#,
            #"semail_reconcile_pass_duration_seconds_bucket{le="0.25"} 0"#
        ] {
            #expect(s.contains(want), "missing \(want) in \(s.sorted())")
        }
        let text = String(decoding: m.render(), as: UTF8.self)
        #expect(text.contains("# TYPE semail_volume_used_bytes gauge"))
        #expect(text.contains("# TYPE semail_reconcile_passes_total counter"))

        // bob's mailbox goes away; a failed pass counts, the last success stays.
        m.record(report([row("alice", used: 500, avail: 500)], states: ["active": 1]), seconds: 1, at: at + 60)
        m.recordFailure(seconds: 2, at: at + 120)
        m.setConnected(false)
        let t = samples(m)
        #expect(!t.contains { $0.contains("uid=\"bob\"") }, "\(t.sorted())")
        for want in [
            #"semail_volume_used_bytes{uid="alice"} 500.0"#, "semail_reconcile_passes_total 3",
            "semail_reconcile_failed_passes_total 1", "semail_reconcile_errors_total 3",
            "semail_reconcile_last_success_timestamp_seconds 1700000060.0",
            "semail_reconcile_last_pass_timestamp_seconds 1700000120.0", "semail_directory_connected 0.0",
            #"semail_mailboxes{state="container-stopped"} 0.0"#
        ] {
            #expect(t.contains(want), "missing \(want) in \(t.sorted())")
        }
    }

    @Test func theResponderAnswersGETMetricsOnly() {
        func answer(_ s: String) -> String {
            let (status, body, _) = MetricsServer.answer(Array(s.utf8)) { Array("x 1\n".utf8) }
            return "\(status)|\(String(decoding: body, as: UTF8.self))"
        }
        #expect(answer("GET /metrics HTTP/1.1\r\nHost: a\r\n\r\n") == "200 OK|x 1\n")
        #expect(answer("GET / HTTP/1.0\r\n\r\n") == "200 OK|x 1\n")
        #expect(answer("GET /other HTTP/1.1\r\n\r\n").hasPrefix("404"))
        #expect(answer("POST /metrics HTTP/1.1\r\n\r\n").hasPrefix("405"))
        #expect(answer("GET /metrics\r\n\r\n").hasPrefix("400"))
        #expect(answer("garbage").hasPrefix("400"))
    }

    @Test func theResponderServesOverTCP() throws {
        let stop = Flag()
        let s = try MetricsServer(host: "127.0.0.1", port: 0) { Array("semail_up 1\n".utf8) }
        s.start(stop: { stop.value })
        defer { stop.set() }
        let r = try ProcessRunner().run(["curl", "-sS", "-i", "--max-time", "5", "http://127.0.0.1:\(s.port)/metrics"])
        let text = String(decoding: r.stdout, as: UTF8.self)
        #expect(text.hasPrefix("HTTP/1.1 200 OK"), "\(text)")
        #expect(text.contains("Content-Type: text/plain; version=0.0.4"))
        #expect(text.hasSuffix("\r\n\r\nsemail_up 1\n"))
        // A taken port fails at start, with what to do.
        #expect(throws: SemailError.self) { try MetricsServer(listen: "127.0.0.1:\(s.port)") { [] } }
    }
}

extension MetricsUnitTests {
    /// Slowloris: a client dribbling one byte every 0.3 s holds the one
    /// connection at most 2 s; a scrape behind it is still answered.
    @Test func aSlowClientCannotHoldTheResponder() throws {
        let stop = Flag()
        let s = try MetricsServer(host: "127.0.0.1", port: 0) { Array("semail_up 1\n".utf8) }
        s.start(stop: { stop.value })
        defer { stop.set() }
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(fd) }
        #expect(Self.connect(fd, port: s.port) == 0)
        let dribble = Thread {
            for b in Array("GET /metrics HTTP/1.1\r\nX-Slow: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa".utf8) {
                if stop.value { return }
                var byte = b
                if send(fd, &byte, 1, Int32(MSG_NOSIGNAL)) != 1 { return }
                usleep(300_000)
            }
        }
        dribble.start()
        usleep(200_000)
        let t = Date()
        let r = try ProcessRunner().run(
            ["curl", "-sS", "--max-time", "8", "http://127.0.0.1:\(s.port)/metrics"], check: false)
        #expect(r.status == 0 && r.text == "semail_up 1\n", "\(r.text)")
        #expect(Date().timeIntervalSince(t) < 4, "the slow client held the responder")
    }
}

extension MetricsUnitTests {
    /// The other half: a client that asks, then takes the answer a little at a
    /// time (enough for each write to progress, never enough to finish) holds
    /// the one connection at most 5 s; a scrape behind it is still answered.
    @Test func aSlowReaderCannotHoldTheResponder() throws {
        let stop = Flag()
        let big = [UInt8](repeating: 0x61, count: 16 << 20)
        let s = try MetricsServer(host: "127.0.0.1", port: 0) { big }
        s.start(stop: { stop.value })
        defer { stop.set() }
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(fd) }
        var small: Int32 = 4096
        setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &small, socklen_t(MemoryLayout<Int32>.size))
        #expect(Self.connect(fd, port: s.port) == 0)
        let request = Array("GET /metrics HTTP/1.1\r\nHost: a\r\n\r\n".utf8)
        #expect(send(fd, request, request.count, Int32(MSG_NOSIGNAL)) == request.count)
        let trickle = Thread {
            var buf = [UInt8](repeating: 0, count: 8192)
            while !stop.value {
                if recv(fd, &buf, buf.count, 0) <= 0 { return }
                usleep(500_000)
            }
        }
        trickle.start()
        usleep(300_000)
        let t = Date()
        let r = try ProcessRunner().run(
            [
                "curl", "-sS", "-o", "/dev/null", "-w", "%{http_code}", "--max-time", "15",
                "http://127.0.0.1:\(s.port)/metrics"
            ],
            check: false)
        #expect(r.status == 0 && r.text == "200", "\(r.text) \(r.stderr)")
        #expect(Date().timeIntervalSince(t) < 9, "the slow reader held the responder")
    }
}

extension MetricsUnitTests {
    /// Connects FD to 127.0.0.1:PORT (the responder under test).
    static func connect(_ fd: Int32, port: Int) -> Int32 {
        var sa = sockaddr_in()
        sa.sin_family = sa_family_t(AF_INET)
        sa.sin_port = in_port_t(UInt16(port).bigEndian)
        sa.sin_addr.s_addr = inet_addr("127.0.0.1")
        return withUnsafePointer(to: &sa) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                Glibc.connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
            }
        }
    }
}

final class Flag: Sendable {
    private let v = Mutex(false)
    var value: Bool { v.withLock { $0 } }
    func set() { v.withLock { $0 = true } }
}

import Core
import Foundation
import Logging
@testable import Provisioning
import Storage
import Synchronization
import Testing

/// Usage warnings: when (once per crossing, re-armed below), what (an RFC
/// 5322 message delivered through descriptors), the state file read as
/// untrusted, and the configuration.
@Suite struct UsageThresholdTests {
    @Test func warnsOncePerCrossingAndRearmsBelow() {
        let t = [80, 95]
        var warned: Int? = nil
        var sent: [Int?] = []
        for pct in [10, 79, 80, 85, 94, 95, 99, 100, 96, 90, 96, 81, 50, 82, 97] {
            let s = UsageThresholds.step(t, warned: warned, percent: pct)
            sent.append(s.warn)
            warned = s.warned
        }
        #expect(sent == [nil, nil, 80, nil, nil, 95, nil, nil, nil, nil, 95, nil, nil, 80, 95])
        #expect(warned == 95)
    }

    @Test func aJumpPastBothSendsOneWarningAtTheHighest() {
        #expect(UsageThresholds.step([80, 95], warned: nil, percent: 97) == (warn: 95, warned: 95) as (Int?, Int?))
        // ... and the 80 % one is not sent on the way down.
        #expect(UsageThresholds.step([80, 95], warned: 95, percent: 85) == (warn: nil, warned: 80) as (Int?, Int?))
        #expect(UsageThresholds.step([], warned: nil, percent: 100) == (warn: nil, warned: nil) as (Int?, Int?))
    }

    @Test func percentIsDfsUsePercentRoundedUp() {
        func p(_ used: UInt64, _ avail: UInt64) -> Int {
            VolumeUsage(used: used, available: avail, size: used + avail, inodesUsed: 0, inodes: 0).percent
        }
        #expect(p(80, 20) == 80)
        #expect(p(801, 199) == 81)
        #expect(p(0, 100) == 0)
        #expect(p(100, 0) == 100)
        #expect(p(0, 0) == 0)
    }

    @Test func theStateFileIsCheckedEntryByEntry() {
        let good = #"{"version":1,"warned":{"alice":80,"bob":95}}"#
        #expect(UsageWarningState.decode(Array(good.utf8)) == ["alice": 80, "bob": 95])
        let bad = #"{"version":1,"warned":{"../etc":80,"Root":95,"carol":0,"dave":101,"eve":95}}"#
        #expect(UsageWarningState.decode(Array(bad.utf8)) == ["eve": 95])
        #expect(UsageWarningState.decode(Array("not json".utf8)) == [:])
        #expect(UsageWarningState.decode(Array(#"{"version":2,"warned":{"eve":95}}"#.utf8)) == [:])
    }

    @Test func theWarningIsAnRFC5322Message() throws {
        let u = VolumeUsage(used: 82 << 20, available: 18 << 20, size: 100 << 20, inodesUsed: 10, inodes: 100)
        let m = UsageWarningMessage.render(
            to: "alice@example.org", from: "postmaster@example.org", threshold: 80, usage: u,
            date: Date(timeIntervalSince1970: 1_700_000_000), id: "abc")
        let (head, body) = try #require(
            m.range(of: "\n\n").map { (String(m[..<$0.lowerBound]), String(m[$0.upperBound...])) })
        let headers = head.split(separator: "\n").map(String.init)
        #expect(headers.contains("From: Postmaster <postmaster@example.org>"))
        #expect(headers.contains("To: <alice@example.org>"))
        #expect(headers.contains("Subject: Your mailbox is 82% full"))
        #expect(headers.contains("Date: Tue, 14 Nov 2023 22:13:20 +0000"))
        #expect(headers.contains("Message-ID: <usage-80-abc@example.org>"))
        #expect(headers.contains("Auto-Submitted: auto-generated"))
        // Every header line is "Name: value" (no folding, no stray blank line).
        #expect(headers.allSatisfy { $0.range(of: #"^[A-Za-z-]+: \S"#, options: .regularExpression) != nil })
        #expect(body.contains("82M of 100M are used (82%)"))
        #expect(body.contains("delete messages"))
        #expect(!m.contains("\r"))
    }
}

@Suite struct UsageConfigTests {
    func problems(_ toml: String) throws -> [String] {
        try Config.parse(toml).1.filter(\.fatal).map(\.key)
    }

    @Test func thresholdsAreValidated() throws {
        let (c, p) = try Config.parse("[usage]\nwarn_percent = [70, 90, 99]\nfrom = \"pm@example.org\"\n")
        #expect(p.isEmpty, "\(p)")
        #expect(c.usage.warnPercent == [70, 90, 99])
        #expect(c.usageFrom == "pm@example.org")
        #expect(Config().usage.warnPercent == [80, 95])
        #expect(Config().usageFrom == "postmaster@semail.email")
        #expect(try problems("[usage]\nwarn_percent = []\n").isEmpty)
        for bad in ["[95, 80]", "[0, 80]", "[80, 101]", "[80, 80]", "[\"80\"]", "80"] {
            #expect(try problems("[usage]\nwarn_percent = \(bad)\n") == ["usage.warn_percent"], "\(bad)")
        }
        #expect(try problems("[usage]\nfrom = \"no at sign\"\n") == ["usage.from"])
    }

    @Test func metricsListenOnLoopbackUnlessAllowed() throws {
        #expect(try problems("[metrics]\nlisten = \"127.0.0.1:9468\"\n").isEmpty)
        #expect(try problems("[metrics]\nlisten = \"[::1]:9468\"\n").isEmpty)
        #expect(try problems("[metrics]\nlisten = \"0.0.0.0:9468\"\n") == ["metrics.listen"])
        #expect(try problems("[metrics]\nlisten = \"[::]:9468\"\n") == ["metrics.listen"])
        #expect(try problems("[metrics]\nlisten = \"0.0.0.0:9468\"\nallow_remote = true\n").isEmpty)
        #expect(try problems("[metrics]\nlisten = \"localhost:9468\"\n") == ["metrics.listen"])
        #expect(Config().metrics.listen.isEmpty)
    }
}

/// Delivery into a Maildir the user controls, and the whole pass over a
/// stand-in measure: one warning per crossing, none on the next pass.
@Suite struct UsageDeliveryTests {
    let dir = NSTemporaryDirectory() + "semail-usage-\(UUID().uuidString.prefix(8))"

    func maildir(_ uid: String) throws -> String {
        let root = "\(dir)/mail/\(uid)"
        for d in ["tmp", "new", "cur"] {
            try FileManager.default.createDirectory(
                atPath: "\(root)/Maildir/\(d)", withIntermediateDirectories: true)
        }
        return root
    }

    func files(_ path: String) -> [String] {
        ((try? FileManager.default.contentsOfDirectory(atPath: path)) ?? []).sorted()
    }

    @Test func deliversThroughTmpIntoNewOwnedByTheOwner() throws {
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let root = try maildir("alice")
        let name = try MaildirDelivery.deliver(
            Array("Subject: x\n\nhello\n".utf8), root: root, owner: MailOwner(uid: 4321, gid: 4322), host: "h")
        #expect(files("\(root)/Maildir/new") == [name])
        #expect(files("\(root)/Maildir/tmp") == [])
        #expect(name.hasSuffix(".h,S=18"))
        var st = stat()
        #expect(stat("\(root)/Maildir/new/\(name)", &st) == 0)
        #expect(st.st_uid == 4321 && st.st_gid == 4322 && st.st_mode & 0o777 == 0o600)
        #expect(try String(contentsOfFile: "\(root)/Maildir/new/\(name)", encoding: .utf8) == "Subject: x\n\nhello\n")
    }

    /// The owner replaces new/ (or tmp/) with a link to a directory of
    /// root's: nothing is written there, the delivery fails.
    @Test func aSymlinkedMaildirDirectoryIsNotFollowed() throws {
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let target = "\(dir)/rootonly"
        try FileManager.default.createDirectory(atPath: target, withIntermediateDirectories: true)
        for victim in ["new", "tmp", ""] {
            let root = try maildir("mallory")
            let path = victim.isEmpty ? "\(root)/Maildir" : "\(root)/Maildir/\(victim)"
            try FileManager.default.removeItem(atPath: path)
            try FileManager.default.createSymbolicLink(atPath: path, withDestinationPath: target)
            #expect(throws: SemailError.self) {
                try MaildirDelivery.deliver(
                    Array("x".utf8), root: root, owner: MailOwner(uid: 4321, gid: 4321), host: "h")
            }
            #expect(files(target) == [], "followed \(victim)")
            try FileManager.default.removeItem(atPath: root)
        }
    }

    @Test func aPassSendsOneWarningPerCrossingAndRemembersIt() throws {
        defer { try? FileManager.default.removeItem(atPath: dir) }
        var config = Config()
        config.state.dir = "\(dir)/state"
        config.storage.mailRoot = "\(dir)/mail"
        config.dns.zone = "example.org"
        let root = try maildir("alice")
        _ = try maildir("bob")
        let percent = Mutex<[String: Int]>(["alice": 50, "bob": 10])
        var m = UsageMonitor(config: config, reporter: Reporter(logger: Logger(label: "test")))
        m.measure = { mp in
            let uid = (mp as NSString).lastPathComponent
            let p = UInt64(percent.withLock { $0[uid] } ?? 0)
            return VolumeUsage(used: p << 20, available: (100 - p) << 20, size: 100 << 20, inodesUsed: 1, inodes: 9)
        }
        let boxes = [
            MailboxRecord(uid: "alice", dn: "uid=alice", address: "alice@example.org", size: nil, uidNumber: 5001),
            MailboxRecord(uid: "bob", dn: "uid=bob", address: "bob@example.org", size: nil, uidNumber: 5002)
        ]
        func pass(_ alice: Int) throws -> UsagePass {
            percent.withLock { $0["alice"] = alice }
            return try m.run(boxes, send: true)
        }
        #expect(try pass(50).sent.isEmpty)
        let first = try pass(82)
        #expect(first.sent.map(\.threshold) == [80])
        #expect(first.rows.map(\.uid) == ["alice", "bob"])  // fullest first
        #expect(first.rows[0].warned == 80 && first.rows[0].sent == 80)
        #expect(try pass(85).sent.isEmpty)
        #expect(try pass(96).sent.map(\.threshold) == [95])
        #expect(try pass(96).sent.isEmpty)
        #expect(try pass(70).sent.isEmpty)  // re-armed
        #expect(try pass(81).sent.map(\.threshold) == [80])
        #expect(files("\(root)/Maildir/new").count == 3)
        #expect(files("\(dir)/mail/bob/Maildir/new").isEmpty)
        #expect(try UsageWarningState(stateDir: config.state.dir).read() == ["alice": 80])
        var st = stat()
        #expect(stat("\(config.state.dir)/usage-warnings.json", &st) == 0 && st.st_mode & 0o777 == 0o600)
        // The message is to the user, from the postmaster of the zone.
        let one = try String(
            contentsOfFile: "\(root)/Maildir/new/\(files("\(root)/Maildir/new")[0])", encoding: .utf8)
        #expect(one.contains("To: <alice@example.org>") && one.contains("From: Postmaster <postmaster@example.org>"))
    }
}

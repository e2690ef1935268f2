import Testing

@testable import Commands
@testable import Provisioning
@testable import Storage

/// `mailbox usage`'s table and `mailbox list`'s volume column.
@Suite struct UsageTextTests {
    @Test func theTableShowsEachMailboxAndWhatWasWarned() {
        let full = VolumeUsage(used: 30 << 20, available: 2 << 20, size: 32 << 20, inodesUsed: 40, inodes: 8192)
        var pass = UsagePass(thresholds: [80, 95])
        pass.rows = [
            UsageRow(uid: "alice", address: "alice@a.example", usage: full, percent: 94, warned: 80, sent: 80),
            UsageRow(uid: "bob", address: "bob@b.example", usage: nil)
        ]
        pass.sent = [UsageWarningSent(uid: "alice", threshold: 80, percent: 94, file: "f")]
        let lines = pass.text.split(separator: "\n").map(String.init)
        #expect(lines[0].hasPrefix("UID") && lines[0].contains("USE%") && lines[0].contains("WARNED"), "\(lines)")
        #expect(
            lines[1].split(separator: " ", omittingEmptySubsequences: true)
                == ["alice", "alice@a.example", "30M", "32M", "94%", "40/8192", "at", "80%", "(sent", "now)"],
            "\(lines)")
        #expect(lines[2].hasPrefix("bob") && lines[2].hasSuffix("unmounted"), "\(lines)")
        #expect(lines.last == "warnings at 80%, 95%; 1 sent now")
        #expect(UsagePass(thresholds: []).text.hasSuffix("warnings are off ([usage] warn_percent = [])"))
    }

    @Test func theListShowsPercentAndWarned() {
        let v = VolumeState(
            uid: "alice", backend: "image", source: "/i", size: 32 << 20, device: "/dev/loop1", mountPoint: "/m",
            mounted: true, fsSize: 32 << 20, fsUsed: 27 << 20, fsFree: 5 << 20, persistent: true)
        var s = MailboxStatus(
            uid: "alice", address: "alice@a.example", size: nil, volume: v, container: nil, dns: "ok",
            inAddressMap: true)
        #expect(s.cells[2] == "27M/32M 85%")
        s.warned = 80
        #expect(s.cells[2] == "27M/32M 85% warned 80%")
        #expect(MailboxText.show(s).contains("mounted at /m, 27M used of 32M (85%, warned at 80%)"))
    }
}

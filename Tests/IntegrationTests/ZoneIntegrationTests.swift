import Core
import Foundation
import Provisioning
import TestSupport
import Testing

/// Zone edits against a real named on loopback with its own rndc key.
/// Serialized: the tests share the zone files of one named.
@Suite(.named, .serialized) struct ZoneIntegrationTests {
    var n: Named { Named.shared }

    func cfg(
        _ extra: String = "", mxHost: String? = nil, rndcPort: String? = nil, zone: String = "semail.email",
        file: String? = nil
    ) throws -> String {
        try writeConfig(n.dir, n.dnsSection(zone: zone, file: file, mxHost: mxHost, rndcPort: rndcPort) + "\n" + extra)
    }

    @Test func addMXIsServedWithANewSerialThenRemoved() throws {
        let c = try cfg()
        let before = try n.serial()
        let name = uniqueUID("mx")
        var r = try semailctl(["zone", "add-mx", name, "--config", c, "--json"])
        #expect(r.status == 0, "\(r.stderr)")
        #expect(try n.dig("\(name).semail.email", "MX") == ["10 mx.semail.email."])
        let after = try n.serial()
        #expect(after != before)
        let doc = try JSONSerialization.jsonObject(with: r.stdout) as? [String: Any]
        #expect(doc?["newSerial"] as? Int == Int(after))

        // Idempotent: no change, not even the serial; the file is untouched.
        let bytes = FileManager.default.contents(atPath: n.zoneFile)
        r = try semailctl(["zone", "add-mx", "\(name).semail.email.", "--config", c])
        #expect(r.status == 0 && r.text.contains("nothing to change"))
        #expect(FileManager.default.contents(atPath: n.zoneFile) == bytes)
        #expect(try n.serial() == after)

        r = try semailctl(["zone", "check-mx", "\(name).semail.email", "--config", c, "--json"])
        #expect(r.status == 0, "\(r.text)")

        r = try semailctl(["zone", "remove-mx", name, "--config", c])
        #expect(r.status == 0, "\(r.stderr)")
        #expect(try n.dig("\(name).semail.email", "MX").isEmpty)
        #expect(try n.serial() != after)
        // The previous version is kept.
        let prev = try String(contentsOfFile: n.zoneFile + ".prev", encoding: .utf8)
        #expect(prev.contains("\(name).semail.email."))
    }

    @Test func handWrittenMXNeedsForce() throws {
        let c = try cfg()
        var r = try semailctl(["zone", "remove-mx", "manual", "--config", c])
        #expect(r.status == 1)
        #expect(r.stderr.contains("by hand"))
        #expect(try n.dig("manual.semail.email", "MX") == ["20 mx.semail.email."])
        r = try semailctl(["zone", "list", "--config", c, "--json"])
        #expect(r.status == 0)
        #expect(r.text.contains("manual.semail.email."))
    }

    @Test func rejectedEditLeavesNamedServingTheOldData() throws {
        // The admin makes `alias` a CNAME; MX records must not point at it.
        let original = try #require(FileManager.default.contents(atPath: n.zoneFile))
        var text = String(decoding: original, as: UTF8.self)
        text += "alias\tIN\tCNAME\twww\n"
        try text.write(toFile: n.zoneFile, atomically: true, encoding: .utf8)
        try n.rndc(["reload", "semail.email"])
        defer {
            try? original.write(to: URL(fileURLWithPath: n.zoneFile))
            try? n.rndc(["reload", "semail.email"])
        }
        let edited = try #require(FileManager.default.contents(atPath: n.zoneFile))
        let serial = try n.serial()
        let c = try cfg(mxHost: "alias.semail.email.")
        let r = try semailctl(["zone", "add-mx", "victim", "--config", c])
        #expect(r.status == 65)
        #expect(r.stderr.contains("victim.semail.email.") && r.stderr.contains("CNAME"), "\(r.stderr)")
        #expect(FileManager.default.contents(atPath: n.zoneFile) == edited)
        #expect(try n.dig("victim.semail.email", "MX").isEmpty)
        #expect(try n.serial() == serial)
    }

    @Test func rndcFailurePutsTheOldFileBack() throws {
        let before = try #require(FileManager.default.contents(atPath: n.zoneFile))
        let c = try cfg(rndcPort: "1")
        let r = try semailctl(["zone", "add-mx", "norndc", "--config", c])
        #expect(r.status == 69, "\(r.stderr)")
        #expect(r.stderr.contains("rndc"))
        #expect(FileManager.default.contents(atPath: n.zoneFile) == before)
    }

    @Test func dynamicZoneIsFrozenAndThawedSoNoUpdateIsLost() throws {
        // A dynamic update through named creates the journal.
        let update =
            """
            server 127.0.0.1 \(n.port)\nzone dyn.semail.test\nupdate add dynhost.dyn.semail.test 300 A \
            192.0.2.99\nsend\n
            """
        try ProcessRunner().run(["nsupdate", "-k", n.rndcKey], stdin: Data(update.utf8))
        #expect(try n.dig("dynhost.dyn.semail.test", "A") == ["192.0.2.99"])
        #expect(FileManager.default.fileExists(atPath: n.dynZoneFile + ".jnl"))

        let c = try cfg(zone: "dyn.semail.test", file: n.dynZoneFile)
        let r = try semailctl(["zone", "add-mx", "box", "--config", c])
        #expect(r.status == 0, "\(r.stderr)")
        #expect(try n.dig("box.dyn.semail.test", "MX") == ["10 mx.dyn.semail.test."])
        #expect(try n.dig("dynhost.dyn.semail.test", "A") == ["192.0.2.99"])
        // The frozen zone was written out, so the dynamic record is in the file too.
        let text = try String(contentsOfFile: n.dynZoneFile, encoding: .utf8)
        #expect(text.contains("dynhost"))
        // And the zone takes updates again (thawed).
        try ProcessRunner().run(
            ["nsupdate", "-k", n.rndcKey], stdin: Data(update.replacingOccurrences(of: "dynhost", with: "dyn2").utf8))
        #expect(try n.dig("dyn2.dyn.semail.test", "A") == ["192.0.2.99"])
    }

    @Test func concurrentEditsAllLand() async throws {
        let c = try cfg()
        let names = (0..<6).map { _ in uniqueUID("par") }
        try await withThrowingTaskGroup(of: ProcessOutput.self) { g in
            for name in names { g.addTask { try semailctl(["zone", "add-mx", name, "--config", c]) } }
            for try await r in g { #expect(r.status == 0, "\(r.stderr)") }
        }
        let text = try String(contentsOfFile: n.zoneFile, encoding: .utf8)
        for name in names {
            #expect(text.contains("\(name).semail.email."))
            #expect(try n.dig("\(name).semail.email", "MX") == ["10 mx.semail.email."])
        }
    }

    @Test func badNamesAreRefusedBeforeTheFileIsOpened() throws {
        let c = try cfg(file: "/nonexistent/zone.db")
        for bad in ["a;b", "x\ny", "a(b", "$x", "a b", String(repeating: "l", count: 64), "other.example.com."] {
            let r = try semailctl(["zone", "add-mx", bad, "--config", c])
            #expect(r.status == 64, "\(bad): \(r.stderr)")
        }
    }

    /// D5: a dotted name that is neither absolute nor inside the zone is not
    /// quietly made relative (evil.example.org.semail.email).
    @Test func aDottedNameOutsideTheZoneIsRefused() throws {
        let c = try cfg()
        let before = try String(contentsOfFile: n.zoneFile, encoding: .utf8)
        let r = try semailctl(["zone", "add-mx", "evil.example.org", "--config", c])
        #expect(r.status == 64 && r.stderr.contains("trailing dot"), "\(r.status) \(r.stderr)")
        #expect(try String(contentsOfFile: n.zoneFile, encoding: .utf8) == before)
        #expect(try n.dig("evil.example.org.semail.email", "MX").isEmpty)
    }

    @Test func checkMXOfAnExternalDomain() throws {
        let c = try cfg()
        var r = try semailctl(["zone", "check-mx", "manual.semail.email", "--config", c])
        #expect(r.status == 0, "\(r.text)")
        r = try semailctl(["zone", "check-mx", "www.semail.email", "--config", c])
        #expect(r.status == 1)
        #expect(r.text.contains("no MX record"))
        r = try semailctl(["zone", "check-mx", "nope.semail.email", "--config", c, "--json"])
        #expect(r.status == 1)
        #expect(r.text.contains("does not exist"))
    }

    /// Zone files of other projects' shapes (Tests/ZoneTests/Data), loaded
    /// by this named as zones of their own: add-mx is served, remove-mx gives
    /// the file back as it was but for the serial.
    @Test(arguments: ["axfr-style", "generic-rdata", "no-final-newline", "apex-mx-cname"])
    func realWorldZoneIsEditedAndServed(_ name: String) throws {
        let zone = "\(name).example", file = "\(n.dir)/data-\(name).db"
        let original = try #require(FileManager.default.contents(atPath: "\(repoRoot)/Tests/ZoneTests/Data/\(name).db"))
        try original.write(to: URL(fileURLWithPath: file))
        try n.rndc(["addzone", zone, "{ type primary; file \"\(file)\"; };"])
        defer { try? n.rndc(["delzone", zone]) }
        let serial = try n.serial(zone)
        let c = try cfg(zone: zone, file: file)
        var r = try semailctl(["zone", "add-mx", "box", "--config", c])
        #expect(r.status == 0, "\(r.stderr)")
        #expect(try n.dig("box.\(zone)", "MX") == ["10 mx.\(zone)."])
        let added = try n.serial(zone)
        #expect(added != serial)
        r = try semailctl(["zone", "remove-mx", "box", "--config", c])
        #expect(r.status == 0, "\(r.stderr)")
        #expect(try n.dig("box.\(zone)", "MX").isEmpty)
        let now = try String(contentsOfFile: file, encoding: .utf8)
        #expect(
            now.replacingOccurrences(of: String(try n.serial(zone)), with: String(serial))
                == String(decoding: original, as: UTF8.self))
    }

    /// A relative `$INCLUDE` is read from named's `directory`, not from the
    /// zone file's: here the zone file is in a subdirectory and the include
    /// beside named.conf, and `[dns] directory` says where named runs.
    @Test func relativeIncludeIsReadFromNamedsDirectory() throws {
        let id = uniqueUID("inc").lowercased()
        let zone = "\(id).test", sub = "\(n.dir)/zones-\(id)", file = "\(sub)/db.\(zone)", inc = "inc-\(id).db"
        try FileManager.default.createDirectory(atPath: sub, withIntermediateDirectories: true)
        try """
        $TTL 300\n@ IN SOA ns1 hostmaster 1 3600 600 86400 300\n@ IN NS ns1\nns1 IN A 127.0.0.1\nmx IN A \
        127.0.0.1\n$INCLUDE \(inc)\n
        """
        .write(toFile: file, atomically: true, encoding: .utf8)
        try "hand IN MX 20 mx\n".write(toFile: "\(n.dir)/\(inc)", atomically: true, encoding: .utf8)
        try n.rndc(["addzone", zone, "{ type primary; file \"\(file)\"; };"])
        defer { try? n.rndc(["delzone", zone]) }
        // named itself reads the include from its directory.
        #expect(try n.dig("hand.\(zone)", "MX") == ["20 mx.\(zone)."])
        let c = try cfg("directory = \"\(n.dir)\"", zone: zone, file: file)
        var r = try semailctl(["zone", "add-mx", "box", "--config", c])
        #expect(r.status == 0, "\(r.stderr)")
        #expect(try n.dig("box.\(zone)", "MX") == ["10 mx.\(zone)."])
        #expect(try n.dig("hand.\(zone)", "MX") == ["20 mx.\(zone)."])
        r = try semailctl(["zone", "list", "--config", c])
        #expect(r.status == 0 && r.text.contains("\(n.dir)/\(inc):1"), "\(r.text)\(r.stderr)")
        // The included record is still never removed.
        r = try semailctl(["zone", "remove-mx", "hand", "--config", c, "--force"])
        #expect(r.status == 1 && r.stderr.contains("included file"), "\(r.stderr)")
    }

    /// named serves a zone whose apex MX points at a CNAME (a warning):
    /// semailctl edits it too; only an MX it would itself point at a CNAME
    /// is refused (rejectedEditLeavesNamedServingTheOldData).
    @Test func aZoneNamedServesWithAWarningStaysEditable() throws {
        let original = try #require(FileManager.default.contents(atPath: n.zoneFile))
        try (String(decoding: original, as: UTF8.self) + "@\tIN\tMX\t5 alias\nalias\tIN\tCNAME\twww\n").write(
            toFile: n.zoneFile, atomically: true, encoding: .utf8)
        try n.rndc(["reload", "semail.email"])
        defer {
            try? original.write(to: URL(fileURLWithPath: n.zoneFile))
            try? n.rndc(["reload", "semail.email"])
        }
        #expect(try n.dig("semail.email", "MX") == ["5 alias.semail.email."])
        let name = uniqueUID("warn")
        let r = try semailctl(["zone", "add-mx", name, "--config", try cfg()])
        #expect(r.status == 0, "\(r.stderr)")
        #expect(try n.dig("\(name).semail.email", "MX") == ["10 mx.semail.email."])
    }
}

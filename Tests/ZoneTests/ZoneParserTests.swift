import Foundation
import Testing
@testable import DNS

/// The shared corpus (BIND's own test zones) and Debian's /etc/bind zones.
let corpusDir: String = {
    var url = URL(fileURLWithPath: #filePath)
    for _ in 0..<3 { url.deleteLastPathComponent() }
    return url.deletingLastPathComponent().appendingPathComponent("shared/corpus/zones").path
}()

struct CorpusFile: CustomTestStringConvertible, Sendable {
    var path: String
    var origin: String
    var testDescription: String { (path as NSString).lastPathComponent }
}

let corpus: [CorpusFile] = {
    var out: [CorpusFile] = []
    let files = (try? FileManager.default.contentsOfDirectory(atPath: corpusDir)) ?? []
    for f in files.sorted() where f.hasSuffix(".db") {
        out.append(CorpusFile(path: "\(corpusDir)/\(f)", origin: f == "zone1.db" ? "zone1.com." : "example."))
    }
    for (f, o) in [
        ("db.local", "localhost."), ("db.127", "127.in-addr.arpa."), ("db.0", "0.in-addr.arpa."),
        ("db.255", "255.in-addr.arpa."), ("db.empty", "empty.")
    ] where FileManager.default.fileExists(atPath: "/etc/bind/\(f)") {
        out.append(CorpusFile(path: "/etc/bind/\(f)", origin: o))
    }
    return out
}()

@Suite struct ZoneParserTests {
    @Test func corpusIsPresent() {
        #expect(corpus.count >= 6, "the shared corpus should be beside the repository: \(corpusDir)")
    }

    @Test(arguments: corpus)
    func roundTripsByteForByte(_ f: CorpusFile) throws {
        let data = try #require(FileManager.default.contents(atPath: f.path))
        let z = try ZoneFile(bytes: Array(data), origin: f.origin, path: f.path)
        #expect(ZoneEdit.apply([], to: z.bytes) == Array(data))
        // Entries cover every byte in order.
        var next = 0
        for e in z.entries { #expect(e.range.lowerBound == next); next = e.range.upperBound }
        #expect(next == data.count)
        #expect(z.soa != nil)
    }

    @Test(arguments: corpus)
    func addThenRemoveGivesTheOriginalButTheSerial(_ f: CorpusFile) throws {
        let data = Array(try #require(FileManager.default.contents(atPath: f.path)))
        let z = try ZoneFile(bytes: data, origin: f.origin, path: f.path)
        let owner = "semailtest.\(z.origin)"
        let add = try ZoneEdit.add(
            [ZoneNewRecord(owner: owner, ttl: 300, type: "MX", rdata: ["10", "mx.\(z.origin)"])], to: z)
        #expect(!add.isEmpty)
        let (s1, old, new) = try ZoneEdit.bumpSerial(z)
        #expect(ZoneEdit.serialGreater(new, old))
        let added = try ZoneFile(bytes: ZoneEdit.apply(add + s1, to: z.bytes), origin: f.origin, path: f.path)
        let mx = added.records(named: owner, type: "MX")
        #expect(mx.count == 1 && mx[0].managed)
        // Adding again: nothing.
        #expect(
            try ZoneEdit.add(
                [ZoneNewRecord(owner: owner, ttl: 300, type: "MX", rdata: ["10", "mx.\(z.origin)"])], to: added
            ).isEmpty)
        let rm = try ZoneEdit.remove(name: owner, types: ["MX"], from: added, force: false)
        let (s2, _, _) = try ZoneEdit.bumpSerial(added)
        let back = try ZoneFile(bytes: ZoneEdit.apply(rm + s2, to: added.bytes), origin: f.origin, path: f.path)
        // Same bytes once the serial is put back.
        let (restore, _, _) = try ZoneEdit.bumpSerial(back)
        let original = restore.map { ZoneSplice($0.range, String(old)) }
        #expect(ZoneEdit.apply(original, to: back.bytes) == data)
    }

    @Test func readsDirectivesParenthesesInheritanceAndEscapes() throws {
        let text = """
            $ORIGIN example.org.
            $TTL 1h
            @   IN  SOA ns1 hostmaster ( 2024010101 ; serial
                        3600 900 1w 300 )
                IN  NS  ns1
            ns1     A   192.0.2.1
                    AAAA 2001:db8::1
            mail 300 IN MX 10 mx.example.net.
            txt     TXT "a \\"quoted\\" ; not a comment" "two"
            esc\\.dot A 192.0.2.2
            $ORIGIN sub.example.org.
            www     CNAME @
            _sip._tcp SRV 10 5 5060 sip
            @       CAA 0 issue "ca.example"
            big     TYPE65534 \\# 2 0001

            """
        let z = try ZoneFile(bytes: Array(text.utf8), origin: "example.org")
        #expect(z.soa?.rdata[2] == "2024010101")
        #expect(z.soa?.ttl == 3600)
        let ns1 = z.records(named: "ns1.example.org.")
        #expect(ns1.map(\.type) == ["A", "AAAA"])
        #expect(z.records(named: "example.org.", type: "NS").count == 1)
        #expect(z.records(named: "mail.example.org.", type: "MX").first?.ttl == 300)
        #expect(
            z.records(named: "txt.example.org.").first?.rdata == ["\"a \\\"quoted\\\" ; not a comment\"", "\"two\""])
        #expect(z.records(named: "esc\\.dot.example.org.").count == 1)
        #expect(z.records(named: "www.sub.example.org.").first?.type == "CNAME")
        #expect(z.records(named: "_sip._tcp.sub.example.org.").first?.type == "SRV")
        #expect(z.records(named: "big.sub.example.org.").first?.type == "TYPE65534")
        #expect(ZoneEdit.apply([], to: z.bytes) == Array(text.utf8))
    }

    @Test func followsIncludeForReadingOnly() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("zinc-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try "hand IN MX 5 mx.example.org.\n".write(toFile: "\(dir)/inc.db", atomically: true, encoding: .utf8)
        let text = "$TTL 300\n@ SOA ns h 1 2 3 4 5\n NS ns\nns A 192.0.2.1\n$INCLUDE inc.db\n"
        try text.write(toFile: "\(dir)/z.db", atomically: true, encoding: .utf8)
        let z = try ZoneFile.read(path: "\(dir)/z.db", origin: "example.org.")
        let hand = try #require(z.records(named: "hand.example.org.").first)
        #expect(hand.included && hand.ttl == 300)
        #expect(ZoneEdit.apply([], to: z.bytes) == Array(text.utf8))
        #expect(throws: ZoneError.self) {
            try ZoneEdit.remove(name: "hand.example.org.", types: ["MX"], from: z, force: true)
        }
    }

    @Test(arguments: [
        ("@ SOA ns h 1 2 3 4 5\n( A 1.2.3.4\n", 2, "never closed"),
        ("@ 300 SOA ns h 1 2 3 4 5\nx 300 TXT \"open\n", 2, "unterminated"),
        ("@ 300 SOA ns h 1 2 3 4 5\nx 300 MX ten mx.\n", 2, "preference"),
        ("@ 300 SOA ns h 1 2 3 4 5\nx 300 A 1.2.3\n", 2, "IPv4"),
        ("@ 300 SOA ns h 1 2 3 4 5\n\n\nx 300 IN\n", 4, "type"),
        ("@ 300 SOA ns h 1 2 3 4 5\n$TTL forever\n", 2, "$TTL"),
        ("@ 300 SOA ns h 1 2 3 4 5\n$FOO bar\n", 2, "unknown directive"),
        ("@ 300 SOA ns h 1 2 3\n", 1, "SOA needs"),
        ("x A 192.0.2.1\n", 1, "no TTL"),
        ("@ 300 SOA ns h 1 2 3 4 5\n)\n", 2, "')'")
    ])
    func errorsNameTheLine(text: String, line: Int, message: String) {
        do {
            _ = try ZoneFile(bytes: Array(text.utf8), origin: "example.org.", path: "bad.db")
            Issue.record("parsed without error")
        } catch let e as ZoneParseError {
            #expect(e.line == line)
            #expect(e.message.contains(message), "\(e)")
            #expect(e.description.hasPrefix("bad.db:\(line):"))
        } catch { Issue.record("\(error)") }
    }
}

@Suite struct ZoneEditTests {
    let base =
        """
        $TTL 300\n@ SOA ns h 2024010101 2 3 4 5\n NS ns\nns A 192.0.2.1\nmx A 192.0.2.2\nhand MX 20 mx\n AAAA \
        2001:db8::2\nalias CNAME www\n
        """
    var zone: ZoneFile { try! ZoneFile(bytes: Array(base.utf8), origin: "example.org.") }

    @Test(arguments: [
        "a;b", "a\nb", "a(b", "a)b", "$a", "a b", "a\"b", "-a", "a_b", "UNDER.other.org.",
        String(repeating: "a", count: 64), (0..<70).map { _ in "abc" }.joined(separator: "."), "", "@", "example.org."
    ])
    func namesAreRefusedBeforeAnyEdit(name: String) {
        #expect(throws: ZoneError.self) { try ZoneEdit.nameInZone(name, zone: zone) }
    }

    @Test func acceptedNameForms() throws {
        #expect(try ZoneEdit.nameInZone("ssow", zone: zone) == "ssow.example.org.")
        #expect(try ZoneEdit.nameInZone("Ssow.Example.org", zone: zone) == "ssow.example.org.")
        #expect(try ZoneEdit.nameInZone("a.b.example.org.", zone: zone) == "a.b.example.org.")
    }

    @Test func handWrittenRecordsNeedForceAndKeepTheNextOwner() throws {
        let z = zone
        #expect(throws: ZoneError.self) {
            try ZoneEdit.remove(name: "hand.example.org.", types: ["MX"], from: z, force: false)
        }
        let s = try ZoneEdit.remove(name: "hand.example.org.", types: ["MX"], from: z, force: true)
        let after = try ZoneFile(bytes: ZoneEdit.apply(s, to: z.bytes), origin: "example.org.")
        #expect(after.records(named: "hand.example.org.", type: "MX").isEmpty)
        // The AAAA that inherited the owner still belongs to hand.
        #expect(after.records(named: "hand.example.org.", type: "AAAA").count == 1)
    }

    @Test func conflictsAreRefused() {
        #expect(throws: ZoneError.self) {
            try ZoneEdit.add(
                [ZoneNewRecord(owner: "alias.example.org.", ttl: 1, type: "MX", rdata: ["10", "mx.example.org."])],
                to: zone)
        }
    }

    @Test func serials() {
        let nov23 = Date(timeIntervalSince1970: 1_795_392_000)  // 2026-11-23 UTC
        #expect(ZoneEdit.nextSerial(2026010100, now: nov23) == 2026112300)
        #expect(ZoneEdit.nextSerial(2026112300, now: nov23) == 2026112301)
        #expect(ZoneEdit.nextSerial(2026112399, now: nov23) == 2026112400)  // past 99: still increasing
        #expect(ZoneEdit.nextSerial(2030010100, now: nov23) == 2030010101)  // ahead of today: +1
        #expect(ZoneEdit.nextSerial(7, now: nov23) == 8)
        #expect(ZoneEdit.nextSerial(UInt32.max, now: nov23) == 0)  // RFC 1982 wrap
        #expect(ZoneEdit.serialGreater(0, UInt32.max))
        #expect(ZoneEdit.serialGreater(5, 4) && !ZoneEdit.serialGreater(4, 5))
        for s: UInt32 in [0, 1, 1_000_000, 2026112399, 4_000_000_000, UInt32.max] {
            #expect(ZoneEdit.serialGreater(ZoneEdit.nextSerial(s, now: nov23), s))
        }
    }

    @Test func addToAnExistingBlockAndDropAnEmptyBlock() throws {
        var z = zone
        let r1 = ZoneNewRecord(owner: "a.example.org.", ttl: 60, type: "MX", rdata: ["10", "mx.example.org."])
        let r2 = ZoneNewRecord(owner: "b.example.org.", ttl: 60, type: "MX", rdata: ["10", "mx.example.org."])
        z = try ZoneFile(bytes: ZoneEdit.apply(try ZoneEdit.add([r1], to: z), to: z.bytes), origin: "example.org.")
        z = try ZoneFile(bytes: ZoneEdit.apply(try ZoneEdit.add([r2], to: z), to: z.bytes), origin: "example.org.")
        #expect(z.text.components(separatedBy: ZoneFile.managedBeginMarker).count == 2)
        #expect(z.records.filter(\.managed).count == 2)
        z = try ZoneFile(
            bytes: ZoneEdit.apply(
                try ZoneEdit.remove(name: "a.example.org.", types: ["MX"], from: z, force: false), to: z.bytes),
            origin: "example.org.")
        z = try ZoneFile(
            bytes: ZoneEdit.apply(
                try ZoneEdit.remove(name: "b.example.org.", types: ["MX"], from: z, force: false), to: z.bytes),
            origin: "example.org.")
        #expect(z.text == base)
    }

    /// Property fuzz: random mutations of corpus files never crash or hang
    /// the parser; whatever parses round-trips.
    @Test func fuzzMutationsNeverCrash() throws {
        var rng = SystemRandomNumberGenerator()
        let seeds =
            corpus.compactMap { FileManager.default.contents(atPath: $0.path).map(Array.init) } + [Array(base.utf8)]
        let alphabet = Array("();\"\\$@. \t\n0123456789abcIN MX SOA TXT".utf8)
        let start = Date()
        var parsed = 0
        for i in 0..<4000 {
            var b = seeds[i % seeds.count]
            for _ in 0..<Int.random(in: 1...8, using: &rng) {
                let pos = b.isEmpty ? 0 : Int.random(in: 0..<b.count, using: &rng)
                switch Int.random(in: 0..<3, using: &rng) {
                case 0: b.insert(alphabet.randomElement(using: &rng)!, at: pos)
                case 1: if !b.isEmpty { b.remove(at: pos) }
                default: if !b.isEmpty { b[pos] = UInt8.random(in: 0...255, using: &rng) }
                }
            }
            if let z = try? ZoneFile(bytes: b, origin: "example.") {
                parsed += 1
                #expect(ZoneEdit.apply([], to: z.bytes) == b)
            }
        }
        #expect(parsed > 0)
        #expect(Date().timeIntervalSince(start) < 60)
    }
}

import Foundation
import Testing
import Synchronization
@testable import DNS

/// Zone files of the shapes other projects' test suites hold (see
/// Data/README.md), each checked against named-checkzone on the same bytes.
let dataDir: String = {
    var url = URL(fileURLWithPath: #filePath)
    url.deleteLastPathComponent()
    return url.appendingPathComponent("Data").path
}()

let checkzonePath = "/usr/bin/named-checkzone"
let haveCheckzone = FileManager.default.isExecutableFile(atPath: checkzonePath)

/// Runs a program; stdout and stderr into one file (read once it exits).
func runTool(_ argv: [String]) -> (status: Int32, output: String) {
    let out = FileManager.default.temporaryDirectory.appendingPathComponent("zt-\(UUID().uuidString)")
    _ = FileManager.default.createFile(atPath: out.path, contents: nil)
    defer { try? FileManager.default.removeItem(at: out) }
    let p = Process()
    p.executableURL = URL(fileURLWithPath: argv[0])
    p.arguments = Array(argv.dropFirst())
    guard let h = try? FileHandle(forWritingTo: out) else { return (127, "cannot open \(out.path)") }
    p.standardOutput = h
    p.standardError = h
    do { try p.run() } catch { return (127, "\(error)") }
    p.waitUntilExit()
    try? h.close()
    return (p.terminationStatus, (try? String(contentsOf: out, encoding: .utf8)) ?? "")
}

/// The real named-checkzone for checks; rndc is not run (no named here),
/// its calls are recorded.
final class CheckzoneRunner: ZoneCommandRunner, Sendable {
    private let rndc = Mutex<[[String]]>([])
    var rndcCalls: [[String]] { rndc.withLock { $0 } }
    func runCommand(_ argv: [String]) -> (status: Int32, output: String) {
        if argv[0].hasSuffix("rndc") { rndc.withLock { $0.append(argv) }; return (0, "") }
        return runTool(argv)
    }
}

/// One record as named sees it: owner and names lowercased and absolute.
struct ServedRecord: Hashable, CustomStringConvertible {
    var owner: String, ttl: UInt32, type: String, rdata: String
    var description: String { "\(owner) \(ttl) \(type) \(rdata)" }
}

/// What named loads from a file: `named-checkzone -D` (run in `dir`).
func namedDump(_ zone: String, _ file: String, dir: String) throws -> Set<ServedRecord> {
    let out = FileManager.default.temporaryDirectory.appendingPathComponent("zd-\(UUID().uuidString)").path
    defer { unlink(out) }
    let r = runTool([checkzonePath, "-k", "fail", "-w", dir, "-D", "-o", out, zone, file])
    struct CheckFailed: Error { var output: String }
    guard r.status == 0 else { throw CheckFailed(output: r.output) }
    let text = try String(contentsOfFile: out, encoding: .utf8)
    return Set(
        text.split(separator: "\n").map { line in
            let f = line.split(whereSeparator: { $0 == " " || $0 == "\t" }).map(String.init)
            return ServedRecord(
                owner: f[0].lowercased(), ttl: UInt32(f[1])!, type: f[3],
                rdata: f[4...].joined(separator: " ").lowercased())
        })
}

/// What our parser read, in the same form (names made absolute; an RRset
/// takes the smallest TTL of its records, as named does).
func parsedRecords(_ z: ZoneFile) -> Set<ServedRecord> {
    func name(_ s: String, _ r: ZoneRecord) -> String { ZoneName.resolve(s, origin: r.origin).lowercased() }
    var out = z.records.map { r -> ServedRecord in
        var d = r.rdata
        switch r.type {
        case "NS", "CNAME", "PTR", "DNAME": d[0] = name(d[0], r)
        case "MX": d[1] = name(d[1], r)
        case "SRV": d[3] = name(d[3], r)
        case "SOA": d[0] = name(d[0], r); d[1] = name(d[1], r)
        case "A", "AAAA": d[0] = ZoneEdit.canonicalIP(d[0])
        default: break
        }
        return ServedRecord(owner: r.key, ttl: r.ttl, type: r.type, rdata: d.joined(separator: " ").lowercased())
    }
    var minTTL: [String: UInt32] = [:]
    for r in out { minTTL["\(r.owner) \(r.type)"] = min(minTTL["\(r.owner) \(r.type)"] ?? .max, r.ttl) }
    for i in out.indices { out[i].ttl = minTTL["\(out[i].owner) \(out[i].type)"]! }
    return Set(out)
}

/// A copy of a data file in a fresh directory (edits never touch Data/).
func scratchCopy(_ names: [String]) throws -> String {
    let dir = FileManager.default.temporaryDirectory.appendingPathComponent("zrw-\(UUID().uuidString)").path
    try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
    for n in names {
        try FileManager.default.copyItem(
            atPath: "\(dataDir)/\(n)", toPath: "\(dir)/\((n as NSString).lastPathComponent)")
    }
    return dir
}

func store(_ zone: String, _ file: String, _ runner: CheckzoneRunner) -> ZoneStore {
    ZoneStore(
        settings: ZoneSettings(zone: zone, file: file, checkzone: checkzonePath, rndc: ["/usr/sbin/rndc"]),
        runner: runner)
}

func mx(_ owner: String, _ host: String) -> ZoneNewRecord {
    ZoneNewRecord(owner: owner, ttl: 300, type: "MX", rdata: ["10", host])
}

@Suite(.enabled(if: haveCheckzone, "needs named-checkzone")) struct RealWorldZoneTests {
    /// Item 1: `dig axfr` output repeats the SOA as its last record. Every
    /// apex SOA gets the new serial, or named refuses two SOAs.
    @Test func axfrStyleFileWithTheSOARepeatedAtTheEndTakesAnEdit() throws {
        let dir = try scratchCopy(["axfr-style.db"])
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let file = "\(dir)/axfr-style.db", runner = CheckzoneRunner()
        let r = try store("axfr-style.example", file, runner).edit { z in
            try ZoneEdit.add([mx("box.axfr-style.example.", "mx.axfr-style.example.")], to: z)
        }
        #expect(r.changed && r.newSerial != r.oldSerial)
        let z = try ZoneFile.read(path: file, origin: "axfr-style.example.")
        let soas = z.records.filter { $0.type == "SOA" }
        #expect(soas.count == 2 && soas.allSatisfy { $0.rdata[2] == String(r.newSerial!) }, "\(soas.map(\.rdata))")
        let served = try namedDump("axfr-style.example", file, dir: dir)
        #expect(served.contains { $0.type == "SOA" && $0.rdata.contains(" \(r.newSerial!) ") })
        #expect(served.contains { $0.owner == "box.axfr-style.example." && $0.type == "MX" })
        #expect(runner.rndcCalls.map { $0.dropFirst().first } == ["reload"])
    }

    /// Item 1: when the check fails because of a line the edit did not
    /// write, the message names that line (in the file as it is), not a
    /// record the edit adds.
    @Test func aCheckFailureNamesTheRealCulprit() throws {
        let dir = try scratchCopy(["axfr-style.db"])
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let file = "\(dir)/axfr-style.db"
        // www has an AAAA and now a CNAME: named cannot load this file as it is.
        let text =
            try String(contentsOfFile: file, encoding: .utf8)
            + "www.axfr-style.example.\t300\tIN\tCNAME\tmx.axfr-style.example.\n"
        try text.write(toFile: file, atomically: true, encoding: .utf8)
        let before = try #require(FileManager.default.contents(atPath: file))
        do {
            _ = try store("axfr-style.example", file, CheckzoneRunner()).edit { z in
                try ZoneEdit.add([mx("box.axfr-style.example.", "mx.axfr-style.example.")], to: z)
            }
            Issue.record("the edit was accepted")
        } catch let e as ZoneError {
            let m = e.description
            #expect(m.contains("already"), "\(m)")
            #expect(m.contains("\(file):11: www.axfr-style.example: CNAME and other data"), "\(m)")
            #expect(!m.contains("box.axfr-style.example"), "\(m)")
        }
        #expect(FileManager.default.contents(atPath: file) == before)
    }

    /// Item 3: named keeps a `$TTL` set inside an included file for the rest
    /// of the zone (the following lines and the next includes).
    @Test func ttlSetInAnIncludedFileCarriesOnAsInNamed() throws {
        let dir = "\(dataDir)/include-ttl", file = "\(dir)/main.db"
        let z = try ZoneFile(
            bytes: Array(try #require(FileManager.default.contents(atPath: file))), origin: "include-ttl.example.",
            path: file, baseDir: dir)
        let ours = parsedRecords(z), named = try namedDump("include-ttl.example", file, dir: dir)
        #expect(
            ours == named,
            """
            only ours: \(ours.subtracting(named).sorted { $0.description < $1.description }); only named's: \
            \(named.subtracting(ours).sorted { $0.description < $1.description })
            """
        )
    }

    /// Item 4: RFC 3597 generic rdata for types named knows is read, decoded
    /// as named decodes it, and an MX in that form counts as an MX.
    @Test func genericRDataIsReadAsNamedReadsIt() throws {
        let file = "\(dataDir)/generic-rdata.db"
        let data = Array(try #require(FileManager.default.contents(atPath: file)))
        let z = try ZoneFile(bytes: data, origin: "generic-rdata.example.", path: file)
        #expect(ZoneEdit.apply([], to: z.bytes) == data)
        let ours = parsedRecords(z), named = try namedDump("generic-rdata.example", file, dir: dataDir)
        #expect(
            ours == named,
            """
            only ours: \(ours.subtracting(named).sorted { $0.description < $1.description }); only named's: \
            \(named.subtracting(ours).sorted { $0.description < $1.description })
            """
        )
        // The MX of the apex, written generically, is the MX `10 mx`: asking for it again adds nothing.
        let apexMX = z.records(named: "generic-rdata.example.", type: "MX")
        #expect(apexMX.map(\.rdata) == [["10", "mx.generic-rdata.example."]])
        #expect(try ZoneEdit.missing([mx("generic-rdata.example.", "mx.generic-rdata.example.")], in: z).isEmpty)
        // A generic MX written by hand goes with --force, all its lines.
        let rm = try ZoneEdit.remove(name: "legacy.generic-rdata.example.", types: ["MX"], from: z, force: true)
        let after = try ZoneFile(bytes: ZoneEdit.apply(rm, to: z.bytes), origin: "generic-rdata.example.", path: file)
        #expect(after.records(named: "legacy.generic-rdata.example.").isEmpty)
        #expect(after.records.count == z.records.count - 1)
    }

    /// Item 4: an edit of such a zone (the SOA too in generic form) goes
    /// through named-checkzone.
    @Test func zoneWithGenericRDataTakesAnEdit() throws {
        let dir = try scratchCopy(["generic-rdata.db"])
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let file = "\(dir)/generic-rdata.db"
        // The SOA in generic form too: ns1 hostmaster 2024031501 3600 900 604800 300.
        let soaHex =
            """
            036e73310d67656e657269632d7264617461076578616d706c6500 \
            0a686f73746d61737465720d67656e657269632d7264617461076578616d706c6500
            """
            + " 78a4450d 00000e10 00000384 00093a80 0000012c"
        var text = try String(contentsOfFile: file, encoding: .utf8)
        text = text.replacingOccurrences(
            of: "@\tIN\tSOA\tns1 hostmaster 2024031501 3600 900 604800 300", with: "@\tIN\tSOA\t\\# 81 ( \(soaHex) )")
        try text.write(toFile: file, atomically: true, encoding: .utf8)
        #expect(
            try namedDump("generic-rdata.example", file, dir: dir).contains {
                $0.type == "SOA" && $0.rdata.contains(" 2024031501 ")
            })
        let r = try store("generic-rdata.example", file, CheckzoneRunner()).edit { z in
            try ZoneEdit.add([mx("box.generic-rdata.example.", "mx.generic-rdata.example.")], to: z)
        }
        #expect(r.oldSerial == 2024031501 && r.newSerial != r.oldSerial)
        let served = try namedDump("generic-rdata.example", file, dir: dir)
        #expect(served.contains { $0.type == "SOA" && $0.rdata.contains(" \(r.newSerial!) 3600 ") }, "\(served)")
        #expect(served.contains { $0.owner == "box.generic-rdata.example." && $0.type == "MX" })
    }

    /// Item 5: named serves a zone whose apex MX points at a CNAME (a
    /// warning); edits of other names go through, and only an MX the edit
    /// itself points at a CNAME is refused, naming that record.
    @Test func aZoneNamedServesWithAWarningStaysEditable() throws {
        let dir = try scratchCopy(["apex-mx-cname.db"])
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let file = "\(dir)/apex-mx-cname.db"
        #expect(runTool([checkzonePath, "-k", "fail", "apex-mx-cname.example", file]).status == 0)
        let s = store("apex-mx-cname.example", file, CheckzoneRunner())
        let r = try s.edit { z in
            try ZoneEdit.add([mx("box.apex-mx-cname.example.", "mx.apex-mx-cname.example.")], to: z)
        }
        #expect(r.changed)
        #expect(
            try namedDump("apex-mx-cname.example", file, dir: dir).contains {
                $0.owner == "box.apex-mx-cname.example." && $0.type == "MX"
            })
        let before = try #require(FileManager.default.contents(atPath: file))
        do {
            _ = try s.edit { z in
                try ZoneEdit.add([mx("bad.apex-mx-cname.example.", "mail.apex-mx-cname.example.")], to: z)
            }
            Issue.record("an MX pointing at a CNAME was added")
        } catch let e as ZoneError {
            #expect(e.description.contains("bad.apex-mx-cname.example.") && e.description.contains("CNAME"), "\(e)")
            #expect(!e.description.contains("`apex-mx-cname.example."), "\(e)")
        }
        #expect(FileManager.default.contents(atPath: file) == before)
    }

    /// Item 6: add then remove gives back a file without a final newline.
    @Test func addThenRemoveKeepsAMissingFinalNewline() throws {
        let dir = try scratchCopy(["no-final-newline.db"])
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let file = "\(dir)/no-final-newline.db"
        let original = try #require(FileManager.default.contents(atPath: file))
        let s = store("no-final-newline.example", file, CheckzoneRunner())
        let added = try s.edit { z in
            try ZoneEdit.add([mx("box.no-final-newline.example.", "www.no-final-newline.example.")], to: z)
        }
        #expect(
            try namedDump("no-final-newline.example", file, dir: dir).contains {
                $0.owner == "box.no-final-newline.example."
            })
        let removed = try s.edit { z in
            try ZoneEdit.remove(name: "box.no-final-newline.example.", types: ["MX"], from: z, force: false)
        }
        #expect(added.changed && removed.changed)
        // The same bytes once the serial is put back.
        let now = try String(contentsOfFile: file, encoding: .utf8)
        let restored = now.replacingOccurrences(of: String(try #require(removed.newSerial)), with: "2024031501")
        #expect(Array(restored.utf8) == Array(original), "\(restored.debugDescription)")
    }
}

@Suite struct CheckMessageTests {
    /// A check message about the edited file (a temp file) names the line
    /// of the file as it is, and says whether the edit wrote it.
    @Test func lineNumbersAreThoseOfTheFileAsItIs() throws {
        let old = Array(
            """
            $TTL 300\n@ SOA ns h 7 2 3 4 5\n NS ns\n; semailctl:begin x\n; semailctl:end\nns A 192.0.2.1\nbad A \
            192.0.2.2\n
            """
            .utf8)
        let z = try ZoneFile(bytes: old, origin: "example.org.")
        let add = try ZoneEdit.add(
            [mx("box.example.org.", "ns.example.org."), mx("box2.example.org.", "ns.example.org.")], to: z)
        let (serial, _, _) = try ZoneEdit.bumpSerial(z)
        let new = ZoneEdit.apply(add + serial, to: old)
        let map = LineMap(old: old, new: new, splices: add + serial)
        let out = "dns_master_load: /d/.z.semail-1:9: bad.example.org: something\n"
        #expect(
            map.culprit(out, tmp: "/d/.z.semail-1", file: "/d/z", added: [])
                == "/d/z:7 `bad A 192.0.2.2` (a line this edit did not write)")
        #expect(
            map.rewrite(out, tmp: "/d/.z.semail-1", file: "/d/z")
                == "dns_master_load: /d/z:7: bad.example.org: something")
        #expect(
            map.culprit("x /d/.z.semail-1:2: y", tmp: "/d/.z.semail-1", file: "/d/z", added: [])?.hasSuffix(
                "(a line this edit changes)") == true)
        #expect(
            map.culprit("x /d/.z.semail-1:6: y", tmp: "/d/.z.semail-1", file: "/d/z", added: [])?.hasPrefix(
                "the line `box2.example.org.") == true)
        // A removal: the line after it keeps its old number, and one that
        // gets its owner back is a line the edit changes.
        let old2 = Array(
            "$TTL 300\n@ SOA ns h 7 2 3 4 5\n NS ns\nhand MX 20 ns\n AAAA 2001:db8::2\nns A 192.0.2.1\n".utf8)
        let z2 = try ZoneFile(bytes: old2, origin: "example.org.")
        let rm = try ZoneEdit.remove(name: "hand.example.org.", types: ["MX"], from: z2, force: true)
        let map2 = LineMap(old: old2, new: ZoneEdit.apply(rm, to: old2), splices: rm)
        #expect(
            map2.culprit("x /t:4: y", tmp: "/t", file: "/z", added: [])
                == "/z:5 `hand.example.org. AAAA 2001:db8::2` (a line this edit changes)")
        #expect(
            map2.culprit("x /t:5: y", tmp: "/t", file: "/z", added: [])
                == "/z:6 `ns A 192.0.2.1` (a line this edit did not write)")
    }
}

import CShims
import Core
import Foundation
#if canImport(Glibc)
    import Glibc
    import Synchronization
#endif

/// Runs a program (the project's one process runner is passed in, so this
/// module stays free of it): returns the exit status and stdout+stderr.
public protocol ZoneCommandRunner: Sendable {
    func runCommand(_ argv: [String]) -> (status: Int32, output: String)
}

/// Where the zone lives and the tools that check and load it.
public struct ZoneSettings: Sendable {
    public var zone: String
    public var file: String
    public var checkzone: String = "/usr/bin/named-checkzone"
    /// rndc and its connection arguments, e.g. ["/usr/sbin/rndc", "-s", "127.0.0.1", "-p", "953", "-k", key].
    public var rndc: [String]
    /// Dynamic zone: freeze before editing, thaw after. Also assumed when a
    /// `.jnl` journal lies beside the file.
    public var dynamic: Bool = false
    /// named's `directory` option: where it resolves a relative `$INCLUDE`
    /// (and the check runs, `named-checkzone -w`). nil: the zone file's
    /// directory.
    public var directory: String?
    public init(
        zone: String, file: String, checkzone: String = "/usr/bin/named-checkzone", rndc: [String],
        dynamic: Bool = false,
        directory: String? = nil
    ) {
        self.zone = zone; self.file = file; self.checkzone = checkzone; self.rndc = rndc; self.dynamic = dynamic;
        self.directory = directory
    }
}

/// The outcome of an edit.
public struct ZoneEditResult: Sendable, Codable {
    public var changed: Bool
    public var oldSerial: UInt32?
    public var newSerial: UInt32?
    public var added: [String] = []
    public var removed: [String] = []
}

/// Owns the zone file: reads it, and writes it only through `edit`, which
/// serialises on a lock, freezes a dynamic zone, checks the result with
/// named-checkzone, writes it atomically (temp file, fsync, rename, the old
/// one kept as `<file>.prev`) and reloads it with rndc; on any failure the
/// old file stays (or is put back) in place.
public struct ZoneStore: Sendable {
    public let settings: ZoneSettings
    public let runner: ZoneCommandRunner
    public init(settings: ZoneSettings, runner: ZoneCommandRunner) { self.settings = settings; self.runner = runner }

    var dir: String { (settings.file as NSString).deletingLastPathComponent }
    /// Where relative `$INCLUDE` files are: named's directory.
    var includeBase: String { settings.directory ?? dir }

    public func read() throws -> ZoneFile {
        do { return try ZoneFile.read(path: settings.file, origin: settings.zone, includeBase: includeBase) } catch let
            e as ZoneParseError
        {
            throw ZoneError.parse(e)
        }
    }

    public var isDynamic: Bool { settings.dynamic || FileManager.default.fileExists(atPath: settings.file + ".jnl") }

    /// Applies `change` (a pure function of the current file) under the lock.
    /// Nothing to change: nothing written, serial kept, no reload.
    public func edit(now: Date = Date(), _ change: (ZoneFile) throws -> [ZoneSplice]) throws -> ZoneEditResult {
        let lock: FileLock
        do { lock = try FileLock(path: settings.file + ".semail-lock") } catch let e as FileError {
            throw ZoneError.io(e.message)
        }
        defer { lock.release() }
        let dynamic = isDynamic
        if dynamic { try rndc("freeze") }
        var thawed = false
        defer { if dynamic && !thawed { _ = try? rndc("thaw") } }

        let zone = dynamic ? try readFrozen() : try read()
        let splices = try change(zone)
        guard !splices.isEmpty else {
            return ZoneEditResult(changed: false, oldSerial: zone.soa.flatMap { UInt32($0.rdata[2]) })
        }
        let (serial, old, new) = try ZoneEdit.bumpSerial(zone, now: now)
        let all = splices + serial
        let bytes = ZoneEdit.apply(all, to: zone.bytes)
        // What we insert must read back as records (named-checkzone then
        // checks the whole file).
        let inserted: ZoneFile
        do {
            inserted = try ZoneFile(
                bytes: splices.filter { $0.bytes.contains(0x0A) }.flatMap(\.bytes), origin: settings.zone,
                path: settings.file)
        } catch let e as ZoneParseError { throw ZoneError.parse(e) }
        try install(bytes, old: zone.bytes, splices: all, added: inserted.records)
        do {
            if dynamic { try rndc("thaw"); thawed = true } else { try rndc("reload") }
        } catch {
            try restorePrevious()
            if dynamic { _ = try? rndc("thaw"); thawed = true } else { _ = try? rndc("reload") }
            throw error
        }
        return ZoneEditResult(changed: true, oldSerial: old, newSerial: new)
    }

    /// After `rndc freeze`, named writes the journal into the file; that
    /// write may still be under way when rndc returns. Waits until the file's
    /// serial is the one named serves, so no dynamic update is lost.
    func readFrozen(timeout: Double = 15) throws -> ZoneFile {
        let deadline = Date().addingTimeInterval(timeout)
        while true {
            let status = try rndc("zonestatus")
            let served = status.split(separator: "\n").first { $0.hasPrefix("serial:") }
                .flatMap { UInt32($0.dropFirst("serial:".count).trimmingCharacters(in: .whitespaces)) }
            let zone = try read()
            // the first; named wrote them all
            if let served, let soa = zone.soa, UInt32(soa.rdata[2]) == served { return zone }
            guard Date() < deadline else {
                throw ZoneError.io(
                    """
                    named did not write the frozen zone \(settings.zone) to \(settings.file) in \(Int(timeout)) s \
                    (it serves serial \(served.map(String.init) ?? "?"), the file has \
                    \(zone.soa?.rdata[2] ?? "none"))
                    """
                )
            }
            usleep(50_000)
        }
    }

    @discardableResult
    func rndc(_ verb: String) throws -> String {
        let argv =
            settings.rndc + [verb, settings.zone.hasSuffix(".") ? String(settings.zone.dropLast()) : settings.zone]
        let r = runner.runCommand(argv)
        guard r.status == 0 else {
            throw ZoneError.rndc(
                command: argv.joined(separator: " "), output: r.output.trimmingCharacters(in: .whitespacesAndNewlines))
        }
        return r.output
    }

    /// Temp file beside the zone file, same owner and mode, fsynced, checked
    /// with named-checkzone, then: old file linked to `.prev`, temp renamed
    /// over the file, directory fsynced.
    func install(_ bytes: [UInt8], old: [UInt8], splices: [ZoneSplice] = [], added: [ZoneRecord] = []) throws {
        let base = (settings.file as NSString).lastPathComponent
        let tmp = "\(dir)/.\(base).semail-\(getpid())"
        do { try AtomicFile.writeTemp(tmp, bytes, like: settings.file) } catch let e as FileError {
            throw ZoneError.io(e.message)
        }
        var keepTmp = false
        defer { if !keepTmp { unlink(tmp) } }
        try check(tmp, bytes: bytes, old: old, splices: splices, added: added)
        let prevTmp = "\(dir)/.\(base).prev.semail-\(getpid())"
        unlink(prevTmp)
        // No .prev, no install: a failed reload must be able to put the old file back.
        guard link(settings.file, prevTmp) == 0 else {
            throw ZoneError.io(
                "cannot keep the previous version as \(settings.file).prev: \(String(cString: strerror(errno)))")
        }
        guard rename(prevTmp, settings.file + ".prev") == 0 else {
            let e = errno; unlink(prevTmp)
            throw ZoneError.io("cannot keep \(settings.file).prev: \(String(cString: strerror(e)))")
        }
        guard rename(tmp, settings.file) == 0 else {
            throw ZoneError.io("cannot replace \(settings.file): \(String(cString: strerror(errno)))")
        }
        keepTmp = true
        AtomicFile.syncDirectory(dir)
    }

    /// Puts `<file>.prev` back in place (after a failed reload).
    func restorePrevious() throws {
        let base = (settings.file as NSString).lastPathComponent
        let tmp = "\(dir)/.\(base).restore.semail-\(getpid())"
        unlink(tmp)
        guard link(settings.file + ".prev", tmp) == 0, rename(tmp, settings.file) == 0 else {
            throw ZoneError.io(
                """
                could not put \(settings.file).prev back in place: \(String(cString: strerror(errno))); restore it \
                by hand
                """
            )
        }
        AtomicFile.syncDirectory(dir)
    }

    /// The check command: as strict as named loading a primary zone
    /// (check-names fail; named's other defaults), run in named's directory.
    func checkArgv(_ file: String) -> [String] {
        var isDir: ObjCBool = false
        let w =
            FileManager.default.fileExists(atPath: includeBase, isDirectory: &isDir) && isDir.boolValue
            ? ["-w", includeBase] : []
        return [settings.checkzone, "-k", "fail"] + w + [settings.zone, file]
    }

    /// Refuses what named would refuse, and what the edit itself makes
    /// worse: an MX it adds that points at a CNAME (RFC 2181 §10.3; named
    /// only warns, and serves a zone whose own records do that). A zone
    /// named accepts never becomes uneditable, and the message names the
    /// line at fault in the file as it is, or the record the edit adds.
    func check(_ tmp: String, bytes: [UInt8], old: [UInt8], splices: [ZoneSplice], added: [ZoneRecord]) throws {
        let r = runner.runCommand(checkArgv(tmp))
        guard r.status == 0 else {
            let before = runner.runCommand(checkArgv(settings.file))
            if before.status != 0 {
                throw ZoneError.alreadyFailing(output: before.output.trimmingCharacters(in: .whitespacesAndNewlines))
            }
            let map = LineMap(old: old, new: bytes, splices: splices)
            throw ZoneError.checkFailed(
                record: map.culprit(r.output, tmp: tmp, file: settings.file, added: added),
                output: map.rewrite(r.output, tmp: tmp, file: settings.file))
        }
        for line in r.output.split(separator: "\n")
        where line.contains("/MX '") && line.hasSuffix("is a CNAME (illegal)") {
            guard let slash = line.range(of: "/MX '"),
                let colon = line[..<slash.lowerBound].range(of: ": ", options: .backwards)
            else { continue }
            let owner = ZoneName.absolute(String(line[colon.upperBound..<slash.lowerBound]).lowercased())
            if let mx = added.first(where: { $0.type == "MX" && $0.key == owner }) {
                throw ZoneError.checkFailed(
                    record: "the record `\(mx.owner) \(mx.ttl) \(mx.rrclass) MX \(mx.rdataText)` this edit adds",
                    output: line.trimmingCharacters(in: .whitespaces)
                        + " (an MX must not point at a CNAME, RFC 2181 §10.3)")
            }
        }
    }
}

/// Line numbers of the edited file (checked as a temp file) mapped back to
/// the file as it is, so a message names the line the administrator sees.
struct LineMap {
    let old: [UInt8], new: [UInt8]
    let splices: [ZoneSplice]  // sorted, in old offsets

    init(old: [UInt8], new: [UInt8], splices: [ZoneSplice]) {
        self.old = old; self.new = new
        self.splices = splices.sorted { $0.range.lowerBound < $1.range.lowerBound }
    }

    /// The byte range of line `n` (1-based) of the new file, newline excluded.
    func newLine(_ n: Int) -> Range<Int>? {
        guard n >= 1 else { return nil }
        var line = 1, start = 0
        while line < n {
            guard let nl = new[start...].firstIndex(of: 0x0A) else { return nil }
            start = nl + 1; line += 1
        }
        return start..<(new[start...].firstIndex(of: 0x0A) ?? new.count)
    }

    /// Where the new bytes `r` come from: the old line of their start (nil:
    /// the edit inserted it), and whether the edit wrote any of them.
    func origin(of r: Range<Int>) -> (oldLine: Int?, touched: Bool) {
        var delta = 0, touched = false, inserted = false
        for s in splices {
            let ns = s.range.lowerBound + delta, ne = ns + s.bytes.count
            if ns > r.upperBound { break }
            if ns < r.upperBound && ne > r.lowerBound { touched = true }
            // Whole lines the edit inserts (not an owner put back at a line's start).
            if r.lowerBound >= ns && r.lowerBound < ne && s.bytes.contains(0x0A) { inserted = true }
            if r.lowerBound >= ne { delta += s.bytes.count - s.range.count }
        }
        guard !inserted else { return (nil, true) }
        let o = min(max(r.lowerBound - delta, 0), old.count)
        return (old[..<o].reduce(1) { $1 == 0x0A ? $0 + 1 : $0 }, touched)
    }

    /// The culprit of a failed check: the line its "file:LINE:" names, else
    /// a record the edit adds whose owner the message names.
    func culprit(_ output: String, tmp: String, file: String, added: [ZoneRecord]) -> String? {
        if let r = output.range(of: tmp + ":"), let n = Int(output[r.upperBound...].prefix { $0.isNumber }),
            let range = newLine(n)
        {
            let text = String(decoding: new[range], as: UTF8.self).trimmingCharacters(in: .whitespaces)
                .replacingOccurrences(of: "\t", with: " ")
            let (line, touched) = origin(of: range)
            guard let line else { return "the line `\(text)` this edit adds" }
            return "\(file):\(line) `\(text)`"
                + (touched ? " (a line this edit changes)" : " (a line this edit did not write)")
        }
        let lower = output.lowercased()
        if let r = added.first(where: { lower.contains(String($0.key.dropLast()) + "/") }) {
            return "the record `\(r.owner) \(r.ttl) \(r.rrclass) \(r.type) \(r.rdataText)` this edit adds"
        }
        return nil
    }

    /// The check's output with the temp file's name and line numbers made
    /// those of the zone file (a line the edit adds: "added line N").
    func rewrite(_ output: String, tmp: String, file: String) -> String {
        var out = ""
        var rest = output[...]
        while let r = rest.range(of: tmp) {
            out += rest[..<r.lowerBound] + file
            rest = rest[r.upperBound...]
            if rest.hasPrefix(":"), let n = Int(rest.dropFirst().prefix { $0.isNumber }), let range = newLine(n) {
                out += ":" + (origin(of: range).oldLine.map(String.init) ?? "(added line \(n))")
                rest = rest.dropFirst(1 + String(n).count)
            }
        }
        return (out + rest).trimmingCharacters(in: .whitespacesAndNewlines)
    }
}

/// MX look-ups through libresolv (the system resolver, or one server).
public enum MXResolver {
    public struct Answer: Sendable, Codable, Equatable {
        public var preference: Int
        public var host: String
    }
    public enum Failure: Error, Sendable, Equatable { case noSuchDomain, noMX, tryAgain, failed }

    /// "" (the system resolver) or "IPv4:port" as the shim takes it.
    static func server(_ s: String) -> (host: String, port: Int32) {
        guard !s.isEmpty else { return ("", 53) }
        let parts = s.split(separator: ":")
        return (String(parts[0]), parts.count > 1 ? Int32(parts[1]) ?? 53 : 53)
    }

    /// `server` is "" (system resolver) or "IPv4:port".
    public static func lookup(_ name: String, server: String = "") throws -> [Answer] {
        let (host, port) = MXResolver.server(server)
        var buf = [CChar](repeating: 0, count: 16384)
        var herr: Int32 = 0
        let n = semail_query_mx(name, host, port, &buf, UInt(buf.count), &herr)
        if n < 0 || n == 0 {
            switch herr {
            case 1: throw Failure.noSuchDomain
            case 2: throw Failure.tryAgain
            case 4: throw Failure.noMX
            default: throw n == 0 ? Failure.noMX : Failure.failed
            }
        }
        return cString(buf).split(separator: "\n").compactMap { l in
            let f = l.split(separator: " ")
            guard f.count == 2, let p = Int(f[0]) else { return nil }
            return Answer(preference: p, host: ZoneName.absolute(String(f[1]).lowercased()))
        }
    }
}

/// The text of a NUL-terminated C buffer.
func cString(_ buf: [CChar]) -> String {
    String(decoding: buf.prefix { $0 != 0 }.map(UInt8.init(bitPattern:)), as: UTF8.self)
}

/// TXT look-ups through libresolv, as `MXResolver` (ownership proofs).
public enum TXTResolver {
    /// Each TXT record's strings joined; `server` is "" or "IPv4:port".
    public static func lookup(_ name: String, server: String = "") throws -> [String] {
        let (host, port) = MXResolver.server(server)
        var buf = [CChar](repeating: 0, count: 16384)
        var herr: Int32 = 0
        let n = semail_query_txt(name, host, port, &buf, UInt(buf.count), &herr)
        if n <= 0 {
            switch herr {
            case 1: throw MXResolver.Failure.noSuchDomain
            case 2: throw MXResolver.Failure.tryAgain
            case 4: return []
            default: throw n == 0 ? MXResolver.Failure.noMX : MXResolver.Failure.failed
            }
        }
        return cString(buf).split(separator: "\n").map(String.init)
    }
}

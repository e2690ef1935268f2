import CShims
import Foundation
#if canImport(Glibc)
import Glibc
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
    public init(zone: String, file: String, checkzone: String = "/usr/bin/named-checkzone", rndc: [String], dynamic: Bool = false) {
        self.zone = zone; self.file = file; self.checkzone = checkzone; self.rndc = rndc; self.dynamic = dynamic
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

    public func read() throws -> ZoneFile {
        do { return try ZoneFile.read(path: settings.file, origin: settings.zone) } catch let e as ZoneParseError { throw ZoneError.parse(e) }
    }

    public var isDynamic: Bool { settings.dynamic || FileManager.default.fileExists(atPath: settings.file + ".jnl") }

    /// Applies `change` (a pure function of the current file) under the lock.
    /// Nothing to change: nothing written, serial kept, no reload.
    public func edit(now: Date = Date(), _ change: (ZoneFile) throws -> [ZoneSplice]) throws -> ZoneEditResult {
        let lock = try FileLock(path: settings.file + ".semail-lock")
        defer { lock.release() }
        let dynamic = isDynamic
        if dynamic { try rndc("freeze") }
        var thawed = false
        defer { if dynamic && !thawed { _ = try? rndc("thaw") } }

        let zone = dynamic ? try readFrozen() : try read()
        let splices = try change(zone)
        guard !splices.isEmpty else { return ZoneEditResult(changed: false, oldSerial: zone.soa.flatMap { UInt32($0.rdata[2]) }) }
        let (serial, old, new) = try ZoneEdit.bumpSerial(zone, now: now)
        let bytes = ZoneEdit.apply(splices + [serial], to: zone.bytes)
        // What we insert must read back as records (named-checkzone then
        // checks the whole file).
        let inserted = splices.filter { $0.bytes.last == 0x0A }.flatMap(\.bytes)
        do { _ = try ZoneFile(bytes: inserted, origin: settings.zone, path: settings.file) } catch let e as ZoneParseError {
            throw ZoneError.parse(e)
        }
        try install(bytes, old: zone.bytes)
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
            if let served, let soa = zone.soa, UInt32(soa.rdata[2]) == served { return zone }
            guard Date() < deadline else {
                throw ZoneError.io("named did not write the frozen zone \(settings.zone) to \(settings.file) in \(Int(timeout)) s (it serves serial \(served.map(String.init) ?? "?"), the file has \(zone.soa?.rdata[2] ?? "none"))")
            }
            usleep(50_000)
        }
    }

    @discardableResult
    func rndc(_ verb: String) throws -> String {
        let argv = settings.rndc + [verb, settings.zone.hasSuffix(".") ? String(settings.zone.dropLast()) : settings.zone]
        let r = runner.runCommand(argv)
        guard r.status == 0 else {
            throw ZoneError.rndc(command: argv.joined(separator: " "), output: r.output.trimmingCharacters(in: .whitespacesAndNewlines))
        }
        return r.output
    }

    /// Temp file beside the zone file, same owner and mode, fsynced, checked
    /// with named-checkzone, then: old file linked to `.prev`, temp renamed
    /// over the file, directory fsynced.
    func install(_ bytes: [UInt8], old: [UInt8]) throws {
        let base = (settings.file as NSString).lastPathComponent
        let tmp = "\(dir)/.\(base).semail-\(getpid())"
        try AtomicFile.writeTemp(tmp, bytes, like: settings.file)
        var keepTmp = false
        defer { if !keepTmp { unlink(tmp) } }
        // As strict as named loading a primary zone (-k fail), and an MX that
        // points at a CNAME is refused (RFC 2181 §10.3).
        let check = runner.runCommand([settings.checkzone, "-k", "fail", "-M", "fail", "-w", dir, settings.zone, tmp])
        guard check.status == 0 else {
            throw ZoneError.checkFailed(record: Self.offendingLine(check.output, file: tmp, bytes: bytes, old: old),
                                        output: check.output.replacingOccurrences(of: tmp, with: settings.file).trimmingCharacters(in: .whitespacesAndNewlines))
        }
        let prevTmp = "\(dir)/.\(base).prev.semail-\(getpid())"
        unlink(prevTmp)
        // No .prev, no install: a failed reload must be able to put the old file back.
        guard link(settings.file, prevTmp) == 0 else {
            throw ZoneError.io("cannot keep the previous version as \(settings.file).prev: \(String(cString: strerror(errno)))")
        }
        guard rename(prevTmp, settings.file + ".prev") == 0 else {
            let e = errno; unlink(prevTmp)
            throw ZoneError.io("cannot keep \(settings.file).prev: \(String(cString: strerror(e)))")
        }
        guard rename(tmp, settings.file) == 0 else { throw ZoneError.io("cannot replace \(settings.file): \(String(cString: strerror(errno)))") }
        keepTmp = true
        AtomicFile.syncDirectory(dir)
    }

    /// Puts `<file>.prev` back in place (after a failed reload).
    func restorePrevious() throws {
        let base = (settings.file as NSString).lastPathComponent
        let tmp = "\(dir)/.\(base).restore.semail-\(getpid())"
        unlink(tmp)
        guard link(settings.file + ".prev", tmp) == 0, rename(tmp, settings.file) == 0 else {
            throw ZoneError.io("could not put \(settings.file).prev back in place: \(String(cString: strerror(errno))); restore it by hand")
        }
        AtomicFile.syncDirectory(dir)
    }

    /// The record named-checkzone complains about: the line of its
    /// "file:LINE:" message, else a new line whose owner its "name/TYPE"
    /// message names.
    static func offendingLine(_ output: String, file: String, bytes: [UInt8], old: [UInt8]) -> String? {
        let lines = String(decoding: bytes, as: UTF8.self).split(separator: "\n", omittingEmptySubsequences: false)
        if let r = output.range(of: file + ":"), let n = Int(output[r.upperBound...].prefix { $0.isNumber }), n >= 1, n <= lines.count {
            return lines[n - 1].trimmingCharacters(in: .whitespaces)
        }
        let oldLines = Set(String(decoding: old, as: UTF8.self).split(separator: "\n"))
        for l in lines where !oldLines.contains(l) {
            guard let owner = l.split(whereSeparator: { $0 == " " || $0 == "\t" }).first else { continue }
            let bare = owner.hasSuffix(".") ? owner.dropLast() : owner[...]
            if output.lowercased().contains("\(bare.lowercased())/") { return l.replacingOccurrences(of: "\t", with: " ") }
        }
        return nil
    }
}

/// An exclusive advisory lock held on a file for the life of the value.
public final class FileLock: @unchecked Sendable {
    let fd: Int32
    public init(path: String) throws {
        // Never through a link: the lock may sit in a directory others can
        // write (the zone's, often group bind).
        fd = open(path, O_CREAT | O_RDWR | O_CLOEXEC | O_NOFOLLOW, 0o600)
        guard fd >= 0 else {
            let e = errno
            throw ZoneError.io("cannot open the lock \(path): " + (e == ELOOP ? "it is a symbolic link (refused)" : String(cString: strerror(e))))
        }
        while flock(fd, LOCK_EX) != 0 {
            if errno == EINTR { continue }
            let e = errno
            close(fd)
            throw ZoneError.io("cannot lock \(path): \(String(cString: strerror(e)))")
        }
    }
    private var released = false
    /// Releases the lock (also done when the value goes away).
    public func release() { if !released { released = true; close(fd) } }
    deinit { release() }
}

/// Writes that matter: a temp file in the same directory, fsynced, renamed.
public enum AtomicFile {
    /// Writes `bytes` to `tmp` (created exclusively) with the owner and
    /// mode of `like` when it exists, and fsyncs it.
    public static func writeTemp(_ tmp: String, _ bytes: [UInt8], like: String?, mode: mode_t = 0o644) throws {
        unlink(tmp)
        let fd = open(tmp, O_CREAT | O_EXCL | O_WRONLY | O_CLOEXEC, mode)
        guard fd >= 0 else { throw ZoneError.io("cannot create \(tmp): \(String(cString: strerror(errno)))") }
        var ok = false
        defer { close(fd); if !ok { unlink(tmp) } }
        var st = stat()
        if let like, stat(like, &st) == 0 {
            _ = fchown(fd, st.st_uid, st.st_gid)
            _ = fchmod(fd, st.st_mode & 0o7777)
        } else {
            _ = fchmod(fd, mode)  // the mode asked for, whatever the umask
        }
        var off = 0
        while off < bytes.count {
            let n = bytes.withUnsafeBytes { Glibc.write(fd, $0.baseAddress! + off, bytes.count - off) }
            if n < 0 { if errno == EINTR { continue }; throw ZoneError.io("cannot write \(tmp): \(String(cString: strerror(errno)))") }
            off += n
        }
        guard fsync(fd) == 0 else { throw ZoneError.io("cannot fsync \(tmp): \(String(cString: strerror(errno)))") }
        ok = true
    }

    /// Writes `bytes` to `path` atomically.
    public static func write(_ path: String, _ bytes: [UInt8], mode: mode_t = 0o644) throws {
        let dir = (path as NSString).deletingLastPathComponent
        // Unique per call: threads of one process may write the same file.
        let tmp = "\(dir)/.\((path as NSString).lastPathComponent).tmp-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        try writeTemp(tmp, bytes, like: FileManager.default.fileExists(atPath: path) ? path : nil, mode: mode)
        guard rename(tmp, path) == 0 else {
            let e = errno; unlink(tmp)
            throw ZoneError.io("cannot replace \(path): \(String(cString: strerror(e)))")
        }
        syncDirectory(dir)
    }

    public static func syncDirectory(_ dir: String) {
        let fd = open(dir.isEmpty ? "." : dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        if fd >= 0 { _ = fsync(fd); close(fd) }
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
        return String(cString: buf).split(separator: "\n").compactMap { l in
            let f = l.split(separator: " ")
            guard f.count == 2, let p = Int(f[0]) else { return nil }
            return Answer(preference: p, host: ZoneName.absolute(String(f[1]).lowercased()))
        }
    }
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
        return String(cString: buf).split(separator: "\n").map(String.init)
    }
}

import Core
import Foundation
#if canImport(Glibc)
    import Glibc
#endif

/// Reads a `MaildirArchive` as untrusted input, strictly: the manifest
/// first, then only regular-file members whose names are Maildir paths
/// (`MaildirPath.parse`), each once, never more files or bytes than the
/// manifest says, pax headers only for a long `path`, two zero blocks and
/// nothing but zeros after them, and the checksum of it all equal to the
/// manifest's. Anything else is a `Refusal`.
public enum MaildirArchiveReader {
    /// Why an archive is refused.
    public struct Refusal: Error, Sendable, CustomStringConvertible {
        public var description: String
        public init(_ d: String) { description = d }
    }

    /// What sees the members while they are read.
    public protocol Visitor {
        /// Whether the member's content is wanted (then `chunk`s and `end` follow).
        mutating func begin(_ e: MaildirArchive.Entry) throws -> Bool
        mutating func chunk(_ bytes: UnsafeRawBufferPointer) throws
        mutating func end() throws
    }

    /// A visitor that wants nothing: a check of the whole archive.
    public struct Nothing: Visitor {
        public init() {}
        public mutating func begin(_ e: MaildirArchive.Entry) throws -> Bool { false }
        public mutating func chunk(_ bytes: UnsafeRawBufferPointer) throws {}
        public mutating func end() throws {}
    }

    /// Reads the archive on FD from its current offset to its end.
    public static func read<V: Visitor>(_ fd: Int32, visitor: inout V) throws -> BackupManifest {
        let input = Input(fd: fd)
        guard let h0 = try input.take(TarHeader.block) else { throw Refusal("the file is empty") }
        let first = try header(h0)
        guard first.nameBytes == Array(MaildirArchive.manifestName.utf8), isFile(first.type),
            first.size == MaildirArchive.manifestSlot, let slot = try input.take(MaildirArchive.manifestSlot)
        else {
            throw Refusal("it is not a semailctl backup (its first member is not \(MaildirArchive.manifestName))")
        }
        let dec = JSONDecoder()
        dec.dateDecodingStrategy = JSONDates.decoding
        guard let m = try? dec.decode(BackupManifest.self, from: Data(slot)) else {
            throw Refusal("its manifest is not valid JSON of a backup")
        }
        guard m.format == MaildirArchive.format, m.version == MaildirArchive.version else {
            throw Refusal("its manifest is of format \(Validate.quoted(m.format)) version \(m.version)")
        }
        guard (try? Validate.uid(m.uid)) != nil, m.messages >= 0, m.files >= m.messages else {
            throw Refusal("its manifest is inconsistent (uid, counts)")
        }
        input.hashing = true
        var seen = Set<String>()
        var files = 0, messages = 0
        var bytes: UInt64 = 0
        while true {
            guard let h = try input.take(TarHeader.block) else { throw Refusal("it ends before its end blocks") }
            if TarHeader.isZero(h) {
                guard let h2 = try input.take(TarHeader.block), TarHeader.isZero(h2) else {
                    throw Refusal("it has one zero block where two end it")
                }
                try input.rest { guard !$0.contains(where: { $0 != 0 }) else { throw Refusal("data after its end") } }
                break
            }
            var p = try header(h)
            var name = p.nameBytes
            if p.type == TarHeader.TypeFlag.pax {
                guard p.size <= 1 << 16, let data = try input.take(p.size + TarHeader.padding(p.size)) else {
                    throw Refusal("a pax header is too long or cut short")
                }
                let recs: [String: [UInt8]]
                do { recs = try TarHeader.paxRecords(Array(data.prefix(p.size))) } catch {
                    throw Refusal("\(error)")
                }
                guard Set(recs.keys) == ["path"], let path = recs["path"] else {
                    throw Refusal("a pax header holds other keys than path: \(recs.keys.sorted())")
                }
                guard let h2 = try input.take(TarHeader.block), !TarHeader.isZero(h2) else {
                    throw Refusal("a pax header is not followed by a member")
                }
                p = try header(h2)
                guard p.type != TarHeader.TypeFlag.pax else { throw Refusal("two pax headers in a row") }
                name = path
            }
            let shown = Validate.quoted(String(decoding: name, as: UTF8.self))
            guard isFile(p.type) else { throw Refusal("the member \(shown) is \(kind(p.type))") }
            guard let path = MaildirPath.parse(name) else {
                throw Refusal("the member \(shown) is not a file of a Maildir (or leaves it)")
            }
            guard seen.insert(path.archiveName).inserted else { throw Refusal("the member \(shown) appears twice") }
            files += 1
            if path.isMessage { messages += 1 }
            bytes += UInt64(p.size)
            guard files <= m.files, messages <= m.messages, bytes <= m.bytes else {
                throw Refusal("it holds more files or bytes than its manifest says")
            }
            if try visitor.begin(MaildirArchive.Entry(path: path, size: p.size, mtime: p.mtime)) {
                try input.stream(p.size) { try visitor.chunk($0) }
                try visitor.end()
            } else {
                try input.stream(p.size) { _ in }
            }
            guard try input.take(TarHeader.padding(p.size)) != nil else { throw Refusal("it is cut short") }
        }
        guard files == m.files, messages == m.messages, bytes == m.bytes else {
            throw Refusal(
                "it holds \(messages) messages, \(files) files, \(bytes) bytes; its manifest says "
                    + "\(m.messages), \(m.files), \(m.bytes)")
        }
        guard input.hasher.hex() == m.sha256 else {
            throw Refusal("its checksum does not match its manifest (damaged or altered)")
        }
        return m
    }

    static func header(_ b: ArraySlice<UInt8>) throws -> TarHeader.Parsed {
        do { return try TarHeader.parse(b) } catch { throw Refusal("a member header is malformed: \(error)") }
    }
    static func isFile(_ t: UInt8) -> Bool { t == TarHeader.TypeFlag.file || t == 0 }
    static func kind(_ t: UInt8) -> String {
        switch t {
        case TarHeader.TypeFlag.hardLink: "a hard link"
        case TarHeader.TypeFlag.symlink: "a symbolic link"
        case 0x33, 0x34: "a device"
        case TarHeader.TypeFlag.directory: "a directory"
        case 0x36: "a FIFO"
        default: "of an unknown type (\(t))"
        }
    }

    /// Buffered reads, every byte after the manifest hashed as it is consumed.
    final class Input {
        let fd: Int32
        var buf: [UInt8] = []
        var pos = 0
        var hashing = false
        var hasher = SHA256Stream()
        init(fd: Int32) { self.fd = fd }

        /// Whether N bytes are buffered (false at the end of the file).
        func ensure(_ n: Int) throws -> Bool {
            if buf.count - pos >= n { return true }
            buf.removeFirst(pos); pos = 0
            var chunk = [UInt8](repeating: 0, count: max(1 << 20, n))
            while buf.count < n {
                let r = chunk.withUnsafeMutableBytes { Glibc.read(fd, $0.baseAddress!, $0.count) }
                if r < 0 {
                    if errno == EINTR { continue }
                    throw Refusal("it cannot be read: \(SystemState.errnoText())")
                }
                if r == 0 { return false }
                buf.append(contentsOf: chunk[0..<r])
            }
            return true
        }

        private func consume(_ n: Int) -> ArraySlice<UInt8> {
            let s = buf[pos..<(pos + n)]
            if hashing { s.withUnsafeBytes { hasher.update($0) } }
            pos += n
            return s
        }

        func take(_ n: Int) throws -> ArraySlice<UInt8>? {
            guard try ensure(n) else { return nil }
            return consume(n)
        }

        func stream(_ n: Int, _ body: (UnsafeRawBufferPointer) throws -> Void) throws {
            var left = n
            while left > 0 {
                guard try ensure(1) else { throw Refusal("it is cut short") }
                let s = consume(min(left, buf.count - pos))
                try s.withUnsafeBytes { try body($0) }
                left -= s.count
            }
        }

        /// Everything up to the end of the file.
        func rest(_ body: (ArraySlice<UInt8>) throws -> Void) throws {
            while try ensure(1) { try body(consume(buf.count - pos)) }
        }
    }
}

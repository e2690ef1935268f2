import Foundation

/// The 512-byte ustar header, written and read in one place: the in-memory
/// archives of Containers (`TarArchive`) and the Maildir backups of Storage
/// both use it. A name longer than the header's 100 bytes goes into a pax
/// extended header (`path=`) written just before it.
public enum TarHeader {
    public static let block = 512

    /// Type flags.
    public enum TypeFlag {
        public static let file: UInt8 = 0x30
        public static let hardLink: UInt8 = 0x31
        public static let symlink: UInt8 = 0x32
        public static let directory: UInt8 = 0x35
        public static let pax: UInt8 = 0x78
    }

    /// The largest size the 11 octal digits of the size field hold.
    public static let maxSize = (1 << 33) - 1

    /// The header block(s) of one member: a pax header first when NAME does
    /// not fit in 100 bytes. mtime 0 gives the same bytes for the same members.
    public static func encode(
        name: String, type: UInt8, mode: Int, uid: Int = 0, gid: Int = 0, size: Int, mtime: Int = 0, link: String = ""
    ) -> [UInt8] {
        precondition(size >= 0 && size <= maxSize, "tar size \(size)")
        if name.utf8.count > 100 {
            let records = paxRecord("path", name)
            return encode(name: "PaxHeader", type: TypeFlag.pax, mode: 0o644, size: records.count)
                + records + [UInt8](repeating: 0, count: padding(records.count))
                + encode(
                    name: name.suffixBytes(99),
                    type: type, mode: mode, uid: uid, gid: gid, size: size, mtime: mtime, link: link)
        }
        var h = [UInt8](repeating: 0, count: block)
        func put(_ s: String, _ at: Int, _ len: Int) { for (i, b) in s.utf8.prefix(len).enumerated() { h[at + i] = b } }
        func octal(_ v: Int, _ at: Int, _ len: Int) {
            let s = String(v, radix: 8)
            put(String(repeating: "0", count: max(0, len - 1 - s.count)) + s, at, len - 1)
        }
        put(name, 0, 100)
        octal(mode, 100, 8); octal(uid, 108, 8); octal(gid, 116, 8)
        octal(size, 124, 12); octal(mtime, 136, 12)
        for i in 148..<156 { h[i] = 0x20 }
        h[156] = type
        put(link, 157, 100)
        put("ustar", 257, 6); put("00", 263, 2)
        let sum = h.reduce(0) { $0 + Int($1) }
        put(String(repeating: "0", count: 6 - String(sum, radix: 8).count) + String(sum, radix: 8), 148, 6)
        h[154] = 0; h[155] = 0x20
        return h
    }

    /// Zero bytes that pad SIZE bytes of content to a whole block.
    public static func padding(_ size: Int) -> Int { (block - size % block) % block }

    /// One pax record, "LEN key=value\n", LEN counting itself.
    public static func paxRecord(_ key: String, _ value: String) -> [UInt8] {
        let body = " \(key)=\(value)\n".utf8.count
        var len = body + String(body).count
        if String(len).count != String(body).count { len = body + String(len).count }
        return Array("\(len) \(key)=\(value)\n".utf8)
    }

    /// A header as read, its fields as they are (not yet judged).
    public struct Parsed: Sendable, Equatable {
        public var name: String
        public var nameBytes: [UInt8]
        public var type: UInt8
        public var mode: Int
        public var uid: Int
        public var gid: Int
        public var size: Int
        public var mtime: Int
        public var link: String
    }

    /// What is wrong with a header.
    public struct Malformed: Error, Sendable, CustomStringConvertible {
        public var description: String
        public init(_ d: String) { description = d }
    }

    /// Whether BLOCK is all zeros (the end of an archive).
    public static func isZero(_ block: ArraySlice<UInt8>) -> Bool { !block.contains { $0 != 0 } }

    /// Reads one header strictly: the checksum must match, the numbers must
    /// be octal, the name must not hold a NUL before its end.
    public static func parse(_ b: ArraySlice<UInt8>) throws -> Parsed {
        precondition(b.count == block)
        let h = Array(b)
        func field(_ at: Int, _ len: Int) -> [UInt8] { Array(h[at..<(at + len)].prefix { $0 != 0 }) }
        func number(_ at: Int, _ len: Int, _ what: String) throws -> Int {
            let f = field(at, len).filter { $0 != 0x20 }
            guard !f.isEmpty, f.count <= 11 || (what == "mode" && f.count <= 7),
                f.allSatisfy({ $0 >= 0x30 && $0 <= 0x37 }), let v = Int(String(decoding: f, as: UTF8.self), radix: 8)
            else { throw Malformed("the \(what) field is not an octal number") }
            return v
        }
        var sum = 0
        for (i, c) in h.enumerated() { sum += (148..<156).contains(i) ? 0x20 : Int(c) }
        guard try number(148, 8, "checksum") == sum else { throw Malformed("the header checksum does not match") }
        var nameBytes = field(0, 100)
        let prefix = field(345, 155)
        if !prefix.isEmpty, field(257, 5) == Array("ustar".utf8) { nameBytes = prefix + [0x2F] + nameBytes }
        return Parsed(
            name: String(decoding: nameBytes, as: UTF8.self), nameBytes: nameBytes, type: h[156],
            mode: try number(100, 8, "mode") & 0o7777, uid: try number(108, 8, "uid"), gid: try number(116, 8, "gid"),
            size: try number(124, 12, "size"), mtime: try number(136, 12, "mtime"),
            link: String(decoding: field(157, 100), as: UTF8.self))
    }

    /// The records of a pax extended header, strictly: each "LEN key=value\n"
    /// with LEN its exact length; a key twice is refused.
    public static func paxRecords(_ data: [UInt8]) throws -> [String: [UInt8]] {
        var out: [String: [UInt8]] = [:]
        var at = 0
        while at < data.count {
            guard let sp = data[at...].firstIndex(of: 0x20), sp - at <= 10,
                let len = Int(String(decoding: data[at..<sp], as: UTF8.self)), len > sp - at + 1,
                at + len <= data.count, data[at + len - 1] == 0x0A,
                let eq = data[(sp + 1)..<(at + len)].firstIndex(of: 0x3D)
            else { throw Malformed("a pax record is malformed") }
            let key = String(decoding: data[(sp + 1)..<eq], as: UTF8.self)
            guard out[key] == nil else { throw Malformed("the pax key \(key) is given twice") }
            out[key] = Array(data[(eq + 1)..<(at + len - 1)])
            at += len
        }
        return out
    }
}

extension String {
    /// The last N bytes of the UTF-8 form (a tar header's fallback name).
    fileprivate func suffixBytes(_ n: Int) -> String { String(decoding: Array(utf8.suffix(n)), as: UTF8.self) }
}

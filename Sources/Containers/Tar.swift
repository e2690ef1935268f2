import Core
import Foundation

/// A ustar archive built in memory: the build context the tool sends to the
/// engine (a Dockerfile and a few small files), and the user's files the
/// Dockerfile's ADD unpacks with the owners and modes of the headers.
public struct TarArchive: Sendable {
    public private(set) var data = Data()
    public init() {}

    /// One member: a regular file, a directory or a symbolic link.
    public struct Entry: Sendable, Equatable {
        public enum Kind: UInt8, Sendable { case file = 0x30, symlink = 0x32, directory = 0x35 }
        public var name: String
        public var kind: Kind
        public var mode: Int
        public var uid: Int
        public var gid: Int
        public var data: Data
        public var link: String
        public init(
            _ name: String, kind: Kind = .file, mode: Int, uid: Int = 0, gid: Int = 0, data: Data = Data(),
            link: String = ""
        ) {
            self.name = name; self.kind = kind; self.mode = mode
            self.uid = uid; self.gid = gid; self.data = data; self.link = link
        }
    }

    /// Adds a regular file owned by root. Names are plain relative paths of at most 100 bytes.
    public mutating func add(_ name: String, _ contents: Data, mode: Int = 0o644) {
        add(Entry(name, mode: mode, data: contents))
    }

    /// Adds a member; its mtime is 0, so the same members make the same bytes.
    public mutating func add(_ e: Entry) {
        let name = e.name
        precondition(name.utf8.count <= 100 && !name.hasPrefix("/") && !name.contains(".."), "tar name \(name)")
        precondition(e.link.utf8.count <= 100, "tar link \(e.link)")
        let contents = e.kind == .file ? e.data : Data()
        let h = TarHeader.encode(
            name: name, type: e.kind.rawValue, mode: e.mode, uid: e.uid, gid: e.gid, size: contents.count, link: e.link)
        data.append(contentsOf: h)
        data.append(contents)
        let pad = (512 - contents.count % 512) % 512
        data.append(Data(count: pad))
    }

    /// The archive with its two closing zero blocks.
    public var finished: Data { data + Data(count: 1024) }

    /// The regular files, directories and links of a ustar/pax archive (the
    /// engine's archive API); other members and pax/GNU extension headers
    /// are skipped (a long name keeps the short one).
    public static func entries(_ tar: Data) -> [Entry] {
        let b = [UInt8](tar)
        var out: [Entry] = []
        var at = 0
        func str(_ from: Int, _ len: Int) -> String {
            let s = b[from..<(from + len)]
            return String(decoding: s.prefix { $0 != 0 }, as: UTF8.self)
        }
        func num(_ from: Int, _ len: Int) -> Int {
            Int(str(from, len).trimmingCharacters(in: CharacterSet(charactersIn: " \0")), radix: 8) ?? 0
        }
        while at + 512 <= b.count, b[at..<(at + 512)].contains(where: { $0 != 0 }) {
            let size = num(at + 124, 12)
            let type = b[at + 156]
            var name = str(at, 100)
            let prefix = str(at + 345, 155)
            if !prefix.isEmpty, str(at + 257, 5) == "ustar" { name = prefix + "/" + name }
            let body = at + 512
            guard body + size <= b.count else { break }
            let kind: Entry.Kind? = type == 0 || type == 0x30 ? .file : Entry.Kind(rawValue: type)
            if let kind {
                if name.hasPrefix("./") { name.removeFirst(2) }
                if name.hasSuffix("/") { name.removeLast() }
                let contents = kind == .file ? Data(b[body..<(body + size)]) : Data()
                out.append(
                    Entry(
                        name, kind: kind, mode: num(at + 100, 8) & 0o7777, uid: num(at + 108, 8),
                        gid: num(at + 116, 8), data: contents, link: str(at + 157, 100)))
            }
            at = body + (size + 511) / 512 * 512
        }
        return out
    }
}

import Core
import Foundation
#if canImport(Glibc)
    import Glibc
#endif

/// The format of `mailbox backup`: an uncompressed ustar archive whose first
/// member is `semail-backup.json` (the manifest, a fixed 2048-byte slot of
/// JSON padded with spaces), then the Maildir's files as `Maildir/...`
/// members (mode 0600, owner 0, the file's mtime: Dovecot's received
/// date), then two zero blocks. The manifest's checksum covers every byte
/// after the manifest's slot. `tar tf` and `tar xf` read it.
public enum MaildirArchive {
    public static let manifestName = "semail-backup.json"
    public static let manifestSlot = 2048
    /// Where the checksummed payload starts.
    public static let payloadStart = TarHeader.block + manifestSlot
    public static let format = "semail-maildir-backup"
    public static let version = 1

    /// One member of an archive.
    public struct Entry: Sendable, Equatable {
        public var path: MaildirPath
        public var size: Int
        public var mtime: Int
    }

    /// The manifest slot's bytes: the header and the padded JSON.
    static func manifestBytes(_ m: BackupManifest) throws -> [UInt8] {
        let enc = JSONEncoder()
        enc.dateEncodingStrategy = JSONDates.encoding
        enc.outputFormatting = [.sortedKeys]
        var json = Array(try enc.encode(m))
        guard json.count < manifestSlot else {
            throw SemailError(
                "cannot write the backup's manifest", why: "it is longer than \(manifestSlot) bytes", status: .software)
        }
        json += [UInt8](repeating: 0x20, count: manifestSlot - json.count - 1) + [0x0A]
        let header = TarHeader.encode(
            name: manifestName, type: TarHeader.TypeFlag.file, mode: 0o600, size: manifestSlot,
            mtime: Int(m.created.timeIntervalSince1970))
        return header + json
    }
}

/// What an archive says about itself.
public struct BackupManifest: Codable, Sendable, Equatable {
    public var format: String
    public var version: Int
    public var uid: String
    public var address: String
    /// Messages (files under new/ and cur/).
    public var messages: Int
    /// Every member but the manifest: messages, dovecot-keywords, subscriptions, maildirfolder.
    public var files: Int
    /// The members' content bytes.
    public var bytes: UInt64
    /// SHA-256 (hex) of the archive's bytes after the manifest.
    public var sha256: String
    public var created: Date
}

/// A path inside a Maildir that a backup holds, judged strictly: a message
/// `Maildir/[.Folder/]{new,cur}/NAME`, or one of the small files Dovecot
/// keeps beside them. Nothing else is ever read back from an archive.
public struct MaildirPath: Sendable, Hashable {
    /// "" for the inbox, else the Maildir++ folder directory (".Sent").
    public var folder: String
    /// "new" or "cur" for a message, nil for a folder's own file.
    public var sub: String?
    public var name: String

    public static let rootFiles: Set<String> = ["subscriptions", "dovecot-keywords"]
    public static let folderFiles: Set<String> = ["dovecot-keywords", "maildirfolder"]

    public init(folder: String, sub: String?, name: String) {
        self.folder = folder; self.sub = sub; self.name = name
    }

    public var isMessage: Bool { sub != nil }
    /// A message's unique part: its name before the `:2,FLAGS` info.
    public var base: String { Self.base(name) }
    public static func base(_ name: String) -> String {
        name.firstIndex(of: ":").map { String(name[..<$0]) } ?? name
    }

    public var archiveName: String {
        "Maildir/" + (folder.isEmpty ? "" : folder + "/") + (sub.map { $0 + "/" } ?? "") + name
    }

    /// Printable ASCII without '/', 1-255 bytes: the names a Maildir holds
    /// (Dovecot's folder names are modified UTF-7, so ASCII too).
    static func plain(_ s: String) -> Bool {
        let u = s.utf8
        return !u.isEmpty && u.count <= 255 && u.allSatisfy { $0 >= 0x20 && $0 < 0x7F && $0 != 0x2F }
    }
    public static func validMessageName(_ s: String) -> Bool { plain(s) && !s.hasPrefix(".") }
    public static func validFolder(_ s: String) -> Bool { plain(s) && s.hasPrefix(".") && s != "." && s != ".." }

    /// The path an archive member names, or nil when it is anything else
    /// (absolute, `..`, `tmp/`, an odd byte, a name not of a Maildir).
    public static func parse(_ bytes: [UInt8]) -> MaildirPath? {
        guard bytes.allSatisfy({ $0 >= 0x20 && $0 < 0x7F }) else { return nil }
        let parts = String(decoding: bytes, as: UTF8.self).split(separator: "/", omittingEmptySubsequences: false)
            .map(String.init)
        guard parts.first == "Maildir" else { return nil }
        var rest = Array(parts.dropFirst())
        var folder = ""
        if rest.count >= 2, rest[0].hasPrefix(".") {
            guard validFolder(rest[0]) else { return nil }
            folder = rest.removeFirst()
        }
        switch rest.count {
        case 1:
            let allowed = folder.isEmpty ? rootFiles : folderFiles
            return allowed.contains(rest[0]) ? MaildirPath(folder: folder, sub: nil, name: rest[0]) : nil
        case 2:
            guard rest[0] == "new" || rest[0] == "cur", validMessageName(rest[1]) else { return nil }
            return MaildirPath(folder: folder, sub: rest[0], name: rest[1])
        default:
            return nil
        }
    }
}

/// Descriptor helpers shared by backup and restore: never through a link.
enum FD {
    static func dir(_ parent: Int32, _ name: String) -> Int32 {
        openat(parent, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)
    }

    /// The names in directory FD (read through a descriptor of its own), without "." and "..".
    static func list(_ fd: Int32) -> [String] {
        let own = openat(fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        guard own >= 0, let d = fdopendir(own) else {
            if own >= 0 { close(own) }
            return []
        }
        defer { closedir(d) }
        var out: [String] = []
        while let e = readdir(d) {
            let name = withUnsafePointer(to: e.pointee.d_name) {
                $0.withMemoryRebound(to: CChar.self, capacity: 256) { String(cString: $0) }
            }
            if name != "." && name != ".." { out.append(name) }
        }
        return out
    }

    static func writeAll(_ fd: Int32, _ p: UnsafeRawBufferPointer) throws {
        var off = 0
        while off < p.count {
            let n = Glibc.write(fd, p.baseAddress! + off, p.count - off)
            if n < 0 {
                if errno == EINTR { continue }
                throw FileError(SystemState.errnoText())
            }
            off += n
        }
    }
}

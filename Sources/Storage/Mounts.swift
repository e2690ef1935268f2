import CShims
import Core
import Foundation
#if canImport(Glibc)
    import Glibc
#endif

/// One line of /proc/self/mountinfo.
public struct MountEntry: Sendable, Equatable {
    public var mountPoint: String
    public var source: String
    public var fsType: String
    public var device: String  // major:minor
}

/// The kernel's view of mounts, loop devices and filesystems, read in one
/// pass each (no command per volume).
extension SystemState {
    /// A /proc or /sys file, read to its end. (Foundation's
    /// String(contentsOfFile:) stops at 4 KiB on procfs, which loses mounts
    /// on a host with many of them.)
    public static func readKernelFile(_ path: String) -> String? {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        var data = [UInt8]()
        var buf = [UInt8](repeating: 0, count: 8192)
        while true {
            let n = read(fd, &buf, buf.count)
            if n < 0 { if errno == EINTR { continue }; return nil }
            if n == 0 { break }
            data += buf[0..<n]
        }
        return String(decoding: data, as: UTF8.self)
    }

    public static func mounts() -> [MountEntry] {
        guard let text = readKernelFile("/proc/self/mountinfo") else { return [] }
        // Byte-level: a busy host has thousands of lines (every container adds some).
        var out: [MountEntry] = []
        for line in text.utf8.split(separator: 0x0A) {
            let f = line.split(separator: 0x20, omittingEmptySubsequences: false)
            guard f.count > 4, let dash = f.firstIndex(where: { $0.count == 1 && $0.first == 0x2D }), dash + 2 < f.count
            else { continue }
            func str(_ b: Substring.UTF8View.SubSequence) -> String { unescape(String(decoding: b, as: UTF8.self)) }
            out.append(
                MountEntry(
                    mountPoint: str(f[4]), source: str(f[dash + 2]),
                    fsType: String(decoding: f[dash + 1], as: UTF8.self),
                    device: String(decoding: f[2], as: UTF8.self)))
        }
        return out
    }

    /// `\040`-style octal escapes of mountinfo and fstab.
    static func unescape(_ s: String) -> String {
        guard s.utf8.contains(0x5C) else { return s }
        var out = [UInt8](), b = Array(s.utf8), i = 0
        while i < b.count {
            if b[i] == 0x5C, i + 4 <= b.count,
                let v = UInt8(String(decoding: b[(i + 1)..<(i + 4)], as: UTF8.self), radix: 8)
            {
                out.append(v); i += 4
            } else {
                out.append(b[i]); i += 1
            }
        }
        return String(decoding: out, as: UTF8.self)
    }

    static func escape(_ s: String) -> String {
        var out = ""
        for c in s.unicodeScalars {
            switch c {
            case " ", "\t", "\n", "\\": out += "\\" + String(format: "%03o", c.value)
            default: out.unicodeScalars.append(c)
            }
        }
        return out
    }

    /// Loop devices and their backing files, from /sys/block.
    public static func loopBackings() -> [String: String] {
        var map: [String: String] = [:]  // backing file -> /dev/loopN
        let names = (try? FileManager.default.contentsOfDirectory(atPath: "/sys/block")) ?? []
        for n in names where n.hasPrefix("loop") {
            if let f = readKernelFile("/sys/block/\(n)/loop/backing_file") {
                map[f.trimmingCharacters(in: .newlines)] = "/dev/\(n)"
            }
        }
        return map
    }

    /// Filesystem usage of a mounted path (statvfs: a system call).
    public static func usage(_ path: String) -> (size: UInt64, used: UInt64, free: UInt64)? {
        var s = statvfs()
        guard statvfs(path, &s) == 0 else { return nil }
        let size = UInt64(s.f_blocks) * UInt64(s.f_frsize)
        let free = UInt64(s.f_bavail) * UInt64(s.f_frsize)
        return (size, size - UInt64(s.f_bfree) * UInt64(s.f_frsize), free)
    }

    /// mkdir -p with MODE for each directory it makes (the umask is 077);
    /// existing ones are left as they are.
    public static func makeDirectories(_ path: String, mode: mode_t) throws {
        var prefix = path.hasPrefix("/") ? "" : "."
        for part in path.split(separator: "/") {
            prefix += "/\(part)"
            if mkdir(prefix, mode) == 0 {
                chmod(prefix, mode)
            } else if errno != EEXIST {
                throw SemailError("cannot create \(prefix)", why: errnoText(), status: .cantCreate)
            }
        }
    }

    /// Makes an empty, unmounted mount point unusable on its own: mode 000
    /// and immutable (FS_IMMUTABLE_FL, as `chattr +i`), so that while the
    /// volume is not mounted nothing, root included, can create a Maildir in
    /// it: the container engine's bind of `<mount point>/Maildir` fails
    /// instead of running the container on an empty directory of the root
    /// filesystem. Mounting over an immutable directory works; the mounted
    /// volume's root hides it. Returns false when the filesystem has no
    /// immutable attribute (mode 000 is all there is then).
    @discardableResult
    public static func sealMountPoint(_ mp: String) throws -> Bool {
        if semail_is_immutable(mp) == 1 { return true }
        // Through a descriptor opened without following a link: a link in the
        // place of the mount point is refused, never its target chmod-ed.
        let fd = open(mp, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)
        guard fd >= 0 else {
            throw SemailError(
                "cannot seal the mount point \(mp)", why: "open: \(errnoText()) (a link or not a directory?)",
                hint: "an admin must look at \(mp)", status: .ioError)
        }
        defer { close(fd) }
        guard fchmod(fd, 0) == 0 else {
            throw SemailError("cannot seal the mount point \(mp)", why: "chmod: \(errnoText())", status: .ioError)
        }
        let rc = semail_set_immutable(mp, 1)
        if rc == -ENOTTY || rc == -EOPNOTSUPP || rc == -EINVAL { return false }
        guard rc == 0 else {
            throw SemailError(
                "cannot make the mount point \(mp) immutable", why: errnoText(-rc),
                hint: "semailctl needs CAP_LINUX_IMMUTABLE (run it as root)", status: .ioError)
        }
        return true
    }

    /// Lifts `sealMountPoint` (before the directory is removed).
    public static func unsealMountPoint(_ mp: String) { _ = semail_set_immutable(mp, 0) }

    /// Whether a directory carries the immutable attribute.
    public static func isSealed(_ mp: String) -> Bool { semail_is_immutable(mp) == 1 }

    /// Runs `body` with a view of DIR's own filesystem, without what is
    /// mounted below it (the mount points under mounted volumes): a
    /// non-recursive bind of DIR on `scratch` (made, made private, and
    /// removed again here).
    public static func underneath<T>(_ dir: String, scratch: String, _ body: (String) throws -> T) throws -> T {
        guard mkdir(scratch, 0o700) == 0 || errno == EEXIST else {
            throw SemailError("cannot create \(scratch)", why: errnoText(), status: .cantCreate)
        }
        guard mount(dir, scratch, nil, UInt(MS_BIND), nil) == 0 else {
            let e = errno
            rmdir(scratch)
            throw SemailError(
                "cannot look under the volumes of \(dir)", why: "bind mount on \(scratch): \(errnoText(e))",
                status: .ioError)
        }
        _ = mount(nil, scratch, nil, UInt(MS_PRIVATE), nil)
        defer { _ = umount2(scratch, Int32(MNT_DETACH)); rmdir(scratch) }
        return try body(scratch)
    }
}

/// Mount options as in fstab: flags become mount(2) flags, the rest data.
public struct MountOptions: Sendable {
    public var flags: UInt
    public var data: String
    public var text: String

    public init(_ text: String) throws {
        self.text = text
        var flags: UInt = 0
        var data: [String] = []
        for o in text.split(separator: ",").map(String.init) where !o.isEmpty {
            switch o {
            case "nodev": flags |= UInt(MS_NODEV)
            case "nosuid": flags |= UInt(MS_NOSUID)
            case "noexec": flags |= UInt(MS_NOEXEC)
            case "noatime": flags |= UInt(MS_NOATIME)
            case "nodiratime": flags |= UInt(MS_NODIRATIME)
            case "relatime": flags |= UInt(MS_RELATIME)
            case "sync": flags |= UInt(MS_SYNCHRONOUS)
            case "defaults", "rw": break
            default:
                guard o.allSatisfy({ $0.isLetter || $0.isNumber || "_=.-".contains($0) }) else {
                    throw SemailError(
                        "invalid mount option \(Validate.quoted(o))",
                        why: "[storage] mount_options is a comma-separated list such as nodev,nosuid,noexec",
                        status: .config)
                }
                data.append(o)
            }
        }
        self.flags = flags
        self.data = data.joined(separator: ",")
    }
}

/// The block of /etc/fstab one configuration manages, rewritten
/// atomically: `# semailctl:begin <mail_root>` … `# semailctl:end
/// <mail_root>`, so configurations with different mail roots sharing one
/// fstab keep their own blocks. The entries of this mail root found in an
/// old unlabelled block (`legacyBegin` … `legacyEnd`) are read as ours and
/// moved into our block by the next write; the other entries stay there.
public struct FstabBlock: Sendable {
    public static let legacyBegin = "# semailctl:begin mail volumes (managed by semailctl; do not edit by hand)"
    public static let legacyEnd = "# semailctl:end"
    /// Every entry orders the container engine after its mount (systemd.mount(5)):
    /// the engine does not start its containers before the mail volumes are there.
    public static let engineOrder = "x-systemd.before=docker.service"
    public let path: String
    public let mailRoot: String
    public init(path: String, mailRoot: String) {
        self.path = path
        self.mailRoot = mailRoot.count > 1 && mailRoot.hasSuffix("/") ? String(mailRoot.dropLast()) : mailRoot
    }
    public var begin: String { "# semailctl:begin \(SystemState.escape(mailRoot))" }
    public var end: String { "# semailctl:end \(SystemState.escape(mailRoot))" }

    public struct Line: Sendable, Equatable {
        public var source: String, mountPoint: String, fsType: String, options: String
        var text: String { "\(SystemState.escape(source)) \(SystemState.escape(mountPoint)) \(fsType) \(options) 0 2" }
    }

    static func parse(_ l: String) -> Line? {
        let f = l.split(whereSeparator: { $0 == " " || $0 == "\t" }).map(String.init)
        guard f.count >= 4, !l.hasPrefix("#") else { return nil }
        return Line(
            source: SystemState.unescape(f[0]), mountPoint: SystemState.unescape(f[1]), fsType: f[2], options: f[3])
    }

    func mine(_ l: String) -> Bool { Self.parse(l).map { $0.mountPoint.hasPrefix(mailRoot + "/") } ?? false }

    /// The managed lines (ours, and ours still in an old unlabelled block).
    public func read() throws -> [Line] {
        let p = try parts()
        return (p.block(p.ours) + p.block(p.legacy).filter(mine)).compactMap(Self.parse)
    }

    struct Parts {
        var lines: [String]
        /// Index of the begin and end lines of our block and of the old one.
        var ours: (Int, Int)?
        var legacy: (Int, Int)?
        func block(_ r: (Int, Int)?) -> [String] { r.map { Array(lines[($0.0 + 1)..<$0.1]) } ?? [] }
    }

    func parts() throws -> Parts {
        let text = FileManager.default.fileExists(atPath: path) ? try String(contentsOfFile: path, encoding: .utf8) : ""
        var lines = text.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        if lines.last == "" { lines.removeLast() }
        func find(_ b: String, _ e: String) throws -> (Int, Int)? {
            guard let i = lines.firstIndex(of: b) else { return nil }
            guard let j = lines[i...].firstIndex(of: e) else {
                throw SemailError(
                    "\(path) has a damaged semailctl block", why: "`\(b)` without `\(e)`",
                    hint: "add the end line by hand after the semailctl entries", status: .dataError)
            }
            return (i, j)
        }
        return Parts(lines: lines, ours: try find(begin, end), legacy: try find(Self.legacyBegin, Self.legacyEnd))
    }

    /// Sets (or with nil removes) the entry for `mountPoint`. No change, no write.
    public func set(mountPoint: String, to line: Line?) throws {
        let p = try parts()
        let block = p.block(p.ours), old = p.block(p.legacy)
        var kept = (block + old.filter(mine)).filter { l in
            let f = l.split(whereSeparator: { $0 == " " || $0 == "\t" })
            return f.count < 2 || SystemState.unescape(String(f[1])) != mountPoint
        }
        if let line { kept.append(line.text) }
        kept.sort { a, b in
            a.split(separator: " ").dropFirst().first ?? "" < b.split(separator: " ").dropFirst().first ?? ""
        }
        let oldKept = old.filter { !mine($0) }
        guard kept != block || oldKept != old else { return }
        // Rebuild: the old block keeps the other entries (gone when none),
        // ours stays where it was (else where the old one was, else last).
        var out: [String] = []
        let oursText = kept.isEmpty ? [] : [begin] + kept + [end]
        var placed = false
        var i = 0
        while i < p.lines.count {
            if let o = p.ours, i == o.0 {
                out += oursText; placed = true; i = o.1 + 1; continue
            }
            if let l = p.legacy, i == l.0 {
                if !oldKept.isEmpty { out += [Self.legacyBegin] + oldKept + [Self.legacyEnd] }
                if p.ours == nil { out += oursText; placed = true }
                i = l.1 + 1; continue
            }
            out.append(p.lines[i]); i += 1
        }
        if !placed { out += oursText }
        let text = out.isEmpty ? "" : out.joined(separator: "\n") + "\n"
        do { try AtomicFile.write(path, Array(text.utf8)) } catch let e as FileError {
            throw SemailError("cannot update \(path)", why: e.description, status: .ioError)
        }
    }
}

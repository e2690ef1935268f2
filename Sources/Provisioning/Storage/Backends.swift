import CShims
import Zone
import Foundation
#if canImport(Glibc)
import Glibc
import Synchronization
#endif

/// A volume as its backend sees it.
public struct BackendVolume: Sendable, Codable, Equatable {
    public var uid: String
    /// Image file or LV path.
    public var source: String
    public var size: UInt64
    /// Block device when attached / active.
    public var device: String?
}

/// A block device ready for use; `release()` drops what the backend held
/// open while the device was being prepared (an autoclear loop descriptor).
public final class AttachedVolume: Sendable {
    public let device: String
    public let created: Bool
    private let fd: Mutex<Int32>
    init(device: String, created: Bool, fd: Int32 = -1) {
        self.device = device; self.created = created; self.fd = Mutex(fd)
    }
    public func release() { fd.withLock { if $0 >= 0 { close($0); $0 = -1 } } }
    deinit { release() }
}

/// Where mailbox volumes come from. Every operation is idempotent: `ensure`
/// creates what is missing and reuses what exists (never wipes), `remove`
/// of a missing volume is not an error, `observeAll` sees every volume in
/// one pass.
public protocol VolumeBackend: Sendable {
    var kind: String { get }
    func observeAll() throws -> [BackendVolume]
    /// Creates the volume if missing and makes its block device available.
    /// What it created is pushed on `undo`.
    func ensure(uid: String, size: UInt64, undo: UndoStack) throws -> AttachedVolume
    func remove(uid: String) throws
    /// Grows the volume's block device to `size`.
    func grow(uid: String, to size: UInt64) throws
    /// The fstab source and extra options that mount it at boot.
    func fstab(uid: String) -> (source: String, options: String)
    /// Detaches UID's (unmounted) volume and sets it aside under the name
    /// `id`, out of `observeAll`'s sight; returns where it now is.
    func quarantine(uid: String, id: String, dir: String) throws -> String
    /// Where `quarantine` puts the volume quarantined as `id` in `dir`: an
    /// entry that names any other place is not believed.
    func quarantinePlace(id: String, dir: String) -> String
    /// Puts a quarantined volume back as UID's.
    func restore(from place: String, uid: String) throws
    /// Destroys a quarantined volume.
    func purge(_ place: String) throws
}

/// Sparse image files on loop devices (the embedded default).
public struct ImageBackend: VolumeBackend {
    public let dir: String
    /// How much the images' sizes may add up to, in percent of the
    /// filesystem holding them (sparse files would otherwise promise more
    /// than the disk has).
    public let overcommitPercent: Int
    public var kind: String { "image" }
    public init(dir: String, overcommitPercent: Int = 100) { self.dir = dir; self.overcommitPercent = overcommitPercent }

    func path(_ uid: String) -> String { "\(dir)/\(uid).img" }

    public func observeAll() throws -> [BackendVolume] {
        let loops = SystemState.loopBackings()
        let names = (try? FileManager.default.contentsOfDirectory(atPath: dir)) ?? []
        return names.filter { $0.hasSuffix(".img") }.sorted().compactMap { name in
            let uid = String(name.dropLast(4))
            guard (try? Validate.uid(uid)) != nil else { return nil }
            var st = stat()
            guard stat("\(dir)/\(name)", &st) == 0 else { return nil }
            return BackendVolume(uid: uid, source: "\(dir)/\(name)", size: UInt64(st.st_size), device: loops["\(dir)/\(name)"])
        }
    }

    public func ensure(uid: String, size: UInt64, undo: UndoStack) throws -> AttachedVolume {
        let file = path(uid)
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        var created = false
        if !FileManager.default.fileExists(atPath: file) {
            try checkSpace(size)
            let fd = open(file, O_CREAT | O_EXCL | O_RDWR | O_CLOEXEC, 0o600)
            guard fd >= 0 else { throw SemailError("cannot create \(file)", why: SystemState.errnoText(), status: .cantCreate) }
            undo.push("remove image \(file)") { unlink(file) }
            defer { close(fd) }
            guard ftruncate(fd, off_t(size)) == 0, fsync(fd) == 0 else {
                throw SemailError("cannot size \(file) to \(ByteSize.format(size))", why: SystemState.errnoText(), status: .ioError)
            }
            created = true
        }
        // Reuse an attached device only if, once we hold it open, it still
        // backs this file (an autoclear detach may be under way, and the
        // device then handed to someone else).
        if let dev = SystemState.loopBackings()[file] {
            let fd = open(dev, O_RDONLY | O_CLOEXEC)
            if fd >= 0, SystemState.loopBackings()[file] == dev { return AttachedVolume(device: dev, created: created, fd: fd) }
            if fd >= 0 { close(fd) }
            try waitDetached(file)
        }
        var buf = [CChar](repeating: 0, count: 64)
        let fd = semail_loop_attach(file, &buf, 64)
        guard fd >= 0 else {
            throw SemailError("cannot attach \(file) to a loop device", why: SystemState.errnoText(-fd),
                              hint: "check that the loop module is loaded (modprobe loop) and /dev/loop-control exists", status: .cantCreate)
        }
        let device = String(decoding: buf.prefix { $0 != 0 }.map(UInt8.init(bitPattern:)), as: UTF8.self)
        let v = AttachedVolume(device: device, created: created, fd: fd)
        undo.push("release loop device \(v.device)") { v.release() }
        return v
    }

    /// Waits until no loop device backs `file` (an autoclear detach after
    /// unmount completes asynchronously).
    func waitDetached(_ file: String, timeout: Double = 10) throws {
        let deadline = Date().addingTimeInterval(timeout)
        while SystemState.loopBackings()[file] != nil {
            guard Date() < deadline else {
                throw SemailError("\(file) is still attached to a loop device", why: "it did not detach within \(Int(timeout)) s after unmounting",
                                  hint: "check `losetup -j \(file)`", status: .ioError)
            }
            usleep(20_000)
        }
    }

    /// Admission: refuses `more` bytes when they exceed the free space of
    /// the filesystem holding image_dir, or when every image's size plus
    /// them would exceed [storage] overcommit_percent of that filesystem.
    func checkSpace(_ more: UInt64) throws {
        guard let u = SystemState.usage(dir) else { return }
        guard more <= u.free else {
            throw SemailError("not enough space for \(ByteSize.format(more)) more", why: "\(dir) has \(ByteSize.format(u.free)) free",
                              hint: "free space there, or pass a smaller --size", status: .cantCreate)
        }
        let promised = (try? observeAll().reduce(UInt64(0)) { $0 + $1.size }) ?? 0
        let limit = u.size / 100 * UInt64(max(0, overcommitPercent))
        guard promised + more <= limit else {
            throw SemailError("not enough capacity for \(ByteSize.format(more)) more",
                              why: "the volumes in \(dir) already add up to \(ByteSize.format(promised)) of the \(ByteSize.format(limit)) allowed "
                                  + "(\(overcommitPercent)% of its \(ByteSize.format(u.size)) filesystem)",
                              hint: "free or add space, delete unused volumes, or raise [storage] overcommit_percent knowingly", status: .cantCreate)
        }
    }

    public func remove(uid: String) throws {
        let file = path(uid)
        if let dev = SystemState.loopBackings()[file] { _ = semail_loop_detach(dev) }
        guard unlink(file) == 0 || errno == ENOENT else {
            throw SemailError("cannot remove \(file)", why: SystemState.errnoText(), status: .ioError)
        }
    }

    public func grow(uid: String, to size: UInt64) throws {
        let file = path(uid)
        var st = stat()
        guard stat(file, &st) == 0 else { throw SemailError("no volume for \(uid)", why: "\(file) does not exist", status: .failure) }
        try checkSpace(size - UInt64(st.st_size))
        guard truncate(file, off_t(size)) == 0 else { throw SemailError("cannot grow \(file)", why: SystemState.errnoText(), status: .ioError) }
        if let dev = SystemState.loopBackings()[file] {
            let rc = semail_loop_set_capacity(dev)
            guard rc == 0 else { throw SemailError("cannot refresh the size of \(dev)", why: SystemState.errnoText(-rc), status: .ioError) }
        }
    }

    public func fstab(uid: String) -> (source: String, options: String) { (path(uid), "loop") }

    public func quarantine(uid: String, id: String, dir qdir: String) throws -> String {
        let file = path(uid)
        try waitDetached(file)
        let dest = quarantinePlace(id: id, dir: qdir)
        guard rename(file, dest) == 0 else {
            let e = errno
            throw SemailError("cannot move \(file) to the quarantine", why: SystemState.errnoText(e),
                              hint: e == EXDEV ? "[state] dir and [storage] image_dir must be on the same filesystem" : nil, status: .ioError)
        }
        AtomicFile.syncDirectory(dir); AtomicFile.syncDirectory(qdir)
        return dest
    }

    public func quarantinePlace(id: String, dir: String) -> String { "\(dir)/volume.img" }

    public func restore(from place: String, uid: String) throws {
        let file = path(uid)
        guard !FileManager.default.fileExists(atPath: file) else {
            throw SemailError("\(uid) already has a volume", why: "\(file) exists", hint: "delete or rename it first", status: .failure)
        }
        guard rename(place, file) == 0 else { throw SemailError("cannot restore \(place)", why: SystemState.errnoText(), status: .ioError) }
        AtomicFile.syncDirectory(dir)
    }

    public func purge(_ place: String) throws {
        guard unlink(place) == 0 || errno == ENOENT else { throw SemailError("cannot remove \(place)", why: SystemState.errnoText(), status: .ioError) }
    }
}

/// LVM logical volumes `Vol<uid>` in one volume group, through the lvm
/// tools with JSON reports.
public struct LVMBackend: VolumeBackend {
    public let vg: String
    public let runner: ProcessRunner
    public var kind: String { "lvm" }
    public init(vg: String, runner: ProcessRunner = ProcessRunner()) { self.vg = vg; self.runner = runner }

    static func lvName(_ uid: String) -> String { "Vol\(uid)" }
    func lvPath(_ uid: String) -> String { "/dev/\(vg)/\(Self.lvName(uid))" }

    /// LVM names allow [A-Za-z0-9+_.-]; a valid uid always fits.
    static func checkVG(_ vg: String) throws {
        guard !vg.isEmpty, vg.count <= 64, vg.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber || "+_.-".contains($0)) }), !vg.hasPrefix("-") else {
            throw SemailError("invalid volume group \(Validate.quoted(vg))", why: "LVM names are letters, digits and + _ . -", status: .config)
        }
    }

    struct Report: Decodable {
        struct Item: Decodable { var lv: [LV]?; var vg: [VG]? }
        struct LV: Decodable { var lv_name: String; var lv_size: String; var lv_path: String?; var lv_active: String? }
        struct VG: Decodable { var vg_name: String; var vg_free: String }
        var report: [Item]
    }

    func lvm(_ args: [String]) throws -> ProcessOutput {
        do { return try runner.run(["lvm"] + args) } catch let e as ProcessError {
            // Without device-mapper no LVM command can work: `vgs` would not help.
            if !KernelSupport.hasDeviceMapper {
                var d = KernelSupport.noDeviceMapper
                d.what = "LVM command failed: the kernel has no device-mapper"
                d.why = "\(e.description)\n  (/proc/misc lists no device-mapper and /dev/mapper/control is missing)"
                throw d
            }
            throw SemailError("LVM command failed", why: e.description, hint: "check the volume group with `vgs \(vg)`", status: .failure)
        }
    }

    public func observeAll() throws -> [BackendVolume] {
        try Self.checkVG(vg)
        let out = try lvm(["lvs", "--reportformat", "json", "--units", "b", "--nosuffix", "-o", "lv_name,lv_size,lv_path,lv_active", vg])
        let r = try JSONDecoder().decode(Report.self, from: out.stdout)
        return (r.report.first?.lv ?? []).compactMap { lv in
            guard lv.lv_name.hasPrefix("Vol"), let uid = try? Validate.uid(String(lv.lv_name.dropFirst(3))) else { return nil }
            return BackendVolume(uid: uid, source: lvPath(uid), size: UInt64(lv.lv_size) ?? 0,
                                 device: lv.lv_active == "active" ? (lv.lv_path ?? lvPath(uid)) : nil)
        }
    }

    /// Whether the volume group exists (for `config check`).
    public func checkVolumeGroup() throws {
        try Self.checkVG(vg)
        let out = try lvm(["vgs", "--reportformat", "json", "-o", "vg_name"])
        let r = try JSONDecoder().decode(Report.self, from: out.stdout)
        guard (r.report.first?.vg ?? []).contains(where: { $0.vg_name == vg }) else {
            throw SemailError("volume group \(vg) does not exist", why: "`lvm vgs` does not list it",
                              hint: "create it (vgcreate \(vg) DEVICE) or fix [storage] volume_group", status: .config)
        }
    }

    func vgFree() throws -> UInt64 {
        let out = try lvm(["vgs", "--reportformat", "json", "--units", "b", "--nosuffix", "-o", "vg_name,vg_free", vg])
        let r = try JSONDecoder().decode(Report.self, from: out.stdout)
        return UInt64(r.report.first?.vg?.first?.vg_free ?? "0") ?? 0
    }

    public func ensure(uid: String, size: UInt64, undo: UndoStack) throws -> AttachedVolume {
        try Self.checkVG(vg)
        if let v = try observeAll().first(where: { $0.uid == uid }) {
            if v.device == nil { _ = try lvm(["lvchange", "-ay", "\(vg)/\(Self.lvName(uid))"]) }
            return AttachedVolume(device: lvPath(uid), created: false)
        }
        let free = try vgFree()
        guard size <= free else {
            throw SemailError("not enough space for a \(ByteSize.format(size)) volume", why: "volume group \(vg) has \(ByteSize.format(free)) free",
                              hint: "extend the VG or pass a smaller --size", status: .cantCreate)
        }
        _ = try lvm(["lvcreate", "--yes", "--wipesignatures", "y", "-n", Self.lvName(uid), "-L", "\(size)b", vg])
        undo.push("remove logical volume \(vg)/\(Self.lvName(uid))") { [self] in try self.remove(uid: uid) }
        return AttachedVolume(device: lvPath(uid), created: true)
    }

    public func remove(uid: String) throws {
        guard try observeAll().contains(where: { $0.uid == uid }) else { return }
        _ = try lvm(["lvremove", "--yes", "\(vg)/\(Self.lvName(uid))"])
    }

    public func grow(uid: String, to size: UInt64) throws {
        _ = try lvm(["lvextend", "-L", "\(size)b", "\(vg)/\(Self.lvName(uid))"])
    }

    public func fstab(uid: String) -> (source: String, options: String) { (lvPath(uid), "") }

    /// Quarantined LVs are renamed `Q<id>` and deactivated.
    public func quarantine(uid: String, id: String, dir: String) throws -> String {
        let place = quarantinePlace(id: id, dir: dir)
        _ = try lvm(["lvchange", "-an", "\(vg)/\(Self.lvName(uid))"])
        _ = try lvm(["lvrename", vg, Self.lvName(uid), String(place.dropFirst(vg.count + 1))])
        return place
    }

    public func quarantinePlace(id: String, dir: String) -> String { "\(vg)/Q\(id.filter { $0.isLetter || $0.isNumber })" }

    public func restore(from place: String, uid: String) throws {
        guard !(try observeAll().contains { $0.uid == uid }) else {
            throw SemailError("\(uid) already has a volume", why: "\(lvPath(uid)) exists", hint: "delete it first", status: .failure)
        }
        let lv = String(place.split(separator: "/").last ?? "")
        _ = try lvm(["lvrename", vg, lv, Self.lvName(uid)])
    }

    public func purge(_ place: String) throws { _ = try lvm(["lvremove", "--yes", place]) }
}

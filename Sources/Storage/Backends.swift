import CShims
import Core
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
    /// Block device when attached / active (what the mount table names
    /// as the source of its mount).
    public var device: String?
    public init(uid: String, source: String, size: UInt64, device: String?) {
        self.uid = uid; self.source = source; self.size = size; self.device = device
    }
}

/// A volume made ready to mount by `VolumeBackend.prepare`; `release()`
/// drops what the backend held open while it was being prepared (an
/// autoclear loop descriptor).
public final class PreparedVolume: Sendable {
    public let device: String
    /// Whether `prepare` created the volume, and put a filesystem on it.
    public let created: Bool
    private let formattedFlag = Mutex(false)
    /// Whether a filesystem was put on it.
    public var formatted: Bool {
        get { formattedFlag.withLock { $0 } }
        set { formattedFlag.withLock { $0 = newValue } }
    }
    /// Its size as the backend has it (an existing volume's own).
    public let size: UInt64
    private let fd: Mutex<Int32>
    /// `fd`: a descriptor held open until `release()`.
    public init(device: String, created: Bool, size: UInt64, fd: Int32 = -1) {
        self.device = device; self.created = created; self.size = size; self.fd = Mutex(fd)
    }
    public func release() { fd.withLock { if $0 >= 0 { close($0); $0 = -1 } } }
    deinit { release() }
}

/// Where a volume's fstab line mounts it from: the source, the filesystem
/// type and the backend's own options (before the admin's).
public struct FstabSource: Sendable, Equatable {
    public var source: String
    public var fsType: String
    public var options: String
    public init(source: String, fsType: String, options: String) {
        self.source = source; self.fsType = fsType; self.options = options
    }
}

/// Where mailbox volumes come from, with their filesystem: a backend makes
/// a volume and its filesystem (never over one that is there), mounts and
/// unmounts it, names its fstab entry, grows it with its filesystem,
/// removes it, sets it aside, and sees all of them at once. Every operation
/// is idempotent: `prepare` creates what is missing and reuses what exists
/// (never wipes), `remove` of a missing volume is not an error.
/// `VolumeManager` keeps what does not depend on the backend (the lock, the
/// mount point and its seal, the Maildir, the fstab block).
public protocol VolumeBackend: Sendable {
    var kind: String { get }
    /// Every volume, in one pass.
    func observeAll() throws -> [BackendVolume]
    /// Whether UID has a volume, as cheaply as the backend can tell.
    func exists(uid: String) throws -> Bool
    /// Creates UID's volume if missing (what it created is pushed on
    /// `undo`) and puts its filesystem on it when it holds none; a volume
    /// holding another signature is refused unless `force`.
    func prepare(uid: String, size: UInt64, force: Bool, undo: UndoStack) throws -> PreparedVolume
    func mount(_ volume: PreparedVolume, at mountPoint: String, options: MountOptions) throws
    /// Unmounts what is mounted at MOUNTPOINT: 0, or the errno of the failure.
    func unmount(_ mountPoint: String) -> Int32
    /// The fstab entry that mounts UID's volume at boot.
    func fstab(uid: String) -> FstabSource
    /// Grows VOLUME to SIZE (when smaller) and its filesystem to fill it:
    /// `online` while mounted, or unmounted (checked first; the caller
    /// mounts it again).
    func grow(_ volume: BackendVolume, to size: UInt64, online: Bool) throws
    func remove(uid: String) throws
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

/// A backend whose volumes are block devices carrying ext4 (image files on
/// loop devices, LVM logical volumes): it makes the device available, and
/// `Ext4OnBlockDevice` does the rest.
public protocol BlockDeviceBackend: VolumeBackend {
    var filesystem: Ext4OnBlockDevice { get }
    /// Creates UID's volume if missing and makes its block device available.
    func attach(uid: String, size: UInt64, undo: UndoStack) throws -> PreparedVolume
}

extension BlockDeviceBackend {
    public func prepare(uid: String, size: UInt64, force: Bool, undo: UndoStack) throws -> PreparedVolume {
        let vol = try attach(uid: uid, size: size, undo: undo)
        do {
            try Fault.check("storage.volume")
            vol.formatted = try filesystem.format(vol.device, uid: uid, force: force)
        } catch { vol.release(); throw error }
        return vol
    }

    public func mount(_ volume: PreparedVolume, at mountPoint: String, options: MountOptions) throws {
        try filesystem.mount(volume.device, at: mountPoint, options: options)
    }

    public func unmount(_ mountPoint: String) -> Int32 { Ext4OnBlockDevice.unmount(mountPoint) }

    /// The filesystem part of `grow`.
    func growFilesystem(_ volume: BackendVolume, to size: UInt64, online: Bool) throws {
        if online {
            guard let dev = volume.device else {
                throw SemailError(
                    "\(volume.uid)'s volume is not mounted", why: "resizing works on a mounted volume",
                    status: .failure)
            }
            return try filesystem.growOnline(dev)
        }
        let vol = try attach(uid: volume.uid, size: size, undo: UndoStack())
        defer { vol.release() }
        try filesystem.growOffline(vol.device)
    }
}

/// Sparse image files on loop devices (the embedded default).
public struct ImageBackend: BlockDeviceBackend {
    public let dir: String
    /// How much the images' sizes may add up to, in percent of the
    /// filesystem holding them (sparse files would otherwise promise more
    /// than the disk has).
    public let overcommitPercent: Int
    public let filesystem: Ext4OnBlockDevice
    public var kind: String { "image" }
    public init(dir: String, overcommitPercent: Int = 100, runner: ProcessRunner = ProcessRunner()) {
        self.dir = dir; self.overcommitPercent = overcommitPercent; self.filesystem = Ext4OnBlockDevice(runner: runner)
    }

    func path(_ uid: String) -> String { "\(dir)/\(uid).img" }

    /// One stat.
    public func exists(uid: String) throws -> Bool { FileManager.default.fileExists(atPath: path(uid)) }

    public func observeAll() throws -> [BackendVolume] {
        let loops = SystemState.loopBackings()
        let names = (try? FileManager.default.contentsOfDirectory(atPath: dir)) ?? []
        return names.filter { $0.hasSuffix(".img") }.sorted().compactMap { name in
            let uid = String(name.dropLast(4))
            guard (try? Validate.uid(uid)) != nil else { return nil }
            var st = stat()
            guard stat("\(dir)/\(name)", &st) == 0 else { return nil }
            return BackendVolume(
                uid: uid, source: "\(dir)/\(name)", size: UInt64(st.st_size), device: loops["\(dir)/\(name)"])
        }
    }

    public func attach(uid: String, size: UInt64, undo: UndoStack) throws -> PreparedVolume {
        let file = path(uid)
        try FileManager.default.createDirectory(
            atPath: dir, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        var created = false
        if !FileManager.default.fileExists(atPath: file) {
            try checkSpace(size)
            let fd = open(file, O_CREAT | O_EXCL | O_RDWR | O_CLOEXEC, 0o600)
            guard fd >= 0 else {
                throw SemailError("cannot create \(file)", why: SystemState.errnoText(), status: .cantCreate)
            }
            undo.push("remove image \(file)") { unlink(file) }
            defer { close(fd) }
            guard ftruncate(fd, off_t(size)) == 0, fsync(fd) == 0 else {
                throw SemailError(
                    "cannot size \(file) to \(ByteSize.format(size))", why: SystemState.errnoText(), status: .ioError)
            }
            created = true
        }
        var st = stat()
        let actual = stat(file, &st) == 0 ? UInt64(st.st_size) : size
        // Reuse an attached device only if, once we hold it open, it still
        // backs this file (an autoclear detach may be under way, and the
        // device then handed to someone else).
        if let dev = SystemState.loopBackings()[file] {
            let fd = open(dev, O_RDONLY | O_CLOEXEC)
            if fd >= 0, SystemState.loopBackings()[file] == dev {
                return PreparedVolume(device: dev, created: created, size: actual, fd: fd)
            }
            if fd >= 0 { close(fd) }
            try waitDetached(file)
        }
        var buf = [CChar](repeating: 0, count: 64)
        let fd = semail_loop_attach(file, &buf, 64)
        guard fd >= 0 else {
            throw SemailError(
                "cannot attach \(file) to a loop device", why: SystemState.errnoText(-fd),
                hint: "check that the loop module is loaded (modprobe loop) and /dev/loop-control exists",
                status: .cantCreate)
        }
        let device = String(decoding: buf.prefix { $0 != 0 }.map(UInt8.init(bitPattern:)), as: UTF8.self)
        let v = PreparedVolume(device: device, created: created, size: actual, fd: fd)
        undo.push("release loop device \(v.device)") { v.release() }
        return v
    }

    /// Waits until no loop device backs `file` (an autoclear detach after
    /// unmount completes asynchronously).
    func waitDetached(_ file: String, timeout: Double = 10) throws {
        let deadline = Date().addingTimeInterval(timeout)
        while SystemState.loopBackings()[file] != nil {
            guard Date() < deadline else {
                throw SemailError(
                    "\(file) is still attached to a loop device",
                    why: "it did not detach within \(Int(timeout)) s after unmounting",
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
            throw SemailError(
                "not enough space for \(ByteSize.format(more)) more", why: "\(dir) has \(ByteSize.format(u.free)) free",
                hint: "free space there, or pass a smaller --size", status: .cantCreate)
        }
        let promised = (try? observeAll().reduce(UInt64(0)) { $0 + $1.size }) ?? 0
        let limit = u.size / 100 * UInt64(max(0, overcommitPercent))
        guard promised + more <= limit else {
            throw SemailError(
                "not enough capacity for \(ByteSize.format(more)) more",
                why:
                    """
                    the volumes in \(dir) already add up to \(ByteSize.format(promised)) of the \
                    \(ByteSize.format(limit)) allowed \
                    (\(overcommitPercent)% of its \(ByteSize.format(u.size)) filesystem)
                    """,
                hint: "free or add space, delete unused volumes, or raise [storage] overcommit_percent knowingly",
                status: .cantCreate)
        }
    }

    public func remove(uid: String) throws {
        let file = path(uid)
        if let dev = SystemState.loopBackings()[file] { _ = semail_loop_detach(dev) }
        guard unlink(file) == 0 || errno == ENOENT else {
            throw SemailError("cannot remove \(file)", why: SystemState.errnoText(), status: .ioError)
        }
    }

    /// Offline, the loop device the unmount released is let go first (its
    /// autoclear detach completes asynchronously).
    public func grow(_ volume: BackendVolume, to size: UInt64, online: Bool) throws {
        if !online { try waitDetached(path(volume.uid)) }
        if size > volume.size { try growImage(volume.uid, to: size) }
        try growFilesystem(volume, to: size, online: online)
    }

    func growImage(_ uid: String, to size: UInt64) throws {
        let file = path(uid)
        var st = stat()
        guard stat(file, &st) == 0 else {
            throw SemailError("no volume for \(uid)", why: "\(file) does not exist", status: .failure)
        }
        try checkSpace(size - UInt64(st.st_size))
        guard truncate(file, off_t(size)) == 0 else {
            throw SemailError("cannot grow \(file)", why: SystemState.errnoText(), status: .ioError)
        }
        if let dev = SystemState.loopBackings()[file] {
            let rc = semail_loop_set_capacity(dev)
            guard rc == 0 else {
                throw SemailError(
                    "cannot refresh the size of \(dev)", why: SystemState.errnoText(-rc), status: .ioError)
            }
        }
    }

    public func fstab(uid: String) -> FstabSource {
        FstabSource(source: path(uid), fsType: Ext4OnBlockDevice.fsType, options: "loop")
    }

    public func quarantine(uid: String, id: String, dir qdir: String) throws -> String {
        let file = path(uid)
        try waitDetached(file)
        let dest = quarantinePlace(id: id, dir: qdir)
        guard rename(file, dest) == 0 else {
            let e = errno
            throw SemailError(
                "cannot move \(file) to the quarantine", why: SystemState.errnoText(e),
                hint: e == EXDEV ? "[state] dir and [storage] image_dir must be on the same filesystem" : nil,
                status: .ioError)
        }
        AtomicFile.syncDirectory(dir); AtomicFile.syncDirectory(qdir)
        return dest
    }

    public func quarantinePlace(id: String, dir: String) -> String { "\(dir)/volume.img" }

    public func restore(from place: String, uid: String) throws {
        let file = path(uid)
        guard !FileManager.default.fileExists(atPath: file) else {
            throw SemailError(
                "\(uid) already has a volume", why: "\(file) exists", hint: "delete or rename it first",
                status: .failure)
        }
        guard rename(place, file) == 0 else {
            throw SemailError("cannot restore \(place)", why: SystemState.errnoText(), status: .ioError)
        }
        AtomicFile.syncDirectory(dir)
    }

    public func purge(_ place: String) throws {
        guard unlink(place) == 0 || errno == ENOENT else {
            throw SemailError("cannot remove \(place)", why: SystemState.errnoText(), status: .ioError)
        }
    }
}

/// LVM logical volumes `Vol<uid>` in one volume group, through liblvm2cmd
/// in this process (`LVMLibrary`), its reports read from the log callback.
/// Every word of a command is a validated name or a number: the volume
/// group passes `checkVG`, LV names are `Vol<uid>` of a validated uid (or
/// `Q<letters and digits>` for the quarantine), sizes are `<bytes>b`.
public struct LVMBackend: BlockDeviceBackend {
    public let vg: String
    public let filesystem: Ext4OnBlockDevice
    public var kind: String { "lvm" }
    public init(vg: String, runner: ProcessRunner = ProcessRunner()) {
        self.vg = vg; self.filesystem = Ext4OnBlockDevice(runner: runner)
    }

    static func lvName(_ uid: String) -> String { "Vol\(uid)" }
    func lvPath(_ uid: String) -> String { "/dev/\(vg)/\(Self.lvName(uid))" }

    /// LVM names allow [A-Za-z0-9+_.-]; a valid uid always fits.
    static func checkVG(_ vg: String) throws {
        let allowed = { (c: Character) in c.isASCII && (c.isLetter || c.isNumber || "+_.-".contains(c)) }
        guard !vg.isEmpty, vg.count <= 64, vg.allSatisfy(allowed), !vg.hasPrefix("-") else {
            throw SemailError(
                "invalid volume group \(Validate.quoted(vg))", why: "LVM names are letters, digits and + _ . -",
                status: .config)
        }
    }

    /// One lvm command; its report rows when it asked for one.
    @discardableResult
    func lvm(_ args: [String]) throws -> [[String: String]] {
        do { return LVMReport.rows(try LVMLibrary.shared.run(args).lines) } catch let e as LVMError {
            // Without device-mapper no LVM command can work: `vgs` would not help.
            if !KernelSupport.hasDeviceMapper {
                var d = KernelSupport.noDeviceMapper
                d.what = "LVM command failed: the kernel has no device-mapper"
                d.why = "\(e.description)\n  (/proc/misc lists no device-mapper and /dev/mapper/control is missing)"
                throw d
            }
            throw SemailError(
                "LVM command failed", why: e.description, hint: "check the volume group with `vgs \(vg)`",
                status: .failure)
        }
    }

    static let report = ["--noheadings", "--nameprefixes", "--units", "b", "--nosuffix"]

    public func observeAll() throws -> [BackendVolume] {
        try Self.checkVG(vg)
        return try lvm(["lvs"] + Self.report + ["-o", "lv_name,lv_size,lv_path,lv_active", vg]).compactMap { lv in
            guard let name = lv["LV_NAME"], name.hasPrefix("Vol"),
                let uid = try? Validate.uid(String(name.dropFirst(3)))
            else { return nil }
            let path = lv["LV_PATH"].flatMap { $0.isEmpty ? nil : $0 } ?? lvPath(uid)
            return BackendVolume(
                uid: uid, source: lvPath(uid), size: UInt64(lv["LV_SIZE"] ?? "") ?? 0,
                device: lv["LV_ACTIVE"] == "active" ? path : nil)
        }
    }

    public func exists(uid: String) throws -> Bool { try observeAll().contains { $0.uid == uid } }

    /// Whether the volume group exists (for `config check`).
    public func checkVolumeGroup() throws {
        try Self.checkVG(vg)
        let rows = try lvm(["vgs", "--noheadings", "--nameprefixes", "-o", "vg_name"])
        guard rows.contains(where: { $0["VG_NAME"] == vg }) else {
            throw SemailError(
                "volume group \(vg) does not exist", why: "`lvm vgs` does not list it",
                hint: "create it (vgcreate \(vg) DEVICE) or fix [storage] volume_group", status: .config)
        }
    }

    func vgFree() throws -> UInt64 {
        let rows = try lvm(["vgs"] + Self.report + ["-o", "vg_name,vg_free", vg])
        return UInt64(rows.first?["VG_FREE"] ?? "0") ?? 0
    }

    public func attach(uid: String, size: UInt64, undo: UndoStack) throws -> PreparedVolume {
        try Self.checkVG(vg)
        let uid = try Validate.uid(uid)
        if let v = try observeAll().first(where: { $0.uid == uid }) {
            if v.device == nil { try lvm(["lvchange", "-ay", "\(vg)/\(Self.lvName(uid))"]) }
            return PreparedVolume(device: lvPath(uid), created: false, size: v.size)
        }
        let free = try vgFree()
        guard size <= free else {
            throw SemailError(
                "not enough space for a \(ByteSize.format(size)) volume",
                why: "volume group \(vg) has \(ByteSize.format(free)) free",
                hint: "extend the VG or pass a smaller --size", status: .cantCreate)
        }
        try lvm(["lvcreate", "--yes", "--wipesignatures", "y", "-n", Self.lvName(uid), "-L", "\(size)b", vg])
        undo.push("remove logical volume \(vg)/\(Self.lvName(uid))") { [self] in try self.remove(uid: uid) }
        return PreparedVolume(device: lvPath(uid), created: true, size: size)
    }

    public func remove(uid: String) throws {
        guard try observeAll().contains(where: { $0.uid == uid }) else { return }
        try lvm(["lvremove", "--yes", "\(vg)/\(Self.lvName(uid))"])
    }

    public func grow(_ volume: BackendVolume, to size: UInt64, online: Bool) throws {
        let uid = try Validate.uid(volume.uid)
        if size > volume.size { try lvm(["lvextend", "-L", "\(size)b", "\(vg)/\(Self.lvName(uid))"]) }
        try growFilesystem(volume, to: size, online: online)
    }

    public func fstab(uid: String) -> FstabSource {
        FstabSource(source: lvPath(uid), fsType: Ext4OnBlockDevice.fsType, options: "")
    }

    /// Quarantined LVs are renamed `Q<id>` and deactivated.
    public func quarantine(uid: String, id: String, dir: String) throws -> String {
        let uid = try Validate.uid(uid)
        let place = quarantinePlace(id: id, dir: dir)
        try lvm(["lvchange", "-an", "\(vg)/\(Self.lvName(uid))"])
        try lvm(["lvrename", vg, Self.lvName(uid), String(place.dropFirst(vg.count + 1))])
        return place
    }

    public func quarantinePlace(id: String, dir: String) -> String {
        "\(vg)/Q\(id.filter { $0.isASCII && ($0.isLetter || $0.isNumber) })"
    }

    public func restore(from place: String, uid: String) throws {
        let uid = try Validate.uid(uid)
        guard !(try observeAll().contains { $0.uid == uid }) else {
            throw SemailError(
                "\(uid) already has a volume", why: "\(lvPath(uid)) exists", hint: "delete it first", status: .failure)
        }
        let lv = String(place.split(separator: "/").last ?? "")
        try lvm(["lvrename", vg, lv, Self.lvName(uid)])
    }

    public func purge(_ place: String) throws { try lvm(["lvremove", "--yes", place]) }
}

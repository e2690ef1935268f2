import Core
import Foundation
#if canImport(Glibc)
    import Glibc
#endif

/// A mailbox volume as `volume list` shows it.
public struct VolumeState: Sendable, Codable, Equatable {
    public var uid: String
    public var backend: String
    public var source: String
    public var size: UInt64
    public var device: String?
    public var mountPoint: String
    public var mounted: Bool
    public var fsSize: UInt64?
    public var fsUsed: UInt64?
    public var fsFree: UInt64?
    public var persistent: Bool
}

/// Mailbox volumes: a backend's volume with its filesystem, mounted at
/// `<mail_root>/<uid>` (a sealed mount point), a Maildir and a boot-time
/// fstab entry. Every operation is idempotent and undoes what it made when
/// it fails half-way. What depends on the backend is the backend's.
public struct VolumeManager: Sendable {
    public let config: Config.Storage
    public let stateDir: String
    public let backend: VolumeBackend

    /// The backend `[storage] backend` names, its programs run by RUNNER.
    public init(config: Config.Storage, stateDir: String, runner: ProcessRunner = ProcessRunner()) throws {
        self.init(config: config, stateDir: stateDir, backend: Self.backend(config, runner: runner))
    }

    /// Any backend (it runs whatever programs its filesystem needs;
    /// VolumeManager runs none).
    public init(config: Config.Storage, stateDir: String, backend: VolumeBackend) {
        self.config = config; self.stateDir = stateDir; self.backend = backend
    }

    /// The backend `[storage] backend` names.
    public static func backend(_ config: Config.Storage, runner: ProcessRunner = ProcessRunner()) -> VolumeBackend {
        switch config.backend {
        case "lvm": LVMBackend(vg: config.volumeGroup, runner: runner)
        default: ImageBackend(dir: config.imageDir, overcommitPercent: config.overcommitPercent, runner: runner)
        }
    }

    public func mountPoint(_ uid: String) -> String { "\(config.mailRoot)/\(uid)" }

    /// Whether UID has a volume (one stat for image files).
    public func exists(_ uid: String) throws -> Bool { try backend.exists(uid: uid) }

    /// Whether UID's volume looks complete, without observing every volume:
    /// a filesystem of its own mounted at the mount point, with a Maildir,
    /// and the fstab line. (`create` checks the device itself when it runs.)
    public func looksComplete(_ uid: String) throws -> Bool {
        let mp = mountPoint(uid)
        var a = stat(), b = stat()
        guard try exists(uid), lstat(mp, &a) == 0, stat(config.mailRoot, &b) == 0, a.st_dev != b.st_dev else {
            return false
        }
        guard MaildirTree.isComplete(mp, owner: nil) else { return false }
        return try fstab.read().contains { $0.mountPoint == mp && Self.ordered($0) }
    }
    /// Whether an fstab entry carries the engine ordering.
    static func ordered(_ l: FstabBlock.Line) -> Bool {
        l.options.split(separator: ",").contains(Substring(FstabBlock.engineOrder))
    }
    var fstab: FstabBlock { FstabBlock(path: config.fstab, mailRoot: config.mailRoot) }

    /// Serialises volume changes (and fstab rewrites) between processes.
    func lock() throws -> FileLock {
        try Trust.stateDirectory(stateDir)
        do { return try FileLock(path: "\(stateDir)/volumes.lock") } catch let e as FileError {
            throw SemailError("cannot lock the state directory", why: e.description, status: .ioError)
        }
    }

    /// The largest volume the admin allows ([storage] max_size).
    public var maximum: UInt64 { (try? ByteSize.parse(config.maxSize)) ?? UInt64.max }

    /// Refuses a size above [storage] max_size, whoever asked for it (the
    /// directory's semailVolumeSize is a value users may influence).
    public func checkMaximum(_ size: UInt64) throws {
        guard size <= maximum else {
            throw SemailError(
                "volume size \(ByteSize.format(size)) is above the maximum",
                why: "[storage] max_size is \(config.maxSize)",
                hint: "ask for at most \(config.maxSize), or raise [storage] max_size", status: .usage)
        }
    }

    public struct CreateResult: Sendable, Codable {
        public var volume: VolumeState
        public var created: Bool
        public var formatted: Bool
        public var mounted: Bool
    }

    /// Creates what is missing of UID's volume; a volume that survived a
    /// crash is reused (never formatted twice).
    public func create(uid: String, size: UInt64, owner: MailOwner, force: Bool = false) throws -> CreateResult {
        let uid = try Validate.uid(uid)
        guard size >= 16 << 20 else {
            throw SemailError(
                "volume size \(ByteSize.format(size)) is too small", why: "a mailbox volume needs at least 16M",
                status: .usage)
        }
        try checkMaximum(size)
        let lock = try lock()
        defer { lock.release() }
        return try ensure(uid: uid, size: size, owner: owner, force: force)
    }

    /// The body of `create`; the caller holds the lock.
    func ensure(uid: String, size: UInt64, owner: MailOwner, force: Bool) throws -> CreateResult {
        let options = try MountOptions(config.mountOptions)
        let mp = mountPoint(uid)
        let mounts = SystemState.mounts()
        let existing = try backend.observeAll().first { $0.uid == uid }
        if let m = mounts.last(where: { $0.mountPoint == mp }) {
            let ours = existing?.device.map { dev in m.source == dev } ?? false
            guard ours else {
                throw SemailError(
                    "mount point \(mp) is already used", why: "\(m.source) (\(m.fsType)) is mounted there",
                    hint: "unmount it, or choose another [storage] mail_root", status: .cantCreate)
            }
        } else if let entries = try? FileManager.default.contentsOfDirectory(atPath: mp), !entries.isEmpty,
            !(entries == ["Maildir"] && Self.removeEngineMaildir("\(mp)/Maildir"))
        {
            throw SemailError(
                "mount point \(mp) is not empty", why: "mounting a volume there would hide \(entries.count) file(s)",
                hint: "move them away first", status: .cantCreate)
        }

        let undo = UndoStack()
        var done = false
        defer { if !done { undo.unwind() } }
        let vol = try backend.prepare(uid: uid, size: size, force: force, undo: undo)
        defer { vol.release() }

        var mountedNow = false
        if !SystemState.mounts().contains(where: { $0.mountPoint == mp }) {
            if !FileManager.default.fileExists(atPath: mp) {
                // Traversable (the umask is 077): delivery agents running as
                // the owner reach <mail_root>/<uid>/Maildir through it.
                try SystemState.makeDirectories(config.mailRoot, mode: 0o755)
                guard mkdir(mp, 0o755) == 0 else {
                    throw SemailError("cannot create \(mp)", why: SystemState.errnoText(), status: .cantCreate)
                }
                undo.push("remove \(mp)") {
                    SystemState.unsealMountPoint(mp); rmdir(mp)
                }
            }
            // Unusable unless the volume is mounted on it (boot order, a failed mount).
            try SystemState.sealMountPoint(mp)
            try Fault.check("storage.mount")
            try backend.mount(vol, at: mp, options: options)
            undo.push("unmount \(mp)") { [backend] in _ = backend.unmount(mp) }
            mountedNow = true
        }

        try Fault.check("storage.maildir")
        try makeMaildir(mp, owner: owner)
        try Fault.check("storage.fstab")
        let src = backend.fstab(uid: uid)
        let opts = ([src.options, options.text, "nofail", FstabBlock.engineOrder].filter { !$0.isEmpty }).joined(
            separator: ",")
        let hadLine = try fstab.read().contains { $0.mountPoint == mp }
        try fstab.set(mountPoint: mp, to: .init(source: src.source, mountPoint: mp, fsType: src.fsType, options: opts))
        if !hadLine {
            undo.push("remove the fstab entry for \(mp)") { [fstab] in try fstab.set(mountPoint: mp, to: nil) }
        }
        done = true
        // Report this volume without observing every other one again.
        let u = SystemState.usage(mp)
        let state = VolumeState(
            uid: uid, backend: backend.kind, source: src.source, size: vol.size, device: vol.device,
            mountPoint: mp, mounted: true, fsSize: u?.size, fsUsed: u?.used, fsFree: u?.free,
            persistent: true)
        return CreateResult(volume: state, created: vol.created, formatted: vol.formatted, mounted: mountedNow)
    }

    /// The volume root (root's, 0711) and Maildir/{tmp,new,cur} (the
    /// owner's, 0700), through descriptors: nothing the user made is followed.
    func makeMaildir(_ root: String, owner: MailOwner) throws { try MaildirTree.ensure(root, owner: owner) }

    /// The mount points of mounted volumes (among UIDS) that are not sealed
    /// underneath (made before mount points were sealed), with whether
    /// something lies there (`true`: files hidden under the volume).
    public func unsealedUnderneath(_ uids: [String]) throws -> [String: Bool] {
        guard !uids.isEmpty, FileManager.default.fileExists(atPath: config.mailRoot) else { return [:] }
        try Trust.stateDirectory(stateDir)
        return try SystemState.underneath(config.mailRoot, scratch: "\(stateDir)/.underneath-\(getpid())") { root in
            var out: [String: Bool] = [:]
            for uid in uids where !SystemState.isSealed("\(root)/\(uid)") {
                let entries = (try? FileManager.default.contentsOfDirectory(atPath: "\(root)/\(uid)")) ?? []
                out[uid] =
                    !(entries.isEmpty
                    || entries == ["Maildir"]
                        && (try? FileManager.default.contentsOfDirectory(atPath: "\(root)/\(uid)/Maildir")) == [])
            }
            return out
        }
    }

    /// Seals the mount points under mounted volumes (`SystemState.sealMountPoint`):
    /// only empty ones, or holding only the empty Maildir an engine made.
    public func sealUnderneath(_ uids: [String]) throws -> [String] {
        guard !uids.isEmpty else { return [] }
        let lock = try lock()
        defer { lock.release() }
        return try SystemState.underneath(config.mailRoot, scratch: "\(stateDir)/.underneath-\(getpid())") { root in
            var sealed: [String] = []
            for uid in uids {
                let dir = "\(root)/\(uid)"
                var st = stat()
                guard lstat(dir, &st) == 0, (st.st_mode & S_IFMT) == S_IFDIR, !SystemState.isSealed(dir) else {
                    continue
                }
                let entries = (try? FileManager.default.contentsOfDirectory(atPath: dir)) ?? ["?"]
                guard entries.isEmpty || (entries == ["Maildir"] && Self.removeEngineMaildir("\(dir)/Maildir")) else {
                    continue
                }
                try SystemState.sealMountPoint(dir)
                sealed.append(uid)
            }
            return sealed
        }
    }

    /// The empty, root-owned Maildir a container engine made in an
    /// unmounted mount point (before mount points were sealed): removed
    /// (rmdir: only when empty) so the volume can be mounted again.
    static func removeEngineMaildir(_ path: String) -> Bool {
        var st = stat()
        guard lstat(path, &st) == 0, (st.st_mode & S_IFMT) == S_IFDIR, st.st_uid == 0 else { return false }
        return rmdir(path) == 0
    }

    /// Every semail volume, observed at once: one backend listing, one read of
    /// the mount table and of the fstab block, statvfs on mounted ones.
    public func list(mounts given: [MountEntry]? = nil, only uid: String? = nil) throws -> [VolumeState] {
        // mount point -> sources mounted there (one pass, not one per volume)
        var mounted: [String: Set<String>] = [:]
        for m in given ?? SystemState.mounts() { mounted[m.mountPoint, default: []].insert(m.source) }
        let persistent = Set(try fstab.read().filter(Self.ordered).map(\.mountPoint))
        return try backend.observeAll().filter { uid == nil || $0.uid == uid }.map { v in
            let mp = mountPoint(v.uid)
            let isMounted = v.device.map { dev in mounted[mp]?.contains(dev) ?? false } ?? false
            let u = isMounted ? SystemState.usage(mp) : nil
            return VolumeState(
                uid: v.uid, backend: backend.kind, source: v.source, size: v.size, device: v.device, mountPoint: mp,
                mounted: isMounted, fsSize: u?.size, fsUsed: u?.used, fsFree: u?.free,
                persistent: persistent.contains(mp))
        }
    }

    public struct DeleteResult: Sendable, Codable { public var uid: String; public var removed: [String] }

    /// Unmounts, detaches and removes UID's volume and its fstab entry.
    public func delete(uid: String) throws -> DeleteResult {
        let uid = try Validate.uid(uid)
        let lock = try lock()
        defer { lock.release() }
        let mp = mountPoint(uid)
        var removed: [String] = []
        let vol = try backend.observeAll().first { $0.uid == uid }
        if let m = SystemState.mounts().last(where: { $0.mountPoint == mp }) {
            guard vol?.device == m.source else {
                throw SemailError(
                    "refusing to unmount \(mp)", why: "\(m.source) is mounted there, not UID's volume", status: .failure
                )
            }
            let e = backend.unmount(mp)
            guard e == 0 else {
                throw SemailError(
                    "cannot unmount \(mp)", why: SystemState.errnoText(e),
                    hint: e == EBUSY ? "something still uses it (its container?): stop that first" : nil,
                    status: .failure)
            }
            removed.append("mount \(mp)")
        }
        if try fstab.read().contains(where: { $0.mountPoint == mp }) {
            try fstab.set(mountPoint: mp, to: nil)
            removed.append("fstab entry")
        }
        if !SystemState.mounts().contains(where: { $0.mountPoint == mp }) { SystemState.unsealMountPoint(mp) }
        if rmdir(mp) == 0 { removed.append("directory \(mp)") }
        if let vol {
            try backend.remove(uid: uid)
            removed.append("\(backend.kind) volume \(vol.source)")
        }
        return DeleteResult(uid: uid, removed: removed)
    }

    /// Grows UID's volume and its filesystem (the backend's): online, or
    /// with `offline` unmounted (where the host does not allow online resizing;
    /// the volume is mounted again whatever happens). Shrinking is refused.
    public func resize(uid: String, to size: UInt64, owner: MailOwner, offline: Bool = false) throws -> VolumeState {
        let uid = try Validate.uid(uid)
        try checkMaximum(size)
        let lock = try lock()
        defer { lock.release() }
        guard let v = try list().first(where: { $0.uid == uid }) else {
            throw SemailError(
                "no volume for \(uid)", why: "\(backend.kind) backend has none", hint: "see `semailctl volume list`",
                status: .failure)
        }
        guard size >= v.size else {
            throw SemailError(
                "refusing to shrink \(uid)'s volume",
                why: "it is \(ByteSize.format(v.size)); shrinking could lose mail", status: .usage)
        }
        guard v.mounted, let dev = v.device else {
            throw SemailError(
                "\(uid)'s volume is not mounted", why: "resizing works on a mounted volume",
                hint: "mount it with `semailctl volume create \(uid)`", status: .failure)
        }
        let volume = BackendVolume(uid: uid, source: v.source, size: v.size, device: dev)
        if offline {
            let mp = mountPoint(uid)
            let e = backend.unmount(mp)
            guard e == 0 else {
                throw SemailError(
                    "cannot unmount \(mp) for an offline resize", why: SystemState.errnoText(e),
                    hint: "stop what uses it (its container) first", status: .failure)
            }
            var failure: Error?
            do { try backend.grow(volume, to: size, online: false) } catch { failure = error }
            let mounted = try ensure(uid: uid, size: size, owner: owner, force: false)  // mount it back in every case
            if let failure { throw failure }
            return mounted.volume
        }
        try backend.grow(volume, to: size, online: true)
        return try list().first { $0.uid == uid }!
    }
}

import Core
import Foundation
import Storage
import Testing
import TestSupport

/// A third backend is one new type: tmpfs volumes (a record file per
/// volume, a tmpfs of that size mounted at the mount point) go through
/// `VolumeManager` unchanged: create, list, rerun, grow, quarantine and
/// restore, delete, with its own filesystem type in the fstab block.
struct TmpfsBackend: VolumeBackend {
    let dir: String
    var kind: String { "tmpfs" }

    func record(_ uid: String) -> String { "\(dir)/\(uid)" }
    func device(_ uid: String) -> String { "semail-tmpfs-\(uid)" }
    func size(_ file: String) -> UInt64? { (try? String(contentsOfFile: file, encoding: .utf8)).flatMap { UInt64($0) } }

    func observeAll() throws -> [BackendVolume] {
        ((try? FileManager.default.contentsOfDirectory(atPath: dir)) ?? []).sorted().compactMap { uid in
            size(record(uid)).map { BackendVolume(uid: uid, source: record(uid), size: $0, device: device(uid)) }
        }
    }

    func exists(uid: String) throws -> Bool { FileManager.default.fileExists(atPath: record(uid)) }

    func prepare(uid: String, size: UInt64, force: Bool, undo: UndoStack) throws -> PreparedVolume {
        if let had = self.size(record(uid)) { return PreparedVolume(device: device(uid), created: false, size: had) }
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        try "\(size)".write(toFile: record(uid), atomically: true, encoding: .utf8)
        undo.push("remove \(record(uid))") { unlink(record(uid)) }
        let v = PreparedVolume(device: device(uid), created: true, size: size)
        v.formatted = true
        return v
    }

    func mount(_ volume: PreparedVolume, at mountPoint: String, options: MountOptions) throws {
        let data = (["size=\(volume.size)"] + (options.data.isEmpty ? [] : [options.data])).joined(separator: ",")
        guard Glibc.mount(volume.device, mountPoint, "tmpfs", options.flags, data) == 0 else {
            throw SemailError("cannot mount tmpfs on \(mountPoint)", why: SystemState.errnoText(), status: .ioError)
        }
    }

    func unmount(_ mountPoint: String) -> Int32 { umount2(mountPoint, 0) == 0 ? 0 : errno }

    func fstab(uid: String) -> FstabSource {
        FstabSource(source: device(uid), fsType: "tmpfs", options: "size=\(size(record(uid)) ?? 0)")
    }

    func grow(_ volume: BackendVolume, to size: UInt64, online: Bool) throws {
        try "\(size)".write(toFile: record(volume.uid), atomically: true, encoding: .utf8)
        if online, let mp = SystemState.mounts().last(where: { $0.source == volume.device })?.mountPoint {
            let flags = UInt(MS_REMOUNT | MS_NODEV | MS_NOSUID | MS_NOEXEC)
            guard Glibc.mount(nil, mp, nil, flags, "size=\(size)") == 0 else {
                throw SemailError("cannot grow the tmpfs on \(mp)", why: SystemState.errnoText(), status: .ioError)
            }
        }
    }

    func remove(uid: String) throws { unlink(record(uid)) }

    func quarantine(uid: String, id: String, dir qdir: String) throws -> String {
        let place = quarantinePlace(id: id, dir: qdir)
        guard rename(record(uid), place) == 0 else {
            throw SemailError("cannot quarantine \(uid)", why: SystemState.errnoText())
        }
        return place
    }

    func quarantinePlace(id: String, dir: String) -> String { "\(dir)/tmpfs-volume" }

    func restore(from place: String, uid: String) throws {
        guard rename(place, record(uid)) == 0 else {
            throw SemailError("cannot restore \(uid)", why: SystemState.errnoText())
        }
    }

    func purge(_ place: String) throws { unlink(place) }
}

@Suite struct StorageBackendIntegrationTests {
    @Test func aThirdBackendIsOneType() throws {
        let a = try StorageArea()
        defer { a.cleanup() }
        let config = try Config.load(a.config)
        let backend = TmpfsBackend(dir: "\(a.dir)/tmpfs")
        let vm = VolumeManager(config: config.storage, stateDir: "\(a.dir)/state", backend: backend)
        let uid = uniqueUID("tmpfs")
        let mp = a.mountPoint(uid)
        let owner = MailOwner(uid: 5000, gid: 5000)

        var r = try vm.create(uid: uid, size: 32 << 20, owner: owner)
        #expect(r.created && r.formatted && r.mounted)
        #expect(r.volume.backend == "tmpfs" && r.volume.device == "semail-tmpfs-\(uid)" && r.volume.size == 32 << 20)
        #expect(
            a.mounts.contains { $0.contains(" \(mp) ") && $0.contains(" - tmpfs semail-tmpfs-\(uid) ") },
            "\(a.mounts)")
        let line =
            "semail-tmpfs-\(uid) \(mp) tmpfs size=33554432,nodev,nosuid,noexec,nofail,"
            + "x-systemd.before=docker.service 0 2"
        #expect(a.fstab.contains(line), "\(a.fstab)")
        #expect(try vm.looksComplete(uid))
        try "mail".write(toFile: "\(mp)/Maildir/new/1.msg", atomically: true, encoding: .utf8)

        // Rerun: reused; listed as mounted and persistent.
        r = try vm.create(uid: uid, size: 32 << 20, owner: owner)
        #expect(!r.created && !r.formatted && !r.mounted)
        let listed = try #require(try vm.list().first { $0.uid == uid })
        #expect(listed.mounted && listed.persistent && listed.backend == "tmpfs")

        // Grow online: the backend's own filesystem grows; mail kept.
        let grown = try vm.resize(uid: uid, to: 48 << 20, owner: owner)
        #expect(grown.size == 48 << 20 && (grown.fsSize ?? 0) == 48 << 20, "\(grown)")
        #expect(FileManager.default.fileExists(atPath: "\(mp)/Maildir/new/1.msg"))

        // Quarantine and restore go through the backend's unmount and mount
        // (tmpfs forgets its files: the Maildir is made again).
        let q = try vm.quarantine(uid: uid, days: 1)
        #expect(q.backend == "tmpfs" && !a.mounts.contains { $0.contains(" \(mp) ") } && !a.fstab.contains(mp))
        #expect(try vm.quarantined().map(\.id) == [q.id])
        r = try vm.restore(id: q.id, owner: owner)
        #expect(r.mounted && !r.formatted && FileManager.default.fileExists(atPath: "\(mp)/Maildir/new"))

        let d = try vm.delete(uid: uid)
        #expect(d.removed.contains("tmpfs volume \(a.dir)/tmpfs/\(uid)"), "\(d.removed)")
        #expect(a.mounts.isEmpty && !a.fstab.contains(uid) && !FileManager.default.fileExists(atPath: mp))
        #expect(try vm.list().isEmpty)
    }
}

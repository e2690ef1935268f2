import Core
import Foundation
import Provisioning
import TestSupport
import Testing

/// The image backend for real: loop devices, mkfs.ext4, mount, Maildir,
/// fstab, resize, delete, refusals and injected faults. Each test has its
/// own area and removes its loop devices and mounts even when it fails.
@Suite struct VolumeIntegrationTests {
    func json(_ r: ProcessOutput) throws -> [String: Any] {
        try #require(
            JSONSerialization.jsonObject(with: r.stdout) as? [String: Any], "stdout: \(r.text) stderr: \(r.stderr)")
    }

    /// Nothing of UID is left in the area.
    func expectNothingLeft(_ a: StorageArea, _ uid: String, sourceLocation: SourceLocation = #_sourceLocation) {
        #expect(a.mounts.isEmpty, "mounts left: \(a.mounts)", sourceLocation: sourceLocation)
        #expect(a.loops.isEmpty, "loop devices left: \(a.loops)", sourceLocation: sourceLocation)
        #expect(!a.fstab.contains(uid), "fstab: \(a.fstab)", sourceLocation: sourceLocation)
        #expect(!FileManager.default.fileExists(atPath: a.image(uid)), sourceLocation: sourceLocation)
        #expect(!FileManager.default.fileExists(atPath: a.mountPoint(uid)), sourceLocation: sourceLocation)
    }

    @Test func createReuseListResizeDelete() throws {
        let a = try StorageArea()
        defer { a.cleanup() }
        let uid = uniqueUID("vol")
        var r = try semailctl(["volume", "create", uid, "--size", "48M", "--config", a.config, "--json"])
        #expect(r.status == 0, "\(r.stderr)")
        var doc = try json(r)
        #expect(doc["created"] as? Bool == true && doc["formatted"] as? Bool == true)
        let mp = a.mountPoint(uid)

        // Mounted with the configured options, ext4 with our label, a loop device with autoclear.
        let m = try #require(a.mounts.first { $0.contains(" \(mp) ") })
        #expect(m.contains("nosuid") && m.contains("nodev") && m.contains("noexec") && m.contains(" ext4 "))
        let loop = try #require(a.loops.first)
        #expect(try String(contentsOfFile: "/sys/block/\(loop)/loop/autoclear", encoding: .utf8).hasPrefix("1"))
        let label = try ProcessRunner().run(["blkid", "-s", "LABEL", "-o", "value", "/dev/\(loop)"]).text
        #expect(label.trimmingCharacters(in: .whitespacesAndNewlines) == String("sm-\(uid)".prefix(16)))
        // Sparse image.
        var st = stat()
        stat(a.image(uid), &st)
        #expect(st.st_size == 48 << 20 && Int(st.st_blocks) * 512 < 48 << 20)

        // The volume root is root's (0711: the owner cannot swap its Maildir);
        // the Maildir is the configured owner's, mode 0700.
        var rs = stat()
        #expect(lstat(mp, &rs) == 0 && rs.st_uid == 0 && rs.st_gid == 0 && rs.st_mode & 0o7777 == 0o711)
        for d in ["\(mp)/Maildir", "\(mp)/Maildir/tmp", "\(mp)/Maildir/new", "\(mp)/Maildir/cur"] {
            var s = stat()
            #expect(stat(d, &s) == 0)
            #expect(s.st_uid == 5000 && s.st_gid == 5000 && s.st_mode & 0o777 == 0o700, "\(d)")
        }
        // Boot persistence.
        #expect(
            a.fstab.contains(
                "\(a.image(uid)) \(mp) ext4 loop,nodev,nosuid,noexec,nofail,x-systemd.before=docker.service 0 2"))

        // Mail written, then create again: reused, not formatted, mail kept.
        try "Subject: hi\n\nhello\n".write(toFile: "\(mp)/Maildir/new/1.msg", atomically: true, encoding: .utf8)
        r = try semailctl(["volume", "create", uid, "--config", a.config, "--json"])
        doc = try json(r)
        #expect(doc["created"] as? Bool == false && doc["formatted"] as? Bool == false)
        #expect(FileManager.default.fileExists(atPath: "\(mp)/Maildir/new/1.msg"))
        #expect(a.loops.count == 1)

        r = try semailctl(["volume", "list", "--config", a.config, "--json"])
        let list = try #require(JSONSerialization.jsonObject(with: r.stdout) as? [[String: Any]])
        #expect(list.count == 1)
        #expect(list[0]["mounted"] as? Bool == true && list[0]["persistent"] as? Bool == true)
        #expect((list[0]["fsUsed"] as? Int ?? 0) > 0)

        // Grow: online where the host allows it, else offline; mail kept.
        r = try semailctl(["volume", "resize", uid, "96M", "--config", a.config, "--json"])
        if r.status != 0 {
            #expect(r.stderr.contains("--offline"), "\(r.stderr)")
            r = try semailctl(["volume", "resize", uid, "96M", "--offline", "--config", a.config, "--json"])
        }
        #expect(r.status == 0, "\(r.stderr)")
        doc = try json(r)
        #expect(doc["size"] as? Int == 96 << 20)
        #expect((doc["fsSize"] as? Int ?? 0) > 80 << 20)
        #expect(FileManager.default.fileExists(atPath: "\(mp)/Maildir/new/1.msg"))
        r = try semailctl(["volume", "resize", uid, "32M", "--config", a.config])
        #expect(r.status == 64 && r.stderr.contains("shrink"))

        r = try semailctl(["volume", "delete", uid, "--config", a.config])
        #expect(r.status == 64)
        #expect(a.mounts.count == 1)
        r = try semailctl(["volume", "delete", uid, "--yes", "--config", a.config])
        #expect(r.status == 0, "\(r.stderr)")
        expectNothingLeft(a, uid)
        // Deleting again is not an error.
        #expect(try semailctl(["volume", "delete", uid, "--yes", "--config", a.config]).status == 0)
    }

    /// `--offline`: unmounted, the image grown and its ext4 checked and
    /// grown on a fresh loop device, then mounted again; a second run at the
    /// same size (the device grown by a failed online resize) grows only
    /// the filesystem.
    @Test func offlineResizeGrowsUnmountedAndMountsBack() throws {
        let a = try StorageArea()
        defer { a.cleanup() }
        let uid = uniqueUID("off")
        var r = try semailctl(["volume", "create", uid, "--size", "32M", "--config", a.config])
        #expect(r.status == 0, "\(r.stderr)")
        let mp = a.mountPoint(uid)
        try "mail".write(toFile: "\(mp)/Maildir/new/1.msg", atomically: true, encoding: .utf8)
        r = try semailctl(["volume", "resize", uid, "64M", "--offline", "--config", a.config, "--json"])
        #expect(r.status == 0, "\(r.stderr)")
        var doc = try json(r)
        #expect(doc["size"] as? Int == 64 << 20 && doc["mounted"] as? Bool == true)
        #expect((doc["fsSize"] as? Int ?? 0) > 48 << 20, "\(doc)")
        #expect(FileManager.default.fileExists(atPath: "\(mp)/Maildir/new/1.msg"))
        #expect(a.mounts.count == 1 && a.loops.count == 1, "\(a.mounts) \(a.loops)")
        #expect(a.fstab.contains("\(a.image(uid)) \(mp) ext4 loop,"))

        // The image grown by hand (as a failed online resize leaves it): the filesystem follows.
        r = try semailctl(["volume", "resize", uid, "80M", "--config", a.config, "--json"])
        if r.status != 0 {  // hosts without online resizing: the image has grown, the filesystem not yet
            r = try semailctl(["volume", "resize", uid, "80M", "--offline", "--config", a.config, "--json"])
        }
        #expect(r.status == 0, "\(r.stderr)")
        r = try semailctl(["volume", "resize", uid, "80M", "--offline", "--config", a.config, "--json"])
        #expect(r.status == 0, "\(r.stderr)")
        doc = try json(r)
        #expect(doc["size"] as? Int == 80 << 20 && (doc["fsSize"] as? Int ?? 0) > 64 << 20, "\(doc)")
        #expect(FileManager.default.fileExists(atPath: "\(mp)/Maildir/new/1.msg"))
        #expect(try semailctl(["volume", "delete", uid, "--yes", "--config", a.config]).status == 0)
        expectNothingLeft(a, uid)
    }

    @Test func neverFormatsADeviceThatHoldsASignature() throws {
        let a = try StorageArea()
        defer { a.cleanup() }
        let uid = uniqueUID("sig")
        try FileManager.default.createDirectory(atPath: "\(a.dir)/images", withIntermediateDirectories: true)
        try ProcessRunner().run(["truncate", "-s", "32M", a.image(uid)])
        try ProcessRunner().run(["mkswap", a.image(uid)])
        var r = try semailctl(["volume", "create", uid, "--config", a.config])
        #expect(r.status == 73, "\(r.stderr)")
        #expect(r.stderr.contains("swap") && r.stderr.contains("--force"))
        #expect(a.mounts.isEmpty && a.loops.isEmpty && !a.fstab.contains(uid))
        #expect(FileManager.default.fileExists(atPath: a.image(uid)))  // not ours to remove
        let sig = try ProcessRunner().run(["blkid", "-p", "-o", "value", "-s", "TYPE", a.image(uid)]).text
        #expect(sig.contains("swap"))  // untouched

        r = try semailctl(["volume", "create", uid, "--force", "--config", a.config, "--json"])
        #expect(r.status == 0, "\(r.stderr)")
        #expect(try json(r)["formatted"] as? Bool == true)
        #expect(try semailctl(["volume", "delete", uid, "--yes", "--config", a.config]).status == 0)
        expectNothingLeft(a, uid)
    }

    @Test(arguments: ["0", "-5G", "5X", "abc", "5.5G", "", "99999999999T"])
    func badSizesAreRefused(size: String) throws {
        let a = try StorageArea()
        defer { a.cleanup() }
        let r = try semailctl(["volume", "create", "alice", "--size", size, "--config", a.config])
        #expect(r.status == 64, "\(size): \(r.stderr)")
        expectNothingLeft(a, "alice")
    }

    @Test func refusalsCreateNothing() throws {
        let a = try StorageArea()
        defer { a.cleanup() }
        // Bad uid.
        var r = try semailctl(["volume", "create", "../x", "--config", a.config])
        #expect(r.status == 64)
        // Larger than the maximum; larger than the free space.
        r = try semailctl(["volume", "create", "big", "--size", "900T", "--config", a.config])
        #expect(r.status == 64 && r.stderr.contains("above the maximum"), "\(r.stderr)")
        let huge = try StorageArea(extra: "max_size = \"1000T\"")
        defer { huge.cleanup() }
        r = try semailctl(["volume", "create", "big", "--size", "900T", "--config", huge.config])
        #expect(r.status == 73 && r.stderr.contains("not enough space"), "\(r.stderr)")
        expectNothingLeft(huge, "big")
        expectNothingLeft(a, "big")
        // Mount point used by something else.
        let mp = a.mountPoint("busy")
        try FileManager.default.createDirectory(atPath: mp, withIntermediateDirectories: true)
        #expect(mount("tmpfs", mp, "tmpfs", 0, nil) == 0)
        r = try semailctl(["volume", "create", "busy", "--config", a.config])
        #expect(r.status == 73 && r.stderr.contains("already used"), "\(r.stderr)")
        #expect(!FileManager.default.fileExists(atPath: a.image("busy")) && a.loops.isEmpty)
        umount2(mp, 0)
        // A non-empty directory would be hidden.
        try "x".write(toFile: "\(mp)/file", atomically: true, encoding: .utf8)
        r = try semailctl(["volume", "create", "busy", "--config", a.config])
        #expect(r.status == 73 && r.stderr.contains("not empty"))
        #expect(!FileManager.default.fileExists(atPath: a.image("busy")) && a.loops.isEmpty)
    }

    /// Quarantining one uid's volume again within the same second gets a
    /// new id and directory: no quarantined volume replaces another.
    @Test func quarantinesInOneSecondKeepEveryVolume() throws {
        let a = try StorageArea()
        defer { a.cleanup() }
        let uid = uniqueUID("q")
        var kept: [(id: String, place: String, inode: ino_t)] = []
        for _ in 0..<12 where !kept.contains(where: { $0.id.hasSuffix("-2") }) {
            #expect(try semailctl(["volume", "create", uid, "--config", a.config]).status == 0)
            var st = stat()
            #expect(stat(a.image(uid), &st) == 0)
            let r = try semailctl(["quarantine", "add", uid, "--config", a.config, "--json"])
            #expect(r.status == 0, "\(r.stderr)")
            let doc = try json(r)
            kept.append((try #require(doc["id"] as? String), try #require(doc["place"] as? String), st.st_ino))
        }
        #expect(kept.contains { $0.id.hasSuffix("-2") }, "no two quarantines landed in one second: \(kept.map(\.id))")
        #expect(Set(kept.map(\.id)).count == kept.count && Set(kept.map(\.place)).count == kept.count)
        for k in kept {
            var st = stat()
            #expect(stat(k.place, &st) == 0 && st.st_ino == k.inode, "\(k.id): its volume was replaced or lost")
        }
        let listed = try semailctl(["quarantine", "list", "--config", a.config]).text
        #expect(kept.allSatisfy { listed.contains($0.id) }, "\(listed)")
        #expect(a.mounts.isEmpty && a.loops.isEmpty && !a.fstab.contains(uid))
    }

    /// A quarantine that fails to move or to record the volume leaves it
    /// where it was, only unmounted; `volume create` mounts it again.
    @Test(arguments: ["quarantine.move", "quarantine.record"])
    func aFailedQuarantineKeepsTheVolume(point: String) throws {
        let a = try StorageArea()
        defer { a.cleanup() }
        let uid = uniqueUID("qf")
        #expect(try semailctl(["volume", "create", uid, "--config", a.config]).status == 0)
        try "kept".write(toFile: "\(a.mountPoint(uid))/Maildir/new/1.msg", atomically: true, encoding: .utf8)
        var st = stat()
        #expect(stat(a.image(uid), &st) == 0)
        let r = try semailctl(["quarantine", "add", uid, "--config", a.config], env: ["SEMAIL_FAULT": point])
        #expect(r.status != 0 && r.stderr.contains("volume create \(uid)"), "\(r.stderr)")
        var now = stat()
        #expect(stat(a.image(uid), &now) == 0 && now.st_ino == st.st_ino, "the image is not back in place")
        #expect((try? FileManager.default.contentsOfDirectory(atPath: "\(a.dir)/state/quarantine")) ?? [] == [])
        #expect(try semailctl(["quarantine", "list", "--config", a.config]).text.isEmpty)
        #expect(try semailctl(["volume", "create", uid, "--config", a.config]).status == 0)
        #expect((try? String(contentsOfFile: "\(a.mountPoint(uid))/Maildir/new/1.msg", encoding: .utf8)) == "kept")
    }

    @Test(arguments: ["storage.volume", "storage.mkfs", "storage.mount", "storage.maildir", "storage.fstab"])
    func aFailedStepLeavesNothing(point: String) throws {
        let a = try StorageArea()
        defer { a.cleanup() }
        let uid = uniqueUID("flt")
        let r = try semailctl(["volume", "create", uid, "--config", a.config], env: ["SEMAIL_FAULT": point])
        #expect(r.status == 1)
        #expect(r.stderr.contains("injected failure at \(point)"))
        expectNothingLeft(a, uid)
    }

    @Test(arguments: ["storage.mount", "storage.maildir", "storage.fstab"])
    func killedHalfWayThenRerunCompletesWithoutFormattingTwice(point: String) throws {
        let a = try StorageArea()
        defer { a.cleanup() }
        let uid = uniqueUID("kil")
        var r = try semailctl(["volume", "create", uid, "--config", a.config], env: ["SEMAIL_FAULT": "kill:\(point)"])
        #expect(r.status == 137)
        // A kill before the mount leaves no loop device behind (autoclear).
        if point == "storage.mount" { #expect(a.loops.isEmpty && a.mounts.isEmpty) }
        r = try semailctl(["volume", "create", uid, "--config", a.config, "--json"])
        #expect(r.status == 0, "\(r.stderr)")
        let doc = try json(r)
        #expect(doc["formatted"] as? Bool == false)
        #expect(a.fstab.contains(a.mountPoint(uid)))
        #expect(FileManager.default.fileExists(atPath: "\(a.mountPoint(uid))/Maildir/cur"))
        #expect(try semailctl(["volume", "delete", uid, "--yes", "--config", a.config]).status == 0)
        expectNothingLeft(a, uid)
    }
}

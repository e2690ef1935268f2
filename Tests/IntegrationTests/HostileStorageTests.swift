import Core
import Foundation
import Provisioning
import TestSupport
import Testing

/// Attacks on root's storage work by a mailbox owner with a host login
/// (the jump host): each step runs with the owner's uid through setpriv,
/// against real loop devices, ext4 and mounts. Nothing here needs a service.
@Suite struct HostileStorageTests {
    /// Runs argv as uid/gid 5000 (the area's mailbox owner), no groups.
    @discardableResult
    func asOwner(_ argv: [String]) throws -> ProcessOutput {
        try ProcessRunner().run(
            ["setpriv", "--reuid=5000", "--regid=5000", "--clear-groups", "--"] + argv, check: false)
    }

    /// A root-owned directory and file the attacks aim at.
    func victims(_ a: StorageArea) throws -> (dir: String, file: String) {
        let dir = "\(a.dir)/victim-dir", file = "\(a.dir)/victim-file"
        try FileManager.default.createDirectory(
            atPath: dir, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o755])
        _ = FileManager.default.createFile(
            atPath: file, contents: Data("root's\n".utf8), attributes: [.posixPermissions: 0o644])
        return (dir, file)
    }

    func expectUntouched(_ path: String, mode: mode_t, sourceLocation: SourceLocation = #_sourceLocation) {
        var st = stat()
        #expect(lstat(path, &st) == 0, sourceLocation: sourceLocation)
        #expect(
            st.st_uid == 0 && st.st_gid == 0 && st.st_mode & 0o7777 == mode,
            "\(path) is now \(st.st_uid):\(st.st_gid) \(String(st.st_mode & 0o7777, radix: 8))",
            sourceLocation: sourceLocation)
    }

    /// Finding 1: the owner replaces Maildir/new and cur with symlinks to
    /// host paths and removes tmp; `volume create` run again (what
    /// reconcile, resize --offline and quarantine restore also call) must
    /// not mkdir, chown or chmod through them.
    @Test func maildirLinksAreNeverFollowed() throws {
        let a = try StorageArea()
        defer { a.cleanup() }
        let uid = uniqueUID("lnk")
        #expect(try semailctl(["volume", "create", uid, "--config", a.config]).status == 0)
        let (vdir, vfile) = try victims(a)
        let md = "\(a.mountPoint(uid))/Maildir"
        for argv in [
            ["rm", "-r", "\(md)/new", "\(md)/cur", "\(md)/tmp"], ["ln", "-s", vdir, "\(md)/new"],
            ["ln", "-s", vfile, "\(md)/cur"]
        ] {
            let r = try asOwner(argv)
            #expect(r.status == 0, "\(argv): \(r.stderr)")
        }
        let r = try semailctl(["volume", "create", uid, "--config", a.config])
        #expect(r.status == 65, "\(r.stderr)")
        #expect(r.stderr.contains("is not a directory") && r.stderr.contains("an admin must look"), "\(r.stderr)")
        expectUntouched(vdir, mode: 0o755)
        expectUntouched(vfile, mode: 0o644)
        // The links are still links: reported, never "repaired".
        var st = stat()
        #expect(lstat("\(md)/new", &st) == 0 && (st.st_mode & S_IFMT) == S_IFLNK)
    }

    /// Finding 4 (storage side): the volume root is root's, so the owner
    /// cannot swap the Maildir for a link to someone else's; a volume made
    /// by an older version (root owned by the user) is taken back.
    @Test func ownerCannotSwapTheMaildir() throws {
        let a = try StorageArea()
        defer { a.cleanup() }
        let uid = uniqueUID("swp")
        #expect(try semailctl(["volume", "create", uid, "--config", a.config]).status == 0)
        let mp = a.mountPoint(uid)
        var r = try asOwner(["mv", "\(mp)/Maildir", "\(mp)/Maildir.mine"])
        #expect(r.status != 0 && r.stderr.contains("Permission denied"), "the owner renamed the Maildir: \(r.stderr)")
        r = try asOwner(["ln", "-s", "/", "\(mp)/other"])
        #expect(r.status != 0, "the owner wrote in the volume root")
        // As an older version left it: the root owned by the user.
        try ProcessRunner().run(["chown", "5000:5000", mp])
        try ProcessRunner().run(["chmod", "0700", mp])
        #expect(try semailctl(["volume", "create", uid, "--config", a.config]).status == 0)
        expectUntouched(mp, mode: 0o711)
    }

    /// Finding 7 (storage side): sizes above [storage] max_size are refused,
    /// and sparse images may not promise more than the filesystem holds.
    @Test func sizesAreBounded() throws {
        let a = try StorageArea(extra: "max_size = \"64M\"")
        defer { a.cleanup() }
        let uid = uniqueUID("big")
        var r = try semailctl(["volume", "create", uid, "--size", "65M", "--config", a.config])
        #expect(r.status == 64 && r.stderr.contains("above the maximum"), "\(r.stderr)")
        #expect(!FileManager.default.fileExists(atPath: a.image(uid)))
        #expect(try semailctl(["volume", "create", uid, "--size", "32M", "--config", a.config]).status == 0)
        r = try semailctl(["volume", "resize", uid, "1G", "--config", a.config])
        #expect(r.status == 64 && r.stderr.contains("above the maximum"), "\(r.stderr)")

        // Admission: a filesystem of F bytes at 1% admits volumes adding up to F/100.
        var fs = statvfs()
        statvfs(a.dir, &fs)
        let onePercent = UInt64(fs.f_blocks) * UInt64(fs.f_frsize) / 100
        let b = try StorageArea(extra: "overcommit_percent = 1\nmax_size = \"100T\"")
        defer { b.cleanup() }
        let part = (onePercent / 2 + (1 << 20)) >> 20  // just over half of it, in MiB
        let u1 = uniqueUID("oc"), u2 = uniqueUID("oc")
        r = try semailctl(["volume", "create", u1, "--size", "\(part)M", "--config", b.config])
        #expect(r.status == 0, "\(r.stderr)")
        r = try semailctl(["volume", "create", u2, "--size", "\(part)M", "--config", b.config])
        #expect(r.status == 73 && r.stderr.contains("not enough capacity"), "\(r.stderr)")
        #expect(!FileManager.default.fileExists(atPath: b.image(u2)))
    }
}

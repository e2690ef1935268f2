import CShims
import Core
import Foundation
#if canImport(Glibc)
    import Glibc
#endif

/// How full one mounted mailbox volume is: one `fstatvfs` of its mount
/// point (each mailbox is its own filesystem, so this is exact and costs
/// the same for an empty mailbox and a full one, unlike `du -s`).
public struct VolumeUsage: Sendable, Codable, Equatable {
    /// Bytes in use (blocks minus free blocks, as df's "Used").
    public var used: UInt64
    /// Bytes the owner can still write (df's "Avail").
    public var available: UInt64
    /// The filesystem's size (df's "Size").
    public var size: UInt64
    public var inodesUsed: UInt64
    public var inodes: UInt64

    public init(used: UInt64, available: UInt64, size: UInt64, inodesUsed: UInt64, inodes: UInt64) {
        self.used = used; self.available = available; self.size = size
        self.inodesUsed = inodesUsed; self.inodes = inodes
    }

    /// df's Use%: used / (used + available), rounded up (99.1 % is 100 %
    /// only when it is; 80.0 % is 80).
    public var percent: Int {
        let total = used + available
        guard total > 0 else { return 0 }
        return Int((used * 100 + total - 1) / total)
    }

    /// Measures the volume mounted at MOUNTPOINT: nil when nothing is
    /// mounted there (the mount point is on its parent's filesystem) or it
    /// cannot be opened. The mount point is opened with O_NOFOLLOW and
    /// O_DIRECTORY and measured through that descriptor, never by name.
    public static func measure(_ mountPoint: String) -> VolumeUsage? {
        let fd = open(mountPoint, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        let parent = open((mountPoint as NSString).deletingLastPathComponent, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        guard parent >= 0 else { return nil }
        defer { close(parent) }
        var st = stat(), pst = stat()
        guard fstat(fd, &st) == 0, fstat(parent, &pst) == 0, st.st_dev != pst.st_dev else { return nil }
        var s = statvfs()
        guard fstatvfs(fd, &s) == 0 else { return nil }
        let b = UInt64(s.f_frsize)
        let size = UInt64(s.f_blocks) * b
        let used = size - UInt64(s.f_bfree) * b
        return VolumeUsage(
            used: used, available: UInt64(s.f_bavail) * b, size: size,
            inodesUsed: UInt64(s.f_files) - UInt64(s.f_ffree), inodes: UInt64(s.f_files))
    }
}

/// Delivers one message into a mailbox's Maildir as an MDA does: written
/// under `tmp/` through descriptors (each directory opened with O_NOFOLLOW
/// from the volume root, the file created with O_CREAT|O_EXCL|O_NOFOLLOW),
/// owned by the mailbox owner, fsynced, then renamed into `new/`. The owner
/// controls the Maildir: nothing is followed, nothing existing is replaced.
public enum MaildirDelivery {
    /// Writes MESSAGE into ROOT/Maildir/new; returns the file's name.
    public static func deliver(_ message: [UInt8], root: String, owner: MailOwner, host: String) throws -> String {
        let rfd = open(root, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)
        guard rfd >= 0 else { throw failure("open \(root)", errno) }
        defer { close(rfd) }
        let mfd = FD.dir(rfd, "Maildir")
        guard mfd >= 0 else { throw failure("open \(root)/Maildir", errno) }
        defer { close(mfd) }
        let tmp = FD.dir(mfd, "tmp")
        guard tmp >= 0 else { throw failure("open \(root)/Maildir/tmp", errno) }
        defer { close(tmp) }
        let new = FD.dir(mfd, "new")
        guard new >= 0 else { throw failure("open \(root)/Maildir/new", errno) }
        defer { close(new) }
        let name = uniqueName(host: host, size: message.count)
        let fd = openat(tmp, name, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0o600)
        guard fd >= 0 else { throw failure("create \(root)/Maildir/tmp/\(name)", errno) }
        var ok = false
        defer {
            close(fd)
            if !ok { unlinkat(tmp, name, 0) }
        }
        guard fchown(fd, owner.uid, owner.gid) == 0 else { throw failure("chown the warning", errno) }
        do { try message.withUnsafeBytes { try FD.writeAll(fd, $0) } } catch {
            throw SemailError("cannot write \(root)/Maildir/tmp/\(name)", why: "\(error)", status: .ioError)
        }
        guard fsync(fd) == 0 else { throw failure("fsync \(root)/Maildir/tmp/\(name)", errno) }
        // Never replaces a file of that name in new/ (RENAME_NOREPLACE).
        let rc = semail_rename_noreplace(tmp, name, new, name)
        guard rc == 0 else { throw failure("move the warning into \(root)/Maildir/new/", -rc) }
        ok = true
        fsync(new)
        return name
    }

    /// `<seconds>.M<micros>P<pid>R<random>.<host>,S=<size>` (the Maildir convention).
    static func uniqueName(host: String, size: Int) -> String {
        var tv = timeval()
        gettimeofday(&tv, nil)
        let safeHost = host.map { $0 == "/" || $0 == ":" ? "_" : $0 }
        return
            "\(tv.tv_sec).M\(tv.tv_usec)P\(getpid())R\(UInt32.random(in: 0...UInt32.max)).\(String(safeHost)),S=\(size)"
    }

    static func failure(_ what: String, _ e: Int32) -> SemailError {
        if e == ELOOP || e == ENOTDIR {
            return SemailError(
                "cannot \(what)", why: "a component is a symlink or not a directory; semailctl never follows it",
                hint: "`semailctl reconcile` reports the Maildir tree; an admin must look at it", status: .dataError)
        }
        return SemailError("cannot \(what)", why: SystemState.errnoText(e), status: .ioError)
    }
}

import Foundation
import Glibc
import Synchronization

/// A file operation that failed: what and why, in one sentence.
public struct FileError: Error, Sendable, CustomStringConvertible, Equatable {
    public var message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
}

/// An exclusive advisory lock held on a file for the life of the value.
public final class FileLock: Sendable {
    let fd: Int32
    public init(path: String) throws {
        // Never through a link: the lock may sit in a directory others can
        // write (the zone's, often group bind).
        fd = open(path, O_CREAT | O_RDWR | O_CLOEXEC | O_NOFOLLOW, 0o600)
        guard fd >= 0 else {
            let e = errno
            throw FileError(
                "cannot open the lock \(path): "
                    + (e == ELOOP ? "it is a symbolic link (refused)" : String(cString: strerror(e))))
        }
        while flock(fd, LOCK_EX) != 0 {
            if errno == EINTR { continue }
            let e = errno
            close(fd)
            throw FileError("cannot lock \(path): \(String(cString: strerror(e)))")
        }
    }
    private let released = Mutex(false)
    /// Releases the lock (also done when the value goes away).
    public func release() {
        let was = released.withLock { released in
            defer { released = true }
            return released
        }
        if !was { close(fd) }
    }
    deinit { release() }
}

/// Writes that matter: a temp file in the same directory, fsynced, renamed.
public enum AtomicFile {
    /// Writes `bytes` to `tmp` (created exclusively) with the owner and
    /// mode of `like` when it exists, and fsyncs it.
    public static func writeTemp(_ tmp: String, _ bytes: [UInt8], like: String?, mode: mode_t = 0o644) throws {
        unlink(tmp)
        let fd = open(tmp, O_CREAT | O_EXCL | O_WRONLY | O_CLOEXEC, mode)
        guard fd >= 0 else { throw FileError("cannot create \(tmp): \(String(cString: strerror(errno)))") }
        var ok = false
        defer { close(fd); if !ok { unlink(tmp) } }
        var st = stat()
        if let like, stat(like, &st) == 0 {
            _ = fchown(fd, st.st_uid, st.st_gid)
            _ = fchmod(fd, st.st_mode & 0o7777)
        } else {
            _ = fchmod(fd, mode)  // the mode asked for, whatever the umask
        }
        var off = 0
        while off < bytes.count {
            let n = bytes.withUnsafeBytes { Glibc.write(fd, $0.baseAddress! + off, bytes.count - off) }
            if n < 0 {
                if errno == EINTR { continue };
                throw FileError("cannot write \(tmp): \(String(cString: strerror(errno)))")
            }
            off += n
        }
        guard fsync(fd) == 0 else { throw FileError("cannot fsync \(tmp): \(String(cString: strerror(errno)))") }
        ok = true
    }

    /// Writes `bytes` to `path` atomically.
    public static func write(_ path: String, _ bytes: [UInt8], mode: mode_t = 0o644) throws {
        let dir = (path as NSString).deletingLastPathComponent
        // Unique per call: threads of one process may write the same file.
        let tmp = "\(dir)/.\((path as NSString).lastPathComponent).tmp-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        try writeTemp(tmp, bytes, like: FileManager.default.fileExists(atPath: path) ? path : nil, mode: mode)
        guard rename(tmp, path) == 0 else {
            let e = errno; unlink(tmp)
            throw FileError("cannot replace \(path): \(String(cString: strerror(e)))")
        }
        syncDirectory(dir)
    }

    public static func syncDirectory(_ dir: String) {
        let fd = open(dir.isEmpty ? "." : dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        if fd >= 0 { _ = fsync(fd); close(fd) }
    }
}

import Core
import Foundation
#if canImport(Glibc)
    import Glibc
#endif

/// Root's view of a mailbox volume's top: the volume root (root-owned, 0711)
/// and `Maildir/{tmp,new,cur}` (the mailbox owner's, 0700). The owner
/// controls everything inside Maildir, so every operation here goes through
/// descriptors opened with `O_NOFOLLOW` from the volume root: a component
/// that is a symlink or a file is reported, never followed or "repaired".
public enum MaildirTree {
    /// The directories below the volume root, parents first.
    public static let directories = ["Maildir", "Maildir/tmp", "Maildir/new", "Maildir/cur"]

    /// What one directory of the tree is.
    public enum State: Equatable, Sendable {
        case ok
        case missing
        /// A symlink, a file or anything but a directory: an admin must look.
        case notADirectory
        /// A directory with the wrong owner or mode (root can fix it safely).
        case wrongOwner
    }

    /// Looks at the tree without changing it: the state of the volume root
    /// ("") and of each directory below it.
    public static func inspect(_ root: String, owner: MailOwner?) -> [String: State] {
        var out: [String: State] = [:]
        let rfd = open(root, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)
        guard rfd >= 0 else {
            out[""] = errno == ENOENT ? .missing : .notADirectory
            return out
        }
        defer { close(rfd) }
        out[""] = ownedBy(rfd, uid: 0, gid: 0, mode: rootMode) ? .ok : .wrongOwner
        var fds: [String: Int32] = ["": rfd]
        defer { for (k, fd) in fds where !k.isEmpty { close(fd) } }
        for path in directories {
            let (parent, name) = split(path)
            guard let pfd = fds[parent] else { out[path] = .missing; continue }
            let fd = openat(pfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)
            if fd < 0 {
                out[path] = errno == ENOENT ? .missing : .notADirectory
                continue
            }
            fds[path] = fd
            if let owner {
                out[path] = ownedBy(fd, uid: owner.uid, gid: owner.gid, mode: 0o700) ? .ok : .wrongOwner
            } else {
                out[path] = .ok
            }
        }
        return out
    }

    /// Whether the tree is whole and right (what `create` would leave).
    public static func isComplete(_ root: String, owner: MailOwner?) -> Bool {
        inspect(root, owner: owner).values.allSatisfy { $0 == .ok }
    }

    /// Paths (relative to the root) that are not real directories.
    public static func blocked(_ states: [String: State]) -> [String] {
        states.filter { $0.value == .notADirectory }.keys.sorted()
    }

    static let rootMode: mode_t = 0o711

    /// Makes the volume root root:root 0711 and Maildir/{tmp,new,cur} the
    /// owner's with mode 0700. Existing content is never touched; nothing
    /// is followed: a component that is not a real directory stops it.
    public static func ensure(_ root: String, owner: MailOwner) throws {
        let rfd = open(root, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)
        guard rfd >= 0 else { throw failure(root, "", errno) }
        defer { close(rfd) }
        try set(rfd, root, "", uid: 0, gid: 0, mode: rootMode)
        var fds: [String: Int32] = ["": rfd]
        defer { for (k, fd) in fds where !k.isEmpty { close(fd) } }
        for path in directories {
            let (parent, name) = split(path)
            let pfd = fds[parent]!
            if mkdirat(pfd, name, 0o700) != 0 && errno != EEXIST { throw failure(root, path, errno) }
            let fd = openat(pfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)
            guard fd >= 0 else { throw failure(root, path, errno) }
            fds[path] = fd
            try set(fd, root, path, uid: owner.uid, gid: owner.gid, mode: 0o700)
        }
    }

    static func split(_ path: String) -> (String, String) {
        guard let slash = path.lastIndex(of: "/") else { return ("", path) }
        return (String(path[..<slash]), String(path[path.index(after: slash)...]))
    }

    static func ownedBy(_ fd: Int32, uid: uid_t, gid: gid_t, mode: mode_t) -> Bool {
        var st = stat()
        return fstat(fd, &st) == 0 && st.st_uid == uid && st.st_gid == gid && st.st_mode & 0o7777 == mode
    }

    static func set(_ fd: Int32, _ root: String, _ path: String, uid: uid_t, gid: gid_t, mode: mode_t) throws {
        guard fchown(fd, uid, gid) == 0, fchmod(fd, mode) == 0 else {
            throw SemailError("cannot set the owner of \(root)/\(path)", why: SystemState.errnoText(), status: .ioError)
        }
    }

    static func failure(_ root: String, _ path: String, _ e: Int32) -> SemailError {
        let full = path.isEmpty ? root : "\(root)/\(path)"
        if e == ELOOP || e == ENOTDIR || e == EEXIST {
            return SemailError(
                "\(full) is not a directory",
                why: "it is a symlink or a file (made from inside the mailbox?); semailctl never follows it",
                hint:
                    """
                    an admin must look at it and move it aside; then `semailctl volume create UID` makes the \
                    directory again
                    """,
                status: .dataError)
        }
        return SemailError("cannot create \(full)", why: SystemState.errnoText(e), status: .ioError)
    }
}

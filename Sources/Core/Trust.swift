import Foundation
#if canImport(Glibc)
    import Glibc
#endif

/// Files root acts on (the configuration, password files, the state
/// directory and its journal) are trusted only the way sshd's StrictModes
/// trusts a user's files: owned by root (or the user running the tool),
/// not writable by group or others, in directories that are the same all
/// the way up. A sticky directory such as /tmp may be a parent: others
/// cannot rename or remove what is ours in it.
public enum Trust {
    /// Who may own what we trust.
    static func trustedOwner(_ uid: uid_t) -> Bool { uid == 0 || uid == geteuid() }

    /// Checks every directory from / down to `dir` (after resolving links
    /// the admin made, such as /var/run).
    public static func checkDirectories(_ dir: String, for what: String) throws {
        // Links on the path as written are trusted only when root made them
        // (someone else's could be re-pointed between the check and the open).
        var walked = dir.hasPrefix("/") ? "" : "."
        for part in dir.split(separator: "/") {
            walked += "/\(part)"
            var st = stat()
            if lstat(walked, &st) == 0, (st.st_mode & S_IFMT) == S_IFLNK, !trustedOwner(st.st_uid) {
                throw untrusted(what, walked, "it is a symbolic link owned by uid \(st.st_uid)")
            }
        }
        guard let real = realpath(dir, nil) else {
            throw SemailError("cannot check \(what)", why: "\(dir): \(SystemState.errnoText())", status: .config)
        }
        let path = String(cString: real)
        free(real)
        var prefix = ""
        for part in [""] + path.split(separator: "/").map(String.init) {
            prefix = part.isEmpty ? "/" : (prefix == "/" ? "/\(part)" : "\(prefix)/\(part)")
            var st = stat()
            guard lstat(prefix, &st) == 0 else {
                throw SemailError("cannot check \(what)", why: "\(prefix): \(SystemState.errnoText())", status: .config)
            }
            try checkOwnerAndMode(st, prefix, what: what)
        }
    }

    /// A sticky directory (/tmp) may be writable by others: they cannot
    /// rename or remove what root owns in it.
    static func checkOwnerAndMode(_ st: stat, _ path: String, what: String) throws {
        let writable = st.st_mode & 0o022 != 0
        let sticky = st.st_mode & S_ISVTX != 0 && (st.st_mode & S_IFMT) == S_IFDIR
        guard trustedOwner(st.st_uid) else {
            throw untrusted(what, path, "it is owned by uid \(st.st_uid), not root")
        }
        if writable && !sticky {
            throw untrusted(what, path, "group or others may write it (mode \(String(st.st_mode & 0o7777, radix: 8)))")
        }
    }

    static func untrusted(_ what: String, _ path: String, _ why: String) -> SemailError {
        SemailError(
            "refusing \(what) \(path)", why: why,
            hint:
                """
                make it and every directory above it root's and not writable by group or others (chown root, chmod \
                go-w)
                """,
            status: .noPermission)
    }

    /// Opens a file root will believe: never through a symlink, a regular
    /// file of root's (or ours), not writable by group or others (nor
    /// readable, when `secret`), in trusted directories. The checks are
    /// made on the open descriptor, so the file cannot be swapped after.
    public static func open(_ path: String, what: String, secret: Bool = false) throws -> Int32 {
        try checkDirectories(
            (path as NSString).deletingLastPathComponent.isEmpty ? "." : (path as NSString).deletingLastPathComponent,
            for: what)
        let fd = Glibc.open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK)
        guard fd >= 0 else {
            let e = errno
            if e == ELOOP { throw untrusted(what, path, "it is a symbolic link") }
            throw SemailError(
                "cannot read \(what) \(path)", why: SystemState.errnoText(e),
                status: e == EACCES ? .noPermission : .config)
        }
        var st = stat()
        do {
            guard fstat(fd, &st) == 0 else {
                throw SemailError("cannot read \(what) \(path)", why: SystemState.errnoText(), status: .config)
            }
            guard (st.st_mode & S_IFMT) == S_IFREG else { throw untrusted(what, path, "it is not a regular file") }
            try checkOwnerAndMode(st, path, what: what)
            if secret, st.st_mode & 0o077 != 0 {
                throw SemailError(
                    "refusing \(what) \(path)",
                    why: "its mode is \(String(st.st_mode & 0o777, radix: 8)): group or others can access it",
                    hint: "chmod 600 \(path)", status: .noPermission)
            }
        } catch { close(fd); throw error }
        return fd
    }

    /// Reads a trusted file whole.
    public static func read(_ path: String, what: String, secret: Bool = false) throws -> [UInt8] {
        let fd = try open(path, what: what, secret: secret)
        defer { close(fd) }
        var out: [UInt8] = []
        var buf = [UInt8](repeating: 0, count: 65536)
        while true {
            let n = Glibc.read(fd, &buf, buf.count)
            if n < 0 {
                if errno == EINTR { continue };
                throw SemailError("cannot read \(what) \(path)", why: SystemState.errnoText(), status: .ioError)
            }
            if n == 0 { break }
            out += buf[0..<n]
            if out.count > 16 << 20 {
                throw SemailError("cannot read \(what) \(path)", why: "it is larger than 16 MiB", status: .config)
            }
        }
        return out
    }

    /// Makes the state directory (or one below it) when missing, mode 0700,
    /// and refuses one that others could write: a forged journal or
    /// quarantine entry would make root destroy volumes.
    public static func stateDirectory(_ dir: String) throws {
        if mkdir(dir, 0o700) != 0 && errno != EEXIST {
            if errno == ENOENT {
                try FileManager.default.createDirectory(
                    atPath: dir, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
            } else {
                throw SemailError(
                    "cannot create the state directory \(dir)", why: SystemState.errnoText(), status: .ioError)
            }
        }
        try checkDirectories(dir, for: "the state directory")
        var st = stat()
        guard lstat(dir, &st) == 0, (st.st_mode & S_IFMT) == S_IFDIR else {
            throw untrusted("the state directory", dir, "it is not a directory")
        }
        guard st.st_mode & 0o022 == 0 else {
            throw untrusted(
                "the state directory", dir,
                "group or others may write it (mode \(String(st.st_mode & 0o7777, radix: 8)))")
        }
    }
}

import CShims
import Core
import Foundation
#if canImport(Glibc)
    import Glibc
#endif

/// `mailbox backup`: a live Maildir copied into a `MaildirArchive` without
/// stopping anything. A delivered message never changes; it only moves
/// (new/ to cur/, or a rename for its flags) or goes away. So each folder is
/// listed (new/ before cur/: a message moving between the two listings is
/// seen twice, never missed), and a message gone when it is opened is looked
/// for again by its unique base name; one deleted meanwhile is left out. A
/// second listing picks up what a rename hid from the first. Every read is
/// through descriptors opened with O_NOFOLLOW from the volume root: the user
/// owns Maildir and may plant links, which are reported and never followed.
public enum MaildirBackup {
    public struct Result: Codable, Sendable, Equatable {
        public var uid: String
        public var address: String
        public var file: String
        public var messages: Int
        public var files: Int
        /// Content bytes of the members.
        public var bytes: UInt64
        /// The archive's size.
        public var archiveBytes: UInt64
        public var sha256: String
        /// Messages found again under another name (moved or flagged meanwhile).
        public var moved: Int
        /// Messages deleted between the listing and the reading.
        public var vanished: Int
        /// What was left out and why (links, devices, odd names).
        public var skipped: [String]
        public var seconds: Double
    }

    /// Archives the Maildir under MOUNTPOINT to FILE, which must not exist.
    /// FILE is made as an unnamed file (O_TMPFILE, 0600) in its directory,
    /// fsynced, read back and checked (checksum, counts), and only then
    /// given its name with a link that never replaces anything.
    public static func write(
        mountPoint: String, uid: String, address: String, to file: String, now: Date = Date(),
        progress: @escaping (Int, Int) -> Void = { _, _ in }, afterListing: @escaping (String) -> Void = { _ in },
        linkBudget: UInt64? = nil
    ) throws -> Result {
        let started = Date()
        var st = stat()
        if lstat(file, &st) == 0 {
            throw SemailError(
                "cannot write \(file)", why: "it already exists (a backup never replaces a file)",
                hint: "choose another name, or move the old file away", status: .cantCreate)
        }
        let root = open(mountPoint, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)
        guard root >= 0 else { throw noMaildir(uid, mountPoint, errno) }
        defer { close(root) }
        let maildir = FD.dir(root, "Maildir")
        guard maildir >= 0 else { throw noMaildir(uid, mountPoint, errno) }
        defer { close(maildir) }

        let dir = (file as NSString).deletingLastPathComponent
        let out = semail_tmpfile(dir.isEmpty ? "." : dir)
        guard out >= 0 else {
            throw SemailError(
                "cannot write \(file)", why: "cannot create a file in \(dir): \(SystemState.errnoText())",
                hint: "the directory must exist on a filesystem that supports O_TMPFILE (ext4, xfs, tmpfs)",
                status: .cantCreate)
        }
        defer { close(out) }
        _ = fchmod(out, 0o600)
        let sink = Sink(fd: out)
        var walker = Walker(maildir: maildir, sink: sink, progress: progress, afterListing: afterListing)
        // Copies of linked files (Dovecot copies between folders by linking) cost
        // the user nothing: at most the volume's use (64 MiB at least) of them is kept.
        var vfs = statvfs()
        let used = fstatvfs(maildir, &vfs) == 0 ? UInt64(vfs.f_blocks - vfs.f_bfree) * UInt64(vfs.f_frsize) : 0
        walker.linkBudget = linkBudget ?? max(used, 64 << 20)
        do {
            try sink.raw([UInt8](repeating: 0, count: MaildirArchive.payloadStart))
            sink.hashing = true
            try walker.run()
            try sink.append([UInt8](repeating: 0, count: 2 * TarHeader.block))
            try sink.flush()
        } catch let e as FileError {
            throw SemailError(
                "cannot write \(file)", why: e.description, hint: "free space, then retry", status: .ioError)
        }
        let manifest = BackupManifest(
            format: MaildirArchive.format, version: MaildirArchive.version, uid: uid, address: address,
            messages: walker.messages, files: walker.files, bytes: walker.bytes, sha256: sink.hasher.hex(),
            created: Date(timeIntervalSince1970: now.timeIntervalSince1970.rounded(.down)))
        let slot = try MaildirArchive.manifestBytes(manifest)
        let wrote = slot.withUnsafeBytes { pwrite(out, $0.baseAddress!, $0.count, 0) }
        guard wrote == slot.count, fsync(out) == 0 else {
            throw SemailError("cannot write \(file)", why: SystemState.errnoText(), status: .ioError)
        }
        // Read back: the same strict reader restore uses.
        lseek(out, 0, SEEK_SET)
        var none = MaildirArchiveReader.Nothing()
        let back: BackupManifest
        do { back = try MaildirArchiveReader.read(out, visitor: &none) } catch let e as MaildirArchiveReader.Refusal {
            throw SemailError(
                "the backup of \(uid) did not read back", why: e.description,
                hint: "nothing was written at \(file); check the disk, then retry", status: .ioError)
        }
        guard back == manifest else {
            throw SemailError(
                "the backup of \(uid) did not read back", why: "its manifest differs from what was written",
                hint: "nothing was written at \(file); check the disk, then retry", status: .ioError)
        }
        guard linkat(AT_FDCWD, "/proc/self/fd/\(out)", AT_FDCWD, file, AT_SYMLINK_FOLLOW) == 0 else {
            let e = errno
            throw SemailError(
                "cannot write \(file)", why: SystemState.errnoText(e),
                hint: e == EEXIST ? "something appeared at that name meanwhile: choose another name" : nil,
                status: .cantCreate)
        }
        AtomicFile.syncDirectory(dir)
        return Result(
            uid: uid, address: address, file: file, messages: manifest.messages, files: manifest.files,
            bytes: manifest.bytes, archiveBytes: sink.written, sha256: manifest.sha256, moved: walker.moved,
            vanished: walker.vanished,
            skipped: walker.skipped + (walker.skippedMore > 0 ? ["and \(walker.skippedMore) more"] : []),
            seconds: Date().timeIntervalSince(started))
    }

    static func noMaildir(_ uid: String, _ mp: String, _ e: Int32) -> SemailError {
        SemailError(
            "nothing to back up for \(uid)",
            why: "\(mp)/Maildir cannot be opened as a directory: \(SystemState.errnoText(e))",
            hint: "is the volume mounted? see `semailctl mailbox show \(uid)`", status: .failure)
    }

    /// The archive being written: buffered, hashed after the manifest's slot.
    final class Sink {
        let fd: Int32
        var buffer: [UInt8] = []
        var hasher = SHA256Stream()
        var hashing = false
        var written: UInt64 = 0
        init(fd: Int32) {
            self.fd = fd
            buffer.reserveCapacity(1 << 20)
        }
        func raw(_ b: [UInt8]) throws {
            try flush()
            try b.withUnsafeBytes { try FD.writeAll(fd, $0) }
            written += UInt64(b.count)
        }
        func append(_ p: UnsafeRawBufferPointer) throws {
            if hashing { hasher.update(p) }
            buffer.append(contentsOf: p)
            if buffer.count >= 1 << 20 { try flush() }
        }
        func append(_ b: [UInt8]) throws { try b.withUnsafeBytes { try append($0) } }
        func flush() throws {
            guard !buffer.isEmpty else { return }
            try buffer.withUnsafeBytes { try FD.writeAll(fd, $0) }
            written += UInt64(buffer.count)
            buffer.removeAll(keepingCapacity: true)
        }
    }

    /// The traversal: folders, then new/ and cur/ of each, then its files.
    struct Walker {
        let maildir: Int32
        let sink: Sink
        let progress: (Int, Int) -> Void
        /// A test's hook: called once each folder is listed, before its messages are read.
        let afterListing: (String) -> Void
        var messages = 0, files = 0, moved = 0, vanished = 0
        var bytes: UInt64 = 0
        var skipped: [String] = []
        var skippedMore = 0

        /// Notes what was left out; past 1000 notes only counted (a user can make millions).
        mutating func skip(_ what: String) {
            if skipped.count < 1000 { skipped.append(what) } else { skippedMore += 1 }
        }
        /// Files with more than one link already kept (device:inode).
        var linked = Set<String>()
        /// How many bytes of further copies of those may still be kept.
        var linkBudget: UInt64 = 0
        var chunk = [UInt8](repeating: 0, count: 1 << 18)
        var done = 0, total = 0

        enum Outcome { case stored, gone, skipped }

        mutating func run() throws {
            try folder("", maildir)
            // One folder open at a time: a mailbox of thousands of folders never runs out of descriptors.
            for name in FD.list(maildir).sorted() where name.hasPrefix(".") {
                guard MaildirPath.validFolder(name) else {
                    skip("Maildir/\(Validate.printable(name)): an unusual folder name")
                    continue
                }
                let fd = FD.dir(maildir, name)
                if fd >= 0 {
                    defer { close(fd) }
                    try folder(name, fd)
                    continue
                }
                let e = errno
                // O_DIRECTORY|O_NOFOLLOW on a link fails with ENOTDIR or ELOOP: ask what it is.
                var st = stat()
                if fstatat(maildir, name, &st, AT_SYMLINK_NOFOLLOW) == 0 {
                    if st.st_mode & S_IFMT == S_IFLNK {
                        skip("Maildir/\(name): a symbolic link (not followed)")
                    } else if st.st_mode & S_IFMT == S_IFDIR {
                        // A folder that cannot be opened is not mail left out quietly.
                        throw SemailError(
                            "cannot open the folder Maildir/\(name)", why: SystemState.errnoText(e),
                            hint: "nothing was kept; fix the cause (e.g. `ulimit -n`) and run the backup again")
                    }
                }  // a plain dot-file beside the folders is not mail
            }
        }

        mutating func folder(_ folder: String, _ fd: Int32) throws {
            let prefix = "Maildir/" + (folder.isEmpty ? "" : folder + "/")
            var subs: [(String, Int32)] = []
            defer { for (_, s) in subs { close(s) } }
            for sub in ["new", "cur"] {
                let s = FD.dir(fd, sub)
                if s >= 0 {
                    subs.append((sub, s))
                } else if errno != ENOENT {
                    skip("\(prefix)\(sub): not a directory (not followed)")
                }
            }
            let listed = subs.map { ($0.0, $0.1, FD.list($0.1)) }
            total += listed.reduce(0) { $0 + $1.2.count }
            try Fault.check("backup.listed")
            afterListing(folder)
            var stored = Set<String>()
            for (sub, sfd, names) in listed {
                for name in names { try message(folder, sub, sfd, name, subs, &stored) }
            }
            // A second look: what a rename hid from the first listing (and what arrived since).
            for (sub, sfd) in subs {
                for name in FD.list(sfd) where !stored.contains(MaildirPath.base(name)) {
                    try message(folder, sub, sfd, name, subs, &stored)
                }
            }
            let own = folder.isEmpty ? MaildirPath.rootFiles : MaildirPath.folderFiles
            for name in own.sorted() {
                let path = MaildirPath(folder: folder, sub: nil, name: name)
                if try store(fd, name, path) == .stored { files += 1 }
            }
        }

        mutating func message(
            _ folder: String, _ sub: String, _ sfd: Int32, _ name: String, _ subs: [(String, Int32)],
            _ stored: inout Set<String>
        ) throws {
            done += 1
            if done % 64 == 0 { progress(done, max(done, total)) }
            guard MaildirPath.validMessageName(name) else {
                if !name.hasPrefix(".") {
                    skip(
                        "\(folder.isEmpty ? "" : folder + "/")\(sub)/\(Validate.printable(name)): "
                            + "an unusual name")
                }
                return
            }
            let base = MaildirPath.base(name)
            guard !stored.contains(base) else { return }
            var outcome = try store(sfd, name, MaildirPath(folder: folder, sub: sub, name: name))
            // Gone: moved to cur/, flagged (renamed) or deleted meanwhile; look again by its base name.
            var tries = 0
            while outcome == .gone && tries < 3 {
                tries += 1
                var found: (String, Int32, String)?
                for (s, fd) in subs {
                    if let n = FD.list(fd).first(where: { MaildirPath.base($0) == base }) { found = (s, fd, n) }
                }
                guard let (s, fd, n) = found, MaildirPath.validMessageName(n) else { break }
                outcome = try store(fd, n, MaildirPath(folder: folder, sub: s, name: n))
                if outcome == .stored { moved += 1 }
            }
            switch outcome {
            case .stored: stored.insert(base); messages += 1; files += 1
            case .gone: vanished += 1
            case .skipped: break
            }
        }

        /// One member: header, then the file's bytes as they are read.
        mutating func store(_ dfd: Int32, _ name: String, _ path: MaildirPath) throws -> Outcome {
            let fd = openat(dfd, name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY | O_CLOEXEC)
            if fd < 0 {
                let e = errno
                if e == ENOENT { return .gone }
                skip(
                    "\(path.archiveName): "
                        + (e == ELOOP ? "a symbolic link (not followed)" : "cannot open (\(SystemState.errnoText(e)))"))
                return .skipped
            }
            defer { close(fd) }
            var st = stat()
            guard fstat(fd, &st) == 0, st.st_mode & S_IFMT == S_IFREG else {
                skip("\(path.archiveName): not a regular file")
                return .skipped
            }
            guard st.st_size <= TarHeader.maxSize else {
                skip("\(path.archiveName): larger than 8 GiB")
                return .skipped
            }
            // What costs the user no space must not cost the archive much: a
            // linked file is kept again under each of its names only within the
            // budget (then once), and no sparse file (its size is not its data),
            // so an archive is never much larger than what the volume holds.
            let inode = "\(st.st_dev):\(st.st_ino)"
            if st.st_nlink > 1 && !linked.insert(inode).inserted {
                guard UInt64(st.st_size) <= linkBudget else {
                    skip("\(path.archiveName): another link to a file already kept (past the budget for copies)")
                    return .skipped
                }
                linkBudget -= UInt64(st.st_size)
            }
            if Int64(st.st_blocks) * 512 + Int64(st.st_blksize) < Int64(st.st_size) {
                skip("\(path.archiveName): a sparse file (\(st.st_size) bytes, little of it data)")
                return .skipped
            }
            let size = Int(st.st_size)
            try sink.append(
                TarHeader.encode(
                    name: path.archiveName, type: TarHeader.TypeFlag.file, mode: 0o600, size: size,
                    mtime: max(0, Int(st.st_mtim.tv_sec))))
            var left = size
            while left > 0 {
                let n = chunk.withUnsafeMutableBytes { read(fd, $0.baseAddress!, min($0.count, left)) }
                if n < 0 && errno == EINTR { continue }
                if n <= 0 {
                    // Shorter than it was (only a user's own doing): the member keeps its size.
                    skip("\(path.archiveName): changed while read (padded)")
                    try sink.append([UInt8](repeating: 0, count: left))
                    break
                }
                try chunk.withUnsafeBytes { try sink.append(UnsafeRawBufferPointer(rebasing: $0[0..<n])) }
                left -= n
            }
            try sink.append([UInt8](repeating: 0, count: TarHeader.padding(size)))
            bytes += UInt64(size)
            return .stored
        }
    }
}

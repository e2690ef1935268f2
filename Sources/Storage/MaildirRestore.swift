import Core
import Foundation
#if canImport(Glibc)
    import Glibc
#endif

/// `mailbox restore`: a `MaildirArchive` put back into a live Maildir, as a
/// delivery would: each message written into tmp/ of its folder (openat,
/// O_CREAT|O_EXCL|O_NOFOLLOW, owned by the mailbox owner, its mtime kept),
/// then linked into new/ or cur/ under its own name (a link never replaces
/// anything) and its tmp/ name removed. A message whose base name is already
/// in new/ or cur/ of its folder is skipped, so a second restore adds
/// nothing. Folders missing are made; dovecot-keywords, subscriptions and
/// maildirfolder are written only when absent. The whole archive is read
/// and checked first (`MaildirArchiveReader`): a refused archive writes
/// nothing.
public enum MaildirRestore {
    public struct Result: Codable, Sendable, Equatable {
        public var uid: String
        public var file: String
        /// Whose backup it is, and when it was made.
        public var archiveUID: String
        public var archiveAddress: String
        public var archiveCreated: Date
        public var added: Int
        /// Messages already there (same base name in new/ or cur/).
        public var skipped: Int
        public var filesAdded: Int
        public var filesKept: Int
        public var bytesAdded: UInt64
        public var foldersCreated: [String]
    }

    /// Checks FILE whole; nothing is written. The manifest, or a SemailError saying why it is refused.
    public static func check(_ file: String) throws -> BackupManifest {
        let fd = try openArchive(file)
        defer { close(fd) }
        var none = MaildirArchiveReader.Nothing()
        return try refusing(file) { try MaildirArchiveReader.read(fd, visitor: &none) }
    }

    public static func restore(file: String, mountPoint: String, uid: String, owner: MailOwner) throws -> Result {
        let fd = try openArchive(file)
        defer { close(fd) }
        var none = MaildirArchiveReader.Nothing()
        let manifest = try refusing(file) { try MaildirArchiveReader.read(fd, visitor: &none) }
        let states = MaildirTree.inspect(mountPoint, owner: owner)
        guard states.values.allSatisfy({ $0 == .ok }) else {
            let bad = states.filter { $0.value != .ok }.keys.sorted().map { $0.isEmpty ? mountPoint : $0 }
            throw SemailError(
                "cannot restore into \(uid)'s mailbox", why: "its Maildir is not whole or not its owner's: \(bad)",
                hint: "see `semailctl mailbox show \(uid)`; `semailctl volume create \(uid)` repairs the tree",
                status: .failure)
        }
        let root = open(mountPoint, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)
        guard root >= 0 else { throw MaildirBackup.noMaildir(uid, mountPoint, errno) }
        defer { close(root) }
        let maildir = FD.dir(root, "Maildir")
        guard maildir >= 0 else { throw MaildirBackup.noMaildir(uid, mountPoint, errno) }
        defer { close(maildir) }
        lseek(fd, 0, SEEK_SET)
        var writer = Writer(maildir: maildir, owner: owner)
        defer { writer.closeAll() }
        do {
            _ = try refusing(file) { try MaildirArchiveReader.read(fd, visitor: &writer) }
        } catch {
            writer.abandon()
            throw SemailError(
                "the restore into \(uid) stopped", why: "\(error)",
                hint: "\(writer.added) messages were added; fix the cause and run it again (it adds only what is "
                    + "missing)", status: .ioError)
        }
        writer.syncDirectories()
        return Result(
            uid: uid, file: file, archiveUID: manifest.uid, archiveAddress: manifest.address,
            archiveCreated: manifest.created, added: writer.added, skipped: writer.skipped,
            filesAdded: writer.filesAdded, filesKept: writer.filesKept, bytesAdded: writer.bytesAdded,
            foldersCreated: writer.foldersCreated)
    }

    static func openArchive(_ file: String) throws -> Int32 {
        let fd = open(file, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY | O_CLOEXEC)
        guard fd >= 0 else {
            throw SemailError(
                "cannot read \(file)", why: SystemState.errnoText(), hint: "give the path of a backup file",
                status: errno == ENOENT ? .usage : .ioError)
        }
        var st = stat()
        guard fstat(fd, &st) == 0, st.st_mode & S_IFMT == S_IFREG else {
            close(fd)
            throw SemailError("cannot read \(file)", why: "it is not a regular file", status: .usage)
        }
        // Read twice (checked, then written): nobody but its owner, root or
        // whoever runs this, may be able to change it between the two.
        guard st.st_uid == 0 || st.st_uid == geteuid(), st.st_mode & 0o022 == 0 else {
            close(fd)
            throw SemailError(
                "refusing the archive \(file)",
                why: "another user could change it while it is read (owner \(st.st_uid), "
                    + "mode \(String(st.st_mode & 0o7777, radix: 8)))",
                hint: "copy it somewhere only root can write (`install -m 0600 FILE /root/`), then restore from there",
                status: .noPermission)
        }
        return fd
    }

    static func refusing<T>(_ file: String, _ body: () throws -> T) throws -> T {
        do { return try body() } catch let r as MaildirArchiveReader.Refusal {
            throw SemailError(
                "refusing the archive \(file)", why: r.description,
                hint: "nothing was written; use a backup made by `semailctl mailbox backup`", status: .dataError)
        }
    }

    /// Pass two: the members written into the Maildir.
    struct Writer: MaildirArchiveReader.Visitor {
        let maildir: Int32
        let owner: MailOwner
        var folders: [String: Folder] = [:]
        var added = 0, skipped = 0, filesAdded = 0, filesKept = 0
        var bytesAdded: UInt64 = 0
        var foldersCreated: [String] = []
        var current: Current?

        struct Folder {
            var dir: Int32, tmp: Int32, new: Int32, cur: Int32
            var bases: Set<String>
        }
        struct Current {
            var fd: Int32
            var tmpName: String
            var folder: String
            var dest: Int32
            var entry: MaildirArchive.Entry
        }

        init(maildir: Int32, owner: MailOwner) { self.maildir = maildir; self.owner = owner }

        mutating func begin(_ e: MaildirArchive.Entry) throws -> Bool {
            let f = try folder(e.path.folder)
            let dest: Int32
            if let sub = e.path.sub {
                guard !f.bases.contains(e.path.base) else { skipped += 1; return false }
                dest = sub == "new" ? f.new : f.cur
            } else {
                var st = stat()
                if fstatat(f.dir, e.path.name, &st, AT_SYMLINK_NOFOLLOW) == 0 { filesKept += 1; return false }
                dest = f.dir
            }
            let stamp = Int(Date().timeIntervalSince1970)
            let tmpName = "\(stamp).R\(UInt64.random(in: 0...UInt64.max))P\(getpid()).restore"
            let fd = openat(f.tmp, tmpName, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0o600)
            guard fd >= 0 else { throw FileError("cannot create tmp/\(tmpName): \(SystemState.errnoText())") }
            current = Current(fd: fd, tmpName: tmpName, folder: e.path.folder, dest: dest, entry: e)
            guard fchown(fd, owner.uid, owner.gid) == 0, fchmod(fd, 0o600) == 0 else {
                throw FileError("cannot set the owner of tmp/\(tmpName): \(SystemState.errnoText())")
            }
            return true
        }

        mutating func chunk(_ bytes: UnsafeRawBufferPointer) throws {
            guard let c = current else { return }
            do { try FD.writeAll(c.fd, bytes) } catch { throw FileError("cannot write tmp/\(c.tmpName): \(error)") }
        }

        mutating func end() throws {
            guard let c = current else { return }
            current = nil
            let tmp = folders[c.folder]!.tmp
            defer { unlinkat(tmp, c.tmpName, 0) }
            var times = [
                timespec(tv_sec: c.entry.mtime, tv_nsec: 0), timespec(tv_sec: c.entry.mtime, tv_nsec: 0)
            ]
            _ = futimens(c.fd, &times)
            let synced = fsync(c.fd) == 0
            close(c.fd)
            guard synced else { throw FileError("cannot write tmp/\(c.tmpName): \(SystemState.errnoText())") }
            if linkat(tmp, c.tmpName, c.dest, c.entry.path.name, 0) != 0 {
                guard errno == EEXIST else {
                    throw FileError("cannot link \(c.entry.path.archiveName): \(SystemState.errnoText())")
                }
                // Appeared meanwhile (a delivery, the user): theirs stays.
                if c.entry.path.isMessage { skipped += 1 } else { filesKept += 1 }
                return
            }
            if c.entry.path.isMessage {
                added += 1
                folders[c.folder]!.bases.insert(c.entry.path.base)
            } else {
                filesAdded += 1
            }
            bytesAdded += UInt64(c.entry.size)
        }

        /// A member stopped half-way: its tmp/ file goes.
        mutating func abandon() {
            guard let c = current else { return }
            close(c.fd)
            if let f = folders[c.folder] { unlinkat(f.tmp, c.tmpName, 0) }
            current = nil
        }

        /// The links made, on disk (each file was fsynced before its link, as a delivery does).
        func syncDirectories() {
            for f in folders.values { for fd in [f.dir, f.new, f.cur] { _ = fsync(fd) } }
        }

        mutating func closeAll() {
            abandon()
            closeFolders()
        }

        /// Every folder's links on disk, then its descriptors closed: one
        /// folder is open at a time (a backup's members come folder by folder),
        /// so thousands of folders never run out of descriptors.
        mutating func closeFolders() {
            syncDirectories()
            for (name, f) in folders {
                for fd in [f.tmp, f.new, f.cur] { close(fd) }
                if !name.isEmpty { close(f.dir) }
            }
            folders = [:]
        }

        /// The folder's descriptors, made (the owner's, 0700) when missing.
        mutating func folder(_ name: String) throws -> Folder {
            if let f = folders[name] { return f }
            closeFolders()
            var dir = maildir
            if !name.isEmpty {
                if mkdirat(maildir, name, 0o700) == 0 { foldersCreated.append(name) }
                dir = try opened(maildir, name, "Maildir/\(name)")
            }
            var subs: [Int32] = []
            do {
                for s in ["tmp", "new", "cur"] {
                    _ = mkdirat(dir, s, 0o700)
                    subs.append(try opened(dir, s, "Maildir/\(name.isEmpty ? "" : name + "/")\(s)"))
                }
            } catch {
                for fd in subs { close(fd) }
                if !name.isEmpty { close(dir) }
                throw error
            }
            let bases = Set((FD.list(subs[1]) + FD.list(subs[2])).map(MaildirPath.base))
            let f = Folder(dir: dir, tmp: subs[0], new: subs[1], cur: subs[2], bases: bases)
            folders[name] = f
            return f
        }

        /// A directory of the Maildir, never through a link; one just made becomes the owner's.
        func opened(_ parent: Int32, _ name: String, _ shown: String) throws -> Int32 {
            let fd = FD.dir(parent, name)
            guard fd >= 0 else {
                throw FileError(
                    "\(shown) is not a directory (\(SystemState.errnoText())); a symbolic link is never followed")
            }
            var st = stat()
            if fstat(fd, &st) == 0, st.st_uid == 0 {
                _ = fchown(fd, owner.uid, owner.gid)
                _ = fchmod(fd, 0o700)
            }
            return fd
        }
    }
}

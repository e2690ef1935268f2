import Core
import Foundation
import Storage

/// `mailbox backup` and `mailbox restore`: the Maildir of a live mailbox
/// into a `MaildirArchive` and back (Storage's `MaildirBackup` and
/// `MaildirRestore`); the directory says whose mailbox it is.
public struct BackupSummary: Sendable, Codable {
    public var dir: String
    public var backups: [MaildirBackup.Result]
    public var failures: [Failure]
    public struct Failure: Sendable, Codable {
        public var uid: String
        public var error: String
    }
}

extension Mailboxes {
    /// One mailbox's backup to FILE (which must not exist).
    public func backup(uid: String, to file: String, progress: @escaping (Int, Int) -> Void = { _, _ in }) throws
        -> MaildirBackup.Result
    {
        let uid = try Validate.uid(uid)
        guard let m = try host.directory().mailbox(uid) else {
            throw SemailError(
                "\(uid) has no mailbox", why: "no semailMailbox on the entry", hint: "see `semailctl mailbox list`",
                status: .failure)
        }
        let file = try archivePath(file)
        return try MaildirBackup.write(
            mountPoint: try host.volumes().mountPoint(uid), uid: uid, address: m.address, to: file, progress: progress)
    }

    /// Every mailbox to DIR/<uid>-<UTC time>.semail-backup.tar, going on past a failure.
    public func backupAll(to dir: String, now: Date = Date(), each: (Int, Int, String) -> Void = { _, _, _ in })
        throws -> BackupSummary
    {
        let dir = try archivePath(dir.hasSuffix("/") ? String(dir.dropLast()) : dir)
        var isDir: ObjCBool = false
        guard FileManager.default.fileExists(atPath: dir, isDirectory: &isDir), isDir.boolValue else {
            throw SemailError(
                "cannot back up into \(dir)", why: "it is not a directory", hint: "create it (mode 0700) first",
                status: .usage)
        }
        let stamp = Self.stamp(now)
        let all = try host.directory().mailboxes()
        var out = BackupSummary(dir: dir, backups: [], failures: [])
        for (i, m) in all.enumerated() {
            each(i, all.count, m.uid)
            do {
                guard (try? Validate.uid(m.uid)) != nil else {
                    throw SemailError("invalid uid in the directory", why: Validate.quoted(m.uid), status: .dataError)
                }
                out.backups.append(
                    try MaildirBackup.write(
                        mountPoint: try host.volumes().mountPoint(m.uid), uid: m.uid, address: m.address,
                        to: "\(dir)/\(m.uid)-\(stamp).semail-backup.tar", now: now))
            } catch {
                out.failures.append(.init(uid: Validate.printable(m.uid), error: "\(error)"))
            }
        }
        each(all.count, all.count, "")
        return out
    }

    /// FILE restored into UID's existing mailbox (its owner's files).
    public func restore(uid: String, from file: String) throws -> MaildirRestore.Result {
        let uid = try Validate.uid(uid)
        guard try host.directory().mailbox(uid) != nil else {
            throw SemailError(
                "\(uid) has no mailbox", why: "a restore goes into an existing mailbox",
                hint: "create it first: `semailctl mailbox create \(uid) --address ADDRESS`, then restore",
                status: .failure)
        }
        let owner = try host.mailOwner(uid)
        let file = URL(fileURLWithPath: file).standardizedFileURL.path
        return try MaildirRestore.restore(
            file: file, mountPoint: try host.volumes().mountPoint(uid), uid: uid, owner: owner)
    }

    /// 20261206T031500Z
    static func stamp(_ d: Date) -> String {
        let f = DateFormatter()
        f.locale = Locale(identifier: "en_US_POSIX")
        f.timeZone = TimeZone(identifier: "UTC")
        f.dateFormat = "yyyyMMdd'T'HHmmss'Z'"
        return f.string(from: d)
    }

    /// An absolute path for an archive, never under the mail root: root
    /// writes it, and the users own what is there.
    func archivePath(_ path: String) throws -> String {
        let abs = URL(fileURLWithPath: path).standardizedFileURL.path
        let parent = (abs as NSString).deletingLastPathComponent
        let realParent =
            realpath(parent, nil).map { p in
                defer { free(p) }; return String(cString: p)
            } ?? parent
        let realRoot =
            realpath(config.storage.mailRoot, nil).map { p in
                defer { free(p) }; return String(cString: p)
            }
            ?? config.storage.mailRoot
        for p in [abs, realParent + "/" + (abs as NSString).lastPathComponent]
        where p == realRoot || p.hasPrefix(realRoot + "/") || p == config.storage.mailRoot
            || p.hasPrefix(config.storage.mailRoot + "/")
        {
            throw SemailError(
                "refusing to write a backup at \(path)", why: "it is under [storage] mail_root, inside users' volumes",
                hint: "write backups outside \(config.storage.mailRoot)", status: .usage)
        }
        return abs
    }
}

import Core
import Foundation
import Testing

@testable import Storage

/// A Maildir on the local disk (no volume): what `mailbox backup` and
/// `mailbox restore` do to one, the archive's format, and the archives a
/// restore must refuse with nothing written.
@Suite struct MaildirArchiveTests {
    static let owner = MailOwner(uid: 4321, gid: 4322)

    /// A volume-like root (root's, 0711) with Maildir/{tmp,new,cur} of OWNER.
    final class Box {
        let root: String
        init() throws {
            root = "/tmp/semail-unit-bk-\(UUID().uuidString.prefix(8))"
            try FileManager.default.createDirectory(atPath: root, withIntermediateDirectories: true)
            try MaildirTree.ensure(root, owner: MaildirArchiveTests.owner)
        }
        var maildir: String { "\(root)/Maildir" }
        deinit { try? FileManager.default.removeItem(atPath: root) }

        /// A message written into tmp/ and moved into SUB (as a delivery does).
        @discardableResult
        func deliver(
            _ name: String, sub: String = "new", folder: String = "", body: String? = nil, mtime: Int = 1_700_000_000
        )
            throws -> String
        {
            let dir = folder.isEmpty ? maildir : "\(maildir)/\(folder)"
            for s in ["tmp", "new", "cur"] {
                try FileManager.default.createDirectory(atPath: "\(dir)/\(s)", withIntermediateDirectories: true)
            }
            let tmp = "\(dir)/tmp/\(name)"
            try Data((body ?? "Subject: \(name)\n\nbody of \(name)\n").utf8).write(to: URL(fileURLWithPath: tmp))
            var times = [timespec(tv_sec: mtime, tv_nsec: 0), timespec(tv_sec: mtime, tv_nsec: 0)]
            _ = utimensat(AT_FDCWD, tmp, &times, 0)
            let dest = "\(dir)/\(sub)/\(name)"
            guard rename(tmp, dest) == 0 else { throw FileError("rename \(tmp)") }
            return dest
        }

        /// Every file under Maildir (but tmp/), relative, sorted.
        func files() -> [String] {
            let e = FileManager.default.enumerator(atPath: maildir)
            var out: [String] = []
            while let p = e?.nextObject() as? String {
                var st = stat()
                if lstat("\(maildir)/\(p)", &st) == 0, st.st_mode & S_IFMT != S_IFDIR { out.append(p) }
            }
            return out.sorted()
        }
    }

    func tempFile() -> String { "/tmp/semail-unit-bk-\(UUID().uuidString.prefix(8)).tar" }

    func backup(_ b: Box, to file: String, afterListing: @escaping (String) -> Void = { _ in }) throws
        -> MaildirBackup.Result
    {
        try MaildirBackup.write(
            mountPoint: b.root, uid: "alice", address: "alice@example.org", to: file, afterListing: afterListing)
    }

    @Test func roundTripKeepsFlagsFoldersTimesAndOwners() throws {
        let a = try Box()
        try a.deliver("1700000001.M1P1.host,S=40")
        try a.deliver("1700000002.M2P1.host,S=40:2,S", sub: "cur", mtime: 1_600_000_000)
        try a.deliver("1700000003.M3P1.host:2,RS", sub: "cur")
        let long = "1700000004.M4P1." + String(repeating: "h", count: 120) + ",S=99:2,FS"
        try a.deliver(long, sub: "cur", folder: ".Archives.2024 Old")
        try a.deliver("1700000005.M5P1.host:2,", sub: "cur", folder: ".Sent")
        try Data("0 $Junk\n".utf8).write(to: URL(fileURLWithPath: "\(a.maildir)/dovecot-keywords"))
        try Data("Sent\n".utf8).write(to: URL(fileURLWithPath: "\(a.maildir)/subscriptions"))
        try Data().write(to: URL(fileURLWithPath: "\(a.maildir)/.Sent/maildirfolder"))
        // Planted by the user: a link to a root file, a FIFO, a link as a folder, a message in tmp/.
        symlink("/etc/shadow", "\(a.maildir)/cur/1700000009.M9P1.host:2,S")
        mkfifo("\(a.maildir)/new/1700000010.M10P1.host", 0o600)
        symlink("/etc", "\(a.maildir)/.Evil")
        try Data("partial".utf8).write(to: URL(fileURLWithPath: "\(a.maildir)/tmp/1700000011.M11P1.host"))

        let file = tempFile()
        defer { unlink(file) }
        let r = try backup(a, to: file)
        #expect(r.messages == 5 && r.files == 8 && r.vanished == 0 && r.moved == 0, "\(r)")
        #expect(r.skipped.contains { $0.contains("1700000009") && $0.contains("symbolic link") }, "\(r.skipped)")
        #expect(r.skipped.contains { $0.contains("1700000010") && $0.contains("not a regular file") }, "\(r.skipped)")
        #expect(r.skipped.contains { $0.contains(".Evil") && $0.contains("symbolic link") }, "\(r.skipped)")
        var st = stat()
        #expect(lstat(file, &st) == 0 && st.st_mode & 0o7777 == 0o600 && st.st_uid == 0)
        #expect(UInt64(st.st_size) == r.archiveBytes)
        // An ordinary tar reads it: the manifest first, the long name whole.
        let listed = try ProcessRunner().run(["tar", "tf", file]).text.split(separator: "\n").map(String.init)
        #expect(listed.first == "semail-backup.json")
        #expect(listed.contains("Maildir/.Archives.2024 Old/cur/\(long)"), "\(listed)")
        #expect(!listed.contains { $0.contains("tmp/") || $0.contains("shadow") || $0.contains("1700000010") })

        let b = try Box()
        let first = try MaildirRestore.restore(file: file, mountPoint: b.root, uid: "bob", owner: Self.owner)
        #expect(first.added == 5 && first.skipped == 0 && first.filesAdded == 3 && first.filesKept == 0, "\(first)")
        #expect(first.archiveUID == "alice" && first.archiveAddress == "alice@example.org")
        #expect(Set(first.foldersCreated) == [".Archives.2024 Old", ".Sent"])
        let want = a.files().filter {
            !$0.hasPrefix("tmp/") && !$0.contains("1700000009") && !$0.contains("1700000010") && !$0.hasPrefix(".Evil")
        }
        #expect(b.files() == want)
        #expect(try String(contentsOfFile: "\(b.maildir)/dovecot-keywords", encoding: .utf8) == "0 $Junk\n")
        let msg = "\(b.maildir)/cur/1700000002.M2P1.host,S=40:2,S"
        #expect(lstat(msg, &st) == 0 && st.st_uid == 4321 && st.st_gid == 4322 && st.st_mode & 0o7777 == 0o600)
        #expect(st.st_mtim.tv_sec == 1_600_000_000)
        #expect(lstat("\(b.maildir)/.Sent", &st) == 0 && st.st_uid == 4321 && st.st_mode & 0o7777 == 0o700)
        #expect(
            try String(contentsOfFile: msg, encoding: .utf8) == "Subject: 1700000002.M2P1.host,S=40:2,S\n\nbody of "
                + "1700000002.M2P1.host,S=40:2,S\n")
        #expect(try FileManager.default.contentsOfDirectory(atPath: "\(b.maildir)/tmp").isEmpty)

        // Twice: nothing added, even when a message's flags changed meanwhile.
        rename("\(b.maildir)/cur/1700000003.M3P1.host:2,RS", "\(b.maildir)/cur/1700000003.M3P1.host:2,RST")
        let before = b.files()
        let second = try MaildirRestore.restore(file: file, mountPoint: b.root, uid: "bob", owner: Self.owner)
        #expect(second.added == 0 && second.skipped == 5 && second.filesAdded == 0 && second.filesKept == 3)
        #expect(b.files() == before)
    }

    @Test func neverReplacesAFile() throws {
        let a = try Box()
        try a.deliver("1.M1P1.host")
        let file = tempFile()
        defer { unlink(file) }
        try Data("mine".utf8).write(to: URL(fileURLWithPath: file))
        #expect(throws: SemailError.self) { try backup(a, to: file) }
        #expect(try String(contentsOfFile: file, encoding: .utf8) == "mine")
        unlink(file)
        symlink("/tmp/semail-unit-bk-nowhere", file)
        #expect(throws: SemailError.self) { try backup(a, to: file) }
        #expect(access("/tmp/semail-unit-bk-nowhere", F_OK) != 0)
    }

    /// Between the listing and the reading: a message moved to cur/, one
    /// flagged (renamed), one deleted, one delivered. Each listed message
    /// is stored once, under the name it has when read.
    @Test func messagesMovingDuringTheBackupAreFoundAgain() throws {
        let a = try Box()
        for i in 1...6 { try a.deliver("17000000\(i).M\(i)P1.host") }
        try a.deliver("170000007.M7P1.host:2,", sub: "cur")
        let file = tempFile()
        defer { unlink(file) }
        let r = try backup(a, to: file) { folder in
            guard folder.isEmpty else { return }
            let m = a.maildir
            rename("\(m)/new/170000001.M1P1.host", "\(m)/cur/170000001.M1P1.host:2,S")
            rename("\(m)/new/170000002.M2P1.host", "\(m)/cur/170000002.M2P1.host:2,")
            rename("\(m)/cur/170000007.M7P1.host:2,", "\(m)/cur/170000007.M7P1.host:2,RS")
            unlink("\(m)/new/170000003.M3P1.host")
            _ = try? a.deliver("170000008.M8P1.host")
        }
        #expect(r.vanished == 1 && r.moved == 3, "\(r)")
        let b = try Box()
        _ = try MaildirRestore.restore(file: file, mountPoint: b.root, uid: "bob", owner: Self.owner)
        #expect(
            b.files() == [
                "cur/170000001.M1P1.host:2,S", "cur/170000002.M2P1.host:2,", "cur/170000007.M7P1.host:2,RS",
                "new/170000004.M4P1.host", "new/170000005.M5P1.host", "new/170000006.M6P1.host",
                "new/170000008.M8P1.host"
            ])
    }

    @Test func restoreNeverOverwritesAndKeepsWhatIsThere() throws {
        let a = try Box()
        try a.deliver("1.M1P1.host:2,S", sub: "cur", body: "from the backup")
        try a.deliver("2.M2P1.host", body: "two")
        try Data("0 a\n".utf8).write(to: URL(fileURLWithPath: "\(a.maildir)/dovecot-keywords"))
        let file = tempFile()
        defer { unlink(file) }
        _ = try backup(a, to: file)
        let b = try Box()
        try b.deliver("1.M1P1.host", body: "already here")  // same base, other place and flags
        try Data("0 b\n".utf8).write(to: URL(fileURLWithPath: "\(b.maildir)/dovecot-keywords"))
        let r = try MaildirRestore.restore(file: file, mountPoint: b.root, uid: "bob", owner: Self.owner)
        #expect(r.added == 1 && r.skipped == 1 && r.filesKept == 1)
        #expect(b.files() == ["dovecot-keywords", "new/1.M1P1.host", "new/2.M2P1.host"])
        #expect(try String(contentsOfFile: "\(b.maildir)/new/1.M1P1.host", encoding: .utf8) == "already here")
        #expect(try String(contentsOfFile: "\(b.maildir)/dovecot-keywords", encoding: .utf8) == "0 b\n")
    }

    /// The attack: space the user does not pay for (links to one message, a
    /// sparse file) made into an archive of terabytes. Copies of a linked file
    /// are kept only within a budget (Dovecot copies between folders by
    /// linking: those stay), no sparse file is kept, and the archive stays
    /// about the size of the mail plus the budget.
    @Test func linksAndSparseFilesCannotInflateTheArchive() throws {
        let a = try Box()
        let body = String(repeating: "x", count: 20_000)
        let first = try a.deliver("1.M1P1.host:2,S", sub: "cur", body: body)
        for i in 2...200 { link(first, "\(a.maildir)/cur/\(i).M\(i)P1.host:2,S") }
        try FileManager.default.createDirectory(atPath: "\(a.maildir)/.Archive/cur", withIntermediateDirectories: true)
        link(first, "\(a.maildir)/.Archive/cur/1.M1P1.host:2,S")
        let sparse = try a.deliver("999.M999P1.host", body: "")
        truncate(sparse, 4 << 30)  // 4 GiB, no block of it written
        let file = tempFile()
        defer { unlink(file) }
        let r = try MaildirBackup.write(
            mountPoint: a.root, uid: "alice", address: "alice@example.org", to: file, linkBudget: 100_000)
        var st = stat()
        stat(file, &st)
        // The first name, then 5 copies within the 100 kB budget (the sorted listing puts the
        // folder's link late: it is past the budget too, but a budget the size of the volume keeps it).
        #expect(r.messages == 6 && st.st_size < 1 << 20, "\(r.messages) messages, \(st.st_size) bytes")
        #expect(r.skipped.contains { $0.contains("another link") } && r.skipped.contains { $0.contains("sparse") })
        // With the real budget (the volume's use, 64 MiB at least) every copy of this small mailbox is kept.
        let whole = tempFile()
        defer { unlink(whole) }
        let all = try backup(a, to: whole)
        #expect(all.messages == 201, "\(all.messages)")
    }

    /// More folders than a process may hold descriptors at once (1024 by
    /// default, lowered to about that here if higher): backup and restore hold one
    /// folder open at a time, and every message of every folder comes back.
    @Test func thousandsOfFoldersDoNotRunOutOfDescriptors() throws {
        var saved = rlimit()
        getrlimit(Int32(RLIMIT_NOFILE.rawValue), &saved)
        var low = saved
        // Room for what the other suites running in this process hold meanwhile.
        let open = (try? FileManager.default.contentsOfDirectory(atPath: "/proc/self/fd").count) ?? 0
        low.rlim_cur = min(saved.rlim_cur, rlim_t(max(1024, open + 256)))
        setrlimit(Int32(RLIMIT_NOFILE.rawValue), &low)
        defer { setrlimit(Int32(RLIMIT_NOFILE.rawValue), &saved) }
        let a = try Box()
        let n = 1100
        for i in 0..<n { try a.deliver("\(i).M\(i)P1.host:2,S", sub: "cur", folder: ".F\(i)") }
        let file = tempFile()
        defer { unlink(file) }
        let r = try backup(a, to: file)
        #expect(r.messages == n, "\(r.skipped.prefix(3))")
        let b = try Box()
        let back = try MaildirRestore.restore(file: file, mountPoint: b.root, uid: "bob", owner: Self.owner)
        #expect(back.added == n)
        #expect(b.files().filter { $0.contains("/cur/") }.count == n)
    }

    /// Restore reads the archive twice (checked, then written): a file
    /// another user could change in between is refused before either pass.
    @Test func anArchiveOthersCanWriteIsRefused() throws {
        let a = try Box()
        try a.deliver("1.M1P1.host")
        let file = tempFile()
        defer { unlink(file) }
        _ = try backup(a, to: file)
        for (mode, owner) in [(0o666 as mode_t, 0 as uid_t), (0o600, 65534)] {
            chmod(file, mode)
            chown(file, owner, 0)
            let b = try Box()
            do {
                _ = try MaildirRestore.restore(file: file, mountPoint: b.root, uid: "bob", owner: Self.owner)
                Issue.record("restored from an archive of mode \(String(mode, radix: 8)), owner \(owner)")
            } catch let e as SemailError {
                #expect(e.status == .noPermission, "\(e)")
            }
            #expect(b.files().isEmpty)
        }
    }

    @Test func restoreRefusesAFolderThatIsALink() throws {
        let a = try Box()
        try a.deliver("1.M1P1.host", sub: "cur", folder: ".Sent")
        let file = tempFile()
        defer { unlink(file) }
        _ = try backup(a, to: file)
        let b = try Box()
        let outside = "/tmp/semail-unit-bk-out-\(UUID().uuidString.prefix(8))"
        try FileManager.default.createDirectory(atPath: "\(outside)/cur", withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: outside) }
        symlink(outside, "\(b.maildir)/.Sent")
        #expect(throws: SemailError.self) {
            try MaildirRestore.restore(file: file, mountPoint: b.root, uid: "bob", owner: Self.owner)
        }
        #expect(try FileManager.default.contentsOfDirectory(atPath: "\(outside)/cur").isEmpty)
    }

    // MARK: Crafted archives

    struct Member {
        var name: String
        var type: UInt8 = TarHeader.TypeFlag.file
        var data: [UInt8] = Array("Subject: x\n\nx\n".utf8)
        var link = ""
        var pax = false
    }

    /// An archive of MEMBERS with a manifest that matches them (counts,
    /// bytes, checksum), so only what the test is about can refuse it.
    static func craft(
        _ members: [Member], adjust: (inout BackupManifest) -> Void = { _ in }, tail: [UInt8] = []
    ) throws -> [UInt8] {
        var payload: [UInt8] = []
        var files = 0, messages = 0
        var bytes: UInt64 = 0
        for m in members {
            let size = m.type == TarHeader.TypeFlag.file ? m.data.count : 0
            if m.pax {
                let rec = TarHeader.paxRecord("path", m.name)
                payload += TarHeader.encode(
                    name: "PaxHeader", type: TarHeader.TypeFlag.pax, mode: 0o644, size: rec.count)
                payload += rec + [UInt8](repeating: 0, count: TarHeader.padding(rec.count))
                payload += TarHeader.encode(name: "x", type: m.type, mode: 0o600, size: size, link: m.link)
            } else {
                payload += TarHeader.encode(name: m.name, type: m.type, mode: 0o600, size: size, link: m.link)
            }
            if size > 0 { payload += m.data + [UInt8](repeating: 0, count: TarHeader.padding(size)) }
            files += 1
            if m.name.contains("/new/") || m.name.contains("/cur/") { messages += 1 }
            bytes += UInt64(size)
        }
        payload += [UInt8](repeating: 0, count: 1024) + tail
        var h = SHA256Stream()
        h.update(payload)
        var m = BackupManifest(
            format: MaildirArchive.format, version: 1, uid: "alice", address: "alice@example.org", messages: messages,
            files: files, bytes: bytes, sha256: h.hex(), created: Date(timeIntervalSince1970: 1_700_000_000))
        adjust(&m)
        return try MaildirArchive.manifestBytes(m) + payload
    }

    func write(_ bytes: [UInt8]) throws -> String {
        let f = tempFile()
        try Data(bytes).write(to: URL(fileURLWithPath: f))
        return f
    }

    @Test func aCraftedArchiveThatMatchesItsManifestIsAccepted() throws {
        let f = try write(
            try Self.craft([Member(name: "Maildir/cur/1.M1P1.h:2,S"), Member(name: "Maildir/subscriptions")]))
        defer { unlink(f) }
        let b = try Box()
        let r = try MaildirRestore.restore(file: f, mountPoint: b.root, uid: "bob", owner: Self.owner)
        #expect(r.added == 1 && r.filesAdded == 1)
        #expect(b.files() == ["cur/1.M1P1.h:2,S", "subscriptions"])
    }

    static let hostile: [(String, [Member], String)] = [
        (
            "dot-dot", [Member(name: "Maildir/cur/1.M1P1.h"), Member(name: "../../etc/cron.d/x")],
            "not a file of a Maildir"
        ),
        ("dot-dot inside", [Member(name: "Maildir/cur/../../../x")], "not a file of a Maildir"),
        ("absolute", [Member(name: "/etc/cron.d/x")], "not a file of a Maildir"),
        ("absolute Maildir", [Member(name: "/Maildir/cur/1.M1P1.h")], "not a file of a Maildir"),
        ("folder ..", [Member(name: "Maildir/../cur/1.M1P1.h")], "not a file of a Maildir"),
        ("message ..", [Member(name: "Maildir/.Sent/cur/..")], "not a file of a Maildir"),
        ("tmp", [Member(name: "Maildir/tmp/1.M1P1.h")], "not a file of a Maildir"),
        ("control byte", [Member(name: "Maildir/cur/1.M1P1.h\n")], "not a file of a Maildir"),
        ("double slash", [Member(name: "Maildir//cur/1.M1P1.h")], "not a file of a Maildir"),
        ("an index file", [Member(name: "Maildir/dovecot.index")], "not a file of a Maildir"),
        ("pax dot-dot", [Member(name: "Maildir/cur/../../../../etc/passwd", pax: true)], "not a file of a Maildir"),
        ("pax NUL", [Member(name: "Maildir/cur/1.M1P1.h\u{0}/../../x", pax: true)], "not a file of a Maildir"),
        ("pax slash", [Member(name: "Maildir/cur/1.M1P1.h/x", pax: true)], "not a file of a Maildir"),
        (
            "symlink", [Member(name: "Maildir/cur/1.M1P1.h", type: TarHeader.TypeFlag.symlink, link: "/etc/shadow")],
            "is a symbolic link"
        ),
        (
            "hard link", [Member(name: "Maildir/cur/1.M1P1.h", type: TarHeader.TypeFlag.hardLink, link: "/etc/shadow")],
            "is a hard link"
        ),
        ("device", [Member(name: "Maildir/cur/1.M1P1.h", type: 0x33)], "is a device"),
        ("directory", [Member(name: "Maildir/.Sent", type: TarHeader.TypeFlag.directory)], "is a directory"),
        ("fifo", [Member(name: "Maildir/cur/1.M1P1.h", type: 0x36)], "is a FIFO"),
        ("twice", [Member(name: "Maildir/cur/1.M1P1.h"), Member(name: "Maildir/cur/1.M1P1.h")], "appears twice")
    ]

    @Test(arguments: hostile.indices) func hostileMembersAreRefusedWithNothingWritten(_ i: Int) throws {
        let (what, members, reason) = Self.hostile[i]
        // A good message first: a refused archive must not write even that one.
        let f = try write(try Self.craft([Member(name: "Maildir/new/0.M0P1.h")] + members))
        defer { unlink(f) }
        try expectRefused(f, reason, what)
    }

    func expectRefused(_ f: String, _ reason: String, _ what: String) throws {
        let b = try Box()
        do {
            _ = try MaildirRestore.restore(file: f, mountPoint: b.root, uid: "bob", owner: Self.owner)
            Issue.record("\(what): restored")
        } catch let e as SemailError {
            #expect(e.status == .dataError && e.why.contains(reason), "\(what): \(e)")
        }
        #expect(b.files().isEmpty, "\(what): \(b.files())")
        #expect(access("/etc/cron.d/x", F_OK) != 0 && access("/x", F_OK) != 0)
    }

    @Test func damagedOrLyingArchivesAreRefused() throws {
        let good = [Member(name: "Maildir/new/1.M1P1.h"), Member(name: "Maildir/cur/2.M2P1.h:2,S")]
        var altered = try Self.craft(good)
        altered[MaildirArchive.payloadStart + 512 + 3] ^= 1  // one byte of a message
        var header = try Self.craft(good)
        header[MaildirArchive.payloadStart + 10] ^= 1  // a name byte: the header checksum
        let cases: [(String, [UInt8], String)] = [
            ("altered content", altered, "checksum does not match"),
            ("altered header", header, "header checksum"),
            ("more bytes than said", try Self.craft(good) { $0.bytes -= 1 }, "more files or bytes"),
            (
                "more files than said",
                try Self.craft(good) {
                    $0.files = 1; $0.messages = 1
                }, "more files or bytes"
            ),
            (
                "fewer than said",
                try Self.craft(good) {
                    $0.messages = 3; $0.files = 3
                }, "its manifest says"
            ),
            ("data after the end", try Self.craft(good, tail: Array("evil".utf8)), "data after its end"),
            ("cut short", Array(try Self.craft(good).dropLast(1100)), "cut short"),
            ("not a backup", Array(repeating: 0x41, count: 4096), "malformed"),
            ("other format", try Self.craft(good) { $0.format = "x" }, "format"),
            ("bad uid", try Self.craft(good) { $0.uid = "../root" }, "inconsistent")
        ]
        for (what, bytes, reason) in cases {
            let f = try write(bytes)
            defer { unlink(f) }
            try expectRefused(f, reason, what)
        }
    }

    @Test func pathsAreJudgedStrictly() {
        let ok = [
            "Maildir/new/1.M1P1.h", "Maildir/cur/1.M1P1.h:2,FRS", "Maildir/.Sent/cur/1.x", "Maildir/.A.B C/new/1",
            "Maildir/subscriptions", "Maildir/dovecot-keywords", "Maildir/.Sent/maildirfolder",
            "Maildir/.Sent/dovecot-keywords"
        ]
        for p in ok { #expect(MaildirPath.parse(Array(p.utf8))?.archiveName == p, "\(p)") }
        let bad = [
            "", "Maildir", "Maildir/", "Maildir/new", "Maildir/new/", "Maildir/new/.hidden", "Maildir/maildirfolder",
            "Maildir/.Sent/subscriptions", "Maildir/../new/1", "Maildir/./new/1", "Maildir/.Sent/.Sub/new/1",
            "Maildir/.Sent/tmp/1", "maildir/new/1", "./Maildir/new/1", "Maildir/new/a\u{7f}", "Maildir/new/é",
            "Maildir/new/1/2", "Maildir/.Sent/new/1/", "Maildir/dovecot-uidlist"
        ]
        for p in bad { #expect(MaildirPath.parse(Array(p.utf8)) == nil, "\(p)") }
        #expect(MaildirPath.base("1.M1P1.h:2,S") == "1.M1P1.h" && MaildirPath.base("1.M1P1.h") == "1.M1P1.h")
    }

    @Test func tarHeadersReadBackAndLongNamesUsePax() throws {
        let h = TarHeader.encode(
            name: "Maildir/cur/x", type: TarHeader.TypeFlag.file, mode: 0o600, size: 12345, mtime: 99)
        let p = try TarHeader.parse(h[...])
        #expect(p.name == "Maildir/cur/x" && p.size == 12345 && p.mtime == 99 && p.mode == 0o600)
        var bad = h
        bad[0] = 0x4E
        #expect(throws: TarHeader.Malformed.self) { try TarHeader.parse(bad[...]) }
        let long = String(repeating: "n", count: 300)
        let blocks = TarHeader.encode(name: long, type: TarHeader.TypeFlag.file, mode: 0o600, size: 0)
        #expect(blocks.count == 3 * 512)
        let pax = try TarHeader.parse(blocks[0..<512])
        #expect(pax.type == TarHeader.TypeFlag.pax)
        let recs = try TarHeader.paxRecords(Array(blocks[512..<(512 + pax.size)]))
        #expect(recs["path"] == Array(long.utf8))
        // A record whose length lies is refused.
        #expect(throws: TarHeader.Malformed.self) { try TarHeader.paxRecords(Array("9 path=abcdef\n".utf8)) }
        for n in [1, 5, 94, 95, 96, 995, 996, 9995] {
            let r = TarHeader.paxRecord("path", String(repeating: "a", count: n))
            #expect(try TarHeader.paxRecords(r)["path"]?.count == n, "\(n)")
        }
    }
}

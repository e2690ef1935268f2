import Core
import Foundation
import Synchronization
import TestSupport
import Testing

/// `mailbox backup` and `mailbox restore` on real mailbox volumes (loop-backed
/// ext4, made by `mailbox create`): a backup taken while mail is delivered and
/// messages move, restored into a fresh mailbox; a second restore; hostile
/// archives; `--all`.
@Suite(.slapd, .named, .dockerd, .serialized) struct BackupIntegrationTests {
    final class Outcome: Sendable {
        let value = Mutex<ProcessOutput?>(nil)
    }

    func owner(_ path: String) -> (uid: uid_t, gid: gid_t, mode: mode_t) {
        var st = stat()
        _ = lstat(path, &st)
        return (st.st_uid, st.st_gid, st.st_mode & 0o7777)
    }

    /// A message delivered as a delivery agent does: written in tmp/ as the
    /// owner's file, then renamed into new/.
    static func deliver(_ maildir: String, _ name: String, size: Int, owner: (uid_t, gid_t)) throws {
        let line = "Lorem ipsum dolor sit amet, consectetur adipiscing elit, sed do eiusmod tempor \(name)\n"
        var body = "From: a@example.org\nSubject: \(name)\n\n"
        while body.utf8.count < size { body += line }
        let tmp = "\(maildir)/tmp/\(name)"
        try Data(body.utf8).write(to: URL(fileURLWithPath: tmp))
        chown(tmp, owner.0, owner.1)
        guard rename(tmp, "\(maildir)/new/\(name)") == 0 else { throw FileError("rename \(tmp)") }
    }

    /// Message names under Maildir (new/ and cur/ of every folder), relative.
    func messages(_ maildir: String) -> [String] {
        var out: [String] = []
        for f in [""]
            + ((try? FileManager.default.contentsOfDirectory(atPath: maildir)) ?? []).filter({
                $0.hasPrefix(".")
            })
        {
            for sub in ["new", "cur"] {
                let d = f.isEmpty ? "\(maildir)/\(sub)" : "\(maildir)/\(f)/\(sub)"
                for n in (try? FileManager.default.contentsOfDirectory(atPath: d)) ?? [] {
                    out.append((f.isEmpty ? "" : f + "/") + "\(sub)/\(n)")
                }
            }
        }
        return out.sorted()
    }

    func json(_ r: ProcessOutput) throws -> [String: Any] {
        try #require(JSONSerialization.jsonObject(with: r.stdout) as? [String: Any], "\(r.text)\(r.stderr)")
    }

    @Test func backupWhileDeliveringThenRestoreIntoAFreshMailbox() throws {
        let w = try World.ready()
        defer { w.cleanup() }
        let a = uniqueUID("bk"), b = uniqueUID("rs")
        for u in [a, b] {
            try w.addUser(u)
            let r = try w.run(["mailbox", "create", u, "--address", "\(u)@\(u).\(w.zone)", "-q"])
            try #require(r.status == 0, "\(r.stderr)\(r.text)")
        }
        let src = "\(w.mountPoint(a))/Maildir", dst = "\(w.mountPoint(b))/Maildir"
        let (ou, og, _) = owner(src)
        // Before the backup: 300 messages of 2-40 KB; a third read and flagged (in cur/), one in a folder.
        var expected: [String: String] = [:]  // base name -> where it must be restored
        for i in 0..<300 {
            let name = "1700000\(i).M\(i)P100.host,S=\(i)"
            try Self.deliver(src, name, size: 2048 + (i * 7919) % 40000, owner: (ou, og))
            expected[name] = "new/\(name)"
            if i % 3 == 0 {
                rename("\(src)/new/\(name)", "\(src)/cur/\(name):2,S")
                expected[name] = "cur/\(name):2,S"
            }
        }
        try FileManager.default.createDirectory(atPath: "\(src)/.Sent/tmp", withIntermediateDirectories: true)
        try FileManager.default.createDirectory(atPath: "\(src)/.Sent/new", withIntermediateDirectories: true)
        try FileManager.default.createDirectory(atPath: "\(src)/.Sent/cur", withIntermediateDirectories: true)
        try Self.deliver("\(src)/.Sent", "1699999999.M1P1.host", size: 4000, owner: (ou, og))
        rename("\(src)/.Sent/new/1699999999.M1P1.host", "\(src)/.Sent/cur/1699999999.M1P1.host:2,S")
        try Data("0 $Forwarded\n".utf8).write(to: URL(fileURLWithPath: "\(src)/dovecot-keywords"))
        // A link the user planted: reported, never followed.
        symlink("/etc/shadow", "\(src)/cur/1700009999.M9P9.host:2,S")

        // The backup pauses once the inbox is listed; meanwhile a writer
        // delivers and flags new mail, and the test moves, flags and
        // deletes messages the listing saw.
        let faults = "\(w.dir)/faults"
        try FileManager.default.createDirectory(atPath: faults, withIntermediateDirectories: true)
        let archive = "\(w.dir)/\(a).tar"
        let outcome = Outcome()
        let done = DispatchSemaphore(value: 0)
        let config = w.config
        Thread {
            let r = try? semailctl(
                ["mailbox", "backup", a, "--to", archive, "--json", "--config", config],
                env: ["SEMAIL_FAULT": "pause:backup.listed", "SEMAIL_FAULT_DIR": faults])
            outcome.value.withLock { $0 = r }
            done.signal()
        }.start()
        let stop = Atomic<Bool>(false)
        let writerDone = DispatchSemaphore(value: 0)
        Thread {
            var i = 0
            while !stop.load(ordering: .relaxed) {
                let name = "1800000\(i).M\(i)P200.host"
                try? Self.deliver(src, name, size: 3000, owner: (ou, og))
                if i % 2 == 0 { rename("\(src)/new/\(name)", "\(src)/cur/\(name):2,S") }
                i += 1
                usleep(2000)
            }
            writerDone.signal()
        }.start()
        let marker = "\(faults)/backup.listed"
        for _ in 0..<1200 where !FileManager.default.fileExists(atPath: marker) { usleep(50_000) }
        try #require(FileManager.default.fileExists(atPath: marker), "the backup never paused")
        var deleted: [String] = []
        for i in 0..<300 {
            let name = "1700000\(i).M\(i)P100.host,S=\(i)"
            let now = expected[name]!
            switch i % 10 {
            case 1:  // read: new/ to cur/
                rename("\(src)/\(now)", "\(src)/cur/\(name):2,S"); expected[name] = "cur/\(name):2,S"
            case 3:  // flagged again
                rename("\(src)/\(now)", "\(src)/cur/\(name):2,FRS"); expected[name] = "cur/\(name):2,FRS"
            case 7 where i % 20 == 7:  // deleted
                unlink("\(src)/\(now)"); expected[name] = nil; deleted.append(name)
            default: break
            }
        }
        try FileManager.default.removeItem(atPath: marker)
        done.wait()
        stop.store(true, ordering: .relaxed)
        writerDone.wait()

        let r = try #require(outcome.value.withLock { $0 })
        try #require(r.status == 0, "\(r.stderr)\(r.text)")
        let doc = try json(r)
        #expect(doc["vanished"] as? Int == deleted.count, "\(doc)")
        #expect((doc["skipped"] as? [String] ?? []).contains { $0.contains("1700009999") }, "\(doc)")
        let (au, _, amode) = owner(archive)
        #expect(au == 0 && amode == 0o600, "archive mode \(String(amode, radix: 8))")

        // Restored into the fresh mailbox: every message there before the backup began, once, as it was when read.
        var rr = try w.run(["mailbox", "restore", b, "--from", archive, "--json"])
        try #require(rr.status == 0, "\(rr.stderr)\(rr.text)")
        let first = try json(rr)
        #expect(first["added"] as? Int == doc["messages"] as? Int && first["skipped"] as? Int == 0, "\(first)")
        let restored = messages(dst)
        var byBase: [String: [String]] = [:]
        for m in restored {
            let n = (m as NSString).lastPathComponent
            byBase[String(n.split(separator: ":", maxSplits: 1)[0]), default: []].append(m)
        }
        for (base, place) in expected {
            #expect(byBase[base] == [place], "\(base): \(byBase[base] ?? [])")
        }
        for d in deleted { #expect(byBase[d] == nil, "deleted \(d) came back") }
        #expect(byBase["1699999999.M1P1.host"] == [".Sent/cur/1699999999.M1P1.host:2,S"])
        #expect(byBase.values.allSatisfy { $0.count == 1 }, "a message twice")
        #expect(!restored.contains { $0.contains("1700009999") })
        let sample = "\(dst)/\(expected["17000000.M0P100.host,S=0"]!)"
        #expect(owner(sample).uid == owner(dst).uid && owner(sample).uid >= 1000 && owner(sample).mode == 0o600)
        #expect(
            try Data(contentsOf: URL(fileURLWithPath: sample))
                == Data(contentsOf: URL(fileURLWithPath: "\(src)/\(expected["17000000.M0P100.host,S=0"]!)")))
        #expect(try String(contentsOfFile: "\(dst)/dovecot-keywords", encoding: .utf8) == "0 $Forwarded\n")

        // Twice: nothing added.
        rr = try w.run(["mailbox", "restore", b, "--from", archive, "--json"])
        try #require(rr.status == 0, "\(rr.stderr)\(rr.text)")
        let second = try json(rr)
        #expect(second["added"] as? Int == 0 && second["skipped"] as? Int == first["added"] as? Int, "\(second)")
        #expect(messages(dst) == restored)

        // Hostile archives: refused (65), nothing written.
        for (what, member) in [
            ("dot-dot", "Maildir/../../../../etc/cron.d/semail-evil"), ("absolute", "/etc/cron.d/semail-evil"),
            ("symlink", "symlink")
        ] {
            let f = "\(w.dir)/evil-\(what).tar"
            try Data(try Self.hostile(member)).write(to: URL(fileURLWithPath: f))
            let h = try w.run(["mailbox", "restore", b, "--from", f])
            #expect(h.status == 65, "\(what): \(h.status) \(h.stderr)")
            #expect(
                h.stderr.contains("refusing the archive") && h.stderr.contains("nothing was written"), "\(h.stderr)")
            #expect(messages(dst) == restored, "\(what) wrote something")
            #expect(access("/etc/cron.d/semail-evil", F_OK) != 0)
        }
        var st = stat()
        #expect(lstat("\(dst)/cur/evil", &st) != 0)

        // Refused: a path that exists, a path inside the mail root, a mailbox that does not exist.
        var x = try w.run(["mailbox", "backup", a, "--to", archive])
        #expect(x.status == 73 && x.stderr.contains("already exists"), "\(x.stderr)")
        x = try w.run(["mailbox", "backup", a, "--to", "\(w.mountPoint(b))/Maildir/x.tar"])
        #expect(x.status == 64 && x.stderr.contains("mail_root"), "\(x.stderr)")
        x = try w.run(["mailbox", "restore", "nosuch\(a)", "--from", archive])
        #expect(x.status == 1 && x.stderr.contains("mailbox create"), "\(x.stderr)")

        // --all: both mailboxes, a summary, every archive 0600.
        let dir = "\(w.dir)/all"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: false)
        let all = try w.run(["mailbox", "backup", "--all", "--to", dir, "--json"])
        try #require(all.status == 0, "\(all.stderr)\(all.text)")
        let summary = try json(all)
        let backups = try #require(summary["backups"] as? [[String: Any]])
        #expect(Set(backups.compactMap { $0["uid"] as? String }) == [a, b], "\(summary)")
        #expect((summary["failures"] as? [Any])?.isEmpty == true)
        for bk in backups {
            let f = try #require(bk["file"] as? String)
            #expect(f.hasPrefix("\(dir)/") && owner(f).mode == 0o600)
        }
        // A failure does not stop the others: b's volume unmounted, a still backed up, exit 1.
        let dir2 = "\(w.dir)/all2"
        try FileManager.default.createDirectory(atPath: dir2, withIntermediateDirectories: false)
        let hidden = "\(w.mountPoint(b))/Maildir"
        rename(hidden, "\(w.mountPoint(b))/Maildir.away")
        defer { rename("\(w.mountPoint(b))/Maildir.away", hidden) }
        let part = try w.run(["mailbox", "backup", "--all", "--to", dir2])
        #expect(part.status == 1, "\(part.stderr)\(part.text)")
        #expect(part.text.contains("FAILED \(b)") && part.text.contains("1 backed up, 1 failed"), "\(part.text)")
    }

    /// An archive whose manifest matches its members (so only the member is
    /// wrong): one good message, then MEMBER (a path, or "symlink").
    static func hostile(_ member: String) throws -> [UInt8] {
        let good = Array("Subject: ok\n\nok\n".utf8)
        var payload = TarHeader.encode(
            name: "Maildir/new/1.M1P1.h", type: TarHeader.TypeFlag.file, mode: 0o600, size: good.count)
        payload += good + [UInt8](repeating: 0, count: TarHeader.padding(good.count))
        let evil = Array("* * * * * root touch /tmp/pwned\n".utf8)
        if member == "symlink" {
            payload += TarHeader.encode(
                name: "Maildir/cur/evil", type: TarHeader.TypeFlag.symlink, mode: 0o777, size: 0, link: "/etc/shadow")
        } else {
            payload += TarHeader.encode(name: member, type: TarHeader.TypeFlag.file, mode: 0o644, size: evil.count)
            payload += evil + [UInt8](repeating: 0, count: TarHeader.padding(evil.count))
        }
        payload += [UInt8](repeating: 0, count: 1024)
        var h = SHA256Stream()
        h.update(payload)
        let manifest = """
            {"address":"x@example.org","bytes":\(good.count + (member == "symlink" ? 0 : evil.count)),\
            "created":"2026-01-01T00:00:00Z","files":2,"format":"semail-maildir-backup","messages":2,\
            "sha256":"\(h.hex())","uid":"x","version":1}
            """
        var slot = Array(manifest.utf8)
        slot += [UInt8](repeating: 0x20, count: 2048 - slot.count)
        return TarHeader.encode(name: "semail-backup.json", type: TarHeader.TypeFlag.file, mode: 0o600, size: 2048)
            + slot + payload
    }
}

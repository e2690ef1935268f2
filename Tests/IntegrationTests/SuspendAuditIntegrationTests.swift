import Containers
import Core
import Foundation
import Provisioning
import TestSupport
import Testing

/// `mailbox suspend/resume` and the audit log against the real slapd,
/// named and dockerd: a suspended mailbox's container stays stopped (the
/// engine, reconcile and a daemon restart included) while its mail stays;
/// the directory alone drives it too; every transaction leaves one audit
/// line, never a password.
@Suite(.slapd, .named, .dockerd, .serialized) struct SuspendAuditIntegrationTests {
    func json(_ r: ProcessOutput) throws -> [String: Any] {
        try #require(
            JSONSerialization.jsonObject(with: r.stdout) as? [String: Any], "stdout: \(r.text)\nstderr: \(r.stderr)")
    }

    func dn(_ w: World, _ uid: String) -> String { "uid=\(uid),\(w.ou),dc=semail,dc=email" }

    func admin(_ w: World, _ ldif: String) throws {
        try ProcessRunner().run(
            ["ldapmodify", "-x", "-H", w.slapd.uri, "-D", w.slapd.adminDN, "-y", w.slapd.secretFile],
            stdin: Data(ldif.utf8))
    }

    /// The engine's view of UID's container: running, and its restart policy.
    func engine(_ w: World, _ uid: String) throws -> (running: Bool, policy: String?) {
        let c = try #require(try w.dockerd.client.inspect(container: "semail-\(uid)"))
        return (c.State.Running, c.HostConfig.RestartPolicy?.Name)
    }

    func reconcile(_ w: World) throws -> [[String: Any]] {
        let r = try w.run(["reconcile", "--json"])
        #expect(r.status == 0, "\(r.text)\(r.stderr)")
        return try json(r)["items"] as? [[String: Any]] ?? []
    }

    @Test func suspendKeepsTheContainerStoppedAndTheMail() throws {
        let w = try World.ready()
        defer { w.cleanup() }
        let uid = uniqueUID("su")
        try w.addUser(uid)
        var r = try w.run(["user", "passwd", uid, "--password-stdin"], stdin: "pw-\(uid)\n")
        #expect(r.status == 0, "\(r.stderr)")
        r = try w.run(["mailbox", "create", uid, "--address", "\(uid)@\(uid).\(w.zone)"])
        #expect(r.status == 0, "\(r.text)\(r.stderr)")
        let letter = "\(w.mountPoint(uid))/Maildir/new/1.kept"
        try "Subject: keep me\n\nwhile suspended\n".write(toFile: letter, atomically: true, encoding: .utf8)

        // Dry run: the plan, nothing changed.
        r = try w.run(["mailbox", "suspend", uid, "--dry-run", "--json"])
        #expect(r.status == 0, "\(r.stderr)")
        #expect(try engine(w, uid).running)

        r = try w.run(["mailbox", "suspend", uid, "--reason", "unpaid invoice", "--json"])
        #expect(r.status == 0, "\(r.text)\(r.stderr)")
        #expect(try json(r)["applied"] as? [String] == ["directory-check", "state", "container"])
        var e = try engine(w, uid)
        #expect(!e.running && e.policy == "no", "\(e)")
        // Idempotent.
        r = try w.run(["mailbox", "suspend", uid, "--reason", "unpaid invoice", "--json"])
        #expect(r.status == 0)
        #expect(try json(r)["skipped"] as? [String] == ["state", "container"])

        // Shown: list, show, and the user's own status; no SSH access.
        r = try w.run(["mailbox", "list", "--json"])
        let list = try #require(JSONSerialization.jsonObject(with: r.stdout) as? [[String: Any]])
        let me = try #require(list.first { $0["uid"] as? String == uid })
        #expect((me["suspension"] as? [String: Any])?["reason"] as? String == "unpaid invoice", "\(me)")
        r = try w.run(["mailbox", "list"])
        #expect(r.text.contains("SUSPENDED: unpaid invoice"), "\(r.text)")
        r = try w.run(["mailbox", "show", uid])
        #expect(r.text.contains("state      suspended (unpaid invoice)"), "\(r.text)")
        r = try w.run(["ssh-config", uid])
        #expect(r.status == 77 && r.stderr.contains("\(uid) is suspended: no SSH access"), "\(r.stderr)")
        r = try w.run(["ssh-config", "--json"])
        #expect(r.status == 0 && !r.text.contains("\(uid).semail"), "\(r.text)")
        // The user sees why (the portal's status page) and can change nothing: no delete, no rebuild.
        r = try w.run(["mailbox", "status", uid, "--as-user", uid, "--json"], stdin: "pw-\(uid)\n")
        #expect(r.status == 0, "\(r.stderr)")
        let mine = try json(r)
        #expect(
            ((mine["mailbox"] as? [String: Any])?["suspension"] as? [String: Any])?["state"] as? String == "suspended")
        #expect(mine["ssh"] == nil, "\(mine)")
        for a in [["mailbox", "delete", uid, "--yes"], ["user", "packages", uid, "--add", "mutt"]] {
            r = try w.run(a + ["--as-user", uid], stdin: "pw-\(uid)\n")
            #expect(r.status == 77 && r.stderr.contains("\(uid) is suspended"), "\(a): \(r.stderr)")
        }
        #expect(FileManager.default.fileExists(atPath: letter))
        r = try w.run(["container", "rebuild", uid])
        #expect(r.status == 1 && r.stderr.contains("the mailbox of \(uid) is suspended"), "\(r.text)\(r.stderr)")
        r = try w.run(["container", "rebuild", "--all", "--json"])
        #expect(r.status == 0 && !r.text.contains("\"\(uid)\""), "\(r.text)\(r.stderr)")
        #expect(try !engine(w, uid).running)

        // reconcile keeps it stopped: no repair planned, nothing started.
        let items = try reconcile(w).filter { $0["uid"] as? String == uid }
        #expect(items.isEmpty, "\(items)")
        #expect(try !engine(w, uid).running)
        // Something starts it behind semailctl's back: the next pass stops it again.
        try w.dockerd.client.start(container: "semail-\(uid)")
        #expect(try engine(w, uid).running)
        let again = try reconcile(w).filter { $0["uid"] as? String == uid }
        #expect(again.contains { ($0["action"] as? String ?? "").hasPrefix("stop semail-\(uid)") }, "\(again)")
        #expect(try !engine(w, uid).running)
        // An engine restart does not start it either.
        try halt(w.dockerd)
        try resume(w.dockerd)
        e = try engine(w, uid)
        #expect(!e.running && e.policy == "no", "\(e)")
        // Mail still arrives in (and stays in) the Maildir.
        try "Subject: new\n\nwhile suspended\n".write(
            toFile: "\(w.mountPoint(uid))/Maildir/new/2.arrived", atomically: true, encoding: .utf8)
        #expect(FileManager.default.fileExists(atPath: letter))
        #expect(w.mapText.contains("uid: \(uid) mail:"))

        r = try w.run(["mailbox", "resume", uid, "--json"])
        #expect(r.status == 0, "\(r.text)\(r.stderr)")
        #expect(try json(r)["applied"] as? [String] == ["directory-check", "state", "container"])
        e = try engine(w, uid)
        #expect(e.running && e.policy == "unless-stopped", "\(e)")
        #expect(FileManager.default.fileExists(atPath: letter))
        #expect(FileManager.default.fileExists(atPath: "\(w.mountPoint(uid))/Maildir/new/2.arrived"))
        r = try w.run(["mailbox", "resume", uid, "--json"])
        #expect(r.status == 0)
        #expect(try json(r)["skipped"] as? [String] == ["state", "container"])
        r = try w.run(["ssh-config", uid])
        #expect(r.status == 0, "\(r.stderr)")
    }

    /// The directory alone: semailState written with ldapmodify is a
    /// suspend at the next reconcile, its removal a resume. A reason with
    /// terminal escapes is shown escaped.
    @Test func theDirectoryDrivesIt() throws {
        let w = try World.ready()
        defer { w.cleanup() }
        let uid = uniqueUID("sd")
        try w.addUser(uid)
        var r = try w.run(["mailbox", "create", uid, "--address", "\(uid)@\(uid).\(w.zone)", "-q"])
        #expect(r.status == 0, "\(r.stderr)")
        let letter = "\(w.mountPoint(uid))/Maildir/cur/1.kept:2,S"
        try "Subject: keep\n\nme\n".write(toFile: letter, atomically: true, encoding: .utf8)

        // "On Hold" is not "active": suspended. The reason carries ESC [2J (clear screen).
        let evil = Data("abuse \u{1B}[2J report".utf8).base64EncodedString()
        try admin(
            w,
            "dn: \(dn(w, uid))\nchangetype: modify\nreplace: semailState\nsemailState: On Hold\n-\n"
                + "replace: semailStateReason\nsemailStateReason:: \(evil)\n-\n")
        let items = try reconcile(w).filter { $0["uid"] as? String == uid }
        #expect(items.contains { ($0["action"] as? String ?? "").hasPrefix("stop semail-\(uid)") }, "\(items)")
        var e = try engine(w, uid)
        #expect(!e.running && e.policy == "no", "\(e)")
        #expect(try reconcile(w).filter { $0["uid"] as? String == uid }.isEmpty)
        #expect(try !engine(w, uid).running)
        r = try w.run(["mailbox", "show", uid])
        #expect(!r.text.contains("\u{1B}") && r.text.contains("abuse \\u{1b}[2J report"), "\(r.text)")
        r = try w.run(["mailbox", "list"])
        #expect(!r.text.contains("\u{1B}"))

        try admin(
            w, "dn: \(dn(w, uid))\nchangetype: modify\ndelete: semailState\n-\ndelete: semailStateReason\n-\n")
        let back = try reconcile(w).filter { $0["uid"] as? String == uid }
        #expect(back.contains { ($0["action"] as? String ?? "").hasPrefix("start semail-\(uid)") }, "\(back)")
        e = try engine(w, uid)
        #expect(e.running && e.policy == "unless-stopped", "\(e)")
        #expect(FileManager.default.fileExists(atPath: letter))

        // A suspended mailbox can be deleted: its state goes with the semailUser class.
        r = try w.run(["mailbox", "suspend", uid, "--reason", "closing"])
        #expect(r.status == 0, "\(r.text)\(r.stderr)")
        r = try w.run(["mailbox", "delete", uid, "--yes", "--json"])
        #expect(r.status == 0, "\(r.text)\(r.stderr)")
        let left = try w.traces(uid, domain: "\(uid).\(w.zone)")
        #expect(left.isEmpty, "\(left)")
        #expect(w.journalFiles.isEmpty)
    }

    func waitFor(_ seconds: Double, _ what: () throws -> Bool) rethrows -> Bool {
        let until = Date().addingTimeInterval(seconds)
        while Date() < until { if try what() { return true }; usleep(200_000) }
        return try what()
    }

    /// `reconcile --watch` follows the entry: semailState written stops
    /// the container (and its passes leave it stopped), removed starts it.
    @Test func theWatchFollowsTheState() throws {
        let w = try World.ready()
        defer { w.cleanup() }
        let uid = uniqueUID("sw")
        try w.addUser(uid)
        let r = try w.run(["mailbox", "create", uid, "--address", "\(uid)@\(uid).\(w.zone)", "-q"])
        #expect(r.status == 0, "\(r.stderr)")
        let p = try WatchProcess(w, ["reconcile", "--watch"])
        defer { p.stop() }
        #expect(waitFor(60) { p.stderr.contains("watching") }, "\(p.stderr)")
        try admin(w, "dn: \(dn(w, uid))\nchangetype: modify\nreplace: semailState\nsemailState: suspended\n-\n")
        #expect(try waitFor(60) { try !engine(w, uid).running }, "\(p.stderr)")
        // Another change makes another pass: the container stays stopped.
        try admin(w, "dn: \(dn(w, uid))\nchangetype: modify\nreplace: cn\ncn: renamed\n-\n")
        #expect(try !waitFor(8) { try engine(w, uid).running }, "\(p.stderr)")
        #expect(try engine(w, uid).policy == "no")
        try admin(w, "dn: \(dn(w, uid))\nchangetype: modify\ndelete: semailState\n-\n")
        #expect(try waitFor(60) { try engine(w, uid).running }, "\(p.stderr)")
    }

    /// A failure at the container step undoes the entry's change.
    @Test func aFailedSuspendRollsBack() throws {
        let w = try World.ready()
        defer { w.cleanup() }
        let uid = uniqueUID("sf")
        try w.addUser(uid)
        var r = try w.run(["mailbox", "create", uid, "--address", "\(uid)@\(uid).\(w.zone)", "-q"])
        #expect(r.status == 0, "\(r.stderr)")
        r = try w.run(
            ["mailbox", "suspend", uid, "--reason", "x", "--json"], env: ["SEMAIL_FAULT": "mailbox.suspend.container"])
        #expect(r.status == 1)
        // The container step had begun: its undo (start it again) runs too.
        #expect(try json(r)["rolledBack"] as? [String] == ["container", "state"], "\(r.text)")
        r = try w.run(["mailbox", "show", uid, "--json"])
        #expect(try json(r)["suspension"] == nil, "\(r.text)")
        #expect(try engine(w, uid).running)
        #expect(w.journalFiles.isEmpty)
        // Killed mid-way: the next command rolls it back (the stopped container is started again).
        r = try w.run(
            ["mailbox", "suspend", uid, "--json"], env: ["SEMAIL_FAULT": "kill:mailbox.suspend.container.after"])
        #expect(r.status != 0)
        #expect(try !engine(w, uid).running)
        r = try w.run(["recover", "--json"])
        #expect(r.status == 0, "\(r.text)\(r.stderr)")
        #expect(try engine(w, uid).running)
        r = try w.run(["mailbox", "show", uid, "--json"])
        #expect(try json(r)["suspension"] == nil, "\(r.text)")
    }

    /// One line per transaction, with who, what and the result, and no
    /// password anywhere (given on standard input and in a file).
    @Test func theAuditLogHasOneLinePerTransactionAndNoSecret() throws {
        let w = try World.ready()
        defer { w.cleanup() }
        let uid = uniqueUID("au")
        let password = "Zq7-audit-\(UUID().uuidString)"
        try w.addUser(uid)
        var r = try w.run(["user", "passwd", uid, "--password-stdin"], stdin: password + "\n")
        #expect(r.status == 0, "\(r.stderr)")
        let pwFile = "\(w.dir)/pw"
        _ = FileManager.default.createFile(
            atPath: pwFile, contents: Data(password.utf8), attributes: [.posixPermissions: 0o600])
        let address = "\(uid)@\(uid).\(w.zone)"
        // 1: rolled back (an injected failure), 2: the user's own create (password on stdin).
        r = try w.run(["mailbox", "create", uid, "--address", address], env: ["SEMAIL_FAULT": "mailbox.create.dns"])
        #expect(r.status == 1)
        r = try w.run(["mailbox", "create", uid, "--address", address, "--as-user", uid], stdin: password + "\n")
        #expect(r.status == 0, "\(r.text)\(r.stderr)")
        // 3, 4: suspend and resume; 5: the user's own delete (password from a file).
        r = try w.run(["mailbox", "suspend", uid, "--reason", "audit test"])
        #expect(r.status == 0, "\(r.stderr)")
        r = try w.run(["mailbox", "resume", uid])
        #expect(r.status == 0, "\(r.stderr)")
        r = try w.run(["mailbox", "delete", uid, "--yes", "--as-user", uid, "--password-file", pwFile])
        #expect(r.status == 0, "\(r.text)\(r.stderr)")
        // Dry runs and read-only commands are not transactions.
        _ = try w.run(["mailbox", "suspend", uid, "--dry-run"])

        let path = "\(w.dir)/state/audit.log"
        var st = stat()
        #expect(lstat(path, &st) == 0 && st.st_mode & 0o777 == 0o600)
        let text = try String(contentsOfFile: path, encoding: .utf8)
        #expect(!text.contains(password))
        #expect(!text.contains(pwFile))
        let lines = text.split(separator: "\n").map {
            (try? JSONSerialization.jsonObject(with: Data($0.utf8))) as? [String: Any] ?? [:]
        }
        #expect(
            lines.map { $0["command"] as? String ?? "?" } == [
                "mailbox create", "mailbox create", "mailbox suspend", "mailbox resume", "mailbox delete"
            ], "\(text)")
        #expect(
            lines.map { $0["result"] as? String ?? "?" } == [
                "rolled-back", "committed", "committed", "committed", "committed"
            ])
        #expect(
            lines.map { $0["kind"] as? String ?? "?" } == [
                "mailbox.create", "mailbox.create", "mailbox.suspend", "mailbox.resume", "mailbox.delete"
            ])
        #expect(lines.allSatisfy { $0["uid"] as? String == uid && $0["user"] as? String == "root" })
        #expect(lines.map { $0["asUser"] as? String } == [nil, uid, nil, nil, uid])
        #expect((lines[0]["error"] as? String ?? "").contains("injected failure at mailbox.create.dns"))
        #expect(lines[2]["applied"] as? [String] == ["directory-check", "state", "container"])
        #expect(lines.allSatisfy { JSONDates.date($0["time"] as? String ?? "") != nil })

        // `audit` reads it: the table, --json, --uid, --since; a forged line is reported, not fatal.
        r = try w.run(["audit", "--uid", uid, "--json"])
        #expect(r.status == 0, "\(r.stderr)")
        #expect((try json(r)["records"] as? [Any])?.count == 5)
        r = try w.run(["audit", "--since", "2999-01-01", "--json"])
        #expect((try json(r)["records"] as? [Any])?.count == 0)
        let fd = open(path, O_WRONLY | O_APPEND)
        _ = "not json \u{1B}]0;pwned\u{7}\n".withCString { write(fd, $0, strlen($0)) }
        close(fd)
        r = try w.run(["audit"])
        #expect(r.status == 0 && r.text.contains("mailbox suspend") && r.text.contains("committed"), "\(r.text)")
        #expect(r.stderr.contains("line 6: not an audit record") && !r.stderr.contains("\u{1B}"), "\(r.stderr)")
        r = try w.run(["audit", "--json"])
        #expect((try json(r)["unreadable"] as? [Any])?.count == 1)

        // A symbolic link at the path is refused, read and write; the transaction itself stands.
        let target = "\(w.dir)/elsewhere"
        _ = FileManager.default.createFile(atPath: target, contents: Data())
        try FileManager.default.moveItem(atPath: path, toPath: "\(path).1")
        try FileManager.default.createSymbolicLink(atPath: path, withDestinationPath: target)
        r = try w.run(["audit"])
        #expect(r.status != 0 && r.stderr.contains("symbolic link (refused)"), "\(r.text)\(r.stderr)")
        try w.addUser(uid + "b")
        r = try w.run(["mailbox", "create", uid + "b", "--address", "\(uid)b@\(uid)b.\(w.zone)"])
        #expect(r.status == 0 && r.stderr.contains("audit log"), "\(r.stderr)")
        #expect(try String(contentsOfFile: target, encoding: .utf8).isEmpty)
        _ = try w.run(["mailbox", "delete", uid + "b", "--yes"])
    }
}

import Core
import Foundation
import Provisioning
import TestSupport
import Testing

/// Attacks by a mailbox owner from inside their container (docker exec as
/// their uid) and on the files root trusts, against real slapd, named,
/// dockerd and loop devices. Each attack must leave the host as it was.
@Suite(.slapd, .named, .dockerd, .serialized) struct HostileOwnerTests {
    func world(_ extra: String = "") throws -> World { try World.ready(extra) }

    func mailbox(_ w: World, _ uid: String) throws -> (domain: String, uidNumber: Int) {
        try w.addUser(uid)
        let domain = "\(uid).\(w.zone)"
        let r = try w.run(["mailbox", "create", uid, "--address", "\(uid)@\(domain)", "-q"])
        #expect(r.status == 0, "\(r.stderr)\(r.text)")
        let show = try w.run(["user", "show", uid, "--json"])
        let doc = try #require(JSONSerialization.jsonObject(with: show.stdout) as? [String: Any])
        return (domain, try #require(doc["uidNumber"] as? Int))
    }

    /// Runs a shell script inside UID's container as the user.
    @discardableResult
    func inContainer(_ w: World, _ uid: String, _ n: Int, _ script: String) throws -> ProcessOutput {
        try ProcessRunner().run(
            [
                "docker", "-H", "unix://\(w.dockerd.socket)", "exec", "--user", "\(n):\(n)", "semail-\(uid)", "sh",
                "-c", script
            ],
            check: false)
    }

    func rootFile(_ path: String, _ text: String = "root's\n", mode: Int = 0o644) {
        _ = FileManager.default.createFile(
            atPath: path, contents: Data(text.utf8), attributes: [.posixPermissions: mode])
    }

    func owner(_ path: String) -> (uid_t, mode_t) {
        var st = stat()
        lstat(path, &st)
        return (st.st_uid, st.st_mode & 0o7777)
    }

    /// Finding 1, from inside the container: Maildir/new and cur become
    /// links to host paths, tmp goes; reconcile (what a --watch pass runs)
    /// must report it for an admin and chown nothing through the links.
    @Test func maildirLinksFromTheContainerAreReportedNotFollowed() throws {
        let w = try world()
        defer { w.cleanup() }
        let uid = uniqueUID("ml")
        let (_, n) = try mailbox(w, uid)
        let vdir = "\(w.dir)/victim", vfile = "\(w.dir)/victim.conf"
        try FileManager.default.createDirectory(
            atPath: vdir, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o755])
        rootFile(vfile)
        let r = try inContainer(
            w, uid, n,
            "rm -rf /Maildir/new /Maildir/cur /Maildir/tmp && ln -s \(vdir) /Maildir/new && ln -s \(vfile) /Maildir/cur"
        )
        #expect(r.status == 0, "\(r.stderr)")

        var rec = try w.run(["reconcile", "--dry-run", "--json"])
        let items = try #require(
            (try JSONSerialization.jsonObject(with: rec.stdout) as? [String: Any])?["items"] as? [[String: Any]])
        #expect(
            items.contains {
                $0["kind"] as? String == "attention" && $0["component"] as? String == "maildir"
                    && $0["uid"] as? String == uid
            }, "\(items)")
        rec = try w.run(["reconcile"])
        #expect(rec.status == 1 && rec.text.contains("needs an admin"), "\(rec.text)\(rec.stderr)")
        let c = try w.run(["volume", "create", uid])
        #expect(c.status == 65, "\(c.stderr)")
        #expect(
            owner(vdir) == (0, 0o755) && owner(vfile) == (0, 0o644),
            "a host path changed owner: \(owner(vdir)) \(owner(vfile))")
    }

    /// Finding 8: the archive is 0600, never written through a link planted
    /// at a predictable temporary name, and a huge sparse file in the
    /// Maildir costs what it really uses.
    @Test func archivesArePrivateAndBounded() throws {
        let w = try world()
        defer { w.cleanup() }
        let uid = uniqueUID("ar")
        let (_, n) = try mailbox(w, uid)
        // 2 TiB of holes (the volume is 32 MiB).
        var r = try inContainer(w, uid, n, "truncate -s 2T /Maildir/cur/holes && echo mail > /Maildir/new/1.msg")
        #expect(r.status == 0, "\(r.stderr)")
        let victim = "\(w.dir)/victim"
        rootFile(victim, "root's data\n")
        let archive = "\(w.dir)/\(uid).tar.gz"
        let faults = "\(w.dir)/faults"
        try FileManager.default.createDirectory(atPath: faults, withIntermediateDirectories: true)
        // Paused just before the archive step: plant links at the names an
        // archiver with a pid-named temporary file would use.
        let bin = ProcessInfo.processInfo.environment["SEMAILCTL"] ?? "\(repoRoot)/.build/debug/semailctl"
        let done = DispatchSemaphore(value: 0)
        let result = Box()
        Thread {
            let env = ProcessInfo.processInfo.environment.merging([
                "SEMAIL_FAULT": "pause:mailbox.delete.archive", "SEMAIL_FAULT_DIR": faults
            ]) { $1 }
            let argv = [
                "timeout", "-s", "KILL", "120", bin, "mailbox", "delete", uid, "--archive", archive,
                "--yes", "--config", w.config
            ]
            result.set(try? ProcessRunner(environment: env).run(argv, check: false))
            done.signal()
        }.start()
        let marker = "\(faults)/mailbox.delete.archive"
        for _ in 0..<600 where !FileManager.default.fileExists(atPath: marker) { usleep(50_000) }
        let pid = try String(contentsOfFile: marker, encoding: .utf8)
        try FileManager.default.createSymbolicLink(atPath: "\(archive).tmp-\(pid)", withDestinationPath: victim)
        let started = Date()
        try FileManager.default.removeItem(atPath: marker)
        done.wait()
        r = try #require(result.get())
        #expect(r.status == 0, "\(r.stderr)\(r.text)")
        #expect(
            Date().timeIntervalSince(started) < 60,
            "archiving 2 TiB of holes took \(Date().timeIntervalSince(started)) s")
        #expect(
            try String(contentsOfFile: victim, encoding: .utf8) == "root's data\n",
            "root wrote through the planted link")
        let (u, mode) = owner(archive)
        #expect(u == 0 && mode == 0o600, "archive mode \(String(mode, radix: 8))")
        let list = try ProcessRunner().run(["tar", "-tzvf", archive]).text
        #expect(list.contains("Maildir/new/1.msg") && list.contains("Maildir/cur/holes"), "\(list)")
    }

    /// Finding 9: files root trusts. A state directory others can write, a
    /// journal root did not write (it made `recover` delete a volume), a
    /// configuration others can write (its checkzone then ran as root), a
    /// password file owned by someone else or reached through a link, the
    /// zone lock reached through a link: all refused.
    @Test func filesRootTrustsAreCheckedLikeStrictModes() throws {
        let w = try world()
        defer { w.cleanup() }
        let uid = uniqueUID("tr")
        let (domain, _) = try mailbox(w, uid)
        let state = "\(w.dir)/state"

        // A forged journal: "the volume step began on a volume that did not exist".
        let tx = "1-1-1"
        let forged = """
            {"event":"start","kind":"mailbox.create","params":{"address":"\(uid)@\(domain)","size":"33554432","uid":"\(uid)"},"tx":"\(tx)"}
            {"before":{"existed":"0"},"event":"begin","step":"volume","tx":"\(tx)"}

            """
        for (owner, mode) in [("65534", "0600"), ("0", "0666")] {
            let j = "\(state)/journal/\(tx).jsonl"
            rootFile(j, forged, mode: 0o600)
            try ProcessRunner().run(["chown", owner, j])
            try ProcessRunner().run(["chmod", mode, j])
            let r = try w.run(["recover"])
            #expect(r.status == 77 && r.stderr.contains("refusing the journal file"), "\(owner) \(mode): \(r.stderr)")
            #expect(try w.missing(uid, domain: domain) == ["journal [\"\(tx).jsonl\"]"], "\(owner) \(mode)")
            try FileManager.default.removeItem(atPath: j)
        }

        // A state directory others may write.
        try ProcessRunner().run(["chmod", "0777", state])
        var r = try w.run(["recover"])
        #expect(r.status == 77 && r.stderr.contains("refusing the state directory"), "\(r.stderr)")
        try ProcessRunner().run(["chmod", "0700", state])

        // A configuration others may write, naming a program root would run.
        let marker = "\(w.dir)/ran-as-root"
        let evil = "\(w.dir)/checkzone.sh"
        rootFile(evil, "#!/bin/sh\ntouch \(marker)\nexit 1\n", mode: 0o755)
        let original = try String(contentsOfFile: w.config, encoding: .utf8)
        let text = original.replacingOccurrences(of: "[dns]\n", with: "[dns]\ncheckzone = \"\(evil)\"\n")
        try text.write(toFile: w.config, atomically: true, encoding: .utf8)
        try ProcessRunner().run(["chmod", "0666", w.config])
        r = try w.run(["zone", "add-mx", "x\(uid)"])
        #expect(r.status == 77 && r.stderr.contains("refusing configuration"), "\(r.stderr)")
        #expect(!FileManager.default.fileExists(atPath: marker))
        try original.write(toFile: w.config, atomically: true, encoding: .utf8)

        // The password file: someone else's, then through a link.
        let pw = "\(w.dir)/pw"
        rootFile(pw, "secret\n", mode: 0o600)
        try ProcessRunner().run(["chown", "65534", pw])
        r = try w.run([
            "mailbox", "create", uid, "--address", "\(uid)@\(domain)", "--as-user", uid, "--password-file", pw
        ])
        #expect(r.status == 77 && r.stderr.contains("owned by uid 65534"), "\(r.stderr)")
        try ProcessRunner().run(["chown", "0", pw])
        try FileManager.default.createSymbolicLink(atPath: "\(pw).link", withDestinationPath: pw)
        r = try w.run([
            "mailbox", "create", uid, "--address", "\(uid)@\(domain)", "--as-user", uid, "--password-file", "\(pw).link"
        ])
        #expect(r.status == 77 && r.stderr.contains("symbolic link"), "\(r.stderr)")

        // The zone lock through a link: root must not create the target.
        let zoneFile = "\(w.named.dir)/db.\(w.zone)"
        let target = "\(w.dir)/created-by-root"
        try? FileManager.default.removeItem(atPath: "\(zoneFile).semail-lock")
        try FileManager.default.createSymbolicLink(atPath: "\(zoneFile).semail-lock", withDestinationPath: target)
        defer { try? FileManager.default.removeItem(atPath: "\(zoneFile).semail-lock") }
        r = try w.run(["zone", "add-mx", "y\(uid)"])
        #expect(r.status != 0 && r.stderr.contains("symbolic link"), "\(r.stderr)")
        #expect(!FileManager.default.fileExists(atPath: target))
    }

    /// Finding 9: control characters in directory values reach a terminal
    /// only as escapes; finding 10: a closed output does not kill a
    /// transaction half-way (SIGPIPE).
    @Test func outputCannotHurtTheTerminalOrTheTransaction() throws {
        let w = try world()
        defer { w.cleanup() }
        let uid = uniqueUID("tt")
        try w.addUser(uid)
        let ldif =
            """
            dn: uid=\(uid),\(w.ou),dc=semail,dc=email\nchangetype: modify\nreplace: cn\ncn:: \
            \(Data("x\u{1b}]0;pwned\u{07}\u{1b}[2J".utf8).base64EncodedString())\n
            """
        try ProcessRunner().run(
            ["ldapmodify", "-x", "-H", w.slapd.uri, "-D", w.slapd.adminDN, "-y", w.slapd.secretFile],
            stdin: Data(ldif.utf8))
        var r = try w.run(["user", "show", uid])
        #expect(r.status == 0 && !r.stdout.contains(0x1b) && !r.stdout.contains(0x07), "\(r.text.debugDescription)")
        #expect(r.text.contains("\\u{1b}]0;pwned"), "\(r.text.debugDescription)")
        r = try w.run(["user", "show", uid, "--json"])
        #expect(r.text.contains("\\u001b]0;pwned"), "\(r.text)")

        // Nobody reads the output: the transaction still completes.
        let domain = "\(uid).\(w.zone)"
        let bin = ProcessInfo.processInfo.environment["SEMAILCTL"] ?? "\(repoRoot)/.build/debug/semailctl"
        r = try ProcessRunner().run(
            [
                "bash", "-c", "\"$@\" 2>&1 | true; echo \"${PIPESTATUS[0]}\"", "pipe", bin,
                "mailbox", "create", uid, "--address", "\(uid)@\(domain)", "--config", w.config
            ], check: false)
        #expect(r.text.trimmingCharacters(in: .whitespacesAndNewlines) == "0", "exit status: \(r.text) \(r.stderr)")
        #expect(try w.missing(uid, domain: domain).isEmpty)
    }

    /// Directory numbers are input too: a uidNumber of -5 (or 0) on one
    /// entry must neither crash reconcile (it would stop `--watch` for
    /// everyone) nor hand the Maildir to root; the others are still repaired.
    @Test func hostileIdsDoNotStopTheOthers() throws {
        let w = try world()
        defer { w.cleanup() }
        let bad = uniqueUID("id"), good = uniqueUID("ok")
        let (_, n) = try mailbox(w, bad)
        let (gdomain, _) = try mailbox(w, good)
        try w.dockerd.client.stop(container: "semail-\(good)")
        for value in ["-5", "0"] {
            let ldif =
                """
                dn: uid=\(bad),\(w.ou),dc=semail,dc=email\nchangetype: modify\nreplace: uidNumber\nuidNumber: \
                \(value)\n
                """
            try ProcessRunner().run(
                ["ldapmodify", "-x", "-H", w.slapd.uri, "-D", w.slapd.adminDN, "-y", w.slapd.secretFile],
                stdin: Data(ldif.utf8))
            let r = try w.run(["reconcile"])
            #expect(
                r.status == 1 && r.text.contains("not allowed"), "uidNumber \(value): \(r.status) \(r.text)\(r.stderr)")
            #expect(try w.missing(good, domain: gdomain).isEmpty, "uidNumber \(value)")
            #expect(owner("\(w.mountPoint(bad))/Maildir") == (uid_t(n), 0o700))
            try w.dockerd.client.stop(container: "semail-\(good)")
        }
    }

    /// Key files are read as root: a refusal never quotes what it read
    /// (self-service runs as root and would print lines of any file), and a
    /// FIFO or a device is refused instead of being read forever.
    @Test func keyFilesLeakNothing() throws {
        let w = try world()
        defer { w.cleanup() }
        let uid = uniqueUID("kf")
        try w.addUser(uid)
        let secret = "\(w.dir)/shadow"
        rootFile(secret, "root:$y$j9T$TOPSECRETHASH:19000:0:99999:7:::\n", mode: 0o600)
        var r = try w.run(["user", "ssh-keys", uid, secret])
        #expect(r.status == 64 && !r.stderr.contains("TOPSECRET") && !r.stderr.contains("root:"), "\(r.stderr)")
        let fifo = "\(w.dir)/fifo"
        #expect(mkfifo(fifo, 0o600) == 0)
        let bin = ProcessInfo.processInfo.environment["SEMAILCTL"] ?? "\(repoRoot)/.build/debug/semailctl"
        r = try ProcessRunner().run(
            ["timeout", "-s", "KILL", "20", bin, "user", "ssh-keys", uid, fifo, "--config", w.config], check: false)
        #expect(r.status == 64 && r.stderr.contains("not a regular file"), "\(r.status) \(r.stderr)")
    }
}

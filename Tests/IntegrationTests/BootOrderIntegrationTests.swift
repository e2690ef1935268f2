import Core
import Foundation
import Provisioning
import TestSupport
import Testing

/// Fixed container addresses, `ssh-config`, and what a reboot does to the
/// mailboxes: the engine stopped, the volumes unmounted and their loop
/// devices gone, the engine started again.
@Suite(.slapd, .named, .dockerd, .serialized) struct BootOrderIntegrationTests {
    var d: Dockerd { Dockerd.shared }

    func json(_ r: ProcessOutput) throws -> Any {
        try #require(try? JSONSerialization.jsonObject(with: r.stdout), "stdout: \(r.text)\nstderr: \(r.stderr)")
    }

    /// The address the engine gave semail-UID, once it runs (nil if it does not).
    func ip(_ uid: String, wait: Double = 20) throws -> String? {
        let deadline = Date().addingTimeInterval(wait)
        repeat {
            if let c = try d.client.inspect(container: "semail-\(uid)"), c.State.Running,
                let ip = c.NetworkSettings?.Networks?["semail-test"]?.IPAddress, !ip.isEmpty
            {
                return ip
            }
            usleep(200_000)
        } while Date() < deadline
        return nil
    }

    func mailbox(_ w: World, _ uid: String, key: String? = nil) throws {
        try w.addUser(uid)
        if let key {
            let r = try w.run(["user", "ssh-keys", uid, "\(key).pub"])
            #expect(r.status == 0, "\(r.stderr)")
        }
        let r = try w.run(["mailbox", "create", uid, "--address", "\(uid)@\(uid).\(w.zone)", "-q"])
        #expect(r.status == 0, "\(r.stderr)\(r.text)")
        try "Subject: keep me\n\nprecious \(uid)\n".write(
            toFile: "\(w.mountPoint(uid))/Maildir/cur/1.precious", atomically: true, encoding: .utf8)
    }

    func listed(_ w: World, _ uid: String) throws -> [String: Any] {
        let r = try w.run(["mailbox", "list", "--json"])
        let l = try #require(try json(r) as? [[String: Any]])
        return try #require(l.first { $0["uid"] as? String == uid }, "\(r.text)")
    }

    @Test func addressesStayAndNoContainerRunsWithoutItsVolume() throws {
        let w = try World.ready()
        defer { w.cleanup() }
        let key = "\(w.dir)/key"
        try ProcessRunner().run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", key])
        let a = uniqueUID("a"), b = uniqueUID("b")
        try mailbox(w, a, key: key)
        try mailbox(w, b)
        let ipA = try #require(try ip(a)), ipB = try #require(try ip(b))
        #expect(ipA != ipB)
        let book = try String(contentsOfFile: "\(w.dir)/state/addresses", encoding: .utf8)
        #expect(book.contains("\(a) \(ipA)\n") && book.contains("\(b) \(ipB)\n"), "\(book)")
        // A mount point left unsealed under its mounted volume (made by an older
        // version) is found and sealed by reconcile, through a bind of the mail root.
        let scratch = "\(w.dir)/under"
        try SystemState.underneath("\(w.dir)/mail", scratch: scratch) { root in
            #expect(SystemState.isSealed("\(root)/\(a)"))
            SystemState.unsealMountPoint("\(root)/\(a)")
            chmod("\(root)/\(a)", 0o755)
        }
        var r = try w.run(["reconcile", "--dry-run", "--json"])
        let plan = try #require((try json(r) as? [String: Any])?["items"] as? [[String: Any]])
        #expect(
            plan.contains { $0["uid"] as? String == a && ($0["action"] as? String ?? "").hasPrefix("seal ") }, "\(plan)"
        )
        #expect(
            !plan.contains { $0["uid"] as? String == b && ($0["action"] as? String ?? "").hasPrefix("seal ") },
            "\(plan)")
        r = try w.run(["reconcile"])
        #expect(r.status == 0, "\(r.stderr)\(r.text)")
        try SystemState.underneath("\(w.dir)/mail", scratch: scratch) { root in
            #expect(SystemState.isSealed("\(root)/\(a)"))
        }
        #expect(try ip(a) == ipA)

        // The fstab entries order the engine after the mounts.
        #expect(
            w.fstab.split(separator: "\n").filter { $0.contains("/mail/") }.allSatisfy {
                $0.contains("x-systemd.before=docker.service")
            }, "\(w.fstab)")

        // A forced rebuild (a new container beside the old one) keeps the address.
        r = try w.run(["container", "rebuild", a, "--force", "--json"])
        #expect(r.status == 0, "\(r.stderr)")
        #expect(((try json(r) as? [String: Any])?["action"] as? String) == "rebuilt")
        #expect(try ip(a) == ipA)
        // So does an engine restart.
        try halt(d)
        try resume(d)
        #expect(try ip(a) == ipA)
        #expect(try ip(b) == ipB)

        // ssh-config, used as printed: the block and the known_hosts line
        // (no jump host here: the test host reaches the bridge itself).
        r = try w.run(["ssh-config", a, "--json"])
        #expect(r.status == 0, "\(r.stderr)")
        let access = try #require(try json(r) as? [String: Any])
        #expect(access["hostName"] as? String == ipA)
        let sshConfig = try #require(access["config"] as? String)
        #expect(
            sshConfig.contains("Host \(a).semail\n") && sshConfig.contains("HostKeyAlias semail-\(a)\n")
                && sshConfig.contains("ProxyJump "))
        try sshConfig.write(toFile: "\(w.dir)/ssh_config", atomically: true, encoding: .utf8)
        try "\(try #require(access["knownHosts"] as? String))\n".write(
            toFile: "\(w.dir)/known_hosts", atomically: true, encoding: .utf8)
        func login(_ knownHosts: String) throws -> ProcessOutput {
            try ProcessRunner().run(
                [
                    "ssh", "-F", "\(w.dir)/ssh_config", "-o", "UserKnownHostsFile=\(knownHosts)", "-o",
                    "StrictHostKeyChecking=yes",
                    "-o", "ProxyJump=none", "-o", "BatchMode=yes", "-o", "ConnectTimeout=10", "-i", key,
                    "\(a).semail", "cat ~/Maildir/cur/1.precious"
                ], check: false)
        }
        var s = try login("\(w.dir)/known_hosts")
        #expect(s.status == 0 && s.text.contains("precious \(a)"), "\(s.stderr)")
        // Another container's key under a's alias is refused: the line printed is what makes the login work.
        let other = try #require(try json(w.run(["ssh-config", b, "--json"])) as? [String: Any])
        let bKey = try #require(other["knownHosts"] as? String).split(separator: " ").dropFirst().joined(separator: " ")
        try "semail-\(a) \(bKey)\n".write(toFile: "\(w.dir)/known_hosts.wrong", atomically: true, encoding: .utf8)
        s = try login("\(w.dir)/known_hosts.wrong")
        #expect(s.status != 0)

        // A container left running while its volume goes away is reported.
        #expect(umount2(w.mountPoint(b), Int32(MNT_DETACH)) == 0)
        var me = try listed(w, b)
        #expect((me["container"] as? [String: Any])?["volumeMounted"] as? Bool == false, "\(me)")
        r = try w.run(["mailbox", "list"])
        #expect(
            r.text.split(separator: "\n").contains { $0.hasPrefix(b) && $0.contains("running, VOLUME NOT MOUNTED") },
            "\(r.text)")
        r = try w.run(["mailbox", "show", b])
        #expect(r.text.contains("VOLUME NOT MOUNTED"), "\(r.text)")
        r = try w.run(["container", "list", "--json"])
        let cl = try #require(try json(r) as? [[String: Any]])
        #expect(cl.first { $0["uid"] as? String == b }?["volumeMounted"] as? Bool == false)
        // reconcile stops it, mounts the volume and starts it again.
        r = try w.run(["reconcile", "--json"])
        #expect(r.status == 0, "\(r.stderr)\(r.text)")
        #expect(try w.missing(b, domain: "\(b).\(w.zone)").isEmpty)
        me = try listed(w, b)
        #expect((me["container"] as? [String: Any])?["volumeMounted"] as? Bool == true, "\(me)")
        #expect(try ip(b) == ipB)

        // The reboot: engine down, volumes unmounted (their loop devices go
        // with them), engine up. The containers' restart policy starts them.
        try halt(d)
        for u in [a, b] { _ = umount2(w.mountPoint(u), 0) }
        for _ in 0..<100 where !w.loops.isEmpty { usleep(100_000) }
        #expect(w.loops.isEmpty, "\(w.loops)")
        // The bare mount point is sealed: nothing, root included, can make a Maildir in it.
        #expect(mkdir("\(w.mountPoint(a))/Maildir", 0o755) != 0)
        try resume(d)
        sleep(3)
        for u in [a, b] {
            let c = try #require(try d.client.inspect(container: "semail-\(u)"))
            #expect(!c.State.Running, "semail-\(u) runs without its volume")
            #expect(
                (try? FileManager.default.contentsOfDirectory(atPath: w.mountPoint(u))) == [],
                "something was made in \(w.mountPoint(u))")
        }
        me = try listed(w, a)
        #expect((me["volume"] as? [String: Any])?["mounted"] as? Bool == false, "\(me)")
        #expect((me["container"] as? [String: Any])?["state"] as? String != "running", "\(me)")

        // reconcile mounts the volumes and starts the containers, mail intact, same addresses.
        r = try w.run(["reconcile", "--json"])
        #expect(r.status == 0, "\(r.stderr)\(r.text)")
        #expect(try ip(a) == ipA)
        #expect(try ip(b) == ipB)
        for u in [a, b] {
            #expect(
                (try? String(contentsOfFile: "\(w.mountPoint(u))/Maildir/cur/1.precious", encoding: .utf8))?.contains(
                    "precious \(u)") == true)
            #expect(try w.missing(u, domain: "\(u).\(w.zone)").isEmpty)
        }
        s = try login("\(w.dir)/known_hosts")
        #expect(s.status == 0 && s.text.contains("precious \(a)"), "\(s.stderr)")

        // `container remove` keeps the mailbox's address: a mailbox made
        // meanwhile gets another one, and reconcile gives b its own back.
        r = try w.run(["container", "remove", b, "-q"])
        #expect(r.status == 0, "\(r.stderr)\(r.text)")
        #expect(
            try String(contentsOfFile: "\(w.dir)/state/addresses", encoding: .utf8).contains("\(b) \(ipB)")
                || (try String(contentsOfFile: "\(w.dir)/state/addresses", encoding: .utf8)).contains(b))
        let c = uniqueUID("c")
        try mailbox(w, c)
        #expect(try ip(c) != ipB)
        r = try w.run(["reconcile", "-q"])
        #expect(r.status == 0, "\(r.stderr)\(r.text)")
        #expect(try ip(b) == ipB)

        // A deleted mailbox's address is free again: the next mailbox gets it; a keeps its own.
        r = try w.run(["mailbox", "delete", b, "--yes", "-q"])
        #expect(r.status == 0, "\(r.stderr)\(r.text)")
        #expect(try !String(contentsOfFile: "\(w.dir)/state/addresses", encoding: .utf8).contains(b))
        let e = uniqueUID("e")
        try mailbox(w, e)
        #expect(try ip(e) == ipB)
        #expect(try ip(a) == ipA)
    }
}

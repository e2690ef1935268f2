import Containers
import Core
import Foundation
import Provisioning
import TestSupport
import Testing

/// Mailbox containers through the CLI, against a real dockerd and slapd,
/// with the real base image from `image bootstrap` (debootstrap minbase +
/// openssh-server, its rootfs cached between runs).
@Suite(.slapd, .dockerd, .serialized) struct ContainerIntegrationTests {
    var s: Slapd { Slapd.shared }
    var d: Dockerd { Dockerd.shared }
    static let rootfsCache = "/var/cache/semail-test/bookworm-ssh.tar"

    /// A config for this suite's services; mail root and Dockerfiles under `dir`.
    func config(
        _ dir: String, templates: String = "\(repoRoot)/templates", baseImage: String = "semail/base:latest",
        socket: String? = nil,
        network: String = "semail-test", containers extra: String = ""
    ) throws -> String {
        try s.config(
            extra: """

                [storage]
                mail_root = "\(dir)/mail"
                image_dir = "\(dir)/images"
                fstab = "\(dir)/fstab"

                [containers]
                socket = "\(socket ?? d.socket)"
                template_dir = "\(templates)"
                dockerfile_dir = "\(dir)/Containers"
                base_image = "\(baseImage)"
                network = "\(network)"
                memory = "128M"
                pids = 64
                ssh_host = "jump.example"
                \(extra)
                """
        ).path.replacingOccurrences(of: "semail.toml", with: "semail.toml")
    }

    func workDir() throws -> String {
        let dir = "\(s.dir)/c-\(UUID().uuidString.prefix(6))"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        return dir
    }

    func bootstrap(_ cfg: String) throws {
        try FileManager.default.createDirectory(atPath: "/var/cache/semail-test", withIntermediateDirectories: true)
        let r = try semailctl(["image", "bootstrap", "--rootfs-cache", Self.rootfsCache, "--config", cfg, "--json"])
        #expect(r.status == 0, "\(r.stderr)")
    }

    /// A posix user with an SSH key and a Maildir holding one message.
    func user(_ cfg: String, _ dir: String, _ uid: String) throws -> String {
        let key = "\(dir)/\(uid)-key"
        try ProcessRunner().run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", key])
        let r = try semailctl([
            "user", "add", uid, "--cn", uid, "--sn", uid, "--mail", "\(uid)@semail.email", "--posix",
            "--ssh-key", "\(key).pub", "--config", cfg, "--json"
        ])
        #expect(r.status == 0, "\(r.stderr)")
        let n = try #require(try json(r)["uidNumber"] as? Int)
        for sub in ["tmp", "new", "cur"] {
            try FileManager.default.createDirectory(
                atPath: "\(dir)/mail/\(uid)/Maildir/\(sub)", withIntermediateDirectories: true)
        }
        try "Subject: kept\n\nold mail\n".write(
            toFile: "\(dir)/mail/\(uid)/Maildir/cur/1.kept", atomically: true, encoding: .utf8)
        // As `volume create` leaves it: the volume root is root's (0755),
        // the Maildir and what it holds belong to the user.
        try ProcessRunner().run(["chown", "0:0", "\(dir)/mail/\(uid)"])
        try ProcessRunner().run(["chmod", "0755", "\(dir)/mail/\(uid)"])
        try ProcessRunner().run(["chown", "-R", "\(n):\(n)", "\(dir)/mail/\(uid)/Maildir"])
        try ProcessRunner().run(["chmod", "0700", "\(dir)/mail/\(uid)/Maildir"])
        return key
    }

    func ssh(_ key: String, _ target: String, _ command: String) throws -> ProcessOutput {
        try ProcessRunner().run(
            [
                "ssh", "-i", key, "-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null", "-o",
                "BatchMode=yes",
                "-o", "ConnectTimeout=10", "-o", "LogLevel=ERROR", target, command
            ], check: false)
    }

    func json(_ r: ProcessOutput) throws -> [String: Any] {
        try #require(
            JSONSerialization.jsonObject(with: r.stdout) as? [String: Any], "stdout: \(r.text)\nstderr: \(r.stderr)")
    }

    @Test func createLoginRebuildRemoveWithTheBootstrappedImage() throws {
        let dir = try workDir()
        let cfg = try config(dir)
        try bootstrap(cfg)
        let uid = uniqueUID("c")
        let key = try user(cfg, dir, uid)

        var r = try semailctl(["container", "create", uid, "--config", cfg, "--json"])
        #expect(r.status == 0, "\(r.stderr)")
        var c = try json(r)
        #expect(c["action"] as? String == "created")
        let first = try #require(c["container"] as? [String: Any])
        let ip = try #require(first["ipAddress"] as? String)
        #expect(first["ssh"] as? String == "ssh -J jump.example -o HostKeyAlias=semail-\(uid) \(uid)@\(ip)")
        #expect(FileManager.default.fileExists(atPath: "\(dir)/Containers/\(uid)/Dockerfile"))

        // What the engine holds: labels, limits, capabilities, mount, policy, network.
        let i = try #require(try d.client.inspect(container: "semail-\(uid)"))
        #expect(i.State.Running)
        #expect(i.Config.Labels?["semail.uid"] == uid)
        #expect(i.Config.Labels?["semail.address"] == "\(uid)@semail.email")
        #expect(i.Config.Labels?["semail.template"]?.count == 64)
        #expect(i.HostConfig.Memory == 128 << 20)
        #expect(i.HostConfig.PidsLimit == 64)
        #expect(i.HostConfig.Privileged == false)
        #expect(i.HostConfig.CapDrop == ["ALL"])
        #expect(Set(i.HostConfig.CapAdd ?? []) == Set(ContainerManager.sshdCaps))
        #expect(i.HostConfig.Binds?.isEmpty ?? true)
        #expect(
            i.Mounts?.contains {
                $0.Type == "bind" && $0.Source == "\(dir)/mail/\(uid)/Maildir" && $0.Destination == "/Maildir"
            } == true)
        #expect(i.HostConfig.RestartPolicy?.Name == "unless-stopped")
        #expect(i.NetworkSettings?.Networks?["semail-test"] != nil)

        // The user logs in with the key from LDAP and sees the Maildir; what
        // the user writes lands on the host with the user's numeric ids.
        var login = try ssh(key, "\(uid)@\(ip)", "id -un; cat ~/Maildir/cur/1.kept; echo hi > ~/Maildir/new/2.written")
        #expect(login.status == 0, "\(login.stderr)")
        #expect(login.text.contains(uid) && login.text.contains("old mail"))
        var st = stat()
        #expect(stat("\(dir)/mail/\(uid)/Maildir/new/2.written", &st) == 0)
        #expect(st.st_uid >= 10000)
        // Another key is refused.
        let other = "\(dir)/other-key"
        try ProcessRunner().run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", other])
        #expect(try ssh(other, "\(uid)@\(ip)", "true").status != 0)

        // Create again: nothing to do.
        r = try semailctl(["container", "create", uid, "--config", cfg, "--json"])
        #expect(try json(r)["action"] as? String == "up-to-date")
        // A stopped container is started, not rebuilt.
        try d.client.stop(container: "semail-\(uid)", timeout: 1)
        r = try semailctl(["container", "rebuild", uid, "--config", cfg, "--json"])
        #expect(try json(r)["action"] as? String == "started", "\(r.stderr)")

        // A new key changes the template hash: rebuild replaces the container,
        // keeps the mail, and the new key logs in.
        r = try semailctl(["user", "ssh-keys", uid, "\(other).pub", "--config", cfg])
        #expect(r.status == 0, "\(r.stderr)")
        r = try semailctl(["container", "rebuild", uid, "--config", cfg, "--json"])
        #expect(r.status == 0, "\(r.stderr)")
        c = try json(r)
        #expect(c["action"] as? String == "rebuilt")
        let second = try #require(c["container"] as? [String: Any])
        #expect(second["id"] as? String != first["id"] as? String)
        #expect(second["templateHash"] as? String != first["templateHash"] as? String)
        let ip2 = try #require(second["ipAddress"] as? String)
        login = try ssh(other, "\(uid)@\(ip2)", "cat ~/Maildir/cur/1.kept ~/Maildir/new/2.written")
        #expect(login.status == 0 && login.text.contains("old mail") && login.text.contains("hi"), "\(login.stderr)")
        #expect(try ssh(key, "\(uid)@\(ip2)", "true").status != 0)
        #expect(try d.client.containers(label: "semail.uid=\(uid)").count == 1)

        // show and list.
        r = try semailctl(["container", "show", uid, "--config", cfg])
        #expect(r.text.contains("ssh -J jump.example -o HostKeyAlias=semail-\(uid) \(uid)@\(ip2)"))
        r = try semailctl(["container", "list", "--config", cfg, "--json"])
        let listed = try #require(JSONSerialization.jsonObject(with: r.stdout) as? [[String: Any]])
        #expect(listed.contains { $0["uid"] as? String == uid && $0["state"] as? String == "running" })

        // remove: the container goes, the mail stays.
        r = try semailctl(["container", "remove", uid, "--config", cfg])
        #expect(r.status == 0, "\(r.stderr)")
        #expect(try d.client.inspect(container: "semail-\(uid)") == nil)
        #expect(FileManager.default.fileExists(atPath: "\(dir)/mail/\(uid)/Maildir/cur/1.kept"))
    }

    @Test func aFailingRebuildLeavesTheOldContainerServing() throws {
        let dir = try workDir()
        let cfg = try config(dir)
        try bootstrap(cfg)
        let uid = uniqueUID("f")
        _ = try user(cfg, dir, uid)
        var r = try semailctl(["container", "create", uid, "--config", cfg])
        #expect(r.status == 0, "\(r.stderr)")
        let before = try #require(try d.client.inspect(container: "semail-\(uid)"))

        let base = try String(contentsOfFile: "\(repoRoot)/templates/Dockerfile.template", encoding: .utf8)
        // 1. The build fails: the engine's error is reported.
        let broken = "\(dir)/broken"
        try FileManager.default.createDirectory(atPath: broken, withIntermediateDirectories: true)
        try (base + "RUN echo no-such-step >&2 && false\n").write(
            toFile: "\(broken)/Dockerfile.template", atomically: true, encoding: .utf8)
        r = try semailctl(["container", "rebuild", uid, "--config", try config(dir, templates: broken)])
        #expect(r.status == 1)
        #expect(r.stderr.contains("build failed") && r.stderr.contains("no-such-step"), "\(r.stderr)")
        // 2. The build works but the new container exits at once.
        let exits = "\(dir)/exits"
        try FileManager.default.createDirectory(atPath: exits, withIntermediateDirectories: true)
        try (base + "CMD [\"/bin/sh\", \"-c\", \"echo sshd-config-broken >&2; exit 3\"]\n").write(
            toFile: "\(exits)/Dockerfile.template", atomically: true, encoding: .utf8)
        r = try semailctl(["container", "rebuild", uid, "--config", try config(dir, templates: exits)])
        #expect(r.status == 1)
        #expect(r.stderr.contains("did not stay up") && r.stderr.contains("sshd-config-broken"), "\(r.stderr)")

        // The old container is the one serving, untouched, and it is alone.
        let after = try #require(try d.client.inspect(container: "semail-\(uid)"))
        #expect(after.Id == before.Id && after.State.Running)
        #expect(try d.client.containers(label: "semail.uid=\(uid)").map(\.Id) == [before.Id])
        #expect(FileManager.default.fileExists(atPath: "\(dir)/mail/\(uid)/Maildir/cur/1.kept"))
        _ = try semailctl(["container", "remove", uid, "--config", cfg])
    }

    /// kill -9 at every step of a create and of a rebuild, then run the
    /// command again: one labeled container runs, with the mail intact.
    @Test func killedAtEveryStepTheNextRunFinishes() throws {
        let dir = try workDir()
        let cfg = try config(dir)
        try bootstrap(cfg)
        let uid = uniqueUID("k")
        let key = try user(cfg, dir, uid)
        let other = "\(dir)/k2"
        try ProcessRunner().run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", other])
        for point in ["container.render", "container.build", "container.create", "container.start"] {
            let r = try semailctl(["container", "create", uid, "--config", cfg], env: ["SEMAIL_FAULT": "kill:\(point)"])
            #expect(r.status == 137, "\(point): \(r.stderr)")
        }
        #expect(try semailctl(["container", "create", uid, "--config", cfg]).status == 0)
        // Each rebuild changes the key, so each one really replaces the container.
        for (i, point) in [
            "container.build", "container.create", "container.start", "container.swap", "container.swapped"
        ].enumerated() {
            _ = try semailctl(["user", "ssh-keys", uid, i % 2 == 0 ? "\(other).pub" : "\(key).pub", "--config", cfg])
            var r = try semailctl(
                ["container", "rebuild", uid, "--config", cfg], env: ["SEMAIL_FAULT": "kill:\(point)"])
            #expect(r.status == 137, "\(point): \(r.stderr)")
            r = try semailctl(["container", "rebuild", uid, "--config", cfg, "--json"])
            #expect(r.status == 0, "after kill at \(point): \(r.stderr)")
            let all = try d.client.containers(label: "semail.uid=\(uid)")
            #expect(
                all.count == 1 && all.first?.Names == ["/semail-\(uid)"] && all.first?.State == "running",
                "after kill at \(point): \(all)")
        }
        #expect(FileManager.default.fileExists(atPath: "\(dir)/mail/\(uid)/Maildir/cur/1.kept"))
        _ = try semailctl(["container", "remove", uid, "--config", cfg])
        #expect(try d.client.containers(label: "semail.uid=\(uid)").isEmpty)
    }

    @Test func rebuildAllContinuesPastOneFailure() throws {
        let dir = try workDir()
        let cfg = try config(dir)
        try bootstrap(cfg)
        let good = uniqueUID("g"), bad = uniqueUID("b")
        for u in [good, bad] {
            _ = try user(cfg, dir, u)
            #expect(try semailctl(["container", "create", u, "--config", cfg]).status == 0)
        }
        // bad's Maildir is gone: its rebuild fails, good's still runs.
        try FileManager.default.removeItem(atPath: "\(dir)/mail/\(bad)")
        let r = try semailctl(["container", "rebuild", "--all", "--force", "--config", cfg, "--json"])
        #expect(r.status == 1)
        let results = try #require(JSONSerialization.jsonObject(with: r.stdout) as? [[String: Any]], "\(r.text)")
        let byUID = Dictionary(
            results.compactMap { o in (o["uid"] as? String).map { ($0, o) } }, uniquingKeysWith: { a, _ in a })
        #expect(byUID[good]?["ok"] as? Bool == true)
        #expect(byUID[bad]?["ok"] as? Bool == false)
        #expect((byUID[bad]?["error"] as? String)?.contains("no Maildir") == true)
        #expect(try d.client.inspect(container: "semail-\(good)")?.State.Running == true)
        for u in [good, bad] { _ = try semailctl(["container", "remove", u, "--config", cfg]) }
    }

    @Test func unlabeledContainersAreNeverTouched() throws {
        let dir = try workDir()
        let cfg = try config(dir)
        let uid = uniqueUID("u")
        _ = try user(cfg, dir, uid)
        let id = try d.client.createContainer(
            name: "semail-\(uid)",
            spec: .init(
                Image: Dockerd.busyboxImage, Cmd: ["sleep", "600"], Hostname: nil, Labels: [:],
                HostConfig: .init(CapAdd: [], Memory: 32 << 20, PidsLimit: 16, NetworkMode: "none")))
        defer { try? d.client.remove(container: id) }
        for args in [["container", "create", uid], ["container", "rebuild", uid], ["container", "remove", uid]] {
            let r = try semailctl(args + ["--config", cfg])
            #expect(r.status == 1, "\(args)")
            #expect(r.stderr.contains("did not make it"), "\(r.stderr)")
        }
        #expect(try d.client.inspect(container: "semail-\(uid)")?.Id == id)
        #expect(try semailctl(["container", "show", uid, "--config", cfg]).status == 1)
        #expect(!(try semailctl(["container", "list", "--config", cfg, "--json"]).text.contains(uid)))
    }

    @Test func faultsAndBadInputSayWhatToDo() throws {
        let dir = try workDir()
        let uid = uniqueUID("e")
        _ = try user(try config(dir), dir, uid)
        // Docker not running.
        var r = try semailctl(["container", "create", uid, "--config", try config(dir, socket: "\(dir)/no-docker.sock")]
        )
        #expect(r.status == 69)
        #expect(r.stderr.contains("cannot reach Docker") && r.stderr.contains("start it"), "\(r.stderr)")
        r = try semailctl(["config", "check", "--config", try config(dir, socket: "\(dir)/no-docker.sock")])
        #expect(
            r.status != 0 && r.text.contains("containers: FAILED") && r.text.contains("cannot reach Docker"),
            "\(r.text)")
        // No base image.
        r = try semailctl([
            "container", "create", uid, "--config", try config(dir, baseImage: "semail/not-bootstrapped:1")
        ])
        #expect(r.status == 1)
        #expect(r.stderr.contains("semailctl image bootstrap"), "\(r.stderr)")
        // Values smuggling an instruction are refused before anything is rendered.
        let cfg = try config(dir)
        for addr in ["a@b.c\nRUN rm -rf /", "a@b.c RUN x", "a\"@b.c"] {
            r = try semailctl(["container", "create", uid, "--address", addr, "--config", cfg])
            #expect(r.status == 64, "\(addr): \(r.stderr)")
        }
        #expect(!FileManager.default.fileExists(atPath: "\(dir)/Containers/\(uid)/Dockerfile"))
        r = try semailctl(["container", "create", "../etc", "--config", cfg])
        #expect(r.status == 64)
        // A key with options (command=...) is not accepted into authorized_keys.
        try "command=\"/bin/sh\" ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIK0 x\n".write(
            toFile: "\(dir)/opt.pub", atomically: true, encoding: .utf8)
        r = try semailctl(["user", "ssh-keys", uid, "\(dir)/opt.pub", "--config", cfg])
        #expect(r.status == 64, "\(r.stderr)")
    }
}

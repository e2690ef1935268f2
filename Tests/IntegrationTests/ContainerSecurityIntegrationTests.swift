import Containers
import Core
import Foundation
import Provisioning
import TestSupport
import Testing

/// The attacks a hostile mailbox owner can make from the shell in their own
/// container, performed for real: as the user (`docker exec --user <uid
/// number>`), with real TCP connections, against the suite's dockerd.
extension ContainerIntegrationTests {
    /// Runs `script` with bash inside UID's container as `user` (a number).
    func exec(_ uid: String, as user: String, _ script: String) throws -> ProcessOutput {
        try ProcessRunner().run(
            [
                "docker", "-H", "unix://\(d.socket)", "exec", "--user", user, ContainerManager.name(uid), "bash", "-c",
                script
            ],
            check: false)
    }

    /// The numeric owner of UID's Maildir on the host: the user's uid number.
    func owner(_ dir: String, _ uid: String) -> String {
        var st = stat()
        return stat("\(dir)/mail/\(uid)/Maildir", &st) == 0 ? "\(st.st_uid)" : "?"
    }

    /// A shell line printing OPEN when a TCP connection to HOST:PORT is made, CLOSED otherwise.
    func probe(_ host: String, _ port: Int) -> String {
        "if timeout 4 bash -c 'exec 3<>/dev/tcp/\(host)/\(port)' 2>/dev/null; then echo OPEN; else echo CLOSED; fi"
    }

    /// A TCP listener on 0.0.0.0 on the host (the kernel completes the
    /// handshake without accept()); returns the descriptor and the port.
    func hostListener() throws -> (Int32, Int) {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        try #require(fd >= 0)
        var a = sockaddr_in()
        a.sin_family = sa_family_t(AF_INET)
        a.sin_port = 0
        a.sin_addr.s_addr = 0
        var len = socklen_t(MemoryLayout<sockaddr_in>.size)
        let ok = withUnsafeMutablePointer(to: &a) { p in
            p.withMemoryRebound(to: sockaddr.self, capacity: 1) { sa in
                bind(fd, sa, len) == 0 && Glibc.listen(fd, 16) == 0 && getsockname(fd, sa, &len) == 0
            }
        }
        try #require(ok)
        return (fd, Int(UInt16(bigEndian: a.sin_port)))
    }

    func ip(_ uid: String) throws -> String {
        let c = try #require(try d.client.inspect(container: ContainerManager.name(uid)))
        return try #require(c.NetworkSettings?.Networks?.values.compactMap(\.IPAddress).first)
    }

    // 1. The volume root belongs to the user, who swapped the Maildir for a symlink to another user's.
    @Test func aMaildirSwappedForASymlinkIsNeverBound() throws {
        let dir = try workDir()
        let cfg = try config(dir)
        try bootstrap(cfg)
        let victim = uniqueUID("v"), attacker = uniqueUID("a")
        _ = try user(cfg, dir, victim)
        _ = try user(cfg, dir, attacker)
        try "Subject: secret\n\nvictim's mail\n".write(
            toFile: "\(dir)/mail/\(victim)/Maildir/cur/2.secret", atomically: true, encoding: .utf8)
        var r = try semailctl(["container", "create", attacker, "--config", cfg])
        #expect(r.status == 0, "\(r.stderr)")
        defer { _ = try? semailctl(["container", "remove", attacker, "--config", cfg]) }

        // The old layout: the whole volume is the user's, so the user can
        // replace the Maildir with a symlink to the victim's.
        let root = "\(dir)/mail/\(attacker)"
        try ProcessRunner().run(["chown", "\(owner(dir, attacker)):\(owner(dir, attacker))", root])
        #expect(rename("\(root)/Maildir", "\(root)/Maildir.mine") == 0)
        #expect(symlink("../\(victim)/Maildir", "\(root)/Maildir") == 0)
        for args in [["container", "rebuild", attacker, "--force"], ["container", "create", attacker]] {
            r = try semailctl(args + ["--config", cfg])
            #expect(r.status != 0, "\(args) bound a symlinked Maildir")
            #expect(r.stderr.contains("an admin must look"), "\(args): \(r.stderr)")
        }
        // Whatever container the attacker has, it does not show the victim's mail.
        let seen = try exec(attacker, as: "0", "cat /Maildir/cur/2.secret 2>&1")
        #expect(!seen.text.contains("victim's mail"), "\(seen.text)")
        for c in try d.client.containers(label: "semail.uid=\(attacker)") {
            let i = try #require(try d.client.inspect(container: c.Id))
            #expect(!(i.Mounts ?? []).contains { ($0.Source ?? "").contains(victim) }, "\(i.Mounts ?? [])")
        }

        // A fresh mailbox whose volume root is the user's is refused too, and nothing is created.
        let other = uniqueUID("o")
        _ = try user(cfg, dir, other)
        try ProcessRunner().run(["chown", "\(owner(dir, other))", "\(dir)/mail/\(other)"])
        r = try semailctl(["container", "create", other, "--config", cfg])
        #expect(r.status != 0 && r.stderr.contains("an admin must look"), "\(r.stderr)")
        #expect(try d.client.containers(label: "semail.uid=\(other)").isEmpty)
        _ = try? semailctl(["container", "remove", other, "--config", cfg])
    }

    // 2. Containers reach neither each other nor the host's services; only configured egress.
    @Test func containersReachOnlyTheHostAndConfiguredEgress() throws {
        let dir = try workDir()
        let net = "semail-iso\(UUID().uuidString.prefix(4).lowercased())"
        var cfg = try config(dir, network: net)
        try bootstrap(cfg)
        let a = uniqueUID("a"), b = uniqueUID("b")
        let keyA = try user(cfg, dir, a)
        _ = try user(cfg, dir, b)
        var r = try semailctl(["container", "create", a, "--config", cfg])
        #expect(r.status == 0, "\(r.stderr)")
        defer {
            for u in [a, b] { _ = try? semailctl(["container", "remove", u, "--config", cfg]) }
            _ = try? semailctl(["container", "network-remove", "--config", cfg])
            try? d.client.removeNetwork(net)
        }
        let network = try #require(try d.client.network(net))
        let gateway = try #require(network.IPAM?.Config?.first?.Gateway)
        let (blocked, blockedPort) = try hostListener()
        defer { close(blocked) }
        let (relay, relayPort) = try hostListener()
        defer { close(relay) }
        // The relay is configured; the network's rules follow the configuration when it is ensured again.
        cfg = try config(dir, network: net, containers: "egress = \"tcp:\(gateway):\(relayPort) udp:192.0.2.53:53\"")
        r = try semailctl(["container", "create", b, "--config", cfg])
        #expect(r.status == 0, "\(r.stderr)")
        let ipA = try ip(a), ipB = try ip(b)

        let out = try exec(
            a, as: owner(dir, a),
            [
                probe(ipB, 22), probe(gateway, blockedPort), probe(gateway, relayPort),
                "cat /proc/sys/net/ipv6/conf/all/disable_ipv6"
            ].joined(separator: "; "))
        let lines = out.text.split(separator: "\n").map(String.init)
        #expect(lines.count == 4, "\(out.text) \(out.stderr)")
        #expect(lines.first == "CLOSED", "A reached B's sshd at \(ipB):22")
        #expect(lines.dropFirst().first == "CLOSED", "A reached a host service on \(gateway):\(blockedPort)")
        #expect(lines.dropFirst(2).first == "OPEN", "A could not reach the configured relay \(gateway):\(relayPort)")
        #expect(lines.dropFirst(3).first == "1", "IPv6 (link-local between containers) is on")
        // B asks the configured DNS server, not Docker's resolver.
        let resolv = try exec(b, as: owner(dir, b), "cat /etc/resolv.conf")
        #expect(
            resolv.text.contains("nameserver 192.0.2.53\n") && !resolv.text.contains("127.0.0.11"), "\(resolv.text)")
        // The host still reaches A's sshd, and the login works.
        let login = try ssh(keyA, "\(a)@\(ipA)", "id -un")
        #expect(login.status == 0 && login.text.contains(a), "\(login.stderr)")

        // A reboot loses the rules while dockerd starts the containers again:
        // reconcile sees it and puts them back.
        let id12 = String(network.Id.prefix(12))
        try ProcessRunner().run(["iptables", "-w", "-D", "INPUT", "-i", "br-\(id12)", "-j", "SEMAIL-I-\(id12)"])
        try ProcessRunner().run(["iptables", "-w", "-F", "SEMAIL-F-\(id12)"])
        #expect(try exec(a, as: owner(dir, a), probe(gateway, blockedPort)).text == "OPEN\n")
        r = try semailctl(["reconcile", "--dry-run", "--json", "--config", cfg])
        #expect(r.text.contains("isolate the network \(net)"), "\(r.text) \(r.stderr)")
        r = try semailctl(["reconcile", "--config", cfg])
        #expect(
            try exec(a, as: owner(dir, a), probe(gateway, blockedPort) + "; " + probe(ipB, 22)).text
                == "CLOSED\nCLOSED\n", "\(r.text) \(r.stderr)")
        r = try semailctl(["reconcile", "--dry-run", "--json", "--config", cfg])
        #expect(!r.text.contains("isolate the network"), "\(r.text)")

        // Removing the network takes its rules and chains with it.
        for u in [a, b] { #expect(try semailctl(["container", "remove", u, "--config", cfg]).status == 0) }
        r = try semailctl(["container", "network-remove", "--config", cfg])
        #expect(r.status == 0, "\(r.stderr)")
        #expect(try d.client.network(net) == nil)
        let rules = try ProcessRunner().run(["iptables", "-w", "-S"]).text
        #expect(!rules.contains(id12), "rules left for \(id12): \(rules)")
    }

    // 3. A uid that is a host name does not become that name on the network.
    @Test func aUIDNamedLikeAHostDoesNotShadowIt() throws {
        let dir = try workDir()
        let cfg = try config(dir)
        try bootstrap(cfg)
        let zone = "\(uniqueUID("z")).test"
        let mx = "mx.\(zone)", other = uniqueUID("n")
        _ = try user(cfg, dir, mx)
        _ = try user(cfg, dir, other)
        defer { for u in [mx, other] { _ = try? semailctl(["container", "remove", u, "--config", cfg]) } }
        for u in [mx, other] {
            let r = try semailctl(["container", "create", u, "--config", cfg])
            #expect(r.status == 0, "\(r.stderr)")
        }
        let mxIP = try ip(mx)
        let looked = try exec(
            other, as: owner(dir, other), "timeout 10 getent hosts \(mx); timeout 10 getent hosts mx; true")
        #expect(!looked.text.contains(mxIP), "\(mx) resolves to the container's \(mxIP): \(looked.text)")
        let i = try #require(try d.client.inspect(container: ContainerManager.name(mx)))
        #expect(i.Config.Hostname == "mailbox")
        // Docker's resolver answers with every container name on the network
        // (semail-<uid>, so semail-mx.<zone>); the containers do not ask it.
        let n = try exec(
            other, as: owner(dir, other), "timeout 10 getent hosts \(ContainerManager.name(mx)); cat /etc/resolv.conf")
        #expect(!n.text.contains(mxIP) && !n.text.contains("127.0.0.11"), "\(n.text)")
    }

    // 4. Writing outside /Maildir neither fills the host disk nor uses unbounded CPU.
    @Test func writingOutsideTheMaildirLandsNowhere() throws {
        let dir = try workDir()
        let cfg = try config(dir, containers: "cpus = \"0.5\"")
        try bootstrap(cfg)
        let uid = uniqueUID("w")
        let key = try user(cfg, dir, uid)
        var r = try semailctl(["container", "create", uid, "--config", cfg])
        #expect(r.status == 0, "\(r.stderr)")
        defer { _ = try? semailctl(["container", "remove", uid, "--config", cfg]) }
        let dataRoot = "\(d.dir)/data"
        func used() throws -> Int {
            let o = try ProcessRunner().run(["du", "-sxm", dataRoot]).text
            return Int(o.split(separator: "\t").first ?? "") ?? 0
        }
        let before = try used()
        for target in ["$HOME/big", "/tmp/big", "/var/tmp/big", "/big", "/dev/shm/big"] {
            let w = try exec(uid, as: owner(dir, uid), "dd if=/dev/zero of=\(target) bs=1M count=300 2>&1")
            #expect(w.status != 0, "300 MB written to \(target): \(w.text)")
            let grown = try used() - before
            #expect(grown < 20, "writing \(target) grew the engine's data root by \(grown) MB")
            _ = try exec(uid, as: owner(dir, uid), "rm -f \(target)")
        }
        let i = try #require(try d.client.inspect(container: ContainerManager.name(uid)))
        #expect(i.HostConfig.NanoCpus == 500_000_000)
        #expect(i.HostConfig.ReadonlyRootfs == true)
        // sshd still serves, with PAM, and the Maildir stays writable.
        let login = try ssh(
            key, "\(uid)@\(try ip(uid))", "id -un; echo ok > ~/Maildir/new/3.ssh && cat ~/Maildir/new/3.ssh")
        #expect(
            login.status == 0 && login.text.contains(uid) && login.text.contains("ok"), "\(login.text) \(login.stderr)")
        r = try semailctl(["container", "create", uid, "--config", cfg, "--json"])
        #expect(try json(r)["action"] as? String == "up-to-date")
    }

    // 5. No setuid program gains root, and the cgroup namespace is the container's own.
    @Test func noNewPrivilegesAndAPrivateCgroupNamespace() throws {
        let dir = try workDir()
        let cfg = try config(dir)
        try bootstrap(cfg)
        let uid = uniqueUID("p")
        _ = try user(cfg, dir, uid)
        let r = try semailctl(["container", "create", uid, "--config", cfg])
        #expect(r.status == 0, "\(r.stderr)")
        defer { _ = try? semailctl(["container", "remove", uid, "--config", cfg]) }
        // A setuid-root program where the user can run it (root in the
        // container makes it, as a compromised sshd could).
        let made = try exec(
            uid, as: "0",
            "cp /usr/bin/id /Maildir/.suid-id && chmod 4755 /Maildir/.suid-id && stat -c %u:%a /Maildir/.suid-id")
        #expect(made.text.contains("0:4755"), "\(made.text) \(made.stderr)")
        let out = try exec(
            uid, as: owner(dir, uid),
            "grep NoNewPrivs /proc/self/status; /Maildir/.suid-id -u; readlink /proc/self/ns/cgroup")
        let lines = out.text.split(separator: "\n").map(String.init)
        #expect(lines.first?.hasSuffix("1") == true, "\(out.text)")
        #expect(
            lines.dropFirst().first == owner(dir, uid), "a setuid program gained uid \(lines.dropFirst().first ?? "?")")
        let hostNS = try FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/ns/cgroup")
        #expect(
            lines.dropFirst(2).first != nil && lines.dropFirst(2).first != hostNS,
            "same cgroup namespace as the host: \(hostNS)")
        let i = try #require(try d.client.inspect(container: ContainerManager.name(uid)))
        #expect(i.HostConfig.SecurityOpt?.contains("no-new-privileges:true") == true)
        #expect(i.HostConfig.CgroupnsMode == "private")
    }

    // 2b. A network made by an older semailctl (inter-container traffic on) is not used as it is.
    @Test func aNetworkWithInterContainerTrafficIsReplacedOrRefused() throws {
        let dir = try workDir()
        let net = "semail-old\(UUID().uuidString.prefix(4).lowercased())"
        let cfg = try config(dir, network: net)
        try bootstrap(cfg)
        let uid = uniqueUID("o")
        _ = try user(cfg, dir, uid)
        // As the old code made it, with one container still on it.
        try d.client.ensureNetwork(net, labels: ["semail.network": "1"])
        let id = try d.client.createContainer(
            name: "old-\(uid)",
            spec: .init(
                Image: Dockerd.busyboxImage, Cmd: ["sleep", "600"], Hostname: nil, Labels: [:],
                HostConfig: .init(CapAdd: [], Memory: 32 << 20, PidsLimit: 16, NetworkMode: net)))
        defer {
            try? d.client.remove(container: id)
            _ = try? semailctl(["container", "remove", uid, "--config", cfg])
            _ = try? semailctl(["container", "network-remove", "--config", cfg])
        }
        try d.client.start(container: id)
        var r = try semailctl(["container", "create", uid, "--config", cfg])
        #expect(r.status == 1, "a container was made on a network where containers reach each other")
        #expect(
            r.stderr.contains("lets containers reach each other") && r.stderr.contains("semailctl reconcile"),
            "\(r.stderr)")
        #expect(try d.client.containers(label: "semail.uid=\(uid)").isEmpty)
        // Once nothing uses it, it is made again with inter-container traffic off.
        try d.client.remove(container: id)
        r = try semailctl(["container", "create", uid, "--config", cfg])
        #expect(r.status == 0, "\(r.stderr)")
        #expect(try d.client.network(net)?.Options?["com.docker.network.bridge.enable_icc"] == "false")
    }
}

import Containers
import Core
import Foundation
import Provisioning
import TestSupport
import Testing

/// The mail delivery contract, for real: `[smtp] postfix_*` written with the
/// address map, read by a private Postfix from Debian's package, which
/// delivers over SMTP into the mailbox's Maildir as its owner; the user
/// reads the message from inside their container.
@Suite(.slapd, .named, .dockerd, .serialized) struct DeliveryIntegrationTests {
    /// The Postfix outputs of world W, in `<dir>/postfix/` (not made yet).
    func postfixPaths(_ w: World) -> [PostfixMaps.Kind: String] {
        [
            .mailboxes: "\(w.dir)/postfix/mailboxes", .uids: "\(w.dir)/postfix/uids",
            .gids: "\(w.dir)/postfix/gids", .domains: "\(w.dir)/postfix/domains"
        ]
    }

    func smtpComponent(_ w: World) throws -> [String: Any] {
        let r = try w.run(["config", "check", "--json"])
        let doc = try #require(JSONSerialization.jsonObject(with: r.stdout) as? [String: Any], "\(r.text)\(r.stderr)")
        let comps = try #require(doc["components"] as? [[String: Any]])
        return try #require(comps.first { $0["name"] as? String == "smtp" }, "\(comps)")
    }

    func stat(_ path: String) -> (uid: UInt32, gid: UInt32, mode: UInt32)? {
        var st = Glibc.stat()
        guard lstat(path, &st) == 0 else { return nil }
        return (st.st_uid, st.st_gid, st.st_mode & 0o7777)
    }

    @Test func postfixDeliversIntoTheMaildirTheUserReads() throws {
        let started = Date()
        let w = try World.ready()
        defer { w.cleanup() }
        let paths = postfixPaths(w)
        // The keys go into the world's [smtp] section.
        let keys = PostfixMaps.Kind.allCases.map { "\($0.rawValue) = \"\(paths[$0]!)\"" }.joined(separator: "\n")
        let text = try String(contentsOfFile: w.config, encoding: .utf8)
        try text.replacingOccurrences(of: "[smtp]\n", with: "[smtp]\n\(keys)\n").write(
            toFile: w.config, atomically: true, encoding: .utf8)

        // config check: their directory must exist.
        var smtp = try smtpComponent(w)
        #expect(
            smtp["ok"] as? Bool == false
                && (smtp["message"] as? String ?? "").contains("\(w.dir)/postfix does not exist"), "\(smtp)")
        try FileManager.default.createDirectory(atPath: "\(w.dir)/postfix", withIntermediateDirectories: false)
        smtp = try smtpComponent(w)
        #expect(smtp["ok"] as? Bool == true, "\(smtp)")

        let uid = uniqueUID("dl")
        try w.addUser(uid)
        let domain = "\(uid).\(w.zone)", address = "\(uid)@\(domain)"
        let r = try w.run(["mailbox", "create", uid, "--address", address, "-q"])
        try #require(r.status == 0, "\(r.stderr)\(r.text)")
        let maildir = "\(w.mountPoint(uid))/Maildir"
        let owner = try #require(stat(maildir))
        #expect(owner.uid >= 1000 && owner.mode == 0o700)

        // The Postfix form of the map, root's, readable by Postfix.
        func file(_ k: PostfixMaps.Kind) -> String {
            (try? String(contentsOfFile: paths[k]!, encoding: .utf8)) ?? "<missing>"
        }
        #expect(file(.mailboxes) == "\(address) \(uid)/Maildir/\n")
        #expect(file(.uids) == "\(address) \(owner.uid)\n")
        #expect(file(.gids) == "\(address) \(owner.gid)\n")
        #expect(file(.domains) == "\(domain) OK\n")
        for p in paths.values {
            #expect(stat(p).map { $0.uid == 0 && $0.mode == 0o644 } == true, "\(p): \(String(describing: stat(p)))")
        }
        // A stale or lost Postfix file is drift: reconcile rewrites it.
        try "stale.example OK\n".write(toFile: paths[.domains]!, atomically: true, encoding: .utf8)
        try FileManager.default.removeItem(atPath: paths[.uids]!)
        let rec = try w.run(["reconcile"])
        #expect(rec.status == 0, "\(rec.stderr)\(rec.text)")
        #expect(file(.domains) == "\(domain) OK\n" && file(.uids) == "\(address) \(owner.uid)\n", "\(rec.text)")

        let pf = try Postfix.start(mainCF: [
            "virtual_mailbox_domains = texthash:\(paths[.domains]!)",
            "virtual_mailbox_maps = texthash:\(paths[.mailboxes]!)",
            "virtual_uid_maps = texthash:\(paths[.uids]!)",
            "virtual_gid_maps = texthash:\(paths[.gids]!)",
            "virtual_mailbox_base = \(w.dir)/mail",
            "virtual_minimum_uid = 1000"
        ])
        defer { pf.stop() }
        let token = UUID().uuidString
        let message = "From: sender@example.org\r\nTo: \(address)\r\nSubject: delivery test\r\n\r\nhello \(token)\r\n"
        let sent = try pf.send(
            from: "sender@example.org", to: [address, "nobody@\(domain)", "\(uid)@elsewhere.example"], message: message)
        #expect(sent.rcpt[address]?.code == 250, "\(sent.rcpt)\n\(pf.log)")
        // Not in the map: refused while the client is connected (5xx), never bounced later.
        #expect(sent.rcpt["nobody@\(domain)"]?.code == 550, "\(sent.rcpt)")
        #expect(sent.rcpt["\(uid)@elsewhere.example"].map { $0.code / 100 == 5 } == true, "\(sent.rcpt)")
        #expect(sent.data?.code == 250, "\(String(describing: sent.data))\n\(pf.log)")

        // Postfix's virtual(8) writes tmp/ then renames into new/, as the owner.
        var delivered: [String] = []
        let deadline = Date().addingTimeInterval(30)
        while delivered.isEmpty && Date() < deadline {
            delivered = (try? FileManager.default.contentsOfDirectory(atPath: "\(maildir)/new")) ?? []
            if delivered.isEmpty { usleep(100_000) }
        }
        try #require(delivered.count == 1, "nothing delivered in 30 s:\n\(pf.log)")
        let st = try #require(stat("\(maildir)/new/\(delivered[0])"))
        #expect(st.uid == owner.uid && st.gid == owner.gid && st.mode == 0o600, "\(st)")

        // Read by the user, inside their container.
        let inside = try ProcessRunner().run(
            [
                "docker", "-H", "unix://\(w.dockerd.socket)", "exec", "--user", "\(owner.uid)",
                ContainerManager.name(uid), "bash", "-c",
                "cat /Maildir/new/*; echo \"tmp: $(ls -A /Maildir/tmp | wc -l) owner: $(stat -c %u /Maildir/new/*)\""
            ],
            check: false)
        #expect(inside.status == 0, "\(inside.stderr)")
        #expect(
            inside.text.contains("hello \(token)") && inside.text.contains("Delivered-To: \(address)"), "\(inside.text)"
        )
        #expect(inside.text.hasSuffix("tmp: 0 owner: \(owner.uid)\n"), "\(inside.text)")

        // The volume not mounted (boot order, nofail): the owner cannot make a
        // Maildir in the root-owned mount point, so the mail waits in the queue.
        try #require(umount2(w.mountPoint(uid), Int32(MNT_DETACH)) == 0, "umount: \(errno)")
        let late = try pf.send(
            from: "sender@example.org", to: [address], message: message.replacingOccurrences(of: "hello", with: "later")
        )
        #expect(late.data?.code == 250, "\(String(describing: late.data))")
        var deferred = false
        let wait = Date().addingTimeInterval(30)
        while !deferred && Date() < wait {
            deferred = pf.log.split(separator: "\n").contains {
                $0.contains("to=<\(address)>") && $0.contains("status=deferred")
            }
            if !deferred { usleep(100_000) }
        }
        #expect(deferred, "not deferred:\n\(pf.log)")
        #expect(
            (try? FileManager.default.contentsOfDirectory(atPath: w.mountPoint(uid))) == [],
            "written to the root filesystem")

        // Deleted: the outputs no longer list it, and after `postfix reload`
        // (texthash tables are read at process start) the address is refused.
        let d = try w.run(["mailbox", "delete", uid, "--yes"])
        #expect(d.status == 0, "\(d.stderr)")
        #expect(PostfixMaps.Kind.allCases.allSatisfy { file($0).isEmpty }, "\(PostfixMaps.Kind.allCases.map(file))")
        try pf.reload()
        var code = 0
        let until = Date().addingTimeInterval(15)
        repeat {
            code = try pf.send(from: "sender@example.org", to: [address], message: message).rcpt[address]?.code ?? 0
            if code / 100 != 5 { usleep(200_000) }
        } while code / 100 != 5 && Date() < until
        #expect(code / 100 == 5, "still accepted after the delete and a reload:\n\(pf.log)")
        print("delivery test: \(String(format: "%.1f", Date().timeIntervalSince(started))) s")
    }
}

import Core
import Foundation
import Provisioning
import TestSupport
import Synchronization
import Testing

/// Hostile mailbox owners: values they write into their own entry (the test
/// slapd lets users edit sshPublicKey, mail and the mailbox attributes, as a
/// permissive site would), claims made with `mailbox create --as-user`, and
/// LDIF files from elsewhere. Each attack is performed for real.
@Suite(.slapd, .named, .dockerd, .serialized) struct DirectoryAttackIntegrationTests {
    func world(_ extra: String = "") throws -> World { try World.ready(extra) }

    func json(_ r: ProcessOutput) throws -> [String: Any] {
        try #require(
            JSONSerialization.jsonObject(with: r.stdout) as? [String: Any], "stdout: \(r.text)\nstderr: \(r.stderr)")
    }

    func dn(_ w: World, _ uid: String) -> String { "uid=\(uid),\(w.ou),dc=semail,dc=email" }

    /// An LDIF change applied as the administrator.
    func admin(_ w: World, _ ldif: String) throws {
        try ProcessRunner().run(
            ["ldapmodify", "-x", "-H", w.slapd.uri, "-D", w.slapd.adminDN, "-y", w.slapd.secretFile],
            stdin: Data(ldif.utf8))
    }

    /// An LDIF change applied by UID itself: bound as its own DN with its own password.
    func asUser(_ w: World, _ uid: String, _ ldif: String) throws -> ProcessOutput {
        let pw = "\(w.dir)/\(uid).pw"
        _ = FileManager.default.createFile(
            atPath: pw, contents: Data("pw-\(uid)".utf8),
            attributes: [.posixPermissions: 0o600])
        return try ProcessRunner().run(
            ["ldapmodify", "-x", "-H", w.slapd.uri, "-D", dn(w, uid), "-y", pw], stdin: Data(ldif.utf8), check: false)
    }

    func setMailbox(_ w: World, _ uid: String, _ value: String) throws -> ProcessOutput {
        try asUser(
            w, uid,
            """
            dn: \(dn(w, uid))\nchangetype: modify\nreplace: semailMailbox\nsemailMailbox:: \
            \(Data(value.utf8).base64EncodedString())\n-\n
            """
        )
    }

    /// A user with the password "pw-UID".
    func addUserWithPassword(_ w: World, _ uid: String) throws {
        try w.addUser(uid)
        let r = try w.run(["user", "passwd", uid, "--password-stdin"], stdin: "pw-\(uid)\n")
        #expect(r.status == 0, "\(r.stderr)")
    }

    /// What a site that lets users edit their mailbox gives them: the class, no mailbox yet.
    func giveMailboxClass(_ w: World, _ uid: String, address: String? = nil) throws {
        try admin(
            w,
            "dn: \(dn(w, uid))\nchangetype: modify\nadd: objectClass\nobjectClass: semailUser\n-\n"
                + (address.map { "add: semailMailbox\nsemailMailbox: \($0)\n-\n" } ?? ""))
    }

    func errors(_ r: ProcessOutput) throws -> String {
        ((try json(r)["errors"] as? [String]) ?? []).joined(separator: "\n")
    }

    /// A: the address map is written from checked values only, one owner per
    /// address; the rest is reported; import modify records cannot set the
    /// mailbox attributes; reconcile applies the self-service policy to
    /// addresses it never provisioned.
    @Test func directoryValuesReachTheAddressMapOnlyChecked() throws {
        let w = try world()
        defer { w.cleanup() }
        let v = uniqueUID("v"), m = uniqueUID("m"), u = uniqueUID("u")
        try w.addUser(v); try addUserWithPassword(w, m); try w.addUser(u)
        let vAddr = "\(v)@\(v).\(w.zone)"
        var r = try w.run(["mailbox", "create", v, "--address", vAddr, "-q"])
        #expect(r.status == 0, "\(r.stderr)")
        let clean = "uid: \(v) mail: \(vAddr)\n"
        #expect(w.mapText == clean)
        try giveMailboxClass(w, m)

        // 1. A newline in semailMailbox: a second map line of the user's choosing.
        r = try setMailbox(w, m, "\(m)@\(m).\(w.zone)\nuid: \(m) mail: postmaster@\(w.zone)")
        #expect(r.status == 0, "the test ACL lets users write their mailbox attribute: \(r.stderr)")
        r = try w.run(["reconcile", "--json"])
        #expect(w.mapText == clean, "map after the newline attack:\n\(w.mapText)")
        #expect(try errors(r).contains(m), "reconcile says nothing of \(m): \(r.text)")
        r = try w.run(["mailbox", "list"])
        #expect(r.text.split(separator: "\n").contains { $0.hasPrefix(m) && $0.contains("invalid") }, "\(r.text)")

        // 2. Another user's address: refused by its own pipeline, and by the map.
        r = try setMailbox(w, m, vAddr)
        #expect(r.status == 0, "\(r.stderr)")
        r = try w.run(["reconcile", "--json"])
        #expect(w.mapText == clean, "map after the duplicate-address attack:\n\(w.mapText)")
        #expect(try errors(r).contains("claimed by \(v)"), "\(r.text)")
        r = try w.run(["mailbox", "list", "--json"])
        let list = try #require(JSONSerialization.jsonObject(with: r.stdout) as? [[String: Any]], "\(r.text)")
        #expect(
            (list.first { $0["uid"] as? String == m }?["refused"] as? String)?.contains("claimed by \(v)") == true,
            "\(list)")
        #expect(list.first { $0["uid"] as? String == v }?["refused"] == nil)

        // 3. An import modify record setting the mailbox attributes goes through `mailbox create`'s checks.
        let file = "\(w.dir)/modify.ldif"
        try """
        dn: \(dn(w, u))\nchangetype: modify\nadd: objectClass\nobjectClass: semailUser\n-\nreplace: \
        semailMailbox\nsemailMailbox: \(vAddr)\n-\nreplace: semailVolumeSize\nsemailVolumeSize: 33554432\n-\n
        """
        .write(toFile: file, atomically: true, encoding: .utf8)
        r = try w.run(["import", file, "--json"])
        #expect(r.status == 1, "\(r.text)\(r.stderr)")
        #expect(try w.ldapMailbox(u) == nil, "the import set \(u)'s semailMailbox directly")
        let mb = try json(r)["mailboxes"] as? [String: Any]
        #expect(mb?["failed"] as? Int == 1, "\(r.text)")
        #expect(w.mapText == clean)

        // 4. reconcile provisions a new address only if a self-service request could have it.
        r = try setMailbox(w, m, "postmaster@\(w.zone)")
        #expect(r.status == 0, "\(r.stderr)")
        r = try w.run(["reconcile", "--json"])
        #expect(try errors(r).contains("role address"), "\(r.text)")
        #expect(w.mapText == clean, "\(w.mapText)")
        #expect(
            !FileManager.default.fileExists(atPath: "\(w.dir)/images/\(m).img"),
            "reconcile provisioned postmaster@ for \(m)")
        let items = try #require(try json(r)["items"] as? [[String: Any]])
        #expect(items.contains { $0["uid"] as? String == m && $0["kind"] as? String == "refused" }, "\(items)")
    }

    /// B: what a user may claim with `mailbox create --as-user`.
    @Test func selfServiceClaimsAreRefusedByTheAddressPolicy() throws {
        let w = try world()
        defer { w.cleanup() }
        let o = uniqueUID("o"), m = uniqueUID("m"), a = uniqueUID("a")
        try w.addUser(o); try addUserWithPassword(w, m); try w.addUser(a)
        // o already holds the subdomain o.<zone> (recorded directly; not provisioned here).
        try giveMailboxClass(w, o, address: "\(o)@\(o).\(w.zone)")
        let z = w.zone
        let claims: [(String, String)] = [
            ("postmaster@\(z)", "role address"), ("hostmaster@\(z)", "role address"),
            ("abuse@\(m).\(z)", "role address"),
            ("\(m)@\(z)", "zone apex"),
            ("ceo@\(o).\(z)", "belongs to another mailbox"), ("x@sub.\(o).\(z)", "belongs to another mailbox"),
            ("\(m)@mx.\(z)", "records semailctl does not manage"),
            ("\(m)@ns1.\(z)", "records semailctl does not manage"),
            ("ceo@gmail.com", "_semail.gmail.com")
        ]
        for (addr, reason) in claims {
            let r = try w.run(
                ["mailbox", "create", m, "--address", addr, "--as-user", m, "--password-stdin"], stdin: "pw-\(m)\n")
            #expect(
                r.status == 1 && r.text.contains("FAILED at step directory-check") && r.text.contains(reason),
                "\(addr): status \(r.status): \(r.text)\(r.stderr)")
            #expect(try w.ldapMailbox(m) == nil, "\(addr) was recorded for \(m)")
            #expect(!FileManager.default.fileExists(atPath: "\(w.dir)/images/\(m).img"), "\(addr): a volume was made")
        }
        #expect(try w.mx("mx.\(z)").isEmpty && w.mx("ns1.\(z)").isEmpty)
        #expect(!w.mapText.contains("uid: \(m) "))
        // Names with hand-kept records are refused to the admin too; the role
        // addresses at the apex are the admin's to give.
        var r = try w.run(["mailbox", "create", a, "--address", "\(a)@mx.\(z)"])
        #expect(r.status == 1 && r.text.contains("records semailctl does not manage"), "\(r.text)\(r.stderr)")
        r = try w.run(["mailbox", "create", a, "--address", "postmaster@\(z)", "-q"])
        #expect(r.status == 0, "\(r.stderr)")
        #expect(w.mapText.contains("uid: \(a) mail: postmaster@\(z)\n"), "\(w.mapText)")
    }

    /// B: an external domain for a user once it shows control: the TXT
    /// record the refusal names, bound to the uid (an MX pointing here is no proof).
    @Test func anExternalDomainNeedsProofOfControl() throws {
        let w = try world()
        defer { w.cleanup() }
        let t = uniqueUID("t"), x = uniqueUID("x")
        try addUserWithPassword(w, t); try addUserWithPassword(w, x)
        let ext = "ext\(t).test", mxd = "mx\(x).test"
        var r = try w.run(
            ["mailbox", "create", t, "--address", "\(t)@\(ext)", "--as-user", t, "--password-stdin"], stdin: "pw-\(t)\n"
        )
        #expect(r.status == 1 && r.text.contains("_semail.\(ext)"), "\(r.text)")
        let token = try #require(
            r.text.range(of: #"semail-verify=[0-9a-f]{32}"#, options: .regularExpression).map { String(r.text[$0]) },
            "\(r.text)")
        // The domains' own zones, served by the test named (the configured resolver).
        for (zone, body) in [(ext, "_semail IN TXT \"\(token)\"\n"), (mxd, "@ IN MX 10 mx.\(w.zone).\n")] {
            let file = "\(w.named.dir)/db.\(zone)"
            try """
            $TTL 300\n@ IN SOA ns1.\(zone). hostmaster.\(zone). 1 3600 600 86400 300\n@ IN NS \
            ns1.\(zone).\nns1 IN A 127.0.0.1\n\(body)
            """
            .write(toFile: file, atomically: true, encoding: .utf8)
            try w.named.rndc(["addzone", zone, "{ type primary; file \"\(file)\"; };"])
        }
        defer { for z in [ext, mxd] { try? w.named.rndc(["delzone", z]) } }
        // The token is bound to the uid: x cannot use t's record.
        r = try w.run(
            ["mailbox", "create", x, "--address", "\(x)@\(ext)", "--as-user", x, "--password-stdin"], stdin: "pw-\(x)\n"
        )
        #expect(r.status == 1 && r.text.contains("proof of control"), "\(r.text)")
        r = try w.run(
            ["mailbox", "create", t, "--address", "\(t)@\(ext)", "--as-user", t, "--password-stdin", "-q"],
            stdin: "pw-\(t)\n")
        #expect(r.status == 0, "\(r.text)\(r.stderr)")
        // An MX already pointing here proves nothing about who asks (a deleted
        // mailbox's domain still points here): refused for a user.
        r = try w.run(
            ["mailbox", "create", x, "--address", "\(x)@\(mxd)", "--as-user", x, "--password-stdin", "-q"],
            stdin: "pw-\(x)\n")
        #expect(r.status == 1 && r.text.contains("proof of control"), "\(r.text)\(r.stderr)")
        #expect(w.mapText == "uid: \(t) mail: \(t)@\(ext)\n", "\(w.mapText)")
        // Nor does writing the address on one's own entry: reconcile looks nothing up for it.
        try giveMailboxClass(w, x)
        #expect(try setMailbox(w, x, "\(x)@\(mxd)").status == 0)
        r = try w.run(["reconcile", "--json"])
        let errs = try errors(r)
        #expect(r.status == 1 && errs.contains("checked only when \(x) asks"), "\(r.text)")
        #expect(w.mapText == "uid: \(t) mail: \(t)@\(ext)\n", "\(w.mapText)")
        #expect((try? String(contentsOfFile: "\(w.dir)/state/policy.secret", encoding: .utf8)) != nil)
        var st = stat()
        #expect(stat("\(w.dir)/state/policy.secret", &st) == 0 && st.st_mode & 0o777 == 0o600)
    }

    /// D1: two import workers rewriting the address map at once: a reads the
    /// directory for its rewrite and stops before writing, b records itself
    /// and rewrites meanwhile, then a writes. b's line must survive.
    @Test func parallelImportWorkersKeepEveryMapLine() throws {
        let w = try world()
        defer { w.cleanup() }
        let p = uniqueUID("j"), a = "\(p)a", b = "\(p)b"
        var ldif = ""
        for (i, u) in [a, b].enumerated() {
            ldif += mailboxEntryLDIF(
                dn: dn(w, u), uid: u, number: 41000 + i, address: "\(u)@\(u).\(w.zone)", size: nil)
        }
        let file = "\(w.dir)/two.ldif", faults = "\(w.dir)/faults"
        try ldif.write(toFile: file, atomically: true, encoding: .utf8)
        try FileManager.default.createDirectory(atPath: faults, withIntermediateDirectories: true)
        let env = [
            "SEMAIL_FAULT": "pause:mailbox.create.directory@\(b),pause:address-map.write@\(a)",
            "SEMAIL_FAULT_DIR": faults
        ]
        let result = Box()
        let done = DispatchSemaphore(value: 0)
        Thread {
            result.set(try? w.run(["import", file, "--jobs", "2", "--json"], env: env))
            done.signal()
        }.start()
        func waitFor(_ what: String, seconds: Double, _ cond: () -> Bool) -> Bool {
            let deadline = Date().addingTimeInterval(seconds)
            while !cond() { if Date() > deadline { return false }; usleep(100_000) }
            return true
        }
        let bMarker = "\(faults)/mailbox.create.directory@\(b)", aMarker = "\(faults)/address-map.write@\(a)"
        #expect(
            waitFor("both paused", seconds: 400) {
                FileManager.default.fileExists(atPath: bMarker) && FileManager.default.fileExists(atPath: aMarker)
            })
        try? FileManager.default.removeItem(atPath: bMarker)
        _ = waitFor("b's line", seconds: 10) { w.mapText.contains("uid: \(b) ") }
        try? FileManager.default.removeItem(atPath: aMarker)
        done.wait()
        let r = try #require(result.get())
        #expect(r.status == 0, "\(r.text)\(r.stderr)")
        #expect(
            w.mapText == "uid: \(a) mail: \(a)@\(a).\(w.zone)\nuid: \(b) mail: \(b)@\(b).\(w.zone)\n",
            "lost a line:\n\(w.mapText)")
    }

    /// D4: a mailbox without semailVolumeSize gets the default size, in the plan too.
    /// A user writes an address into their own `mail` before its owner
    /// gets it: the owner's mailbox is still created (only mailboxes make
    /// an address taken), and the squatter gets nothing.
    @Test func mailValuesDoNotSquatAddresses() throws {
        let w = try world()
        defer { w.cleanup() }
        let squatter = uniqueUID("sq"), owner = uniqueUID("ow")
        try addUserWithPassword(w, squatter)
        try w.addUser(owner)
        let address = "\(owner)@\(owner).\(w.zone)"
        let r0 = try asUser(w, squatter, "dn: \(dn(w, squatter))\nchangetype: modify\nadd: mail\nmail: \(address)\n-\n")
        #expect(r0.status == 0, "\(r0.stderr)")
        let r = try w.run(["mailbox", "create", owner, "--address", address])
        #expect(r.status == 0, "\(r.text)\(r.stderr)")
        #expect(w.mapText.contains("uid: \(owner) mail: \(address)") && !w.mapText.contains(squatter))
    }

    /// The admin's choices outlive the map: with the map clobbered,
    /// reconcile restores an admin-made external address (approved in
    /// `<state>/approved`), while a value the user writes later is still
    /// checked; a delete forgets the approval.
    @Test func aClobberedMapKeepsTheAdminsChoices() throws {
        let w = try world()
        defer { w.cleanup() }
        let u = uniqueUID("ap")
        try addUserWithPassword(w, u)
        var r = try w.run(["mailbox", "create", u, "--address", "\(u)@example.org"])
        #expect(r.status == 0, "\(r.text)\(r.stderr)")
        let approved = "\(w.dir)/state/approved"
        #expect((try? String(contentsOfFile: approved, encoding: .utf8))?.contains("\(u) \(u)@example.org") == true)
        try "garbage\n".write(toFile: "\(w.dir)/state/mailbox.txt", atomically: true, encoding: .utf8)
        r = try w.run(["reconcile"])
        #expect(r.status == 0, "\(r.text)\(r.stderr)")
        #expect(w.mapText == "uid: \(u) mail: \(u)@example.org\n", "\(w.mapText)")
        // The user moves to a role address: not approved, refused, and the map drops the line.
        #expect(try setMailbox(w, u, "postmaster@\(w.zone)").status == 0)
        r = try w.run(["reconcile", "--json"])
        let errs = try errors(r)
        #expect(r.status == 1 && errs.contains("role address"), "\(r.text)")
        #expect(!w.mapText.contains(u))
        #expect(try setMailbox(w, u, "\(u)@example.org").status == 0)
        #expect(try w.run(["mailbox", "delete", u, "--yes"]).status == 0)
        #expect((try? String(contentsOfFile: approved, encoding: .utf8))?.contains(u) != true)
    }

    @Test func reconcilePlansTheDefaultSizeWhenNoneIsRecorded() throws {
        let w = try world()
        defer { w.cleanup() }
        let u = uniqueUID("s")
        try w.addUser(u)
        try giveMailboxClass(w, u, address: "\(u)@\(u).\(w.zone)")
        let r = try w.run(["reconcile", "--dry-run", "--json"])
        let items = try #require(try json(r)["items"] as? [[String: Any]], "\(r.text)")
        let vol =
            items.first { $0["uid"] as? String == u && $0["component"] as? String == "volume" }?["action"] as? String
        #expect(vol == "create an empty 32M volume", "\(items)")
    }
}

final class Box: Sendable {
    private let value = Mutex<ProcessOutput?>(nil)
    func set(_ v: ProcessOutput?) { value.withLock { $0 = v } }
    func get() -> ProcessOutput? { value.withLock { $0 } }
}

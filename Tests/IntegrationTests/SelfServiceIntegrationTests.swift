import Core
import Foundation
import Provisioning
import TestSupport
import Testing

/// `--as-user UID` against the real slapd, named and dockerd: what the portal
/// runs through sudo. A user reaches only their own data, proves their
/// password first (never an empty one), and the admin's commands are
/// refused to the portal's user.
@Suite(.slapd, .named, .dockerd, .serialized) struct SelfServiceIntegrationTests {
    func json(_ r: ProcessOutput) throws -> [String: Any] {
        try #require(
            JSONSerialization.jsonObject(with: r.stdout) as? [String: Any], "stdout: \(r.text)\nstderr: \(r.stderr)")
    }

    func dn(_ w: World, _ uid: String) -> String { "uid=\(uid),\(w.ou),dc=semail,dc=email" }

    /// A user with the password "pw-UID".
    func user(_ w: World, _ uid: String) throws {
        try w.addUser(uid)
        let r = try w.run(["user", "passwd", uid, "--password-stdin"], stdin: "pw-\(uid)\n")
        #expect(r.status == 0, "\(r.stderr)")
    }

    /// UID's own command: `--as-user UID --json`, the password on stdin.
    func mine(_ w: World, _ uid: String, _ args: [String], password: String? = nil) throws -> ProcessOutput {
        try w.run(args + ["--as-user", uid, "--json"], stdin: (password ?? "pw-\(uid)") + "\n")
    }

    /// Whether PASSWORD opens a bind as UID (ldapwhoami).
    func binds(_ w: World, _ uid: String, _ password: String) throws -> Bool {
        let f = "\(w.dir)/\(uid).try"
        _ = FileManager.default.createFile(
            atPath: f, contents: Data(password.utf8), attributes: [.posixPermissions: 0o600])
        defer { try? FileManager.default.removeItem(atPath: f) }
        return try ProcessRunner().run(
            ["ldapwhoami", "-x", "-H", w.slapd.uri, "-D", dn(w, uid), "-y", f], check: false
        ).status == 0
    }

    func key(_ w: World, _ name: String) throws -> (line: String, fingerprint: String, path: String) {
        let path = "\(w.dir)/\(name)"
        try ProcessRunner().run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", name, "-f", path])
        let line = try String(contentsOfFile: path + ".pub", encoding: .utf8).trimmingCharacters(in: .newlines)
        let fp = try ProcessRunner().run(["ssh-keygen", "-l", "-E", "sha256", "-f", path + ".pub"]).text
            .split(separator: " ")[1]
        return (line, String(fp), path)
    }

    /// Attacks: alice acting on bob (with alice's own right password), a
    /// wrong password, an empty one, and the portal's user without --as-user.
    @Test func aUserReachesOnlyTheirOwnData() throws {
        let w = try World.ready()
        defer { w.cleanup() }
        let alice = uniqueUID("al"), bob = uniqueUID("bo")
        try user(w, alice); try user(w, bob)
        let k = try key(w, "bobkey")
        var r = try w.run(["user", "ssh-key", "add", bob, k.line, "--json"])
        #expect(r.status == 0, "\(r.stderr)")
        let attempts: [[String]] = [
            ["mailbox", "show", bob], ["mailbox", "status", bob], ["mailbox", "delete", bob, "--yes"],
            ["mailbox", "create", bob, "--address", "\(bob)@\(bob).\(w.zone)"],
            ["mailbox", "check-address", bob, "--address", "\(bob)@\(bob).\(w.zone)"],
            ["user", "ssh-key", "list", bob], ["user", "ssh-key", "remove", bob, k.fingerprint],
            ["user", "ssh-key", "add", bob, try key(w, "evil").line], ["user", "packages", bob, "--add", "mutt"]
        ]
        for a in attempts {
            r = try mine(w, alice, a)
            #expect(r.status == 77, "\(a): \(r.status) \(r.text) \(r.stderr)")
            #expect(!r.text.contains(k.fingerprint), "\(a) showed bob's key")
        }
        r = try w.run(["user", "passwd", bob, "--as-user", alice, "--json"], stdin: "pw-\(alice)\nstolen\n")
        #expect(r.status == 77, "\(r.text)")
        #expect(try binds(w, bob, "pw-\(bob)") && !binds(w, bob, "stolen"))
        // Bob's entry is as it was.
        let keys = try json(try mine(w, bob, ["user", "ssh-key", "list", bob]))["keys"] as? [[String: Any]]
        #expect(keys?.map { $0["fingerprint"] as? String } == [k.fingerprint], "\(String(describing: keys))")
        #expect(try w.ldapMailbox(bob) == nil)

        // A wrong password: 77, nothing shown.
        r = try mine(w, alice, ["mailbox", "status", alice], password: "wrong")
        #expect(r.status == 77 && r.text.contains("wrong password"), "\(r.text)")
        // An empty password is refused before any bind: this slapd accepts a DN with an empty password
        // (allow bind_anon_dn), so had it been sent the command would have gone on.
        for empty in ["", "\n"] {
            r = try w.run(["mailbox", "status", alice, "--as-user", alice, "--json"], stdin: empty)
            #expect(r.status == 64, "\(Array(empty.utf8)): \(r.status) \(r.text)")
            #expect(!r.text.contains("\"uid\" : \"\(alice)\"") && !r.text.contains("sshKeys"), "\(r.text)")
        }
        r = try w.run(["user", "passwd", alice, "--as-user", alice, "--json"], stdin: "\nnew\n")
        #expect(r.status == 64, "\(r.text)")
        r = try w.run(["user", "passwd", alice, "--as-user", alice, "--json"], stdin: "pw-\(alice)\n\n")
        #expect(r.status == 64, "\(r.text)")
        #expect(try binds(w, alice, "pw-\(alice)"))

        // The portal's user through sudo: nothing but --as-user.
        let web = ["SUDO_USER": "semail-web", "SUDO_UID": "999"]
        r = try w.run(["user", "list", "--json"], env: web)
        #expect(r.status == 77 && r.text.contains("only with --as-user"), "\(r.text)")
        r = try w.run(["mailbox", "delete", bob, "--yes", "--json"], env: web)
        #expect(r.status == 77, "\(r.text)")
        r = try w.run(["mailbox", "status", alice, "--as-user", alice, "--json"], stdin: "pw-\(alice)\n", env: web)
        #expect(r.status == 0, "\(r.text)\(r.stderr)")
        // Nor a file for root to read, even with --as-user.
        let keyFile = "\(w.dir)/keys"
        try (k.line + "\n").write(toFile: keyFile, atomically: true, encoding: .utf8)
        r = try w.run(
            [
                "mailbox", "create", alice, "--address", "\(alice)@\(alice).\(w.zone)", "--ssh-key", keyFile,
                "--as-user", alice, "--json"
            ], stdin: "pw-\(alice)\n", env: web)
        #expect(r.status == 77 && r.text.contains("--ssh-key"), "\(r.text)")
        #expect(try w.ldapMailbox(alice) == nil)
        let pwFile = "\(w.dir)/alice.pw"
        _ = FileManager.default.createFile(
            atPath: pwFile, contents: Data("pw-\(alice)".utf8), attributes: [.posixPermissions: 0o600])
        r = try w.run(
            ["mailbox", "status", alice, "--as-user", alice, "--password-file", pwFile, "--json"], env: web)
        #expect(r.status == 77 && r.text.contains("--password-file"), "\(r.text)")
        // Another sudo caller (an admin's own account) is not restricted.
        r = try w.run(["user", "list", "--json"], env: ["SUDO_USER": "admin", "SUDO_UID": "1000"])
        #expect(r.status == 0, "\(r.stderr)")
    }

    /// Password Modify (RFC 3062) as the user: the current password proves it.
    @Test func aUserChangesTheirOwnPassword() throws {
        let w = try World.ready()
        defer { w.cleanup() }
        let u = uniqueUID("pw")
        try user(w, u)
        var r = try w.run(["user", "passwd", u, "--as-user", u, "--json"], stdin: "not-mine\nnew-\(u)\n")
        #expect(r.status == 77, "\(r.text)")
        #expect(try binds(w, u, "pw-\(u)") && !binds(w, u, "new-\(u)"))
        r = try w.run(["user", "passwd", u, "--as-user", u, "--json"], stdin: "pw-\(u)\nnew-\(u)\n")
        #expect(r.status == 0, "\(r.text)\(r.stderr)")
        #expect(try json(r)["passwordSet"] as? Bool == true)
        #expect(try binds(w, u, "new-\(u)") && !binds(w, u, "pw-\(u)"))
        #expect(try mine(w, u, ["mailbox", "status", u], password: "pw-\(u)").status == 77)
        #expect(try mine(w, u, ["mailbox", "status", u], password: "new-\(u)").status == 0)
    }

    /// The preview says what the create would refuse, and why, changing nothing.
    @Test func theAddressPolicyIsShownBeforeTheCreate() throws {
        let w = try World.ready()
        defer { w.cleanup() }
        let u = uniqueUID("pv"), o = uniqueUID("ow")
        try user(w, u); try w.addUser(o)
        // o holds o.<zone> (recorded on the entry by the admin).
        try ProcessRunner().run(
            ["ldapmodify", "-x", "-H", w.slapd.uri, "-D", w.slapd.adminDN, "-y", w.slapd.secretFile],
            stdin: Data(
                """
                dn: \(dn(w, o))\nchangetype: modify\nadd: objectClass\nobjectClass: semailUser\n-\nadd: semailMailbox\n\
                semailMailbox: \(o)@\(o).\(w.zone)\n-\n
                """.utf8))
        let z = w.zone
        for (addr, rule) in [
            ("postmaster@\(u).\(z)", "role address"), ("\(u)@\(z)", "zone apex"),
            ("me@\(o).\(z)", "belongs to another mailbox"), ("\(u)@mx.\(z)", "records semailctl does not manage"),
            ("\(u)@ext-\(u).example", "proof of control")
        ] {
            let r = try mine(w, u, ["mailbox", "check-address", u, "--address", addr])
            let j = try json(r)
            #expect(r.status == 1 && j["allowed"] as? Bool == false, "\(addr): \(r.text)")
            #expect((j["refusal"] as? String ?? "").contains(rule), "\(addr): \(r.text)")
        }
        var r = try mine(w, u, ["mailbox", "check-address", u, "--address", "\(u)@ext-\(u).example"])
        let publish = try json(r)["publish"] as? [String] ?? []
        #expect(publish.contains { $0.hasPrefix("ext-\(u).example. IN MX ") }, "\(publish)")
        #expect(publish.contains { $0.contains("_semail.ext-\(u).example. IN TXT \"semail-verify=") }, "\(publish)")
        r = try mine(w, u, ["mailbox", "check-address", u, "--address", "\(u)@\(u).\(z)"])
        let ok = try json(r)
        #expect(r.status == 0 && ok["allowed"] as? Bool == true && ok["managed"] as? Bool == true, "\(r.text)")
        // Nothing was recorded.
        #expect(try w.ldapMailbox(u) == nil)
        #expect(try w.mx("\(u).\(z)").isEmpty)
    }

    /// The portal's story without the browser: a key, a mailbox on a
    /// subdomain, the status page's document, ssh into the container with
    /// the key, packages (a rebuild that cannot be made leaves the list and
    /// the container as they were), and the delete.
    /// The attack: a package value written straight into the directory,
    /// carrying a terminal escape and not a package name. It never reaches
    /// the output (text or JSON), only the valid one does.
    @Test func aStoredPackageValueThatIsNoPackageIsNeverShown() throws {
        let w = try World.ready()
        defer { w.cleanup() }
        let u = uniqueUID("pk")
        try user(w, u)
        try ProcessRunner().run(
            ["ldapmodify", "-x", "-H", w.slapd.uri, "-D", w.slapd.adminDN, "-y", w.slapd.secretFile],
            stdin: Data(
                """
                dn: \(dn(w, u))
                changetype: modify
                add: objectClass
                objectClass: semailSoftware
                -
                add: semailPackage
                semailPackage: vim
                semailPackage: mutt\u{1b}[2J --reinstall

                """.utf8))
        let r = try mine(w, u, ["user", "packages", u])
        #expect(r.status == 0, "\(r.text)\(r.stderr)")
        #expect(try json(r)["packages"] as? [String] == ["vim"], "\(r.text)")
        for args in [["user", "packages", u], ["mailbox", "status", u]] {
            let t = try w.run(args + ["--as-user", u], stdin: "pw-\(u)\n")
            #expect(t.status == 0 && t.text.contains("vim"), "\(t.text)\(t.stderr)")
            #expect(!t.text.contains("\u{1b}") && !t.text.contains("reinstall"), "\(t.text)")
        }
    }

    @Test func theSelfServiceStory() throws {
        let w = try World.ready()
        defer { w.cleanup() }
        let u = uniqueUID("ss")
        try user(w, u)
        let k = try key(w, "mykey")
        var r = try mine(w, u, ["user", "ssh-key", "add", u, k.line])
        #expect(r.status == 0, "\(r.text)\(r.stderr)")
        #expect(r.text.contains(k.fingerprint), "\(r.text)")
        r = try mine(w, u, ["user", "ssh-key", "add", u, k.line])
        #expect(r.status == 1 && r.text.contains("already has this key"), "\(r.text)")
        r = try mine(w, u, ["user", "ssh-key", "add", u, "command=\"sh\" " + k.line])
        #expect(r.status == 64, "\(r.text)")

        let address = "\(u)@\(u).\(w.zone)"
        r = try mine(w, u, ["mailbox", "create", u, "--address", address])
        #expect(r.status == 0, "\(r.text)\(r.stderr)")
        r = try mine(w, u, ["mailbox", "status", u])
        var s = try json(r)
        let mb = try #require(s["mailbox"] as? [String: Any], "\(r.text)")
        #expect(mb["address"] as? String == address)
        #expect((mb["container"] as? [String: Any])?["state"] as? String == "running", "\(r.text)")
        let ssh = try #require(s["ssh"] as? [String: Any], "\(r.text)")
        #expect((ssh["config"] as? String ?? "").contains("Host \(u).semail"))
        #expect(try w.mx("\(u).\(w.zone)").isEmpty == false)

        // ssh into the container with that key, through the host (the address is on the docker network).
        let host = try #require(ssh["hostName"] as? String)
        let out = try ProcessRunner().run(
            [
                "ssh", "-i", k.path, "-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null",
                "-o", "BatchMode=yes", "-o", "ConnectTimeout=10", "\(u)@\(host)", "id -un; ls -d ~/Maildir"
            ], check: false)
        #expect(out.status == 0 && out.text.contains(u), "\(out.text)\(out.stderr)")

        // A package apt cannot fetch here (no network in the build): refused, list and container kept.
        let before = (mb["container"] as? [String: Any])?["id"] as? String
        r = try mine(w, u, ["user", "packages", u, "--add", "mutt"])
        #expect(r.status == 1 && r.text.contains("could not be rebuilt"), "\(r.text)")
        r = try mine(w, u, ["user", "packages", u])
        #expect(r.status == 0, "\(r.text)")
        #expect(try json(r)["packages"] as? [String] == [], "\(r.text)")
        s = try json(try mine(w, u, ["mailbox", "status", u]))
        let after = (s["mailbox"] as? [String: Any])?["container"] as? [String: Any]
        #expect(after?["state"] as? String == "running" && after?["id"] as? String == before, "\(s)")

        r = try mine(w, u, ["mailbox", "delete", u, "--yes"])
        #expect(r.status == 0, "\(r.text)\(r.stderr)")
        #expect(try w.ldapMailbox(u) == nil && w.mx("\(u).\(w.zone)").isEmpty)
        r = try mine(w, u, ["user", "ssh-key", "remove", u, k.fingerprint])
        #expect(r.status == 0, "\(r.text)")
        #expect((try json(r)["keys"] as? [Any])?.isEmpty == true, "\(r.text)")
    }
}

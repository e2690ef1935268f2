import Core
import Foundation
import LDAPClient
import Provisioning
import TestSupport
import Testing

/// The foundation commands, run as the built binary against a private slapd.
@Suite(.slapd) struct CommandIntegrationTests {
    var s: Slapd { Slapd.shared }

    func configPath() throws -> String { try s.config().path }

    func json(_ out: ProcessOutput) throws -> [String: Any] {
        try #require(
            JSONSerialization.jsonObject(with: out.stdout) as? [String: Any],
            "stdout was: \(out.text)\nstderr: \(out.stderr)")
    }

    @Test func userLifecycleWithPasswordFromStdin() throws {
        let cfg = try configPath()
        let uid = uniqueUID("life")
        var r = try semailctl(
            [
                "user", "add", uid, "--cn", "Jean Dupont", "--sn", "Dupont", "--mail", "\(uid)@semail.email",
                "--posix", "--password-stdin", "--config", cfg, "--json"
            ], stdin: "correct horse\n")
        #expect(r.status == 0, "\(r.stderr)")
        let added = try json(r)
        #expect(added["uid"] as? String == uid)
        #expect((added["uidNumber"] as? Int ?? 0) >= 10000)
        #expect(added["hasPassword"] as? Bool == true)
        #expect(!r.stderr.contains("correct horse"))

        // The password works for a bind as the user.
        let c = try LDAPConnection(.init(uri: s.uri))
        try c.bind(dn: "uid=\(uid),ou=Personnes,dc=semail,dc=email", password: Array("correct horse".utf8))

        r = try semailctl(["user", "show", uid, "--config", cfg, "--json"])
        #expect(try json(r)["cn"] as? String == "Jean Dupont")
        r = try semailctl(["user", "list", "--config", cfg])
        #expect(r.text.contains(uid))

        // Duplicate add is refused, nothing changes.
        r = try semailctl(["user", "add", uid, "--cn", "X", "--sn", "Y", "--config", cfg])
        #expect(r.status == 1)
        #expect(r.stderr.contains("already exists"))

        // passwd from a 0600 file; a file others can read is refused.
        let pwFile = "\(s.dir)/\(uid).pw"
        _ = FileManager.default.createFile(
            atPath: pwFile, contents: Data("second pass\n".utf8),
            attributes: [.posixPermissions: 0o644])
        r = try semailctl(["user", "passwd", uid, "--password-file", pwFile, "--config", cfg])
        #expect(r.status == 77, "\(r.stderr)")
        #expect(r.stderr.contains("chmod 600"))
        chmod(pwFile, 0o600)
        r = try semailctl(["user", "passwd", uid, "--password-file", pwFile, "--config", cfg])
        #expect(r.status == 0, "\(r.stderr)")
        try LDAPConnection(.init(uri: s.uri)).bind(
            dn: "uid=\(uid),ou=Personnes,dc=semail,dc=email", password: Array("second pass".utf8))

        // Without a terminal, delete needs --yes.
        r = try semailctl(["user", "delete", uid, "--config", cfg])
        #expect(r.status == 64)
        #expect(r.stderr.contains("--yes"))
        r = try semailctl(["user", "delete", uid, "--yes", "--config", cfg, "--json"])
        #expect(r.status == 0)
        r = try semailctl(["user", "show", uid, "--config", cfg])
        #expect(r.status == 1)
    }

    @Test(arguments: ["*)(uid=*", "a,ou=x", "Admin", "1abc", "a b", "x\ny", String(repeating: "a", count: 33), "../etc"]
    )
    func badUIDsAreRefusedBeforeAnythingIsSent(uid: String) throws {
        let cfg = try configPath()
        let r = try semailctl(
            ["user", "add", uid, "--cn", "X", "--sn", "Y", "--password-stdin", "--config", cfg, "--json"], stdin: "pw")
        #expect(r.status == 64)
        #expect(r.stderr.contains("invalid uid"))
        let doc = try json(r)
        #expect((doc["error"] as? [String: Any])?["exitCode"] as? Int == 64)
        // Nothing with that uid (or any injected pattern) reached the directory.
        let c = try LDAPConnection(.init(uri: s.uri))
        try c.bind(dn: s.adminDN, password: s.adminPassword)
        var n = 0
        try c.search(base: "ou=Personnes,dc=semail,dc=email", filter: .equal("cn", "X")) { _ in n += 1 }
        #expect(n == 0)
    }

    @Test func noPasswordWithoutTerminalIsRefused() throws {
        let cfg = try configPath()
        let r = try semailctl(["user", "passwd", "nobody", "--config", cfg])
        #expect(r.status == 64)
        #expect(r.stderr.contains("--password-stdin"))
    }

    @Test func configCheckReportsUnknownKeysTypesAndBind() throws {
        let (_, good) = try s.config()
        var r = try semailctl(["config", "check", "--config", good, "--json"])
        #expect(r.status == 0, "\(r.text) \(r.stderr)")
        let comps = try json(r)["components"] as? [[String: Any]]
        #expect(comps?.first?["ok"] as? Bool == true)

        let bad = "\(s.dir)/bad.toml"
        try """
        [ldap]
        uri = "\(s.uri)"
        bind_dn = "\(s.adminDN)"
        bind_password_file = "\(s.secretFile)"
        starttls = "yes"
        colour = "blue"
        """.write(toFile: bad, atomically: true, encoding: .utf8)
        r = try semailctl(["config", "check", "--config", bad])
        #expect(r.status == 78)
        #expect(r.text.contains("line 5: ldap.starttls: expected a boolean"))
        #expect(r.text.contains("line 6: ldap.colour: unknown key"))

        // A secret file others can read is refused, and the check says how to fix it.
        let loose = "\(s.dir)/loose.secret"
        _ = FileManager.default.createFile(
            atPath: loose, contents: FileManager.default.contents(atPath: s.secretFile),
            attributes: [.posixPermissions: 0o640])
        let (_, p) = try s.config()
        let text = try String(contentsOfFile: p, encoding: .utf8).replacingOccurrences(of: s.secretFile, with: loose)
        let lp = "\(s.dir)/loose.toml"
        try text.write(toFile: lp, atomically: true, encoding: .utf8)
        r = try semailctl(["config", "check", "--config", lp])
        #expect(r.status == 69)
        #expect(r.text.contains("chmod 600"))

        // An unreachable server is named, with a hint.
        let down = "\(s.dir)/down.toml"
        try String(contentsOfFile: p, encoding: .utf8).replacingOccurrences(of: s.uri, with: "ldap://127.0.0.1:1")
            .write(toFile: down, atomically: true, encoding: .utf8)
        r = try semailctl(["config", "check", "--config", down])
        #expect(r.status == 69)
        #expect(r.text.contains("cannot reach the LDAP server"))
    }

    func ldif(_ uids: [String], sn: String = "Imported") -> String {
        uids.map { u in
            """
            dn: uid=\(u),ou=Personnes,dc=semail,dc=email
            objectClass: inetOrgPerson
            uid: \(u)
            cn: User \(u)
            sn: \(sn)

            """
        }.joined(separator: "\n")
    }

    @Test func importIsIdempotentReportsDifferencesAndUpdates() throws {
        let cfg = try configPath()
        let uids = (0..<150).map { "imp\($0)x\(uniqueUID("i"))" }
        let file = "\(s.dir)/\(uids[0]).ldif"
        try ldif(uids).write(toFile: file, atomically: true, encoding: .utf8)

        var r = try semailctl(["import", file, "--dry-run", "--config", cfg, "--json"])
        var doc = try json(r)
        #expect(doc["added"] as? Int == 150)
        r = try semailctl(["user", "show", uids[0], "--config", cfg])
        #expect(r.status == 1)  // dry run changed nothing

        r = try semailctl(["import", file, "--config", cfg, "--json"])
        #expect(r.status == 0, "\(r.stderr)")
        doc = try json(r)
        #expect(doc["added"] as? Int == 150)

        r = try semailctl(["import", file, "--config", cfg, "--json"])
        doc = try json(r)
        #expect(doc["added"] as? Int == 0)
        #expect(doc["skipped"] as? Int == 150)

        // Changed attributes are reported, applied only with --update.
        try ldif(Array(uids.prefix(3)), sn: "Changed").write(toFile: file, atomically: true, encoding: .utf8)
        r = try semailctl(["import", file, "--config", cfg, "--json"])
        doc = try json(r)
        #expect((doc["differing"] as? [Any])?.count == 3)
        #expect(doc["modified"] as? Int == 0)
        r = try semailctl(["import", file, "--update", "--config", cfg, "--json"])
        doc = try json(r)
        #expect(doc["modified"] as? Int == 3)
        r = try semailctl(["user", "show", uids[1], "--config", cfg, "--json"])
        #expect(try json(r)["sn"] as? String == "Changed")
    }

    @Test func malformedLineStopsOrContinues() throws {
        let cfg = try configPath()
        let a = uniqueUID("bad"), b = uniqueUID("bad"), c = uniqueUID("bad")
        let file = "\(s.dir)/\(a).ldif"
        let text = ldif([a]) + "\ndn: uid=\(b),ou=Personnes,dc=semail,dc=email\nthis line has no colon\n\n" + ldif([c])
        try text.write(toFile: file, atomically: true, encoding: .utf8)

        var r = try semailctl(["import", file, "--config", cfg, "--json"])
        #expect(r.status != 0)
        var doc = try json(r)
        let failure = (doc["failures"] as? [[String: Any]])?.first
        #expect(failure?["line"] as? Int == 8)
        #expect(try semailctl(["user", "show", a, "--config", cfg]).status == 0)  // before the error: applied
        #expect(try semailctl(["user", "show", c, "--config", cfg]).status == 1)  // after it: not applied

        r = try semailctl(["import", file, "--continue-on-error", "--config", cfg, "--json"])
        #expect(r.status != 0)
        doc = try json(r)
        #expect(doc["added"] as? Int == 1)
        #expect(try semailctl(["user", "show", c, "--config", cfg]).status == 0)
    }

    @Test func helpDocumentsExitCodes() throws {
        let r = try semailctl(["--help"])
        for code in ["0", "1", "2", "64", "69", "75", "77", "78"] {
            #expect(r.text.range(of: "\n  \(code) ") != nil, "exit code \(code) missing from --help")
        }
    }
}

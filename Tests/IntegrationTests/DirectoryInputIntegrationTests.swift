import Core
import Foundation
import LDAPClient
import Provisioning
import TestSupport
import Testing

/// What reaches the directory server, and what comes back from it: empty
/// passwords, cleartext binds, imports outside the people OU, atomic
/// modifies, TLS failures. Run as the built binary against a private slapd.
@Suite(.slapd) struct DirectoryInputIntegrationTests {
    var s: Slapd { Slapd.shared }

    func json(_ out: ProcessOutput) throws -> [String: Any] {
        try #require(
            JSONSerialization.jsonObject(with: out.stdout) as? [String: Any],
            "stdout was: \(out.text)\nstderr: \(out.stderr)")
    }

    /// A configuration for this slapd with `ldapExtra` added to its [ldap] section.
    func config(_ name: String, ldapExtra: String = "", uri: String? = nil) throws -> String {
        var text = try String(contentsOfFile: try s.config().path, encoding: .utf8)
        text = text.replacingOccurrences(of: "[ldap]\n", with: "[ldap]\n\(ldapExtra)\n")
        if let uri { text = text.replacingOccurrences(of: s.uri, with: uri) }
        let path = "\(s.dir)/\(name)-\(UUID().uuidString.prefix(6)).toml"
        try text.write(toFile: path, atomically: true, encoding: .utf8)
        return path
    }

    func userDN(_ uid: String) -> String { "uid=\(uid),ou=Personnes,dc=semail,dc=email" }

    func ldapsearch(_ base: String, _ attrs: [String]) throws -> String {
        try ProcessRunner().run(
            ["ldapsearch", "-x", "-LLL", "-H", s.uri, "-D", s.adminDN, "-y", s.secretFile, "-b", base, "-s", "base"]
                + attrs,
            check: false
        ).text
    }

    /// C1: an empty password is an unauthenticated bind (RFC 4513 §5.1.2),
    /// which succeeds without checking anything: it is never sent.
    @Test func anEmptyPasswordIsNeverSent() throws {
        let cfg = try s.config().path
        let uid = uniqueUID("e")
        var r = try semailctl(
            ["user", "add", uid, "--cn", uid, "--sn", uid, "--password-stdin", "--config", cfg], stdin: "secret\n")
        #expect(r.status == 0, "\(r.stderr)")
        let empty = "\(s.dir)/\(uid).empty"
        _ = FileManager.default.createFile(atPath: empty, contents: Data(), attributes: [.posixPermissions: 0o600])
        r = try semailctl([
            "mailbox", "create", uid, "--address", "\(uid)@\(uid).semail.email", "--as-user", uid, "--password-file",
            empty,
            "--dry-run", "--config", cfg
        ])
        #expect(
            r.status == 64 && r.stderr.contains("empty"),
            "the self-service check passed with an empty password: \(r.status) \(r.text)\(r.stderr)")
        r = try semailctl(
            [
                "mailbox", "create", uid, "--address", "\(uid)@\(uid).semail.email", "--as-user", uid,
                "--password-stdin",
                "--dry-run", "--config", cfg
            ], stdin: "")
        #expect(r.status == 64, "\(r.stderr)")
        // The client refuses it at the edge, whoever calls it.
        let c = try LDAPConnection(.init(uri: s.uri))
        let e = #expect(throws: LDAPError.self) { try c.bind(dn: userDN(uid), password: []) }
        #expect(e?.code == .inappropriateAuthentication)
    }

    /// C2: an LDIF from elsewhere changes entries under the people OU only.
    @Test func importStaysUnderThePeopleOU() throws {
        let cfg = try s.config().path
        let id = uniqueUID("o")
        let file = "\(s.dir)/\(id).ldif"
        try """
        dn: cn=\(id),dc=semail,dc=email
        objectClass: organizationalRole
        cn: \(id)

        dn: dc=semail,dc=email
        changetype: modify
        replace: description
        description: \(id) was here
        -

        dn: uid=\(id),ou=Personnes,dc=semail,dc=email
        objectClass: inetOrgPerson
        uid: \(id)
        cn: \(id)
        sn: \(id)

        """.write(toFile: file, atomically: true, encoding: .utf8)
        let r = try semailctl(["import", file, "--continue-on-error", "--config", cfg, "--json"])
        #expect(r.status != 0, "\(r.text)")
        let failures = try json(r)["failures"] as? [[String: Any]] ?? []
        #expect(
            failures.count == 2
                && failures.allSatisfy { ($0["reason"] as? String ?? "").contains("outside the people OU") },
            "\(failures)")
        #expect(try !ldapsearch("dc=semail,dc=email", ["description"]).contains(id), "the base entry was modified")
        #expect(
            try ldapsearch("cn=\(id),dc=semail,dc=email", ["cn"]).isEmpty, "an entry outside the people OU was added")
        #expect(try semailctl(["user", "show", id, "--config", cfg]).status == 0)
    }

    /// C3: a password in clear over the network is refused before connecting.
    @Test func aCleartextBindToARemoteServerIsRefused() throws {
        let ip = try #require(
            try ProcessRunner().run(["hostname", "-I"]).text.split(separator: " ").map(String.init)
                .first { !$0.hasPrefix("127.") && !$0.contains(":") }, "no non-loopback IPv4 address on this machine")
        let port = s.uri.split(separator: ":").last!
        let remote = "ldap://\(ip):\(port)"
        var r = try semailctl(["user", "list", "--config", try config("clear", uri: remote)])
        #expect(
            r.status == 78 && r.stderr.contains("StartTLS") && r.stderr.contains("allow_cleartext"),
            "\(r.status) \(r.stderr)")
        // An explicit opt-in gets past the check (and then meets the server, or not).
        r = try semailctl([
            "user", "list", "--config", try config("allowed", ldapExtra: "allow_cleartext = true", uri: remote)
        ])
        #expect(r.status != 78 && !r.stderr.contains("allow_cleartext"), "\(r.status) \(r.stderr)")
        // Loopback is not the network.
        r = try semailctl(["user", "list", "--config", try config("loop")])
        #expect(r.status == 0, "\(r.stderr)")
    }

    /// D2: an LDAP modify is atomic: one change failing means none applied.
    @Test func aModifyWithAFailingChangeIsAFailure() throws {
        let cfg = try s.config().path
        let uid = uniqueUID("a")
        let file = "\(s.dir)/\(uid).ldif"
        try """
        dn: \(userDN(uid))\nobjectClass: inetOrgPerson\nuid: \(uid)\ncn: \(uid)\nsn: Before\nmail: \
        \(uid)@semail.email\n\n
        """
        .write(toFile: file, atomically: true, encoding: .utf8)
        var r = try semailctl(["import", file, "--config", cfg])
        #expect(r.status == 0, "\(r.stderr)")
        try """
        dn: \(userDN(uid))\nchangetype: modify\nadd: mail\nmail: \(uid)@semail.email\n-\nreplace: sn\nsn: \
        After\n-\n
        """
        .write(toFile: file, atomically: true, encoding: .utf8)
        r = try semailctl(["import", file, "--config", cfg, "--json"])
        #expect(r.status == 1, "\(r.text)")
        let doc = try json(r)
        #expect(doc["failed"] as? Int == 1 && doc["skipped"] as? Int == 0, "\(doc)")
        r = try semailctl(["user", "show", uid, "--config", cfg, "--json"])
        #expect(try json(r)["sn"] as? String == "Before")
    }

    /// D3: a certificate the CA file does not vouch for gets the TLS hint.
    @Test func tlsFailuresGetTheTLSHint() throws {
        let dir = "\(s.dir)/wrong-ca-\(UUID().uuidString.prefix(6))"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        try ProcessRunner().run([
            "openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "\(dir)/ca.key", "-out",
            "\(dir)/ca.crt",
            "-days", "2", "-subj", "/CN=not the semail test CA"
        ])
        let r = try semailctl([
            "user", "list", "--config", try config("tls", ldapExtra: "starttls = true\nca_file = \"\(dir)/ca.crt\"")
        ])
        #expect(r.status == 69, "\(r.stderr)")
        #expect(r.stderr.contains("ca_file") && !r.stderr.contains("check that slapd is running"), "\(r.stderr)")
        // ldaps:// with the wrong CA: the hint names the CA file first.
        let ldaps = try semailctl([
            "user", "list", "--config", try config("ldaps", ldapExtra: "ca_file = \"\(dir)/ca.crt\"", uri: s.ldapsURI)
        ])
        #expect(
            ldaps.status == 69 && ldaps.stderr.contains("ca_file")
                && !ldaps.stderr.contains("check that slapd is running"), "\(ldaps.stderr)")
        // The right CA works, both ways.
        var ok = try semailctl([
            "user", "list", "--config", try config("tlsok", ldapExtra: "starttls = true\nca_file = \"\(s.caFile)\"")
        ])
        #expect(ok.status == 0, "\(ok.stderr)")
        ok = try semailctl([
            "user", "list", "--config", try config("ldapsok", ldapExtra: "ca_file = \"\(s.caFile)\"", uri: s.ldapsURI)
        ])
        #expect(ok.status == 0, "\(ok.stderr)")
    }
}

import Core
import Directory
import Foundation
import LDAPClient
import Provisioning
import TestSupport
import Testing

/// `directory setup` and `config check` against a slapd configured the way
/// Debian's package configures it (TestSupport.DebianSlapd).
private func json(_ out: ProcessOutput) throws -> [String: Any] {
    try #require(
        JSONSerialization.jsonObject(with: out.stdout) as? [String: Any],
        "stdout was: \(out.text)\nstderr: \(out.stderr)")
}

/// config check's components by name: ok flag.
private func components(_ out: ProcessOutput) throws -> [String: Bool] {
    let list = try #require(try json(out)["components"] as? [[String: Any]])
    return Dictionary(uniqueKeysWithValues: list.map { ($0["name"] as? String ?? "", $0["ok"] as? Bool ?? false) })
}

private func changes(_ out: ProcessOutput) throws -> [[String: Any]] {
    try #require(try json(out)["changes"] as? [[String: Any]], "\(out.text)\n\(out.stderr)")
}

/// Root over ldapi with SASL EXTERNAL.
private func rootConnection(_ s: DebianSlapd) throws -> LDAPConnection {
    let c = try LDAPConnection(.init(uri: s.ldapiURI))
    try c.bindExternal()
    return c
}

/// Every entry of cn=config and of the database, with operational attributes.
private func dump(_ s: DebianSlapd) throws -> [String] {
    let c = try rootConnection(s)
    defer { c.close() }
    var out: [String] = []
    for base in ["cn=config", s.base] {
        try c.search(base: base, attributes: ["*", "+"]) { e in
            out.append(
                e.dn + "\n"
                    + e.attributes.map { "\($0.name.lowercased()): \($0.strings.sorted())" }.sorted().joined(
                        separator: "\n"))
        }
    }
    return out.sorted()
}

@Suite(.debianSlapd) struct DirectorySchemaLDIFIntegrationTests {
    var s: DebianSlapd { DebianSlapd.shared }

    /// The LDIF forms load with ldapadd as Debian's do; setup then sees them
    /// as its own (no schema change, no conflict) and creates the missing people OU.
    @Test func schemaLDIFLoadsWithLdapaddAndSetupAgrees() throws {
        for name in ["openssh-lpk", "semail", "semail-software"] {
            let r = try ProcessRunner().run(
                ["ldapadd", "-Q", "-Y", "EXTERNAL", "-H", s.ldapiURI, "-f", "\(repoRoot)/schema/\(name).ldif"],
                check: false)
            #expect(r.status == 0, "\(r.stderr)")
        }
        let c = try rootConnection(s)
        let sub = try #require(try c.read("cn=Subschema", attributes: ["objectClasses", "attributeTypes"]))
        let names = Set((sub.strings("objectClasses") + sub.strings("attributeTypes")).flatMap(DirectorySetup.names))
        for n in [
            "semailuser", "semailmailbox", "semailvolumesize", "ldappublickey", "sshpublickey", "semailsoftware",
            "semailpackage"
        ] {
            #expect(names.contains(n))
        }

        let cfg = try s.config().path
        #expect(try c.read("ou=Personnes,\(s.base)") == nil)
        let r = try semailctl(["directory", "setup", "--config", cfg, "--json"])
        #expect(r.status == 0, "\(r.stderr)")
        let kinds = try changes(r).compactMap { $0["kind"] as? String }
        #expect(!kinds.contains("schema"))
        #expect(kinds.contains("entry"))
        #expect((try json(r)["conflicts"] as? [Any])?.isEmpty == true)
        #expect(try c.read("ou=Personnes,\(s.base)") != nil)
        // The temporary access rules that let root add the OU are gone.
        let db = try #require(try c.read("olcDatabase={1}mdb,cn=config", attributes: ["olcAccess"]))
        #expect(db.strings("olcAccess").count == 4)
        #expect(!db.strings("olcAccess").contains { $0.contains("attrs=children") })
    }

    @Test func refusesAnURIThatIsNotLDAPI() throws {
        let cfg = try s.config().path
        let r = try semailctl(["directory", "setup", "--uri", s.uri, "--config", cfg])
        #expect(r.status == 64)
        #expect(r.stderr.contains("ldapi://"))
        let gone = try semailctl(["directory", "setup", "--uri", "ldapi://%2Fnonexistent%2Fsocket", "--config", cfg])
        #expect(gone.status == 69, "\(gone.stderr)")
        #expect(gone.stderr.contains("cannot reach slapd"))
    }
}

@Suite(.debianSlapd, .serialized) struct DirectorySetupIntegrationTests {
    var s: DebianSlapd { DebianSlapd.shared }
    var people: String { "ou=Personnes,\(s.base)" }

    @Test func setupOnDebiansDefaultInstall() throws {
        let cfg = try s.config().path
        let config = try s.config().config
        // The admin made the people OU with debconf's rootdn password.
        let admin = try LDAPConnection(.init(uri: s.uri))
        try admin.bind(dn: s.adminDN, password: s.adminPassword)
        try admin.add(
            LDAPEntry(
                dn: people,
                attributes: [.init("objectClass", strings: ["organizationalUnit"]), .init("ou", strings: ["Personnes"])]
            ))

        // Before: config check fails on the schema, root's write access and syncprov.
        var r = try semailctl(["config", "check", "--config", cfg, "--json"])
        #expect(r.status != 0)
        var comps = try components(r)
        #expect(comps["ldap"] == true)
        #expect(comps["directory schema"] == false)
        #expect(comps["directory access"] == false)
        #expect(comps["directory sync"] == false)
        r = try semailctl(["config", "check", "--config", cfg])
        #expect(r.text.contains("semailctl directory setup"))
        // ... and it is right: user add fails, a sync search is refused.
        r = try semailctl(["user", "add", uniqueUID("pre"), "--cn", "X", "--sn", "Y", "--config", cfg])
        #expect(r.status != 0)
        let pre = try rootConnection(s)
        let e = #expect(throws: LDAPError.self) { try pre.syncRefresh(base: people) }
        #expect(e?.code == .unavailableCriticalExtension)

        // --dry-run lists the changes and changes nothing.
        let before = try dump(s)
        r = try semailctl(["directory", "setup", "--dry-run", "--config", cfg, "--json"])
        #expect(r.status == 0, "\(r.stderr)")
        let planned = try changes(r)
        let kinds = Set(planned.compactMap { $0["kind"] as? String })
        #expect(kinds == ["schema", "module", "index", "overlay", "access"])
        #expect(try json(r)["dryRun"] as? Bool == true)
        #expect(try dump(s) == before)
        r = try semailctl(["directory", "setup", "--dry-run", "--config", cfg])
        #expect(r.text.contains("dry run"))

        // Setup applies exactly that.
        r = try semailctl(["directory", "setup", "--config", cfg, "--json"])
        #expect(r.status == 0, "\(r.stderr)")
        #expect(
            try changes(r).compactMap { $0["description"] as? String }
                == planned.compactMap { $0["description"] as? String })
        #expect(try dump(s) != before)
        let c = try rootConnection(s)
        let db = try #require(try c.read("olcDatabase={1}mdb,cn=config", attributes: ["olcAccess", "olcDbIndex"]))
        #expect(
            db.strings("olcAccess").first == "{0}"
                + DirectorySetup.accessRule(peopleDN: people, identity: DirectorySetup.rootPeercred))
        #expect(db.strings("olcAccess").count == 4)  // Debian's three rules kept
        #expect(db.strings("olcDbIndex").contains("semailMailbox eq,pres,sub"))

        // A second run changes nothing.
        let after = try dump(s)
        r = try semailctl(["directory", "setup", "--config", cfg, "--json"])
        #expect(r.status == 0)
        #expect(try changes(r).isEmpty)
        #expect(try dump(s) == after)
        r = try semailctl(["directory", "setup", "--config", cfg])
        #expect(r.text.contains("nothing to do"))

        // config check now passes.
        r = try semailctl(["config", "check", "--config", cfg, "--json"])
        #expect(r.status == 0, "\(r.text)")
        comps = try components(r)
        #expect(comps.values.allSatisfy { $0 })
        #expect(comps.count == 5 && comps["usage"] == true)

        // user add and a semailMailbox write work as root over ldapi.
        let uid1 = uniqueUID("ds"), uid2 = uniqueUID("ds")
        for uid in [uid1, uid2] {
            r = try semailctl([
                "user", "add", uid, "--cn", uid, "--sn", uid, "--mail", "\(uid)@semail.email", "--config", cfg
            ])
            #expect(r.status == 0, "\(r.stderr)")
        }
        let host = Provisioning.Host(config: config)
        let ldap = try host.ldap()
        let address = "\(uid1)@semail.email"
        try ldap.modify(
            "uid=\(uid1),\(people)", [.add("objectClass", ["semailUser"]), .add("semailMailbox", [address])])
        // The unique overlay refuses the same address on another entry.
        let dup = #expect(throws: LDAPError.self) {
            try ldap.modify(
                "uid=\(uid2),\(people)",
                [.add("objectClass", ["semailUser"]), .add("semailMailbox", [address.uppercased()])])
        }
        #expect(dup?.code == .constraintViolation)

        // An RFC 4533 sync search (the watch's) now works and sees the users.
        var seen: [String] = []
        var refreshed = false
        try c.syncWatch(base: people, filter: .equal("objectClass", "inetOrgPerson"), attributes: ["1.1"]) { ev in
            switch ev {
            case let .entry(dn): seen.append(dn.lowercased()); return true
            case .refreshDone: refreshed = true; return false
            case .started: return true
            case .idle: return false
            }
        }
        #expect(refreshed)
        #expect(seen.contains("uid=\(uid1),\(people)".lowercased()))
    }
}

/// A schema of the same name with another definition is reported, not
/// changed; the rest is still set up; the identity is a bind_dn (not root).
@Suite(.debianSlapd, .serialized) struct DirectorySetupConflictIntegrationTests {
    var s: DebianSlapd { DebianSlapd.shared }

    @Test func differingSchemaIsReportedAndABindDNGetsWriteAccess() throws {
        // Someone loaded an older openssh-lpk (another DESC) by hand.
        let old = try String(contentsOfFile: "\(repoRoot)/schema/openssh-lpk.ldif", encoding: .utf8)
            .replacingOccurrences(of: "DESC '\n MANDATORY: OpenSSH Public key'", with: "DESC 'an older key'")
        #expect(old.contains("an older key"))
        let r0 = try ProcessRunner().run(
            ["ldapadd", "-Q", "-Y", "EXTERNAL", "-H", s.ldapiURI], stdin: Data(old.utf8), check: false)
        #expect(r0.status == 0, "\(r0.stderr)")

        // The tool's own account, made by the admin with debconf's rootdn password.
        let people = "ou=Personnes,\(s.base)"
        let account = "cn=semailctl,\(s.base)"
        let admin = try LDAPConnection(.init(uri: s.uri))
        try admin.bind(dn: s.adminDN, password: s.adminPassword)
        try admin.add(
            LDAPEntry(
                dn: account,
                attributes: [
                    .init("objectClass", strings: ["organizationalRole", "simpleSecurityObject"]),
                    .init("cn", strings: ["semailctl"]),
                    .init("userPassword", strings: ["account secret"])
                ]))
        let secret = "\(s.dir)/semailctl.secret"
        _ = FileManager.default.createFile(
            atPath: secret, contents: Data("account secret".utf8),
            attributes: [.posixPermissions: 0o600])
        let cfg = "\(s.dir)/account.toml"
        try """
        [ldap]
        uri = "\(s.uri)"
        base = "\(s.base)"
        people = "ou=Personnes"
        bind_dn = "\(account)"
        bind_password_file = "\(secret)"
        """.write(toFile: cfg, atomically: true, encoding: .utf8)

        // [ldap] uri is not ldapi://: setup falls back to ldapi:/// unless --uri says where.
        var r = try semailctl(["directory", "setup", "--uri", s.ldapiURI, "--config", cfg, "--json"])
        #expect(r.status == 1, "\(r.stderr)")
        let doc = try json(r)
        let conflicts = try #require(doc["conflicts"] as? [String])
        #expect(conflicts.count == 1)
        #expect(conflicts.first?.contains("openssh-lpk") == true)
        let loaded = try changes(r).compactMap { $0["dn"] as? String }
        #expect(loaded.contains("cn=semail,cn=schema,cn=config"))
        #expect(!loaded.contains("cn=openssh-lpk,cn=schema,cn=config"))
        #expect(loaded.contains(people))
        r = try semailctl(["directory", "setup", "--uri", s.ldapiURI, "--config", cfg])
        #expect(r.status == 1)
        #expect(r.text.contains("conflict: schema openssh-lpk"))

        // The account got write access to the people OU, and only there.
        let c = try rootConnection(s)
        let db = try #require(try c.read("olcDatabase={1}mdb,cn=config", attributes: ["olcAccess"]))
        #expect(db.strings("olcAccess").first == "{0}" + DirectorySetup.accessRule(peopleDN: people, identity: account))
        r = try semailctl(["config", "check", "--config", cfg, "--json"])
        let comps = try components(r)
        #expect(comps["directory access"] == true, "\(r.text)")
        #expect(comps["directory sync"] == true)
        r = try semailctl(["user", "add", uniqueUID("acct"), "--cn", "X", "--sn", "Y", "--config", cfg])
        #expect(r.status == 0, "\(r.stderr)")
        let bound = try LDAPConnection(.init(uri: s.uri))
        try bound.bind(dn: account, password: Array("account secret".utf8))
        let outside = #expect(throws: LDAPError.self) {
            try bound.add(
                LDAPEntry(
                    dn: "ou=Elsewhere,\(s.base)",
                    attributes: [
                        .init("objectClass", strings: ["organizationalUnit"]), .init("ou", strings: ["Elsewhere"])
                    ]))
        }
        #expect(outside?.code == .insufficientAccessRights)
    }
}

/// The project's usual test slapd runs from slapd.conf: setup refuses it and says what to do instead.
@Suite(.slapd) struct DirectorySetupRefusalIntegrationTests {
    @Test func aSlapdConfServerIsRefusedWithWhatToDo() throws {
        let s = Slapd.shared
        let cfg = "\(s.dir)/setup.toml"
        try "[ldap]\nuri = \"\(s.ldapiURI)\"\nbind_dn = \"\"\n".write(toFile: cfg, atomically: true, encoding: .utf8)
        let before = try String(contentsOfFile: "\(s.dir)/slapd.conf", encoding: .utf8)
        let r = try semailctl(["directory", "setup", "--config", cfg])
        #expect(r.status == 77, "\(r.stderr)")
        #expect(r.stderr.contains("may not manage cn=config"))
        #expect(r.stderr.contains("slapd.conf"))
        #expect(try String(contentsOfFile: "\(s.dir)/slapd.conf", encoding: .utf8) == before)
    }
}

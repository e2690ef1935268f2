import Core
import Foundation
import LDAPClient
import Provisioning
import TestSupport
import Testing

@Suite(.slapd) struct LDAPClientIntegrationTests {
    var s: Slapd { Slapd.shared }
    let people = "ou=Personnes,dc=semail,dc=email"

    func admin() throws -> LDAPConnection {
        let c = try LDAPConnection(.init(uri: s.uri))
        try c.bind(dn: s.adminDN, password: s.adminPassword)
        return c
    }

    func person(_ uid: String, under base: String? = nil) -> LDAPEntry {
        LDAPEntry(
            dn: DN("uid", uid, under: try! DN(base ?? people)).description,
            attributes: [
                .init("objectClass", strings: ["inetOrgPerson"]), .init("uid", strings: [uid]),
                .init("cn", strings: ["Test \(uid)"]), .init("sn", strings: ["Test"])
            ])
    }

    @Test func bindAndWrongPassword() throws {
        let c = try admin()
        #expect(try c.whoAmI() == "dn:\(s.adminDN)")
        let bad = try LDAPConnection(.init(uri: s.uri))
        let e = #expect(throws: LDAPError.self) { try bad.bind(dn: s.adminDN, password: Array("wrong".utf8)) }
        #expect(e?.code == .invalidCredentials)
        #expect(e?.dn == s.adminDN)
    }

    @Test func saslExternalOverLDAPI() throws {
        let c = try LDAPConnection(.init(uri: s.ldapiURI))
        try c.bindExternal()
        #expect(try c.whoAmI() == "dn:\(s.adminDN)")
    }

    @Test func startTLSVerifiesTheCA() throws {
        let c = try LDAPConnection(.init(uri: s.uri, startTLS: true, caFile: s.caFile))
        try c.bind(dn: s.adminDN, password: s.adminPassword)
        #expect(try c.whoAmI() == "dn:\(s.adminDN)")
        // Without the test CA the server certificate is not trusted.
        let e = #expect(throws: LDAPError.self) { _ = try LDAPConnection(.init(uri: s.uri, startTLS: true)) }
        #expect(e?.code == .connectError)
    }

    @Test func unreachableServerIsAConnectionFailure() throws {
        let c = try LDAPConnection(.init(uri: "ldap://127.0.0.1:1", timeout: 2))
        let e = #expect(throws: LDAPError.self) { try c.bind(dn: s.adminDN, password: s.adminPassword) }
        #expect(e?.code.isConnectionFailure == true)
    }

    @Test func addModifyRenameDelete() throws {
        let c = try admin()
        let uid = uniqueUID("crud")
        let e = person(uid)
        try c.add(e)
        let dup = #expect(throws: LDAPError.self) { try c.add(e) }
        #expect(dup?.code == .alreadyExists)
        #expect(dup?.dn == e.dn)

        try c.modify(
            e.dn, [.add("mail", ["\(uid)@semail.email"]), .replace("sn", ["Changed"]), .add("description", ["x", "y"])])
        try c.modify(e.dn, [.delete("description", ["x"])])
        var got = try #require(try c.read(e.dn))
        #expect(got.strings("mail") == ["\(uid)@semail.email"])
        #expect(got.first("sn") == "Changed")
        #expect(got.strings("description") == ["y"])
        let missing = #expect(throws: LDAPError.self) { try c.modify(e.dn, [.delete("description", ["nope"])]) }
        #expect(missing?.code == .noSuchAttribute)

        let newUID = uid + "r"
        try c.rename(e.dn, newRDN: "uid=\(newUID)", deleteOldRDN: true)
        #expect(try c.read(e.dn) == nil)
        let newDN = DN("uid", newUID, under: try DN(people)).description
        got = try #require(try c.read(newDN))
        #expect(got.strings("uid") == [newUID])

        try c.delete(newDN)
        #expect(try c.read(newDN) == nil)
        let gone = #expect(throws: LDAPError.self) { try c.delete(newDN) }
        #expect(gone?.code == .noSuchObject)
        #expect(gone?.operation == "delete")
    }

    @Test func schemaViolationCarriesDiagnostic() throws {
        let c = try admin()
        var e = person(uniqueUID("schema"))
        e.attributes.removeAll { $0.name == "sn" }
        let err = #expect(throws: LDAPError.self) { try c.add(e) }
        #expect(err?.code == .objectClassViolation)
        #expect(err?.diagnostic?.contains("sn") == true)
    }

    @Test func passwordModifyThenBind() throws {
        let c = try admin()
        let e = person(uniqueUID("pw"))
        try c.add(e)
        defer { try? c.delete(e.dn) }
        try c.setPassword(e.dn, Array("s3cret pass".utf8))
        let stored = try #require(try c.read(e.dn, attributes: ["userPassword"])).first("userPassword")
        #expect(stored?.hasPrefix("{SSHA}") == true)  // hashed by the server, not stored as given
        let u = try LDAPConnection(.init(uri: s.uri))
        try u.bind(dn: e.dn, password: Array("s3cret pass".utf8))
        #expect(try u.whoAmI() == "dn:\(e.dn)")
        let bad = try LDAPConnection(.init(uri: s.uri))
        #expect(throws: LDAPError.self) { try bad.bind(dn: e.dn, password: Array("other".utf8)) }
    }

    @Test func pagedSearchPastTheSizeLimitWithManyInFlight() throws {
        let c = try admin()
        let ou = "ou=paged\(uniqueUID("p")),dc=semail,dc=email"
        try c.add(
            LDAPEntry(
                dn: ou,
                attributes: [
                    .init("objectClass", strings: ["organizationalUnit"]),
                    .init("ou", strings: [String(ou.split(separator: ",")[0].dropFirst(3))])
                ]))
        // 2,100 adds with up to 100 requests in flight on one connection.
        let total = 2100
        var sent = 0, done = 0
        var ids = Set<Int32>()
        while done < total {
            while sent < total && ids.count < 100 {
                ids.insert(try c.send(.add(person("u\(sent)", under: ou))))
                sent += 1
            }
            let r = try c.next()
            #expect(r.error == nil)
            #expect(ids.remove(r.messageID) != nil)
            done += 1
        }
        // A plain user is subject to the server's size limit of 500 (the
        // rootdn is not), so only paging can return every entry.
        let reader = person(uniqueUID("reader"))
        try c.add(reader)
        defer { try? c.delete(reader.dn) }
        try c.setPassword(reader.dn, Array("reader pw".utf8))
        let r = try LDAPConnection(.init(uri: s.uri))
        try r.bind(dn: reader.dn, password: Array("reader pw".utf8))
        var seen = Set<String>()
        try r.search(
            base: ou, scope: .oneLevel, filter: .equal("objectClass", "inetOrgPerson"), attributes: ["uid"],
            pageSize: 300
        ) {
            seen.insert($0.first("uid") ?? "")
        }
        #expect(seen.count == total)
        // The server really limits unpaged searches (so paging is what made it work).
        let pw = "\(s.dir)/reader.secret"
        try "reader pw".write(toFile: pw, atomically: true, encoding: .utf8)
        let out = try ProcessRunner().run(
            [
                "ldapsearch", "-x", "-H", s.uri, "-D", reader.dn, "-y", pw, "-b", ou,
                "-s", "one", "(objectClass=inetOrgPerson)", "1.1"
            ], check: false)
        #expect(out.status == 4)  // sizeLimitExceeded
    }

    @Test func filterInjectionFindsNothing() throws {
        let c = try admin()
        let e = person(uniqueUID("inj"))
        try c.add(e)
        defer { try? c.delete(e.dn) }
        var n = 0
        try c.search(base: people, filter: .equal("uid", "*)(uid=*")) { _ in n += 1 }
        #expect(n == 0)
        try c.search(base: people, filter: .equal("uid", e.first("uid")!)) { _ in n += 1 }
        #expect(n == 1)
    }
}

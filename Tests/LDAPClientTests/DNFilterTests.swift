import Testing
@testable import LDAPClient

@Suite struct DNTests {
    @Test(arguments: [
        // RFC 4514 §4 examples.
        ("UID=jsmith,DC=example,DC=net", [[("UID", "jsmith")], [("DC", "example")], [("DC", "net")]]),
        (
            "OU=Sales+CN=J.  Smith,DC=example,DC=net",
            [[("OU", "Sales"), ("CN", "J.  Smith")], [("DC", "example")], [("DC", "net")]]
        ),
        (
            "CN=James \\\"Jim\\\" Smith\\, III,DC=example,DC=net",
            [[("CN", "James \"Jim\" Smith, III")], [("DC", "example")], [("DC", "net")]]
        ),
        ("CN=Before\\0dAfter,DC=example,DC=net", [[("CN", "Before\rAfter")], [("DC", "example")], [("DC", "net")]]),
        (
            "1.3.6.1.4.1.1466.0=#04024869,DC=example,DC=com",
            [[("1.3.6.1.4.1.1466.0", "#04024869")], [("DC", "example")], [("DC", "com")]]
        ),
        ("CN=Lu\\C4\\8Di\\C4\\87", [[("CN", "Lučić")]])
    ])
    func parsesRFC4514Examples(_ input: String, _ expected: [[(String, String)]]) throws {
        let dn = try DN(input)
        #expect(dn.rdns.map { $0.map(\.type) } == expected.map { $0.map(\.0) })
        #expect(dn.rdns.map { $0.map(\.value) } == expected.map { $0.map(\.1) })
    }

    @Test func escapingKeepsInjectionAValue() throws {
        let parent = try DN("ou=Personnes,dc=semail,dc=email")
        for evil in ["a,ou=x", "*)(uid=*", " lead", "trail ", "#hash", "x+cn=y", "q\"<>;\\", "nul\0byte", "new\nline"] {
            let dn = DN("uid", evil, under: parent)
            let back = try DN(dn.description)
            #expect(back.rdns.count == 4, "\(dn)")
            #expect(back.rdn == [DN.AVA("uid", evil)], "\(dn)")
            #expect(back.parent?.normalized == parent.normalized)
        }
        #expect(DN("uid", "a,ou=x", under: parent).description == "uid=a\\,ou\\=x,ou=Personnes,dc=semail,dc=email")
    }

    @Test(arguments: ["cn=a,", "=x", "cn", "cn=a\\", "cn=a\"b", "c n=a", "cn=a;b", "cn=a\\zz"])
    func rejectsMalformed(_ input: String) {
        #expect(throws: DNError.self) { try DN(input) }
    }

    @Test func normalizationAndAncestry() throws {
        let a = try DN("UID=Bob,OU=People,DC=Example")
        let b = try DN("uid=bob, ou=people,dc=example")
        #expect(a.normalized == b.normalized)
        #expect(a.isDescendant(of: try DN("dc=example")))
        #expect(!a.isDescendant(of: a))
    }
}

@Suite struct FilterTests {
    @Test func escapesRFC4515Specials() {
        #expect(LDAPFilter.escape("*)(uid=*") == "\\2a\\29\\28uid=\\2a")
        #expect(LDAPFilter.escape("a\\b\0") == "a\\5cb\\00")
        #expect(LDAPFilter.equal("uid", "*)(uid=*").description == "(uid=\\2a\\29\\28uid=\\2a)")
        // RFC 4515 §4 examples.
        #expect(
            LDAPFilter.equal("cn", "Parens R Us (for all your parenthetical needs)").description
                == "(cn=Parens R Us \\28for all your parenthetical needs\\29)")
        #expect(LDAPFilter.equal("cn", "*").description == "(cn=\\2a)")
        #expect(LDAPFilter.equal("filename", "C:\\MyFile").description == "(filename=C:\\5cMyFile)")
    }

    @Test func composes() {
        let f = LDAPFilter.and([
            .equal("objectClass", "inetOrgPerson"), .or([.present("mail"), .not(.equal("uid", "x"))])
        ])
        #expect(f.description == "(&(objectClass=inetOrgPerson)(|(mail=*)(!(uid=x))))")
        #expect(LDAPFilter.substring("cn", initial: "a*", any: ["b"], final: nil).description == "(cn=a\\2a*b*)")
    }
}

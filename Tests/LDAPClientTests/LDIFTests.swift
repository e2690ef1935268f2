import Foundation
import Testing
@testable import LDAPClient

// The example files of RFC 2849 itself.
let rfcExample1 = """
    version: 1
    dn: cn=Barbara Jensen, ou=Product Development, dc=airius, dc=com
    objectclass: top
    objectclass: person
    objectclass: organizationalPerson
    cn: Barbara Jensen
    cn: Barbara J Jensen
    cn: Babs Jensen
    sn: Jensen
    uid: bjensen
    telephonenumber: +1 408 555 1212
    description: A big sailing fan.

    dn: cn=Bjorn Jensen, ou=Accounting, dc=airius, dc=com
    objectclass: top
    objectclass: person
    objectclass: organizationalPerson
    cn: Bjorn Jensen
    sn: Jensen
    telephonenumber: +1 408 555 1212

    """

let rfcExample2 = """
    version: 1
    dn:cn=Barbara Jensen, ou=Product Development, dc=airius, dc=com
    objectclass:top
    objectclass:person
    objectclass:organizationalPerson
    cn:Barbara Jensen
    cn:Barbara J Jensen
    cn:Babs Jensen
    sn:Jensen
    uid:bjensen
    telephonenumber:+1 408 555 1212
    description:Babs is a big sailing fan, and travels extensively in sea
     rch of perfect sailing conditions.
    title:Product Manager, Rod and Reel Division

    """

let rfcExample3 = """
    version: 1
    dn: cn=Gern Jensen, ou=Product Testing, dc=airius, dc=com
    objectclass: top
    objectclass: person
    objectclass: organizationalPerson
    cn: Gern Jensen
    cn: Gern O Jensen
    sn: Jensen
    uid: gernj
    telephonenumber: +1 408 555 1212
    description:: V2hhdCBhIGNhcmVmdWwgcmVhZGVyIHlvdSBhcmUhICBUaGlzIHZhbHVlIGlzIGJhc2UtNjQtZW5jb2RlZCBiZWNhdXNlIGl0IGhhcyBhIGNvbnRyb2wgY2hhcmFjdGVyIGluIGl0IChhIENSKS4NICBCeSB0aGUgd2F5LCB5b3Ugc2hvdWxkIHJlYWxseSBnZXQgb3V0IG1vcmUu

    """

let rfcExample5 = """
    version: 1
    dn:: b3U95Za25qWt6YOoLG89QWlyaXVz
    # dn:: ou=<JapaneseOU>,o=Airius
    objectclass: top
    objectclass: organizationalUnit
    ou:: 5Za25qWt6YOo
    # ou:: <JapaneseOU>
    ou;lang-ja:: 5Za25qWt6YOo
    # ou;lang-ja:: <JapaneseOU>
    ou;lang-ja;phonetic:: 44GI44GE44GO44KH44GG44G2
    # ou;lang-ja:: <JapaneseOU_in_phonetic_representation>
    ou;lang-en: Sales
    description: Japanese office

    """

let rfcExample6 = """
    version: 1
    # Add a new entry
    dn: cn=Fiona Jensen, ou=Marketing, dc=airius, dc=com
    changetype: add
    objectclass: top
    objectclass: person
    objectclass: organizationalPerson
    cn: Fiona Jensen
    sn: Jensen
    uid: fiona
    telephonenumber: +1 408 555 1212

    # Delete an existing entry
    dn: cn=Robert Jensen, ou=Marketing, dc=airius, dc=com
    changetype: delete

    # Modify an entry's relative distinguished name
    dn: cn=Paul Jensen, ou=Product Development, dc=airius, dc=com
    changetype: modrdn
    newrdn: cn=Paula Jensen
    deleteoldrdn: 1

    # Rename an entry and move all of its children to a new location in
    # the directory tree (only implemented by LDAPv3 servers).
    dn: ou=PD Accountants, ou=Product Development, dc=airius, dc=com
    changetype: modrdn
    newrdn: ou=Product Development Accountants
    deleteoldrdn: 0
    newsuperior: ou=Accounting, dc=airius, dc=com

    # Modify an entry: add an additional value to the postaladdress
    # attribute, completely delete the description attribute, replace
    # the telephonenumber attribute with two values, and delete a specific
    # value from the facsimiletelephonenumber attribute
    dn: cn=Paula Jensen, ou=Product Development, dc=airius, dc=com
    changetype: modify
    add: postaladdress
    postaladdress: 123 Anystreet $ Sunnyvale, CA $ 94086
    -
    delete: description
    -
    replace: telephonenumber
    telephonenumber: +1 408 555 1234
    telephonenumber: +1 408 555 5678
    -
    delete: facsimiletelephonenumber
    facsimiletelephonenumber: +1 408 555 9876
    -

    # Modify an entry: replace the postaladdress attribute with an empty
    # set of values (which will cause the attribute to be removed), and
    # delete the entire description attribute. Note that the first will
    # always succeed, while the second will only succeed if at least
    # one value for the description attribute is present.
    dn: cn=Ingrid Jensen, ou=Product Support, dc=airius, dc=com
    changetype: modify
    replace: postaladdress
    -
    delete: description
    -

    """

let rfcExample7 = """
    version: 1
    # Delete an entry. The operation will attach the LDAPv3
    # Tree Delete Control defined in [9]. The criticality
    # field is "true" and the controlValue field is
    # absent, as required by [9].
    dn: ou=Product Development, dc=airius, dc=com
    control: 1.2.840.113556.1.4.805 true
    changetype: delete

    """

@Suite struct LDIFTests {
    func records(_ text: String) throws -> [LDIFRecord] { try LDIF.records(text, file: "t.ldif") }

    @Test func example1ContentRecords() throws {
        let r = try records(rfcExample1)
        #expect(r.count == 2)
        #expect(r[0].dn == "cn=Barbara Jensen, ou=Product Development, dc=airius, dc=com")
        #expect(r[0].entry?.strings("cn") == ["Barbara Jensen", "Barbara J Jensen", "Babs Jensen"])
        #expect(r[1].line == 14)
    }

    @Test func example2FoldedLinesAndNoSpaceAfterColon() throws {
        let r = try records(rfcExample2)
        #expect(
            r[0].entry?.first("description")
                == "Babs is a big sailing fan, and travels extensively in search of perfect sailing conditions.")
        #expect(r[0].entry?.first("objectclass") == "top")
    }

    @Test func example3Base64() throws {
        let d = try #require(try records(rfcExample3)[0].entry?.first("description"))
        #expect(d.hasPrefix("What a careful reader you are!"))
        #expect(d.contains("\r"))
    }

    @Test func example4FileURL() throws {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent(
            "ldif-photo-\(UInt32.random(in: 0...UInt32.max)).jpg"
        ).path
        let bytes: [UInt8] = [0xFF, 0xD8, 0xFF, 0x00, 0x10, 0x0A]
        _ = FileManager.default.createFile(atPath: path, contents: Data(bytes))
        defer { try? FileManager.default.removeItem(atPath: path) }
        let text = """
            version: 1
            dn: cn=Horatio Jensen, ou=Product Testing, dc=airius, dc=com
            objectclass: top
            cn: Horatio Jensen
            jpegphoto:< file://\(path)
            """
        let r = try records(text)
        #expect(r[0].entry?.values("jpegphoto") == [bytes])
    }

    @Test func example5OptionsAndUTF8DN() throws {
        let r = try records(rfcExample5)
        #expect(r[0].dn == "ou=営業部,o=Airius")
        #expect(
            r[0].entry?.attributes.map(\.name) == [
                "objectclass", "ou", "ou;lang-ja", "ou;lang-ja;phonetic", "ou;lang-en", "description"
            ])
    }

    @Test func example6ChangeRecords() throws {
        let r = try records(rfcExample6)
        #expect(r.count == 6)
        guard case .add = r[0].change, case .delete = r[1].change else { Issue.record("kinds"); return }
        #expect(
            r[2].change == .modDN(newRDN: "cn=Paula Jensen", deleteOldRDN: true, newSuperior: nil, keyword: "modrdn"))
        #expect(
            r[3].change
                == .modDN(
                    newRDN: "ou=Product Development Accountants", deleteOldRDN: false,
                    newSuperior: "ou=Accounting, dc=airius, dc=com", keyword: "modrdn"))
        guard case let .modify(mods) = r[4].change else { Issue.record("modify"); return }
        #expect(mods.map(\.op) == [.add, .delete, .replace, .delete])
        #expect(mods[2].attribute.strings == ["+1 408 555 1234", "+1 408 555 5678"])
        #expect(mods[1].attribute.values.isEmpty)
        guard case let .modify(mods2) = r[5].change else { Issue.record("modify 2"); return }
        #expect(mods2 == [.init(.replace, .init("postaladdress", [])), .init(.delete, .init("description", []))])
    }

    @Test func example7Control() throws {
        let r = try records(rfcExample7)
        #expect(r[0].controls == [.init(oid: "1.2.840.113556.1.4.805", critical: true, value: nil)])
        #expect(r[0].change == .delete)
    }

    @Test func controlValuesAndIncrement() throws {
        let r = try records(
            """
            dn: cn=a,dc=x
            control: 1.3.6.1.1.12 true:: o4AEAnNuBAFh
            control: 1.2.3 false: plain value
            control: 1.2.4:: AAE=
            changetype: modify
            increment: uidNumber
            uidNumber: 5
            -

            """)
        #expect(
            r[0].controls == [
                .init(
                    oid: "1.3.6.1.1.12", critical: true, value: [0xA3, 0x80, 0x04, 0x02, 0x73, 0x6E, 0x04, 0x01, 0x61]),
                .init(oid: "1.2.3", critical: false, value: Array("plain value".utf8)),
                .init(oid: "1.2.4", critical: false, value: [0, 1])
            ])
        #expect(r[0].change == .modify([.init(.increment, .init("uidNumber", strings: ["5"]))]))
        #expect(try records(LDIF.write(r)) == r)
        #expect(
            LDIF.parse("dn: cn=a,dc=x\ncontrol: not-an-oid true\nchangetype: delete\n").first.map {
                if case .error = $0 { true } else { false }
            } == true)
    }

    /// DNs are sent as written; libldap's parser (slapd's) gives the keys.
    @Test func ldapV2DNFormsAreKept() throws {
        let r = try records("dn: cn = Spaced , ou=x;dc=y\nobjectClass: top\n\ndn: cn=\"a, b\",dc=y\nobjectClass: top\n")
        #expect(r.map(\.dn) == ["cn = Spaced , ou=x;dc=y", "cn=\"a, b\",dc=y"])
        #expect(DNKey("cn = Spaced , ou=x;dc=y") == DNKey("CN=spaced,OU=X,DC=Y"))
        #expect(DNKey("OID.2.5.4.3=a,dc=y") == DNKey("commonName=A,dc=y"))
        let child = try #require(DNKey("uid=u,ou=People,dc=y")), ou = try #require(DNKey("ou=people, dc=Y"))
        #expect(child.isWithin(ou) && !ou.isWithin(child) && child.parent == ou)
        #expect(DNKey.renamed(newRDN: "uid=v", under: ou) == DNKey("uid=v,ou=People,dc=y"))
        #expect(DNKey("cn=a+sn=b,dc=y") == DNKey("sn=B+cn=A,dc=y"))
        #expect(DNKey("cn=a,,dc=y") == nil)
    }

    @Test(arguments: [rfcExample1, rfcExample2, rfcExample3, rfcExample5, rfcExample6, rfcExample7])
    func roundTrips(_ text: String) throws {
        let r = try records(text)
        let written = LDIF.write(r)
        #expect(try records(written) == r)
        // Writing is stable.
        #expect(LDIF.write(try records(written)) == written)
    }

    @Test func writerFoldsAndEncodes() throws {
        let long = String(repeating: "x", count: 200)
        let rec = LDIFRecord(
            dn: "cn=a,dc=b",
            change: .content([
                .init("description", strings: [long]),
                .init("cn", strings: [" leading", "trailing ", ":colon", "<lt", "é", "a\nb", ""])
            ]))
        let text = LDIF.write([rec])
        #expect(text.split(separator: "\n").allSatisfy { $0.utf8.count <= 76 })
        #expect(text.contains("cn:: IGxlYWRpbmc="))
        #expect(text.contains("\ncn:\n"))
        #expect(try records(text) == [rec])
    }

    @Test func randomRecordsRoundTrip() throws {
        var rng = SplitMix(seed: 42)
        let alphabet = Array("aZ09 :<-_=,+\"\\#é\n\r\0\t~".unicodeScalars)
        for _ in 0..<300 {
            func value() -> [UInt8] {
                if rng.next() % 5 == 0 {
                    return (0..<Int(rng.next() % 40)).map { _ in UInt8(truncatingIfNeeded: rng.next()) }
                }
                var s = ""
                for _ in 0..<Int(rng.next() % 120) {
                    s.unicodeScalars.append(alphabet[Int(rng.next() % UInt64(alphabet.count))])
                }
                return Array(s.utf8)
            }
            let n = Int(rng.next() % 4) + 1
            let attrs = (0..<n).map { i in LDAPAttribute("attr\(i)", (0..<Int(rng.next() % 3 + 1)).map { _ in value() })
            }
            let change: LDIFRecord.Change =
                switch rng.next() % 4 {
                case 0: .content(attrs)
                case 1: .add(attrs)
                case 2: .modify(attrs.map { .init([.add, .replace, .delete][Int(rng.next() % 3)], $0) })
                default: .delete
                }
            let rec = LDIFRecord(
                dn: DN("cn", String(decoding: value(), as: UTF8.self), under: try DN("dc=x")).description,
                change: change)
            let text = LDIF.write([rec])
            let back = try records(text)
            #expect(back == [rec], "\(text)")
        }
    }

    @Test func errorsNameFileAndLine() {
        let text = """
            dn: cn=ok,dc=x
            cn: ok

            dn: cn=bad,dc=x
            cn ok without colon

            dn: cn=after,dc=x
            cn: after

            dn: cn=mod,dc=x
            changetype: modify
            add: mail
            cn: wrong
            -

            notdn: x

            dn: cn=x,dc=x
            changetype: frobnicate
            """
        let items = LDIF.parse(text, file: "people.ldif")
        let errors = items.compactMap { if case let .error(e) = $0 { e } else { nil } }
        #expect(items.count == 6)
        #expect(errors.map(\.line) == [5, 13, 16, 19])
        #expect(errors[0].description.hasPrefix("people.ldif:5: "))
        #expect(errors[3].message.contains("frobnicate"))
    }

    @Test func versionMustBeOne() {
        let items = LDIF.parse("version: 2\ndn: cn=a\ncn: a\n", file: "v.ldif")
        guard case let .error(e) = items.first else { Issue.record("expected an error"); return }
        #expect(e.line == 1)
    }

    @Test func commentsFoldedAndCRLF() throws {
        let text = "# a comment\r\n  folded into the comment\r\ndn: cn=a,dc=x\r\ncn: a\r\n b\r\n"
        let r = try records(text)
        #expect(r[0].entry?.first("cn") == "ab")
    }
}

/// A small deterministic generator for property tests.
struct SplitMix {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E3779B97F4A7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58476D1CE4E5B9
        z = (z ^ (z >> 27)) &* 0x94D049BB133111EB
        return z ^ (z >> 31)
    }
}

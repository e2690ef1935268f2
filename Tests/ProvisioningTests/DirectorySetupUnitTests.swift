@testable import Core
@testable import Directory
import Foundation
@testable import Provisioning
import Testing

@Suite struct DirectorySetupUnitTests {
    let root: String = {
        var url = URL(fileURLWithPath: #filePath)
        for _ in 0..<3 { url.deleteLastPathComponent() }
        return url.path
    }()

    /// The schema built into the binary is the text of schema/*.ldif.
    @Test func embeddedSchemaIsTheRepositoryLDIF() throws {
        for s in DirectorySchema.all {
            #expect(s.ldif == (try String(contentsOfFile: "\(root)/schema/\(s.name).ldif", encoding: .utf8)))
            #expect(s.entry.dn == "cn=\(s.name),cn=schema,cn=config")
        }
    }

    @Test func definitionNames() {
        #expect(DirectorySetup.names("( 1.2.3 NAME 'semailUser' DESC 'x' SUP top )") == ["semailuser"])
        #expect(DirectorySetup.names("( 2.5.4.3 NAME ( 'cn' 'commonName' ) SUP name )") == ["cn", "commonname"])
        #expect(DirectorySetup.names("( 1.2.3 DESC 'no name' )").isEmpty)
    }

    @Test func canonicalFormsAndIndexes() {
        #expect(DirectorySetup.canonical("{3}to *  by * read") == "to * by * read")
        #expect(DirectorySetup.moduleName("{1}/usr/lib/ldap/syncprov.la") == "syncprov")
        let (attrs, types) = DirectorySetup.parseIndex("cn,uid equality,present")
        #expect(attrs == ["cn", "uid"])
        #expect(types == ["eq", "pres"])
    }

    @Test func uriAndIdentity() throws {
        var (c, _) = try Config.parse("[ldap]\nuri = \"ldap://127.0.0.1\"\nbind_dn = \"\"\n", path: "t.toml")
        #expect(DirectorySetup.resolveURI(config: c, option: nil) == "ldapi:///")
        #expect(DirectorySetup.resolveURI(config: c, option: "ldapi://%2Frun%2Fx") == "ldapi://%2Frun%2Fx")
        #expect(DirectorySetup.identity(c) == DirectorySetup.rootPeercred)
        c.ldap.uri = "ldapi://%2Fvar%2Frun%2Fslapd%2Fldapi"
        c.ldap.bindDN = "cn=semail,dc=x"
        #expect(DirectorySetup.resolveURI(config: c, option: nil) == c.ldap.uri)
        #expect(DirectorySetup.identity(c) == "cn=semail,dc=x")
        let setup = DirectorySetup(config: c, uri: nil)
        #expect(setup.uniqueURI == "ldap:///ou=Personnes,dc=semail,dc=email?semailMailbox?sub")
    }
}

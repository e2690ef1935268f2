import Core
import Directory
import Foundation
import LDAPClient
import TestSupport
import Testing

/// An install whose semail schema an older semailctl loaded: `directory
/// setup` adds the suspension's attribute types and extends semailUser in
/// place (Debian's cn=config slapd), and a second run has nothing to do.
@Suite(.debianSlapd) struct SchemaUpgradeIntegrationTests {
    var s: DebianSlapd { DebianSlapd.shared }

    /// schema/semail.ldif before `semailState` (what `directory setup` loaded until then).
    static let oldSemail = """
        dn: cn=semail,cn=schema,cn=config
        objectClass: olcSchemaConfig
        cn: semail
        olcAttributeTypes: ( 1.3.6.1.4.1.99999.1.1.1 NAME 'semailMailbox' DESC 'The ma
         ilbox address owned by this user (id@domain)' EQUALITY caseIgnoreIA5Match SUB
         STR caseIgnoreIA5SubstringsMatch SYNTAX 1.3.6.1.4.1.1466.115.121.1.26 SINGLE-
         VALUE )
        olcAttributeTypes: ( 1.3.6.1.4.1.99999.1.1.2 NAME 'semailVolumeSize' DESC 'Siz
         e of the mailbox volume in bytes' EQUALITY integerMatch SYNTAX 1.3.6.1.4.1.14
         66.115.121.1.27 SINGLE-VALUE )
        olcObjectClasses: ( 1.3.6.1.4.1.99999.1.2.1 NAME 'semailUser' DESC 'A user wit
         h a semail mailbox' SUP top AUXILIARY MAY ( semailMailbox $ semailVolumeSize
          ) )

        """

    @Test func anOldSemailSchemaIsUpgradedInPlace() throws {
        let file = "\(NSTemporaryDirectory())/old-semail-\(UUID().uuidString).ldif"
        try Self.oldSemail.write(toFile: file, atomically: true, encoding: .utf8)
        defer { try? FileManager.default.removeItem(atPath: file) }
        for f in ["\(repoRoot)/schema/openssh-lpk.ldif", file, "\(repoRoot)/schema/semail-software.ldif"] {
            let r = try ProcessRunner().run(
                ["ldapadd", "-Q", "-Y", "EXTERNAL", "-H", s.ldapiURI, "-f", f], check: false)
            #expect(r.status == 0, "\(r.stderr)")
        }
        let cfg = try s.config().path
        var r = try semailctl(["directory", "setup", "--config", cfg, "--json"])
        #expect(r.status == 0, "\(r.text)\(r.stderr)")
        let doc = try #require(JSONSerialization.jsonObject(with: r.stdout) as? [String: Any])
        let changes = doc["changes"] as? [[String: Any]] ?? []
        let schema = changes.filter { $0["kind"] as? String == "schema" }
        #expect(schema.count == 1, "\(changes)")
        let description = schema.first?["description"] as? String
        #expect(description?.contains("upgrade the semail schema") == true, "\(schema)")
        #expect((doc["conflicts"] as? [Any])?.isEmpty == true, "\(doc)")

        let c = try LDAPConnection(.init(uri: s.ldapiURI))
        defer { c.close() }
        try c.bindExternal()
        let sub = try #require(try c.read("cn=Subschema", attributes: ["objectClasses", "attributeTypes"]))
        let types = Set(sub.strings("attributeTypes").flatMap(DirectorySetup.names))
        #expect(types.isSuperset(of: ["semailstate", "semailstatereason", "semailmailbox"]))
        let user = try #require(sub.strings("objectClasses").first { DirectorySetup.names($0) == ["semailuser"] })
        #expect(user.contains("semailState") && user.contains("semailStateReason"), "\(user)")

        // Now exactly semailctl's: a second run changes no schema.
        r = try semailctl(["directory", "setup", "--config", cfg, "--json"])
        #expect(r.status == 0, "\(r.stderr)")
        let again = try #require(JSONSerialization.jsonObject(with: r.stdout) as? [String: Any])
        #expect(!((again["changes"] as? [[String: Any]]) ?? []).contains { $0["kind"] as? String == "schema" })
        #expect((again["conflicts"] as? [Any])?.isEmpty == true, "\(again)")
    }
}

import Core
import Foundation
import LDAPClient
import Provisioning
import TestSupport
import Testing

/// `semailctl import` does what `ldapmodify -a` does: each test loads the
/// same state into two fresh subtrees of the test slapd, applies the same
/// LDIF with ldapmodify to one and with semailctl to the other, and
/// compares what `ldapsearch` returns for both (suffix normalised).
@Suite(.slapd) struct LDIFParityIntegrationTests {
    var s: Slapd { Slapd.shared }

    func json(_ out: ProcessOutput) throws -> [String: Any] {
        try #require(
            JSONSerialization.jsonObject(with: out.stdout) as? [String: Any],
            "stdout was: \(out.text)\nstderr: \(out.stderr)")
    }

    @Test func dependentRecordsWaitForWhatTheyDependOn() throws {
        // Renames then changes to the new names; leaves deleted then their
        // parent; moves under a parent added just before; a subtree renamed
        // then an entry below its new name changed (the shapes of OpenLDAP's
        // test017/test018 data and RFC 2849 example 6).
        var setup = ""
        var ldif = ""
        let big = String(repeating: "Large value ", count: 80_000)
        for i in 0..<20 {
            setup += "dn: cn=r\(i),{BASE}\nobjectClass: person\ncn: r\(i)\nsn: s\n\n"
            ldif += "dn: cn=r\(i),{BASE}\nchangetype: modrdn\nnewrdn: cn=n\(i)\ndeleteoldrdn: 1\n\n"
            ldif += "dn: cn=n\(i),{BASE}\nchangetype: modify\nreplace: description\ndescription: renamed \(i)\n-\n\n"
        }
        for g in 0..<3 {
            setup += "dn: ou=g\(g),{BASE}\nobjectClass: organizationalUnit\nou: g\(g)\n\n"
            for l in 0..<10 {
                setup += "dn: cn=l\(l),ou=g\(g),{BASE}\nobjectClass: person\ncn: l\(l)\nsn: s\n\n"
                ldif += "dn: cn=l\(l),ou=g\(g),{BASE}\nchangetype: delete\n\n"
            }
            ldif += "dn: ou=g\(g),{BASE}\nchangetype: delete\n\n"
        }
        for m in 0..<10 {
            setup += "dn: cn=m\(m),{BASE}\nobjectClass: person\ncn: m\(m)\nsn: s\n\n"
            // A large value makes the server take its time over the add.
            ldif +=
                """
                dn: ou=new\(m),{BASE}\nchangetype: add\nobjectClass: organizationalUnit\nou: new\(m)\ndescription: \
                \(big)\n\n
                """
            ldif +=
                """
                dn: cn=m\(m),{BASE}\nchangetype: modrdn\nnewrdn: cn=m\(m)\ndeleteoldrdn: 0\nnewsuperior: \
                ou=new\(m),{BASE}\n\n
                """
            ldif += "dn: cn=m\(m),ou=new\(m),{BASE}\nchangetype: modify\nadd: description\ndescription: moved\n-\n\n"
        }
        setup += "dn: ou=dept,{BASE}\nobjectClass: organizationalUnit\nou: dept\n\n"
        setup += "dn: cn=inside,ou=dept,{BASE}\nobjectClass: person\ncn: inside\nsn: s\n\n"
        ldif += "dn: ou=dept,{BASE}\nchangetype: modrdn\nnewrdn: ou=dept2\ndeleteoldrdn: 1\n\n"
        ldif += "dn: cn=inside,ou=dept2,{BASE}\nchangetype: modify\nreplace: sn\nsn: after the rename\n-\n\n"
        let p = try Pair(s, setup: setup)
        let r = try p.apply(ldif)
        #expect(r.ldapmodify.status == 0, "\(r.ldapmodify.stderr)")
        #expect(r.semailctl.status == 0, "\(r.semailctl.text)\(r.semailctl.stderr)")
        #expect(r.a == r.b, "ldapmodify and semailctl disagree:\n\(diff(r.a, r.b))")
    }

    @Test func controlsAreSentAndCriticalOnesRespected() throws {
        // Assertion control (RFC 4528) with the filter (sn=Other): the
        // modify must fail (assertionFailed) and write nothing.
        let filter: [UInt8] = [0xA3, 0x0C, 0x04, 0x02] + Array("sn".utf8) + [0x04, 0x06] + Array("Other!".utf8)
        let assertion = Data(filter).base64EncodedString()
        let setup = """
            dn: cn=guarded,{BASE}
            objectClass: person
            cn: guarded
            sn: Before

            dn: cn=unknown,{BASE}
            objectClass: person
            cn: unknown
            sn: Before

            dn: ou=Product Development,{BASE}
            objectClass: organizationalUnit
            ou: Product Development

            dn: cn=child,ou=Product Development,{BASE}
            objectClass: person
            cn: child
            sn: s

            dn: cn=passed,{BASE}
            objectClass: person
            cn: passed
            sn: Other!

            dn: ou=Leaf Development,{BASE}
            objectClass: organizationalUnit
            ou: Leaf Development


            """
        let ldif = """
            dn: cn=guarded,{BASE}
            control: 1.3.6.1.1.12 true:: \(assertion)
            changetype: modify
            replace: sn
            sn: After
            -

            dn: cn=unknown,{BASE}
            control: 1.2.3.4.5.6.7.8.9 true
            changetype: modify
            replace: sn
            sn: After
            -

            dn: cn=passed,{BASE}
            control: 1.3.6.1.1.12 true:: \(assertion)
            changetype: modify
            replace: description
            description: the assertion held
            -

            dn: cn=passed,{BASE}
            control: 1.2.3.4.5.6.7.8.9 false: ignored by the server
            changetype: modify
            add: description
            description: a non-critical control is ignored
            -

            # RFC 2849, example 7: a critical tree delete control.
            dn: ou=Product Development,{BASE}
            control: 1.2.840.113556.1.4.805 true
            changetype: delete

            dn: ou=Leaf Development,{BASE}
            control: 1.2.840.113556.1.4.805 true
            changetype: delete


            """
        let p = try Pair(s, setup: setup)
        let r = try p.apply(ldif, continueOnError: true)
        #expect(r.a == r.b, "ldapmodify and semailctl disagree:\n\(diff(r.a, r.b))")
        #expect(r.b.contains("sn: Before"), "a modify under a failed assertion was written")
        #expect(
            r.b.contains("description: the assertion held")
                && r.b.contains("description: a non-critical control is ignored"))
        let doc = try json(r.semailctl)
        let reasons = (doc["failures"] as? [[String: Any]] ?? []).compactMap { $0["reason"] as? String }
        #expect(reasons.contains { $0.contains("(122)") }, "\(reasons)")  // assertionFailed
        #expect(reasons.contains { $0.contains("(12)") }, "\(reasons)")  // unavailableCriticalExtension
    }

    /// Without --continue-on-error nothing is sent after a failure; records
    /// in flight when it came back are listed one by one, and the directory
    /// holds exactly what ldapmodify wrote plus those.
    @Test func aFailureStopsAndTheReportSaysExactlyWhat() throws {
        var ldif = "dn: cn=absent,{BASE}\nchangetype: modify\nreplace: sn\nsn: x\n-\n\n"
        for i in 0..<200 { ldif += "dn: cn=after\(i),{BASE}\nobjectClass: person\ncn: after\(i)\nsn: s\n\n" }
        let p = try Pair(s, setup: "")
        let r = try p.apply(ldif, semailctlArgs: ["--window", "64"])
        #expect(r.ldapmodify.status != 0)
        #expect(r.semailctl.status == 1, "\(r.semailctl.stderr)")
        let doc = try json(r.semailctl)
        let after = try #require(
            doc["appliedAfterFailure"] as? [[String: Any]], "no list of the records applied after the failure: \(doc)")
        let notApplied = doc["notApplied"] as? Int ?? -1
        #expect(doc["failed"] as? Int == 1)
        #expect(
            after.count + notApplied == 200,
            "\(after.count) applied after the failure + \(notApplied) not applied != 200")
        if notApplied > 0 { #expect(doc["notSentFromLine"] as? Int != nil) }
        // The directory: ldapmodify's state plus exactly the entries listed.
        let listed = Set(after.compactMap { $0["dn"] as? String }.map { p.normalise($0, side: "b") })
        let extra = Set(entries(r.b)).subtracting(entries(r.a))
        #expect(Set(extra.map { $0.split(separator: "\n")[0].dropFirst(4) }.map(String.init)) == listed)
        // --window 1 is ldapmodify's behaviour exactly.
        let q = try Pair(s, setup: "")
        let one = try q.apply(ldif, semailctlArgs: ["--window", "1"])
        #expect(one.a == one.b, "\(diff(one.a, one.b))")
        #expect(try json(one.semailctl)["notApplied"] as? Int == 200)
    }

    @Test func incrementIsApplied() throws {
        let setup = """
            dn: uid=counter,{BASE}
            objectClass: account
            objectClass: posixAccount
            uid: counter
            cn: counter
            uidNumber: 20000
            gidNumber: 20000
            homeDirectory: /home/counter


            """
        let ldif = "dn: uid=counter,{BASE}\nchangetype: modify\nincrement: uidNumber\nuidNumber: 5\n-\n\n"
        let p = try Pair(s, setup: setup)
        let r = try p.apply(ldif)
        #expect(r.ldapmodify.status == 0, "\(r.ldapmodify.stderr)")
        #expect(r.semailctl.status == 0, "\(r.semailctl.text)\(r.semailctl.stderr)")
        #expect(r.b.contains("uidNumber: 20005"))
        #expect(r.a == r.b, "\(diff(r.a, r.b))")
    }

    @Test func aModifyTheServerRejectsIsAFailure() throws {
        let setup = "dn: cn=m,{BASE}\nobjectClass: person\ncn: m\nsn: Before\ndescription: one\n\n"
        let ldif = """
            dn: cn=m,{BASE}
            changetype: modify
            add: description
            description: one
            -
            replace: sn
            sn: After
            -

            dn: cn=m,{BASE}
            changetype: modify
            delete: description
            description: never there
            -
            replace: sn
            sn: After
            -

            dn: cn=m,{BASE}
            changetype: modify
            add: undefinedAttributeXYZ
            undefinedAttributeXYZ: x
            -


            """
        let p = try Pair(s, setup: setup)
        let r = try p.apply(ldif, continueOnError: true)
        #expect(r.a == r.b, "\(diff(r.a, r.b))")
        #expect(r.semailctl.status == 1)
        let doc = try json(r.semailctl)
        #expect(doc["failed"] as? Int == 3 && doc["skipped"] as? Int == 0 && doc["modified"] as? Int == 0, "\(doc)")
    }

    /// The server stores DN-syntax values in its own form and adds the RDN
    /// value: an identical re-import is all unchanged, `--update` settles.
    @Test func reimportingTheSameFileChangesNothing() throws {
        let ldif = """
            dn: cn=Ghost,{BASE}
            objectClass: person
            cn: Ghost Person
            sn: Ghost
            seeAlso: cn=Someone , ou=Else,  dc=example

            dn: cn=Team,{BASE}
            objectClass: groupOfNames
            cn: Team
            member: CN=Ghost, {BASE}
            member: cn = other , dc=example

            dn: uid=u1,{BASE}
            objectClass: inetOrgPerson
            uid: u1
            cn: U One
            sn: One
            mail: U1@Example.ORG
            manager: cn=Ghost,  {BASE}


            """
        let p = try Pair(s, setup: "")
        let r = try p.apply(ldif)
        #expect(r.semailctl.status == 0, "\(r.semailctl.text)\(r.semailctl.stderr)")
        #expect(r.a == r.b, "\(diff(r.a, r.b))")
        var again = try p.semailctl(ldif)
        var doc = try json(again)
        #expect(
            again.status == 0 && (doc["differing"] as? [Any])?.isEmpty == true && doc["skipped"] as? Int == 3, "\(doc)")
        again = try p.semailctl(ldif, ["--update"])
        doc = try json(again)
        #expect(
            doc["modified"] as? Int == 0 && doc["failed"] as? Int == 0, "--update rewrote unchanged entries: \(doc)")
        #expect(try p.dump("b") == r.b)
        // A value beside the RDN value the server added is a difference;
        // --update removes it and keeps the RDN value.
        let extra = try p.ldapmodify(
            "dn: cn=Ghost,{BASE}\nchangetype: modify\nadd: cn\ncn: Intruder\n-\n\n", side: "b", continueOnError: false)
        #expect(extra.status == 0, "\(extra.stderr)")
        doc = try json(try p.semailctl(ldif))
        #expect((doc["differing"] as? [[String: Any]])?.map { $0["reason"] as? String } == ["differs in: cn"], "\(doc)")
        doc = try json(try p.semailctl(ldif, ["--update"]))
        #expect(doc["modified"] as? Int == 1 && doc["failed"] as? Int == 0, "\(doc)")
        #expect(try p.dump("b") == r.b)
    }

    /// DNs slapd refuses to read are failures of their records, in the
    /// dry run as in the import.
    @Test func aDryRunReportsRecordsTheServerRefuses() throws {
        let ldif = """
            dn: nsUniqueId=0b2c1d4a-1dd211b2-80a5f1e6-2a0c0000,{BASE}
            objectClass: person
            cn: x
            sn: x

            dn: OID.2.5.4.3=legacy,{BASE}
            objectClass: person
            cn: legacy
            sn: x

            dn: cn=fine,{BASE}
            objectClass: person
            cn: fine
            sn: fine


            """
        let p = try Pair(s, setup: "")
        let dry = try p.semailctl(ldif, ["--dry-run", "--continue-on-error"])
        #expect(dry.status == 1, "\(dry.status) \(dry.stderr)")
        let doc = try json(dry)
        #expect(doc["failed"] as? Int == 2 && doc["added"] as? Int == 1, "\(doc)")
        let r = try p.apply(ldif, continueOnError: true)
        #expect(r.a == r.b, "\(diff(r.a, r.b))")
        #expect(try json(r.semailctl)["failed"] as? Int == 2)
    }

    /// LDAPv2 DN forms slapd accepts: spaces around `=`, quoted values, `;`.
    @Test func dnFormsTheServerAcceptsAreSent() throws {
        let ldif = """
            dn: cn = Spaced , {BASE}
            objectClass: person
            cn: Spaced
            sn: s

            dn: cn="Quoted, Value",{BASE}
            objectClass: person
            cn: Quoted, Value
            sn: s

            dn: cn=Semi;{BASE;}
            objectClass: person
            cn: Semi
            sn: s

            dn: cn = Spaced, {BASE}
            changetype: modify
            replace: sn
            sn: changed
            -


            """
        let p = try Pair(s, setup: "")
        let r = try p.apply(ldif)
        #expect(r.ldapmodify.status == 0, "\(r.ldapmodify.stderr)")
        #expect(r.semailctl.status == 0, "\(r.semailctl.text)\(r.semailctl.stderr)")
        #expect(r.a == r.b, "\(diff(r.a, r.b))")
    }
}

/// Two fresh subtrees of the test slapd with the same content: `a` for
/// ldapmodify, `b` for semailctl.
struct Pair {
    let s: Slapd
    let id = uniqueUID("p")
    let cfg: String

    init(_ s: Slapd, setup: String) throws {
        self.s = s
        cfg = try s.config().path
        for side in ["a", "b"] {
            let root = "dn: \(base(side))\nobjectClass: organizationalUnit\nou: \(id)\(side)\n\n"
            let out = try ldapmodify(root + setup, side: side, continueOnError: false)
            guard out.status == 0 else { throw SemailError("setup failed", why: out.stderr) }
        }
    }

    func base(_ side: String) -> String { "ou=\(id)\(side),ou=Personnes,dc=semail,dc=email" }

    func text(_ ldif: String, side: String) -> String {
        ldif.replacingOccurrences(of: "{BASE;}", with: base(side).replacingOccurrences(of: ",", with: ";"))
            .replacingOccurrences(of: "{BASE}", with: base(side))
    }

    func file(_ ldif: String, side: String) throws -> String {
        let path = "\(s.dir)/\(id)\(side)-\(UUID().uuidString.prefix(6)).ldif"
        try text(ldif, side: side).write(toFile: path, atomically: true, encoding: .utf8)
        return path
    }

    func ldapmodify(_ ldif: String, side: String, continueOnError: Bool) throws -> ProcessOutput {
        try ProcessRunner().run(
            [
                "ldapmodify", "-a", "-x", "-H", s.uri, "-D", s.adminDN, "-y", s.secretFile, "-f",
                try file(ldif, side: side)
            ]
                + (continueOnError ? ["-c"] : []), check: false)
    }

    func semailctl(_ ldif: String, _ args: [String] = []) throws -> ProcessOutput {
        try TestSupport.semailctl(["import", try file(ldif, side: "b"), "--config", cfg, "--json"] + args)
    }

    /// The subtree as ldapsearch prints it: entries sorted, lines sorted
    /// within each, the side's name replaced.
    func dump(_ side: String) throws -> String {
        let out = try ProcessRunner().run(
            [
                "ldapsearch", "-x", "-LLL", "-o", "ldif-wrap=no", "-H", s.uri, "-D", s.adminDN, "-y", s.secretFile,
                "-b", base(side)
            ], check: false)
        return entries(normalise(out.text, side: side)).sorted().joined(separator: "\n\n")
    }

    func normalise(_ text: String, side: String) -> String {
        text.replacingOccurrences(of: "\(id)\(side)", with: "\(id)X")
    }

    struct Result { var ldapmodify: ProcessOutput; var semailctl: ProcessOutput; var a: String; var b: String }

    func apply(_ ldif: String, continueOnError: Bool = false, semailctlArgs: [String] = []) throws -> Result {
        let a = try ldapmodify(ldif, side: "a", continueOnError: continueOnError)
        let b = try semailctl(ldif, semailctlArgs + (continueOnError ? ["--continue-on-error"] : []))
        return Result(ldapmodify: a, semailctl: b, a: try dump("a"), b: try dump("b"))
    }
}

/// Entries of an LDIF text, each with its DN line first and the others sorted.
func entries(_ text: String) -> [String] {
    text.components(separatedBy: "\n\n").map { e in
        let lines = e.split(separator: "\n").map(String.init)
        return (lines.prefix(1) + lines.dropFirst().sorted()).joined(separator: "\n")
    }.filter { !$0.isEmpty }
}

func diff(_ a: String, _ b: String) -> String {
    let ea = Set(entries(a)), eb = Set(entries(b))
    return
        """
        only with ldapmodify:\n\(ea.subtracting(eb).sorted().joined(separator: "\n\n"))\nonly with \
        semailctl:\n\(eb.subtracting(ea).sorted().joined(separator: "\n\n"))
        """
}

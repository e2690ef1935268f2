@testable import Containers
@testable import Core
import Foundation
@testable import Provisioning
@testable import Storage
import Testing

/// Configuration through TOMLKit: errors name the key and its line.
@Suite struct TOMLConfigTests {
    @Test func defaultsAreTodays() throws {
        let (c, problems) = try Config.parse("")
        #expect(problems.isEmpty)
        #expect(c.ldap.uri == Config().ldap.uri && c.state.dir == Config().state.dir && c.dns.ttl == Config().dns.ttl)
        #expect(c.sections.isEmpty)
    }

    @Test func valuesOfEveryTypeAreRead() throws {
        let (c, problems) = try Config.parse(
            """
            # a comment
            [ldap]
            uri = 'ldap://127.0.0.1:3389'   # literal string
            starttls = true
            timeout = 1_0

            [dns]
            zone = "mail.example.org"
            ttl = 600
            """)
        #expect(problems.isEmpty, "\(problems)")
        #expect(c.ldap.uri == "ldap://127.0.0.1:3389" && c.ldap.startTLS && c.ldap.timeout == 10)
        #expect(c.dns.zone == "mail.example.org" && c.dns.ttl == 600)
        #expect(c.sections == ["ldap", "dns"])
    }

    @Test func wrongTypesAndUnknownKeysNameTheKeyAndLine() throws {
        let (_, problems) = try Config.parse(
            """
            [ldap]
            uri = "ldap://127.0.0.1"
            starttls = "yes"
            colour = "blue"
            [dns]
            ttl = 1.5
            "quoted key" = 1
            [storage.extra]
            x = 1
            """)
        let text = problems.map(\.description)
        #expect(text.contains("line 3: ldap.starttls: expected a boolean, found a string"), "\(text)")
        #expect(
            problems.contains {
                $0.line == 4 && $0.key == "ldap.colour" && !$0.fatal && $0.message.hasPrefix("unknown key")
            })
        #expect(text.contains("line 6: dns.ttl: expected a integer, found a float"), "\(text)")
        #expect(problems.contains { $0.line == 7 && $0.key == "dns.quoted key" && !$0.fatal })
        #expect(problems.contains { $0.line == 9 && $0.key == "storage.extra.x" && !$0.fatal })
        // Problems come in the order of the file.
        #expect(problems.map(\.line) == problems.map(\.line).sorted())
    }

    @Test func dottedKeysAndInlineTablesAreEntriesWithLines() throws {
        let entries = try TOML.parse("a.b = 1\n[dns]\nx.y = 'z'\nt = { u = true }\n")
        #expect(entries.map(\.path) == ["a.b", "dns.x.y", "dns.t.u"])
        #expect(entries.map(\.line) == [1, 3, 4])
        #expect(entries[1].value == .string("z") && entries[2].value == .boolean(true))
    }

    @Test(arguments: [
        ("[ldap]\nuri = ldap://x\n", 2), ("[ldap]\n\nuri = \"x\"\nuri = \"y\"\n", 4),
        ("[ldap]\n[ldap]\n", 2), ("[ldap\n", 1), ("[dns]\nzone = \"unterminated\n", 2),
        ("[dns]\nzone = \"a\"\n\0[ldap]\nuri = \"x\"\n", 3)
    ])
    func syntaxErrorsSayTheLine(text: String, line: Int) {
        #expect {
            _ = try Config.parse(text, path: "/etc/semail/semail.toml")
        } throws: { error in
            guard let e = error as? SemailError else { return false }
            return e.what == "cannot read configuration /etc/semail/semail.toml" && e.why.hasPrefix("line \(line): ")
                && e.status == .config
        }
    }
}

/// swift-crypto gives the digests the labels always had.
@Suite struct DigestTests {
    @Test func aRenderedTemplateHashIsUnchanged() throws {
        // The `semail.template` label of existing containers (sha256sum of the text, as the hand-written code gave).
        let t = DockerfileTemplate(text: "FROM {{{base_image}}}\nRUN useradd -u {{uid_number}} {{uid}}\n")
        let v = DockerfileValues(
            baseImage: "debian:bookworm-slim", uid: "alice", address: "alice@mail.example.org",
            uidNumber: 10001, gidNumber: 10001, packages: [])
        let (dockerfile, hash) = try t.render(v)
        #expect(dockerfile == "FROM debian:bookworm-slim\nRUN useradd -u 10001 alice\n")
        #expect(hash == "0ba30619ea31ad2dcd1a098d3381b002625a9eafa18fb09ac0693563bc9c7e5f")
    }

    @Test func longerThanABlock() {
        #expect(
            SHA256.hex([UInt8](repeating: 0x61, count: 1_000_000))
                == "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0")
        // A key longer than the block is hashed first (RFC 4231 test case 6).
        let mac = HMAC.sha256(
            key: [UInt8](repeating: 0xaa, count: 131),
            message: Array("Test Using Larger Than Block-Size Key - Hash Key First".utf8))
        #expect(
            mac.map { String(format: "%02x", $0) }.joined()
                == "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54")
    }
}

/// Dates in JSON: ISO-8601 written; both forms read.
@Suite struct JSONDateTests {
    let entry = QuarantineEntry(
        id: "q1", uid: "alice", backend: "image", place: "/q/alice.img", size: 1 << 30,
        quarantinedAt: Date(timeIntervalSince1970: 1_764_950_400.25),
        expires: Date(timeIntervalSince1970: 1_765_555_200))

    @Test func writtenAsISO8601() throws {
        let enc = JSONEncoder(); enc.dateEncodingStrategy = JSONDates.encoding; enc.outputFormatting = .sortedKeys
        let text = String(decoding: try enc.encode(entry), as: UTF8.self)
        #expect(text.contains(#""quarantinedAt":"2025-12-05T16:00:00.250Z""#), "\(text)")
        #expect(text.contains(#""expires":"2025-12-12T16:00:00.000Z""#), "\(text)")
        let dec = JSONDecoder(); dec.dateDecodingStrategy = JSONDates.decoding
        #expect(try dec.decode(QuarantineEntry.self, from: Data(text.utf8)) == entry)
    }

    @Test func theOldFormsStillRead() throws {
        let dec = JSONDecoder(); dec.dateDecodingStrategy = JSONDates.decoding
        // Foundation's default: seconds since 2001-01-01.
        let old =
            #"{"id":"q1","uid":"alice","backend":"image","place":"/q/alice.img","size":1073741824,"#
            + #""quarantinedAt":\#(entry.quarantinedAt.timeIntervalSinceReferenceDate),"#
            + #""expires":\#(entry.expires.timeIntervalSinceReferenceDate)}"#
        #expect(try dec.decode(QuarantineEntry.self, from: Data(old.utf8)) == entry)
        // What quarantine entry files hold: ISO-8601 without fractional seconds.
        let whole =
            #"{"id":"q1","uid":"alice","backend":"image","place":"/q/alice.img","size":1073741824,"#
            + #""quarantinedAt":"2025-12-05T16:00:00Z","expires":"2025-12-12T16:00:00Z"}"#
        let e = try dec.decode(QuarantineEntry.self, from: Data(whole.utf8))
        #expect(e.quarantinedAt == Date(timeIntervalSince1970: 1_764_950_400) && e.expires == entry.expires)
        #expect(throws: DecodingError.self) {
            let bad = whole.replacingOccurrences(of: "2025-12-12T16:00:00Z", with: "soon")
            return try dec.decode(QuarantineEntry.self, from: Data(bad.utf8))
        }
    }
}

@testable import Core
import Foundation
@testable import Provisioning
import Testing

/// `[smtp] postfix_*`: the address map's records in Postfix's form.
@Suite struct PostfixMapsTests {
    func box(_ uid: String, _ address: String, _ ids: (Int, Int)? = nil) -> MailboxRecord {
        MailboxRecord(
            uid: uid, dn: "uid=\(uid),ou=p,dc=x", address: address, size: nil, uidNumber: ids?.0, gidNumber: ids?.1)
    }
    let all: [PostfixMaps.Kind: String] = [.mailboxes: "/p/m", .uids: "/p/u", .gids: "/p/g", .domains: "/p/d"]

    func texts(_ maps: PostfixMaps, _ boxes: [MailboxRecord]) throws -> [PostfixMaps.Kind: String] {
        Dictionary(uniqueKeysWithValues: try maps.render(boxes).map { ($0.kind, $0.text) })
    }

    @Test func posixOwnersComeFromTheEntries() throws {
        let boxes = [
            box("alice", "alice@a.example.org", (10001, 10001)), box("bob", "bob@b.example.org", (10002, 20000)),
            box("carol", "carol@a.example.org", (0, 0)), box("dave", "dave@example.com")
        ]
        let t = try texts(PostfixMaps(paths: all, owner: "posix"), boxes)
        #expect(
            t[.mailboxes]
                == """
                alice@a.example.org alice/Maildir/\nbob@b.example.org bob/Maildir/\ncarol@a.example.org \
                carol/Maildir/\ndave@example.com dave/Maildir/\n
                """
        )
        // Ids outside 1000-2147483646 (root's, a system account's) or missing: no line, virtual(8) defers.
        #expect(t[.uids] == "alice@a.example.org 10001\nbob@b.example.org 10002\n")
        #expect(t[.gids] == "alice@a.example.org 10001\nbob@b.example.org 20000\n")
        #expect(t[.domains] == "a.example.org OK\nb.example.org OK\nexample.com OK\n")
    }

    @Test func aFixedOwnerIsEveryMailboxs() throws {
        let t = try texts(
            PostfixMaps(paths: all, owner: "vmail:5000:5001"), [box("alice", "alice@a.example.org", (0, 0))])
        #expect(t[.uids] == "alice@a.example.org 5000\n" && t[.gids] == "alice@a.example.org 5001\n")
        #expect(throws: SemailError.self) { try PostfixMaps(paths: all, owner: "vmail").render([]) }
    }

    @Test func onlyConfiguredOutputsAreWritten() throws {
        #expect(try PostfixMaps(paths: [.mailboxes: "", .uids: ""]).render([box("a", "a@x.org")]).isEmpty)
        #expect(try PostfixMaps(paths: [.domains: "/p/d"]).render([]).map(\.kind) == [.domains])
    }

    @Test func configKeysAreAbsoluteAndDistinct() throws {
        var (_, problems) = try Config.parse(
            "[smtp]\npostfix_virtual_mailbox_maps = \"/etc/postfix/semail/mailboxes\"\n")
        #expect(problems.isEmpty, "\(problems)")
        (_, problems) = try Config.parse("[smtp]\npostfix_virtual_uid_maps = \"uids\"\n")
        #expect(
            problems.contains {
                $0.key == "smtp.postfix_virtual_uid_maps" && $0.fatal && $0.message.contains("absolute")
            })
        (_, problems) = try Config.parse("[smtp]\naddress_map = \"/x/map\"\npostfix_virtual_gid_maps = \"/x/map\"\n")
        #expect(
            problems.contains { $0.key == "smtp.postfix_virtual_gid_maps" && $0.message.contains("smtp.address_map") })
    }

    @Test func theMapAndItsPostfixFormAreWrittenTogether() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent(
            "semail-pfmap-\(UUID().uuidString.prefix(8))"
        ).path
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let map = AddressMap(
            path: "\(dir)/map", postfix: PostfixMaps(paths: [.mailboxes: "\(dir)/pf/m", .domains: "\(dir)/pf/d"]))
        let boxes = [box("alice", "alice@a.example.org", (10001, 10001))]
        // A missing Postfix directory fails the rewrite before the map is touched.
        #expect(throws: SemailError.self) { try map.rewrite(for: "t") { boxes } }
        #expect(map.read() == nil)
        try FileManager.default.createDirectory(atPath: "\(dir)/pf", withIntermediateDirectories: false)
        #expect(!map.isCurrent(boxes) && map.stalePostfix(boxes) == ["\(dir)/pf/m", "\(dir)/pf/d"])
        try map.rewrite(for: "t") { boxes }
        #expect(map.isCurrent(boxes) && map.read() == "uid: alice mail: alice@a.example.org\n")
        #expect(try String(contentsOfFile: "\(dir)/pf/m", encoding: .utf8) == "alice@a.example.org alice/Maildir/\n")
        try "stale\n".write(toFile: "\(dir)/pf/d", atomically: true, encoding: .utf8)
        #expect(map.stalePostfix(boxes) == ["\(dir)/pf/d"])
    }
}

@testable import Core
import Foundation
@testable import Provisioning
@testable import Storage
import Testing

/// Pure decisions about hostile input: ids, terminal text, the Maildir
/// walk on a scratch directory, the StrictModes checks.
@Suite struct HostileInputUnitTests {
    @Test func directoryIdsOutsideTheAllowedRangeGiveNoOwner() {
        #expect(MailOwner.posix(uidNumber: 10001, gidNumber: nil) == MailOwner(uid: 10001, gid: 10001))
        #expect(MailOwner.posix(uidNumber: 10001, gidNumber: 10002) == MailOwner(uid: 10001, gid: 10002))
        for (u, g) in [
            (nil, nil), (-5, nil), (0, nil), (999, nil), (10001, 0), (10001, -1), (Int(UInt32.max), nil),
            (Int.max, nil), (2_147_483_647, nil)
        ] as [(Int?, Int?)] {
            #expect(
                MailOwner.posix(uidNumber: u, gidNumber: g) == nil, "\(String(describing: u)) \(String(describing: g))")
        }
    }

    @Test func terminalTextHasNoControlCharacters() {
        #expect(Validate.printable("plain é\ttab\nline") == "plain é\ttab\nline")
        let hostile = "x\u{1b}]0;title\u{07}\u{1b}[2J\r\u{9b}31m\u{202e}evil\u{7f}"
        let shown = Validate.printable(hostile)
        #expect(!shown.unicodeScalars.contains { $0.value < 0x20 && $0 != "\n" && $0 != "\t" })
        #expect(!shown.unicodeScalars.contains { (0x7f...0x9f).contains($0.value) || $0.value == 0x202e })
        #expect(shown == "x\\u{1b}]0;title\\u{7}\\u{1b}[2J\\u{d}\\u{9b}31m\\u{202e}evil\\u{7f}")
    }

    func scratch() throws -> String {
        let d = FileManager.default.temporaryDirectory.appendingPathComponent(
            "semail-unit-\(UUID().uuidString.prefix(8))"
        ).path
        try FileManager.default.createDirectory(atPath: d, withIntermediateDirectories: true)
        return d
    }

    @Test func maildirWalkNeverFollowsLinks() throws {
        let d = try scratch()
        defer { try? FileManager.default.removeItem(atPath: d) }
        let root = "\(d)/vol", victim = "\(d)/victim"
        try FileManager.default.createDirectory(atPath: root, withIntermediateDirectories: true)
        try FileManager.default.createDirectory(
            atPath: victim, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o755])
        let owner = MailOwner(uid: 5000, gid: 5000)
        try MaildirTree.ensure(root, owner: owner)
        #expect(MaildirTree.isComplete(root, owner: owner))
        #expect(MaildirTree.inspect(root, owner: MailOwner(uid: 5001, gid: 5001))["Maildir"] == .wrongOwner)

        try FileManager.default.removeItem(atPath: "\(root)/Maildir/new")
        try FileManager.default.createSymbolicLink(atPath: "\(root)/Maildir/new", withDestinationPath: victim)
        #expect(MaildirTree.blocked(MaildirTree.inspect(root, owner: owner)) == ["Maildir/new"])
        #expect(throws: SemailError.self) { try MaildirTree.ensure(root, owner: owner) }
        var st = stat()
        #expect(stat(victim, &st) == 0 && st.st_uid == 0 && st.st_mode & 0o7777 == 0o755)

        // A link in place of the Maildir itself: nothing below it is looked at through it.
        try FileManager.default.removeItem(atPath: "\(root)/Maildir")
        try FileManager.default.createSymbolicLink(atPath: "\(root)/Maildir", withDestinationPath: victim)
        let states = MaildirTree.inspect(root, owner: owner)
        #expect(states["Maildir"] == .notADirectory && states["Maildir/tmp"] == .missing)
        #expect(throws: SemailError.self) { try MaildirTree.ensure(root, owner: owner) }
        #expect(!FileManager.default.fileExists(atPath: "\(victim)/tmp"))
    }

    @Test func strictModes() throws {
        let d = try scratch()
        defer { try? FileManager.default.removeItem(atPath: d) }
        let f = "\(d)/semail.toml"
        #expect(
            FileManager.default.createFile(
                atPath: f, contents: Data("[ldap]\n".utf8), attributes: [.posixPermissions: 0o644]))
        #expect(try Trust.read(f, what: "configuration") == Array("[ldap]\n".utf8))
        chmod(f, 0o664)
        #expect(throws: SemailError.self) { try Trust.read(f, what: "configuration") }
        chmod(f, 0o644)
        #expect(throws: SemailError.self) { try Trust.read(f, what: "secret", secret: true) }
        chown(f, 65534, 65534)
        #expect(throws: SemailError.self) { try Trust.read(f, what: "configuration") }
        chown(f, 0, 0)
        chmod(d, 0o777)  // a parent others can write, not sticky
        #expect(throws: SemailError.self) { try Trust.read(f, what: "configuration") }
        chmod(d, 0o1777)  // sticky, as /tmp: fine
        #expect(try Trust.read(f, what: "configuration").count == 7)
        chmod(d, 0o755)
        try FileManager.default.createSymbolicLink(atPath: "\(d)/link", withDestinationPath: f)
        #expect(throws: SemailError.self) { try Trust.read("\(d)/link", what: "configuration") }
        try Trust.stateDirectory(d + "/state")
        chmod(d + "/state", 0o770)
        #expect(throws: SemailError.self) { try Trust.stateDirectory(d + "/state") }
    }
}

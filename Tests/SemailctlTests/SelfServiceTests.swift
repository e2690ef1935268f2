import ArgumentParser
import Core
import Foundation
import Testing

@testable import Commands

/// `--as-user UID`: the decisions made before any password is read or any
/// service is reached.
@Suite struct SelfServiceTests {
    func parse(_ args: [String]) throws -> any SemailCommand {
        try #require(try Semailctl.parseAsRoot(CommandLineArguments.normalized(args)) as? any SemailCommand)
    }

    @Test func theUidIsRead() throws {
        let c = try #require(try parse(["mailbox", "show", "bob", "--as-user", "bob"]) as? MailboxShow)
        #expect(c.asUser.uid == "bob" && c.selfService && c.asUser.requester == .user)
        let admin = try #require(try parse(["mailbox", "show", "bob"]) as? MailboxShow)
        #expect(admin.asUser.uid == nil && !admin.selfService && admin.asUser.requester == .admin)
    }

    @Test func anotherUidIsRefused() {
        #expect(throws: Never.self) { try AsUserOptions.checkTarget(asUser: "alice", target: "alice") }
        do {
            try AsUserOptions.checkTarget(asUser: "alice", target: "bob")
            Issue.record("alice reached bob")
        } catch let e as SemailError {
            #expect(e.status == .noPermission && e.what.contains("bob"))
        } catch { Issue.record("\(error)") }
    }

    /// Every self-service command refuses alice acting on bob with 77, before
    /// the configuration is read (it does not exist) and before a password is.
    @Test(arguments: [
        ["mailbox", "show", "bob"], ["mailbox", "status", "bob"], ["mailbox", "delete", "bob", "--yes"],
        ["mailbox", "create", "bob", "--address", "bob@bob.semail.email"],
        ["mailbox", "check-address", "bob", "--address", "bob@bob.semail.email"],
        ["user", "ssh-key", "list", "bob"], ["user", "ssh-key", "add", "bob", "ssh-ed25519 AAAA"],
        ["user", "ssh-key", "remove", "bob", "SHA256:x"], ["user", "packages", "bob", "--add", "mutt"],
        ["user", "passwd", "bob"]
    ]) func aliceCannotActOnBob(_ args: [String]) async throws {
        let c = try parse(args + ["--as-user", "alice", "--config", "/nonexistent/semail.toml"])
        do {
            _ = try await c.execute(CommandContext(c.global))
            Issue.record("\(args) ran")
        } catch let e as SemailError {
            #expect(e.status == .noPermission, "\(args): \(e)")
        }
    }

    @Test func anInvalidAsUserIsAUsageError() async throws {
        let c = try parse(["mailbox", "show", "bob", "--as-user", "Bob!", "--config", "/nonexistent/semail.toml"])
        do {
            _ = try await c.execute(CommandContext(c.global))
            Issue.record("ran")
        } catch let e as SemailError { #expect(e.status == .usage) }
    }

    @Test func archiveIsRefusedForAUser() async throws {
        let c = try parse([
            "mailbox", "delete", "bob", "--as-user", "bob", "--archive", "/etc/x.tar.gz", "--yes", "--config",
            "/nonexistent/semail.toml"
        ])
        do {
            _ = try await c.execute(CommandContext(c.global))
            Issue.record("ran")
        } catch let e as SemailError { #expect(e.status == .usage && e.what.contains("--archive")) }
    }

    @Test func bothPasswordsOnTwoLines() throws {
        let (a, b) = try Secrets.twoLines(Secret(Array("old pw\nnew pw".utf8)))
        #expect(a.bytes == Array("old pw".utf8) && b.bytes == Array("new pw".utf8))
        for bad in ["only-one", "\nnew", "old\n", "a\nb\nc", ""] {
            #expect(throws: SemailError.self, "\(bad)") { try Secrets.twoLines(Secret(Array(bad.utf8))) }
        }
    }

    /// A package name is checked before the password is read or the configuration is.
    @Test func aBadPackageIsRefusedFirst() async throws {
        for bad in ["Mutt", "mutt;rm", "a", "mutt vim", String(repeating: "a", count: 101)] {
            let c = try parse(["user", "packages", "bob", "--add", bad, "--as-user", "bob", "--config", "/nonexistent"])
            do {
                _ = try await c.execute(CommandContext(c.global))
                Issue.record("\(bad) ran")
            } catch let e as SemailError { #expect(e.status == .usage, "\(bad): \(e)") }
        }
    }
}

import Core
import Foundation
import Provisioning
import Testing

@testable import Commands

/// What the audit log records of a command line: the subcommand path,
/// never an argument, and `--as-user`; `audit`'s options.
@Suite struct AuditCommandTests {
    @Test func theCommandPathHasNoArguments() {
        var c = AuditContext.from(["mailbox", "create", "ann", "--address", "a@b.c", "--password-file", "/x"])
        #expect(c.command == "mailbox create" && c.asUser == nil)
        c = AuditContext.from(["--config", "/etc/x.toml", "mailbox", "delete", "ann", "--as-user", "ann", "--yes"])
        #expect(c.command == "mailbox delete" && c.asUser == "ann")
        c = AuditContext.from(["user", "passwd", "ann", "--as-user=ann"])
        #expect(c.command == "user passwd" && c.asUser == "ann")
        c = AuditContext.from(["reconcile", "--watch"])
        #expect(c.command == "reconcile")
        c = AuditContext.from(["secret-looking-arg"])
        #expect(c.command == "-")
        c = AuditContext.from(["mailbox", "suspend", "ann", "--as-user", "x\u{1B}[2J"])
        #expect(c.asUser == "x\\u{1b}[2J")
        #expect(!c.user.isEmpty)
    }

    @Test func sinceTakesADateOrATime() throws {
        #expect(try AuditCommand.parseSince("2026-12-01") == JSONDates.date("2026-12-01T00:00:00Z"))
        #expect(try AuditCommand.parseSince("2026-12-01T08:00:00Z") == JSONDates.date("2026-12-01T08:00:00Z"))
        #expect(throws: SemailError.self) { try AuditCommand.parseSince("yesterday") }
    }
}

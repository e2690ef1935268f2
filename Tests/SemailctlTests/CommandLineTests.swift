import ArgumentParser
import Testing
@testable import Commands

/// `--config` anywhere on the command line, checked by parsing (no run).
@Suite struct CommandLineTests {
    func parse(_ args: [String]) throws -> ParsableCommand {
        try Semailctl.parseAsRoot(CommandLineArguments.normalized(args))
    }

    @Test func configBeforeTheSubcommand() throws {
        let c = try #require(try parse(["--config", "/x.toml", "mailbox", "list", "--json"]) as? MailboxList)
        #expect(c.global.config == "/x.toml" && c.global.json)
        let d = try #require(try parse(["--config=/y.toml", "reconcile", "--watch"]) as? ReconcileCommand)
        #expect(d.global.config == "/y.toml" && d.watch)
        let e = try #require(try parse(["user", "--config", "/z.toml", "show", "alice"]) as? UserShow)
        #expect(e.global.config == "/z.toml")
        // Where it always worked, nothing moves.
        #expect(
            CommandLineArguments.normalized(["mailbox", "list", "--config", "a"]) == [
                "mailbox", "list", "--config", "a"
            ])
    }

    @Test func withoutTheNormalisationTheParserRefusesIt() {
        #expect(throws: (any Error).self) { try Semailctl.parseAsRoot(["--config", "/x.toml", "mailbox", "list"]) }
    }

    @Test func argumentsAfterTheLeafAreLeftAlone() {
        // A value that looks like --config after the leaf's name is the leaf's business.
        let args = ["user", "add", "bob", "--cn", "--config", "--sn", "x"]
        #expect(CommandLineArguments.normalized(args) == args)
        // No leaf: unchanged, the parser says what is missing.
        #expect(CommandLineArguments.normalized(["--config", "x"]) == ["--config", "x"])
    }
}

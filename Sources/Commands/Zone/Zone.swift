import ArgumentParser

struct ZoneCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "zone", abstract: "MX records in the bind9 master zone ([dns]).",
        discussion: """
            semailctl writes only inside its managed block (between `; semailctl:begin` and `; semailctl:end`),
            bumps the SOA serial once per edit, checks the result with named-checkzone, replaces the file
            atomically (the previous one kept as <file>.prev), then runs `rndc reload` (or freeze/thaw for a
            dynamic zone). Every other byte of the file is kept as it was.
            """,
        subcommands: [ZoneAddMX.self, ZoneRemoveMX.self, ZoneList.self, ZoneCheckMX.self])
}

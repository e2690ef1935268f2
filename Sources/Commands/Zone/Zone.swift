import ArgumentParser
import Provisioning
import Zone

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

extension ZoneEditResult {
    var summary: String {
        guard changed else { return "nothing to change (serial \(oldSerial.map(String.init) ?? "?") kept)" }
        var l = added.map { "added   \($0)" } + removed.map { "removed \($0)" }
        l.append("serial \(oldSerial.map(String.init) ?? "?") -> \(newSerial.map(String.init) ?? "?"), zone reloaded")
        return l.joined(separator: "\n")
    }
}

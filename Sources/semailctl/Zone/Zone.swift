import ArgumentParser
import DNS
import Provisioning

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

struct ZoneAddMX: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "add-mx", abstract: "Add NAME MX <mx_priority> <mx_host> (idempotent).")
    @Argument(help: "A name inside the zone: one label (ssow) or in full (ssow.semail.email); other dotted names are refused.") var name: String
    @Option(name: .customLong("a"), help: "Also add an A record for NAME (repeatable).") var a: [String] = []
    @Option(name: .customLong("aaaa"), help: "Also add an AAAA record for NAME (repeatable).") var aaaa: [String] = []
    @OptionGroup var global: GlobalOptions

    func run() async throws {
        let out = global.output
        try await out.run {
            let r = try global.host().dns.addMX(name, a: a, aaaa: aaaa)
            out.emit(r) { $0.summary }
            return .success
        }
    }
}

struct ZoneRemoveMX: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "remove-mx", abstract: "Remove the MX (and A/AAAA) records semailctl added for NAME.")
    @Argument(help: "A name inside the zone.") var name: String
    @Flag(help: "Also remove MX records of NAME written by hand.") var force = false
    @OptionGroup var global: GlobalOptions

    func run() async throws {
        let out = global.output
        try await out.run {
            let r = try global.host().dns.removeMX(name, force: force)
            out.emit(r) { $0.summary }
            return .success
        }
    }
}

struct ZoneList: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "list", abstract: "The records semailctl manages, and every MX record of the zone.")
    @OptionGroup var global: GlobalOptions

    func run() async throws {
        let out = global.output
        try await out.run {
            let l = try global.host().dns.list()
            out.emit(l) { l in
                var lines = ["zone \(l.zone) (\(l.file)), serial \(l.serial.map(String.init) ?? "?")", "managed by semailctl:"]
                lines += l.managed.isEmpty ? ["  (none)"] : l.managed.map { "  \($0.owner) \($0.ttl) \($0.rrclass) \($0.type) \($0.rdataText)" }
                lines.append("all MX records:")
                lines += l.mx.map { "  \($0.owner) \($0.type) \($0.rdataText)  [\($0.managed ? "semailctl" : "by hand, \($0.file):\($0.line)")]" }
                return lines.joined(separator: "\n")
            }
            return .success
        }
    }
}

struct ZoneCheckMX: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "check-mx",
                                                    abstract: "Resolve DOMAIN's MX over DNS and say whether it points at mx_host (exit 1 if not).")
    @Argument(help: "An external domain, e.g. example.org.") var domain: String
    @OptionGroup var global: GlobalOptions

    func run() async throws {
        let out = global.output
        try await out.run {
            let c = try global.host().dns.checkMX(domain)
            out.emit(c) { c in
                (c.answers.map { "  MX \($0.preference) \($0.host)" } + ["\(c.ok ? "ok" : "not ok"): \(c.message)"]).joined(separator: "\n")
            }
            return c.ok ? .success : .failure
        }
    }
}

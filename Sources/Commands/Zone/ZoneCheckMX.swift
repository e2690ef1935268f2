import ArgumentParser
import Core
import DNS
import Provisioning

struct ZoneCheckMX: SemailCommand {
    static let configuration = CommandConfiguration.leaf(
        commandName: "check-mx",
        abstract: "Resolve DOMAIN's MX over DNS and say whether it points at mx_host (exit 1 if not).")
    @Argument(help: "An external domain, e.g. example.org.") var domain: String
    @OptionGroup var global: GlobalOptions

    func execute(_ ctx: CommandContext) throws -> ExitStatus {
        let c = try ctx.host().dns.checkMX(domain)
        ctx.emit(c) { c in
            (c.answers.map { "  MX \($0.preference) \($0.host)" } + ["\(c.ok ? "ok" : "not ok"): \(c.message)"]).joined(
                separator: "\n")
        }
        return c.ok ? .success : .failure
    }
}

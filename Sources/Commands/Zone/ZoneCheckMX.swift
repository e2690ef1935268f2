import ArgumentParser
import Core
import DNS
import Provisioning

struct ZoneCheckMX: SemailCommand {
    static let configuration = CommandConfiguration.leaf(
        commandName: "check-mx",
        abstract: "Resolve DOMAIN's MX over DNS and say whether it points at mx_host (exit 1 if not).",
        discussion: "With --as-user UID, DOMAIN must be the domain of UID's own mailbox.")
    @Argument(help: "An external domain, e.g. example.org.") var domain: String
    @OptionGroup var asUser: AsUserOptions
    @OptionGroup var password: PasswordOptions
    @OptionGroup var global: GlobalOptions

    var selfService: Bool { asUser.selfService }

    func execute(_ ctx: CommandContext) throws -> ExitStatus {
        let d = try Validate.domain(domain)
        if let me = asUser.uid {
            try asUser.authenticate(try ctx.host(), target: me, password: password, whileSuspended: true)
            let mine = try ctx.host().directory().mailbox(me).flatMap { try? Validate.address($0.address).domain }
            guard mine == d else {
                throw SemailError(
                    "\(me) may check only the domain of their own mailbox",
                    why: mine.map { "\(me)'s mailbox is at \($0)" } ?? "\(me) has no mailbox", status: .noPermission)
            }
        }
        let c = try ctx.host().dns.checkMX(d)
        ctx.emit(c) { c in
            (c.answers.map { "  MX \($0.preference) \($0.host)" } + ["\(c.ok ? "ok" : "not ok"): \(c.message)"]).joined(
                separator: "\n")
        }
        return c.ok ? .success : .failure
    }
}

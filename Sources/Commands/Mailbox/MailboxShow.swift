import ArgumentParser
import Core
import Directory
import Provisioning

struct MailboxShow: SemailCommand {
    static let configuration = CommandConfiguration.leaf(commandName: "show", abstract: "One mailbox in detail.")
    @Argument var uid: String
    @OptionGroup var global: GlobalOptions

    func execute(_ ctx: CommandContext) throws -> ExitStatus {
        _ = try Validate.uid(uid)
        guard let m = try Mailboxes(host: ctx.host()).status(uid) else {
            throw SemailError(
                "\(uid) has no mailbox", why: "no semailMailbox on the entry", hint: "see `semailctl mailbox list`",
                status: .failure)
        }
        ctx.emit(m) { m in
            var l = [
                "uid        \(m.uid)", "address    \(m.refused == nil ? m.address : Validate.quoted(m.address))",
                "size       \(m.size.map { ByteSize.format($0) } ?? "-")"
            ]
            if let why = m.refused { l.append("REFUSED    \(why) (not in the address map)") }
            if let f = m.lastFailure { l.append("FAILED     \(f.summary) (`semailctl reconcile` retries it)") }
            if let v = m.volume {
                let used = "\(ByteSize.format(v.fsUsed ?? 0)) used of \(ByteSize.format(v.fsSize ?? 0))"
                l.append("volume     \(v.source) \(v.mounted ? "mounted at \(v.mountPoint), \(used)" : "NOT mounted")")
            } else {
                l.append("volume     MISSING")
            }
            l.append(
                "container  \(m.container.map { "\($0.name) \($0.shownState)" } ?? "MISSING")"
                    + (m.container?.volumeMounted == false ? " (run `semailctl reconcile`)" : ""))
            if let s = m.container?.ssh { l.append("ssh        \(s)") }
            l.append("dns        \(m.dns)")
            l.append("map        \(m.inAddressMap ? "listed" : "NOT listed")")
            return l.joined(separator: "\n")
        }
        return .success
    }
}

import ArgumentParser
import Core
import Directory
import Provisioning

struct MailboxList: SemailCommand {
    static let configuration = CommandConfiguration.leaf(
        commandName: "list",
        abstract:
            "Every mailbox with its address, volume usage, container state and DNS state (one call per component).")
    @OptionGroup var global: GlobalOptions

    func execute(_ ctx: CommandContext) throws -> ExitStatus {
        let l = try Mailboxes(host: ctx.host()).list()
        ctx.emit(l) { MailboxStatus.table($0) }
        return .success
    }
}

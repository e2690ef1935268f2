import ArgumentParser
import Core
import Directory
import Provisioning

struct UserList: SemailCommand {
    static let configuration = CommandConfiguration.leaf(commandName: "list", abstract: "List users (paged search).")
    @OptionGroup var global: GlobalOptions

    func execute(_ ctx: CommandContext) throws -> ExitStatus {
        var users: [UserRecord] = []
        try ctx.host().directory().list { users.append($0) }
        users.sort { $0.uid < $1.uid }
        ctx.emit(users) { us in
            TextTable.render(us.map { [$0.uid, "\($0.cn)  \($0.mail.joined(separator: ","))"] }, minimum: [20])
        }
        return .success
    }
}

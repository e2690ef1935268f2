import ArgumentParser
import Provisioning

struct UserList: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "list", abstract: "List users (paged search).")
    @OptionGroup var global: GlobalOptions

    func run() async throws {
        let out = global.output
        try await out.run {
            var users: [UserRecord] = []
            try global.host().directory().list { users.append($0) }
            users.sort { $0.uid < $1.uid }
            out.emit(users) { us in
                TextTable.render(us.map { [$0.uid, "\($0.cn)  \($0.mail.joined(separator: ","))"] }, minimum: [20])
            }
            return .success
        }
    }
}

import ArgumentParser

struct UserCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "user", abstract: "Manage users in the directory.",
        subcommands: [
            UserAdd.self, UserModify.self, UserList.self, UserShow.self, UserPasswd.self, UserSSHKeys.self,
            UserSSHKeyCommand.self, UserPackages.self,
            UserDelete.self
        ])
}

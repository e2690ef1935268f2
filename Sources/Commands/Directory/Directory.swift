import ArgumentParser

struct DirectoryCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "directory", abstract: "Prepare the LDAP server (cn=config) for semailctl.",
        subcommands: [DirectorySetupCommand.self])
}

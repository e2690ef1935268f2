import ArgumentParser

struct ContainerCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "container",
        abstract: "One persistent container per mailbox ([containers]): sshd, the Maildir at /Maildir.",
        subcommands: [
            ContainerCreate.self, ContainerRebuild.self, ContainerRemove.self, ContainerList.self, ContainerShow.self,
            ContainerNetworkRemove.self
        ])
}

import ArgumentParser

struct ImageCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "image", abstract: "The base image ([containers] base_image).",
        subcommands: [ImageBootstrapCommand.self])
}

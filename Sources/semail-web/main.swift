import Web

try await Portal.main(arguments: CommandLine.arguments)

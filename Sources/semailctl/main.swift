import Commands

// The command tree lives in the Commands library.
await Semailctl.main(commandLine: CommandLine.arguments)

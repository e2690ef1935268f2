import ArgumentParser

/// Options of every mutating command.
struct MutationOptions: ParsableArguments {
    @Flag(help: "Print the steps that would run and why; change nothing.") var dryRun = false
    @Flag(help: "Fail at once (exit 75) if another semailctl holds the state lock, instead of waiting.")
    var noWait = false
}

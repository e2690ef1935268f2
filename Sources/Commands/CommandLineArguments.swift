import ArgumentParser

/// Every leaf command takes `--config PATH` (GlobalOptions); the groups
/// above it do not, and swift-argument-parser has no options inherited
/// down the tree. So `--config PATH` / `--config=PATH` found among the
/// group names before the leaf (`semailctl --config x mailbox list`) are
/// moved right after the leaf's name, where its parser takes them; --help
/// keeps showing the option once, on the commands that have it.
enum CommandLineArguments {
    static func normalized(_ args: [String], root: ParsableCommand.Type = Semailctl.self) -> [String] {
        var path: [String] = [], moved: [String] = []
        var command = root
        var i = 0
        while i < args.count {
            let a = args[i]
            if a == "--config", i + 1 < args.count { moved += [a, args[i + 1]]; i += 2; continue }
            if a.hasPrefix("--config=") { moved.append(a); i += 1; continue }
            guard
                let sub = command.configuration.subcommands.first(where: {
                    $0._commandName == a || ($0.configuration.aliases).contains(a)
                })
            else { break }
            path.append(a); command = sub; i += 1
            if sub.configuration.subcommands.isEmpty {
                return moved.isEmpty ? args : path + moved + args[i...]
            }
        }
        return args  // no leaf reached: the parser's own message says what is wrong
    }
}

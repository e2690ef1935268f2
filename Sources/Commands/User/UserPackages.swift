import ArgumentParser
import Core
import Provisioning

struct UserPackages: SemailCommand {
    static let configuration = CommandConfiguration.leaf(
        commandName: "packages",
        abstract:
            "Show or change the Debian packages UID chose for their container (semailPackage); a change rebuilds "
            + "the container with the mail kept.",
        discussion:
            "The packages are installed after [containers] packages in the user's own image. A rebuild that fails "
            + "(a name Debian does not know) leaves the old container serving and says why.")
    @Argument var uid: String
    @Option(name: .customLong("add"), help: "A package to add (repeatable).") var add: [String] = []
    @Option(name: .customLong("remove"), help: "A package to remove (repeatable).") var remove: [String] = []
    @OptionGroup var asUser: AsUserOptions
    @OptionGroup var password: PasswordOptions
    @OptionGroup var global: GlobalOptions

    var selfService: Bool { asUser.selfService }

    func execute(_ ctx: CommandContext) throws -> ExitStatus {
        _ = try Validate.uid(uid)
        // Names are checked before the password is: a bad value never reaches the directory.
        _ = try Software.edit([], add: add, remove: remove)
        try asUser.authenticate(try ctx.host(), target: uid, password: password)
        let r: Software.Result
        if add.isEmpty && remove.isEmpty {
            r = try Software(host: ctx.host()).apply(uid, add: [], remove: [])
        } else {
            r = try ctx.locked(wait: true) { host in try Software(host: host).apply(uid, add: add, remove: remove) }
        }
        ctx.emit(r) { r in
            var l = ["\(r.uid): \(r.packages.isEmpty ? "no packages of their own" : r.packages.joined(separator: " "))"]
            if !r.global.isEmpty { l.append("every container: \(r.global.joined(separator: " "))") }
            if let c = r.container { l.append("container \(c.container.name): \(c.action.rawValue)") }
            return l.joined(separator: "\n")
        }
        return .success
    }
}

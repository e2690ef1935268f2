import ArgumentParser
import Containers
import Core
import Provisioning

struct UserSSHKeyCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "ssh-key",
        abstract:
            "One SSH public key at a time (add, remove by fingerprint, list); a change rebuilds the user's container "
            + "so it takes the keys.",
        subcommands: [UserSSHKeyAdd.self, UserSSHKeyRemove.self, UserSSHKeyList.self])
}

struct KeysResult: Encodable {
    var uid: String
    var keys: [SSHKeys.Info]
    /// The container rebuilt with the new keys (when the user has one).
    var container: ContainerResult?

    /// `add` and `remove`: the user proven, then under the state lock the
    /// change, and the container rebuilt so it takes the keys.
    static func change(
        _ ctx: CommandContext, _ uid: String, _ asUser: AsUserOptions, _ password: PasswordOptions,
        _ body: (SSHKeys) throws -> [SSHKeys.Info]
    ) throws -> ExitStatus {
        _ = try Validate.uid(uid)
        try asUser.authenticate(try ctx.host(), target: uid, password: password)
        let r = try ctx.locked(wait: true) { host in
            KeysResult(
                uid: uid, keys: try body(SSHKeys(host: host)),
                container: try SelfServiceContainer(host: host).refresh(uid))
        }
        ctx.emit(r) { $0.text }
        return .success
    }

    var text: String {
        (keys.map { "\($0.fingerprint) \($0.type) \(Validate.printable($0.comment))" }
            + (container.map { ["container \($0.container.name): \($0.action.rawValue)"] } ?? [])).joined(
                separator: "\n")
    }
}

struct UserSSHKeyAdd: SemailCommand {
    static let configuration = CommandConfiguration.leaf(
        commandName: "add", abstract: "Add one OpenSSH public key line (no options) to UID's entry.")
    @Argument var uid: String
    @Argument(help: "The key line, e.g. \"ssh-ed25519 AAAA... me@laptop\" (one argument: quote it).") var key: String
    @OptionGroup var asUser: AsUserOptions
    @OptionGroup var password: PasswordOptions
    @OptionGroup var global: GlobalOptions

    var selfService: Bool { asUser.selfService }

    func execute(_ ctx: CommandContext) throws -> ExitStatus {
        try KeysResult.change(ctx, uid, asUser, password) { try $0.add(uid, key: key) }
    }
}

struct UserSSHKeyRemove: SemailCommand {
    static let configuration = CommandConfiguration.leaf(
        commandName: "remove", abstract: "Remove the key with this fingerprint (SHA256:..., as `list` shows).")
    @Argument var uid: String
    @Argument var fingerprint: String
    @OptionGroup var asUser: AsUserOptions
    @OptionGroup var password: PasswordOptions
    @OptionGroup var global: GlobalOptions

    var selfService: Bool { asUser.selfService }

    func execute(_ ctx: CommandContext) throws -> ExitStatus {
        try KeysResult.change(ctx, uid, asUser, password) { try $0.remove(uid, fingerprint: fingerprint) }
    }
}

struct UserSSHKeyList: SemailCommand {
    static let configuration = CommandConfiguration.leaf(
        commandName: "list", abstract: "UID's SSH public keys: fingerprint, type, comment.")
    @Argument var uid: String
    @OptionGroup var asUser: AsUserOptions
    @OptionGroup var password: PasswordOptions
    @OptionGroup var global: GlobalOptions

    var selfService: Bool { asUser.selfService }

    func execute(_ ctx: CommandContext) throws -> ExitStatus {
        _ = try Validate.uid(uid)
        try asUser.authenticate(try ctx.host(), target: uid, password: password)
        let r = KeysResult(uid: uid, keys: try SSHKeys(host: ctx.host()).list(uid))
        ctx.emit(r) { $0.text }
        return .success
    }
}

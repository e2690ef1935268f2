import ArgumentParser
import Core
import Directory
import Provisioning

struct UserSSHKeys: SemailCommand {
    static let configuration = CommandConfiguration.leaf(
        commandName: "ssh-keys",
        abstract: "Replace a user's SSH public keys (sshPublicKey) from a file; "
            + "`container rebuild UID` puts them in the container.")
    @Argument var uid: String
    @Argument(help: "A file of OpenSSH public keys, one per line (an empty file removes them all).") var file: String
    @OptionGroup var global: GlobalOptions

    func execute(_ ctx: CommandContext) throws -> ExitStatus {
        _ = try Validate.uid(uid)
        let keys = try SSHKeys.read(file)
        let u = try SSHKeys(host: ctx.host()).replace(uid, with: keys)
        ctx.emit(u) { "\($0.uid): \($0.sshPublicKeys.count) SSH public key(s)" }
        return .success
    }
}

import ArgumentParser
import Core
import Directory
import Provisioning

struct UserSSHKeys: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "ssh-keys",
        abstract: "Replace a user's SSH public keys (sshPublicKey) from a file; `container rebuild UID` puts them in the container.")
    @Argument var uid: String
    @Argument(help: "A file of OpenSSH public keys, one per line (an empty file removes them all).") var file: String
    @OptionGroup var global: GlobalOptions

    func run() async throws {
        let out = global.output
        try await out.run {
            _ = try Validate.uid(uid)
            let keys = try Directory.readKeyFile(file)
            let u = try global.host().directory().setSSHKeys(uid, keys)
            out.emit(u) { "\($0.uid): \($0.sshPublicKeys.count) SSH public key(s)" }
            return .success
        }
    }
}

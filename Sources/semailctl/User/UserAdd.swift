import ArgumentParser
import Core
import Directory
import Provisioning

struct UserAdd: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "add", abstract: "Add an inetOrgPerson under the people OU.")

    @Argument(help: "The uid: 1-32 of a-z 0-9 . _ -, starting with a letter.") var uid: String
    @Option(help: "Common name (full name).") var cn: String
    @Option(help: "Surname.") var sn: String
    @Option(help: "Given name.") var givenName: String?
    @Option(help: "Mail address.") var mail: String?
    @Option(help: "SSH public keys for the user's container (a file, one key per line).") var sshKey: String?
    @Flag(help: "Also make it a posixAccount with the next free uidNumber.") var posix = false
    @OptionGroup var password: PasswordOptions
    @OptionGroup var global: GlobalOptions

    func run() async throws {
        let out = global.output
        try await out.run {
            _ = try Validate.uid(uid)
            let host = try global.host()
            let secret = try password.read(required: false)
            if secret == nil { out.warn("no password given: \(uid) cannot bind until `semailctl user passwd \(uid)`") }
            let keys = try sshKey.map { try Directory.readKeyFile($0) } ?? []
            var user = try host.directory().add(NewUser(uid: uid, cn: cn, sn: sn, givenName: givenName, mail: mail, posix: posix),
                                                password: secret)
            if !keys.isEmpty { user = try host.directory().setSSHKeys(uid, keys) }
            out.emit(user) { "added \($0.dn)" }
            return .success
        }
    }
}

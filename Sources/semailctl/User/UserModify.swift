import ArgumentParser
import Core
import Directory
import Provisioning

struct UserModify: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "modify",
        abstract: "Change a user's names or mail address, or make the entry a posixAccount (one LDAP modify).",
        discussion: """
        Only the options given change; values are checked as `user add` checks them. --mail replaces the mail values
        (the mailbox's own address stays). --given-name "" removes the given name. --posix adds posixAccount with
        the next free uidNumber (gidNumber the same, homeDirectory under [storage] mail_root): what a mailbox needs
        when [storage] owner = "posix". Exit codes: 0 changed (or nothing to change), 1 no such user or refused,
        64 invalid value (nothing changed).
        """)

    @Argument(help: "The uid.") var uid: String
    @Option(help: "Common name (full name).") var cn: String?
    @Option(help: "Surname.") var sn: String?
    @Option(help: "Given name (\"\" removes it).") var givenName: String?
    @Option(help: "Mail address (replaces the others but the mailbox's).") var mail: String?
    @Flag(help: "Make it a posixAccount with the next free uidNumber.") var posix = false
    @OptionGroup var global: GlobalOptions

    func run() async throws {
        let out = global.output
        try await out.run {
            _ = try Validate.uid(uid)
            let host = try global.host()
            let user = try host.directory().modify(uid, UserChange(cn: cn, sn: sn, givenName: givenName, mail: mail, posix: posix))
            out.emit(user) { "modified \($0.dn)" }
            return .success
        }
    }
}

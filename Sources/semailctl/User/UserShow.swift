import ArgumentParser
import Core
import Provisioning

struct UserShow: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "show", abstract: "Show one user.")
    @Argument var uid: String
    @OptionGroup var global: GlobalOptions

    func run() async throws {
        let out = global.output
        try await out.run {
            let u = try global.host().directory().user(try Validate.uid(uid))
            out.emit(u) { u in
                var l = ["dn: \(u.dn)", "uid: \(u.uid)", "cn: \(u.cn)", "sn: \(u.sn)"]
                if let g = u.givenName { l.append("givenName: \(g)") }
                l += u.mail.map { "mail: \($0)" }
                if let n = u.uidNumber { l.append("uidNumber: \(n)") }
                if let n = u.gidNumber { l.append("gidNumber: \(n)") }
                if let h = u.homeDirectory { l.append("homeDirectory: \(h)") }
                l.append("password: \(u.hasPassword ? "set" : "not set")")
                l.append("ssh keys: \(u.sshPublicKeys.count)")
                return l.joined(separator: "\n")
            }
            return .success
        }
    }
}

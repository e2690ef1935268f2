import ArgumentParser
import Core
import Directory
import Provisioning

struct UserShow: SemailCommand {
    static let configuration = CommandConfiguration.leaf(commandName: "show", abstract: "Show one user.")
    @Argument var uid: String
    @OptionGroup var global: GlobalOptions

    func execute(_ ctx: CommandContext) throws -> ExitStatus {
        _ = try Validate.uid(uid)
        let u = try ctx.host().directory().user(uid)
        ctx.emit(u) { u in
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

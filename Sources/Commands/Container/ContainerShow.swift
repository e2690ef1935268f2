import ArgumentParser
import Containers
import Core
import Provisioning

struct ContainerShow: SemailCommand {
    static let configuration = CommandConfiguration.leaf(
        commandName: "show", abstract: "UID's container, and the ssh -J command that reaches it.")
    @Argument var uid: String
    @OptionGroup var global: GlobalOptions

    func execute(_ ctx: CommandContext) throws -> ExitStatus {
        _ = try Validate.uid(uid)
        let host = try ctx.host()
        guard let c = try host.containers().show(uid: uid).map({ host.checkVolumes([$0])[0] }) else {
            throw SemailError(
                "no container for \(uid)", why: "semail-\(uid) does not exist or has no semail labels",
                hint: "`semailctl container create \(uid)`", status: .failure)
        }
        ctx.emit(c) { c in
            [
                "name      \(c.name) (\(c.id))", "address   \(c.address)",
                "state     \(c.status)"
                    + (c.volumeMounted == false ? ", VOLUME NOT MOUNTED (run `semailctl reconcile`)" : ""),
                "image     \(c.image)",
                "template  \(c.templateHash)", "ip        \(c.ipAddress ?? "-") (fixed: \(c.fixedAddress ?? "none"))",
                "ssh       \(c.ssh ?? "- (not running)")",
                "          or: `semailctl ssh-config \(c.uid)` for ~/.ssh/config, then `ssh "
                    + "\(SSHAccess.hostName(c.uid))`"
            ]
            .joined(separator: "\n")
        }
        return .success
    }
}

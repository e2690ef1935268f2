import ArgumentParser
import Containers
import Core
import Foundation
import Provisioning

struct SSHConfigCommand: SemailCommand {
    static let configuration = CommandConfiguration.leaf(
        commandName: "ssh-config",
        abstract: "Print the ssh_config block and the known_hosts line that reach UID's container (or every one).",
        discussion: """
            Each block names the container `<uid>.semail`: its fixed address, the user, ProxyJump through \
            [containers] ssh_host \
            (default: this host's name) and HostKeyAlias semail-<uid>. The known_hosts line is the container's \
            kept host key. \
            Append the block to ~/.ssh/config and the line to ~/.ssh/known_hosts, then `ssh <uid>.semail`.
            Exit status: 0, or 1 when UID has no address or host key yet.
            """)
    @Argument(help: "The uid (default: every mailbox with a container address).") var uid: String?
    @OptionGroup var global: GlobalOptions

    func execute(_ ctx: CommandContext) throws -> ExitStatus {
        if let uid { _ = try Validate.uid(uid) }
        let host = try ctx.host()
        let entries = try Mailboxes(host: host).sshAccess(only: uid) { u, why in
            host.reporter.warn("\(u): skipped: \(why)")
        }
        guard let uid else {
            ctx.emit(entries) { es in es.map { "\($0.config)# known_hosts: \($0.knownHosts)\n" }.joined(separator: "\n")
            }
            return .success
        }
        ctx.emit(entries.first { $0.uid == uid }!) { "\($0.config)# known_hosts: \($0.knownHosts)\n" }
        return .success
    }
}

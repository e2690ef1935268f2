import ArgumentParser
import Containers
import Core
import Foundation
import Provisioning

struct SSHConfigCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "ssh-config",
        abstract: "Print the ssh_config block and the known_hosts line that reach UID's container (or every one).",
        discussion: """
        Each block names the container `<uid>.semail`: its fixed address, the user, ProxyJump through [containers] ssh_host \
        (default: this host's name) and HostKeyAlias semail-<uid>. The known_hosts line is the container's kept host key. \
        Append the block to ~/.ssh/config and the line to ~/.ssh/known_hosts, then `ssh <uid>.semail`.
        Exit status: 0, or 1 when UID has no address or host key yet.
        """)
    @Argument(help: "The uid (default: every mailbox with a container address).") var uid: String?
    @OptionGroup var global: GlobalOptions

    func run() async throws {
        let out = global.output
        try await out.run {
            if let uid { _ = try Validate.uid(uid) }
            let host = try global.host()
            let entries = try SSHAccess.entries(host.containers(), only: uid) { u, why in host.reporter.warn("\(u): skipped: \(why)") }
            guard let uid else {
                out.emit(entries) { es in es.map { "\($0.config)# known_hosts: \($0.knownHosts)\n" }.joined(separator: "\n") }
                return .success
            }
            out.emit(entries.first { $0.uid == uid }!) { "\($0.config)# known_hosts: \($0.knownHosts)\n" }
            return .success
        }
    }
}

import ArgumentParser
import Foundation
import Provisioning

struct ContainerCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "container", abstract: "One persistent container per mailbox ([containers]): sshd, the Maildir at /Maildir.",
        subcommands: [ContainerCreate.self, ContainerRebuild.self, ContainerRemove.self, ContainerList.self, ContainerShow.self,
                      ContainerNetworkRemove.self])
}

extension ContainerState {
    var cells: [String] {
        [uid, shownState, fixedAddress ?? ipAddress ?? "-", address, "\(name)  template \(templateHash.prefix(12))"]
    }
    static func table(_ l: [ContainerState]) -> String { TextTable.render(l.map(\.cells), minimum: [16, 10, 15, 28]) }
}

extension ContainerResult {
    var text: String {
        let what: String = switch action {
        case .created: "created and started"
        case .rebuilt: "rebuilt; the new container runs" + (removedOld.map { ", old \($0) removed" } ?? "")
        case .upToDate: "up to date and running"
        case .started: "up to date; started it"
        }
        return "\(container.name): \(what)" + (container.ssh.map { "\n  \($0)" } ?? "")
    }
}

struct ContainerCreate: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "create",
        abstract: "Render UID's Dockerfile, build it, create and start semail-UID (idempotent).")
    @Argument(help: "The uid.") var uid: String
    @Option(help: "The mailbox address (default: the entry's first mail).") var address: String?
    @OptionGroup var global: GlobalOptions

    func run() async throws {
        let out = global.output
        try await out.run {
            _ = try Validate.uid(uid)
            let host = try global.host()
            let r = try host.containers().ensure(host.containerInput(uid, address: address))
            out.emit(r) { $0.text }
            return .success
        }
    }
}

struct ContainerRebuild: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "rebuild",
        abstract: "Re-render the Dockerfile; rebuild when it (or the base image) changed. The old container serves until the new one runs.")
    @Argument(help: "The uid (or --all).") var uid: String?
    @Flag(help: "Every semail container.") var all = false
    @Flag(help: "Rebuild even when nothing changed (without the build cache).") var force = false
    @OptionGroup var global: GlobalOptions

    func validate() throws {
        if all == (uid != nil) { throw ValidationError("give a uid or --all") }
    }

    struct Outcome: Encodable { var uid: String; var ok: Bool; var result: ContainerResult?; var error: String? }

    func run() async throws {
        let out = global.output
        try await out.run {
            let host = try global.host()
            let mgr = host.containers()
            guard all else {
                let r = try mgr.ensure(host.containerInput(try Validate.uid(uid!), address: nil), force: force)
                out.emit(r) { $0.text }
                return .success
            }
            let targets = try mgr.list()
            var results: [Outcome] = []
            for (i, c) in targets.enumerated() {
                do {
                    let r = try mgr.ensure(host.containerInput(c.uid, address: c.address.isEmpty ? nil : c.address), force: force)
                    results.append(Outcome(uid: c.uid, ok: true, result: r))
                } catch let e as SemailError {
                    results.append(Outcome(uid: c.uid, ok: false, error: e.description))
                } catch {
                    results.append(Outcome(uid: c.uid, ok: false, error: "\(error)"))
                }
                host.reporter.progress(i + 1, targets.count)
            }
            out.emit(results) { rs in
                let lines = rs.map { $0.ok ? $0.result!.text : "\($0.uid): FAILED: \($0.error ?? "")" }
                let failed = rs.filter { !$0.ok }.count
                return (lines + ["\(rs.count) containers, \(rs.count - failed) ok, \(failed) failed"]).joined(separator: "\n")
            }
            return results.allSatisfy(\.ok) ? .success : .failure
        }
    }
}

struct ContainerRemove: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "remove",
        abstract: "Stop and remove semail-UID and its image (the Maildir stays). Unlabeled containers are never touched.")
    @Argument var uid: String
    @OptionGroup var global: GlobalOptions

    struct Removed: Encodable { var uid: String; var removed: [String] }

    func run() async throws {
        let out = global.output
        try await out.run {
            _ = try Validate.uid(uid)
            let r = try global.host().containers().remove(uid: uid)
            out.emit(Removed(uid: uid, removed: r)) { r in r.removed.isEmpty ? "no container for \(r.uid)" : r.removed.map { "removed \($0)" }.joined(separator: "\n") }
            return .success
        }
    }
}

struct ContainerNetworkRemove: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "network-remove",
        abstract: "Remove the [containers] network and its firewall chains (no container may use it). Create/rebuild make it again.")
    @OptionGroup var global: GlobalOptions

    struct Removed: Encodable { var network: String }

    func run() async throws {
        let out = global.output
        try await out.run {
            let host = try global.host()
            try host.containers().network().remove()
            out.emit(Removed(network: host.config.containers.network)) { "removed the network \($0.network) and its firewall rules" }
            return .success
        }
    }
}

struct ContainerList: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "list", abstract: "Every semail container (one API call).")
    @OptionGroup var global: GlobalOptions

    func run() async throws {
        let out = global.output
        try await out.run {
            let host = try global.host()
            let l = host.checkVolumes(try host.containers().list())
            out.emit(l) { ContainerState.table($0) }
            return .success
        }
    }
}

struct ContainerShow: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "show", abstract: "UID's container, and the ssh -J command that reaches it.")
    @Argument var uid: String
    @OptionGroup var global: GlobalOptions

    func run() async throws {
        let out = global.output
        try await out.run {
            _ = try Validate.uid(uid)
            let host = try global.host()
            guard let c = try host.containers().show(uid: uid).map({ host.checkVolumes([$0])[0] }) else {
                throw SemailError("no container for \(uid)", why: "semail-\(uid) does not exist or has no semail labels",
                                  hint: "`semailctl container create \(uid)`", status: .failure)
            }
            out.emit(c) { c in
                ["name      \(c.name) (\(c.id))", "address   \(c.address)",
                 "state     \(c.status)" + (c.volumeMounted == false ? ", VOLUME NOT MOUNTED (run `semailctl reconcile`)" : ""), "image     \(c.image)",
                 "template  \(c.templateHash)", "ip        \(c.ipAddress ?? "-") (fixed: \(c.fixedAddress ?? "none"))",
                 "ssh       \(c.ssh ?? "- (not running)")", "          or: `semailctl ssh-config \(c.uid)` for ~/.ssh/config, then `ssh \(SSHAccess.hostName(c.uid))`"]
                    .joined(separator: "\n")
            }
            return .success
        }
    }
}

struct ImageCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "image", abstract: "The base image ([containers] base_image).",
                                                    subcommands: [ImageBootstrap.self])

    struct ImageBootstrap: AsyncParsableCommand {
        static let configuration = CommandConfiguration(commandName: "bootstrap",
            abstract: "Build base_image locally: debootstrap (minbase + openssh-server), imported through the API. Nothing is pulled.")
        @Option(help: "Debian suite.") var suite = "bookworm"
        @Option(help: "Debian mirror.") var mirror = "http://deb.debian.org/debian"
        @Option(help: "Root filesystem tarball: imported if it exists, written by debootstrap if not.") var rootfsCache: String?
        @Flag(help: "Build again even if the image exists.") var force = false
        @OptionGroup var global: GlobalOptions

        func run() async throws {
            let out = global.output
            try await out.run {
                var b = Provisioning.ImageBootstrap()
                b.suite = suite; b.mirror = mirror; b.cache = rootfsCache; b.force = force
                let r = try b.run(global.host())
                out.emit(r) { r in
                    r.source == "present" ? "\(r.image) is already present (\(r.id.prefix(19))); --force to build again"
                        : "\(r.image) imported from \(r.source) (\((r.rootfsBytes ?? 0) >> 20) MiB) in \(String(format: "%.1f", r.seconds)) s: \(r.id.prefix(19))"
                }
                return .success
            }
        }
    }
}

import Containers
import Core
import Foundation

/// The mailbox's container `semail-<uid>`: its Dockerfile directory (with
/// the SSH host key), the container built from it with the Maildir mounted,
/// its fixed address, and the mailbox network they all share.
struct ContainerComponent: MailboxComponent {
    func createSteps(_ r: CreateRequest, _ mb: Mailboxes) -> [Step] {
        let host = mb.host
        let uid = r.uid
        let address = r.address
        let config = mb.config
        return [
            Step(
                .dockerfile,
                why:
                    "render \(config.containers.dockerfileDir)/\(uid)/Dockerfile"
                    + " from the template (and the container's SSH host key)",
                // Once the host key is there, the container step's build renders the current template itself.
                check: {
                    FileManager.default.fileExists(
                        atPath: "\(host.containers().dockerfileDir(uid))/ssh_host_ed25519_key")
                },
                observe: {
                    Before(existed: FileManager.default.fileExists(atPath: host.containers().dockerfileDir(uid)))
                },
                apply: { _ = try host.containers().render(host.containerInput(uid, address: address)) },
                undo: { before in
                    if before.existed == false {
                        try? FileManager.default.removeItem(atPath: host.containers().dockerfileDir(uid))
                    }
                }),
            Step(
                .container, why: "build the image, create and start semail-\(uid)",
                observe: { Before(existed: try host.containers().show(uid: uid) != nil) },
                apply: { _ = try host.containers().ensure(host.containerInput(uid, address: address)) },
                undo: { before in
                    if before.existed == false {
                        _ = try host.containers().remove(uid: uid, releaseAddress: true)
                        try? FileManager.default.removeItem(atPath: host.containers().dockerfileDir(uid))
                    }
                })
        ]
    }

    func deleteSteps(_ r: DeleteRequest, _ mb: Mailboxes) -> [Step] {
        let host = mb.host
        let uid = r.uid
        let address = r.address
        let config = mb.config
        return [
            Step(
                .container, why: "stop and remove semail-\(uid)",
                check: { try host.containers().show(uid: uid) == nil },
                observe: { Before(existed: try host.containers().show(uid: uid) != nil) },
                apply: { _ = try host.containers().remove(uid: uid) },
                undo: { before in
                    if before.existed == true {
                        _ = try host.containers().ensure(host.containerInput(uid, address: address))
                    }
                }),
            Step(
                .dockerfile,
                why:
                    "remove \(config.containers.dockerfileDir)/\(uid)"
                    + " (Dockerfile, authorized_keys, the container's host key)",
                check: { !FileManager.default.fileExists(atPath: host.containers().dockerfileDir(uid)) },
                apply: { try FileManager.default.removeItem(atPath: host.containers().dockerfileDir(uid)) }),
            // Past the point of no return (the volume is gone): its address is free again.
            Step(
                .address, why: "give back the fixed container address of \(uid)",
                check: { (try host.containers().addresses.entries()[uid]) == nil },
                apply: { try host.containers().addresses.release(uid) })
        ]
    }

    /// One list of the containers, one inspect of the base image, one check
    /// of the network's firewall; the spec hash each wanted container should
    /// carry (from the files under dockerfile_dir, no engine call).
    func observe(_ o: inout Observation, _ scope: ObserveScope, _ mb: Mailboxes) throws {
        let host = mb.host
        let cm = host.containers()
        switch scope {
        case .list, .show:
            let list: [ContainerState]
            do {
                if case .show(let uid) = scope {
                    list = try cm.show(uid: uid).map { [$0] } ?? []
                } else {
                    list = try cm.list()
                }
            } catch let e as SemailError where e.status == .unavailable {
                host.reporter.warn(e.description)
                list = []
            }
            o.containers = Self.byUID(list)
            return
        case .reconcile: break
        }
        o.containers = try o.timed("docker") { Self.byUID(try cm.list()) }
        o.count("docker api")
        if !o.all.isEmpty {
            o.baseImage = o.timed("docker") { try? cm.client.image(host.config.containers.baseImage)?.Id }
            o.count("docker api")
        }
        if !o.containers.isEmpty {
            o.networkDrift = o.timed("network") {
                do { return try cm.network().drift() } catch {
                    return "it cannot be checked: \(SemailError.text(error))"
                }
            }
            o.count("iptables -C/-S")
        }
        o.addresses = (try? cm.addresses.entries()) ?? [:]
        o.dockerfileDirs = cm.dockerfileDirs()
        if let base = o.baseImage {
            let config = host.config
            let mailboxes = o.mailboxes
            let containers = o.containers
            o.expectedSpecs = o.timed("docker") {
                let template = try? DockerfileTemplate(directory: config.containers.templateDir)
                var hashes: [String: String] = [:]
                for m in mailboxes where containers[m.uid] != nil {
                    guard let owner = VolumeComponent.owner(m, config) else { continue }
                    let input = ContainerInput(
                        uid: m.uid, address: m.address, owner: owner, sshKeys: m.sshKeys,
                        maildir: "\(VolumeComponent.mountPoint(m.uid, config))/Maildir", packages: m.packages)
                    hashes[m.uid] = (try? cm.expectedSpecHash(input, baseImageID: base, template: template)) ?? nil
                }
                return hashes
            }
        }
    }

    func hostDrift(_ o: Observation, _ c: Config) -> [ReconcileItem] {
        guard let why = o.networkDrift else { return [] }
        return [
            ReconcileItem(
                .repair, "-", .network, "isolate the network \(c.containers.network) (enable_icc off, firewall chains)",
                why)
        ]
    }

    func drift(of m: MailboxRecord, _ o: Observation, _ c: Config) -> [ReconcileItem] {
        func item(_ a: String, _ r: String) -> [ReconcileItem] { [ReconcileItem(.repair, m.uid, .container, a, r)] }
        guard let ct = o.containers[m.uid] else {
            return item("create semail-\(m.uid)", "the mailbox has no container")
        }
        if ct.isUp, o.volumes[m.uid]?.mounted != true {
            return item(
                "stop semail-\(m.uid), mount the volume, start it", "it runs without its volume (VOLUME NOT MOUNTED)")
        } else if ct.specHash != o.expectedSpecs[m.uid] {
            return item(
                "rebuild semail-\(m.uid)", "its recorded hash no longer matches the template, image, keys or mounts")
        } else if ct.fixedAddress == nil || ct.fixedAddress != o.addresses[m.uid] {
            return item(
                "rebuild semail-\(m.uid) with its fixed address",
                "it was made with \(ct.fixedAddress ?? "no fixed address")"
                    + ", its address is \(o.addresses[m.uid] ?? "not assigned yet")"
            )
        } else if ct.state != "running" {
            return item("start semail-\(m.uid)", "it is \(ct.state)")
        }
        return []
    }

    func orphans(_ o: Observation, wanted: Set<String>, _ c: Config) -> [ReconcileItem] {
        let containers = o.containers.keys.sorted().filter { !wanted.contains($0) }.map { uid in
            ReconcileItem(
                .orphan, uid, .container, "remove semail-\(uid)", "no mailbox in the directory", destructive: true)
        }
        let dirs = o.dockerfileDirs.sorted().filter { !wanted.contains($0) }.map { uid in
            ReconcileItem(
                .orphan, uid, .dockerfile,
                "remove \(Self.dockerfileDir(uid, c)) (Dockerfile, authorized_keys, the container's private host key)",
                "no mailbox in the directory")
        }
        return containers + dirs
    }

    /// The network first: the containers run, and must not reach each other.
    func repairHost(_ items: [ReconcileItem], _ host: Host, errors: inout [String]) {
        guard items.contains(where: { $0.component == .network }) else { return }
        do { try host.containers().network().ensure() } catch { errors.append("network: \(SemailError.text(error))") }
    }

    /// A container running without its volume stops before the volume is mounted under it.
    func prepare(_ m: MailboxRecord, _ o: Observation, _ host: Host) throws {
        if let ct = o.containers[m.uid], ct.isUp, o.volumes[m.uid]?.mounted != true {
            try host.containers().client.stop(container: ct.name)
        }
    }

    func prune(_ item: ReconcileItem, _ host: Host) throws -> Pruned? {
        switch item.component {
        case .container:
            _ = try host.containers().remove(uid: item.uid, releaseAddress: true)
            return .removed("container semail-\(item.uid)")
        case .dockerfile:
            let dir = host.containers().dockerfileDir(try Validate.uid(item.uid))
            try FileManager.default.removeItem(atPath: dir)
            return .removed("directory \(dir)")
        default: return nil
        }
    }

    func status(_ s: inout MailboxStatus, _ o: Observation, _ c: Config) {
        s.container = o.containers[s.uid]?.checked(against: o.volumes[s.uid])
    }

    func check(_ config: Config) -> [ConfigReport.Component] {
        config.sections.contains("containers") ? [Self.checkDocker(config)] : []
    }

    static func checkDocker(_ config: Config) -> ConfigReport.Component {
        let c = DockerClient(socket: config.containers.socket)
        do {
            let v = try c.version()
            let base = try c.image(config.containers.baseImage)
            _ = try DockerfileTemplate(directory: config.containers.templateDir)
            return .init(
                name: "containers", ok: base != nil,
                message:
                    "Docker \(v.Version) (API \(try c.apiVersion())) at \(config.containers.socket)"
                    + "; base image \(config.containers.baseImage) \(base == nil ? "MISSING" : "present")",
                hint: base == nil ? "run `semailctl image bootstrap`" : nil)
        } catch let e as SemailError {
            return .init(name: "containers", ok: false, message: "\(e.what): \(e.why)", hint: e.hint)
        } catch { return .init(name: "containers", ok: false, message: "\(error)") }
    }

    static func byUID(_ list: [ContainerState]) -> [String: ContainerState] {
        Dictionary(list.map { ($0.uid, $0) }, uniquingKeysWith: { a, _ in a })
    }
    /// `[containers] dockerfile_dir/<uid>` (`ContainerManager.dockerfileDir`).
    static func dockerfileDir(_ uid: String, _ c: Config) -> String { "\(c.containers.dockerfileDir)/\(uid)" }
}

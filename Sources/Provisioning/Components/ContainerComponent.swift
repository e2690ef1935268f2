import Containers
import Core
import Foundation
import Synchronization

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
                apply: {
                    // A suspended mailbox's container is left stopped (or missing): its resume makes it run.
                    let input = try host.containerInput(uid, address: address)
                    if !input.suspended { _ = try host.containers().ensure(input) }
                },
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
                    // A suspended mailbox's container is not started again: its resume makes it.
                    if before.existed == true, case let input = try host.containerInput(uid, address: address),
                        !input.suspended
                    {
                        _ = try host.containers().ensure(input)
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
        // At once: the engine's list, the firewall, and the base image
        // followed by the spec hash each wanted mailbox's container should
        // carry (files only, no engine call; it waits for the directory).
        let list = Mutex<Result<[ContainerState], any Error>?>(nil)
        let drift = Mutex<String?>(nil)
        let base = Mutex<String?>(nil)
        let specs = Mutex<[String: String]>([:])
        let millis = Mutex<[String: Double]>([:])
        @Sendable func timed(_ name: String, _ body: () -> Void) {
            let t = Date()
            body()
            millis.withLock { $0[name, default: 0] += Date().timeIntervalSince(t) * 1000 }
        }
        let config = host.config
        let seen = o
        Concurrently.run([
            { timed("docker") { list.withLock { $0 = Result { try cm.list() } } } },
            {
                timed("network") {
                    let why: String?
                    do { why = try cm.network().drift() } catch {
                        why = "it cannot be checked: \(SemailError.text(error))"
                    }
                    drift.withLock { $0 = why }
                }
            },
            {
                let wanted = seen.wanted()
                guard !wanted.all.isEmpty else { return }
                var id: String?
                timed("docker") { id = try? cm.client.image(config.containers.baseImage)?.Id }
                base.withLock { $0 = id }
                guard let id else { return }
                let mailboxes = wanted.mailboxes
                timed("specs") {
                    let template = try? DockerfileTemplate(directory: config.containers.templateDir)
                    DispatchQueue.concurrentPerform(iterations: mailboxes.count) { k in
                        let m = mailboxes[k]
                        guard let owner = VolumeComponent.owner(m, config) else { return }
                        let input = ContainerInput(
                            uid: m.uid, address: m.address, owner: owner, sshKeys: m.sshKeys,
                            maildir: "\(VolumeComponent.mountPoint(m.uid, config))/Maildir", packages: m.packages)
                        let h = (try? cm.expectedSpecHash(input, baseImageID: id, template: template)) ?? nil
                        specs.withLock { $0[m.uid] = h }
                    }
                }
            }
        ])
        o.millis.merge(millis.withLock { $0 }, uniquingKeysWith: +)
        o.containers = Self.byUID(try list.withLock { $0 }!.get())
        o.count("docker api")
        o.baseImage = base.withLock { $0 }
        if !o.wanted().all.isEmpty { o.count("docker api") }
        // The firewall is judged only where containers run.
        if !o.containers.isEmpty {
            o.networkDrift = drift.withLock { $0 }
            o.count("iptables -S")
        }
        o.expectedSpecs = specs.withLock { $0 }.filter { o.containers[$0.key] != nil }
        o.addresses = (try? cm.addresses.entries()) ?? [:]
        o.dockerfileDirs = cm.dockerfileDirs()
    }

    func adopt(_ part: Observation, into o: inout Observation) {
        o.containers = part.containers
        o.baseImage = part.baseImage
        o.expectedSpecs = part.expectedSpecs
        o.networkDrift = part.networkDrift
        o.addresses = part.addresses
        o.dockerfileDirs = part.dockerfileDirs
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
        // Suspended: the container stays stopped (or missing), whatever else it lacks; `resume` repairs it.
        if let s = m.suspension {
            guard let ct = o.containers[m.uid], ct.isUp else { return [] }
            return item("stop semail-\(m.uid) and keep it stopped", "the mailbox is \(s.summary)")
        }
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
        if m.suspension != nil {
            if o.containers[m.uid]?.isUp == true { try host.containers().keepStopped(uid: m.uid) }
            return
        }
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

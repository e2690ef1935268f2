import Containers
import Core
import DNS
import Foundation
import Storage

/// One line of a reconcile plan.
public struct ReconcileItem: Sendable, Codable, Equatable {
    /// `attention`: something semailctl must not repair by itself (a
    /// Maildir directory replaced by a link, a size above the maximum):
    /// reported as an error, and that mailbox is left alone.
    /// `refused`: a directory mailbox that is neither provisioned nor listed in
    /// the address map (invalid value, address claimed by another, address policy).
    public enum Kind: String, Sendable, Codable { case create, repair, orphan, attention, refused }
    public var kind: Kind
    public var uid: String
    public var component: String
    /// What the action works on: a uid, or for DNS items the domain.
    public var target: String
    public var action: String
    public var reason: String
    /// Removes or recreates something (counted by the mass-change guard).
    public var destructive: Bool
}

/// What `reconcile` saw, planned and did.
public struct ReconcileReport: Sendable, Codable {
    public var mailboxes: Int
    public var items: [ReconcileItem]
    /// External calls made to observe (LDAP searches, Docker API calls,
    /// programs run, zone files parsed): independent of the mailbox count.
    public var observeCalls: [String: Int]
    /// Milliseconds spent observing each component and planning.
    public var millis: [String: Double] = [:]
    public var applied: [PipelineReport] = []
    public var pruned: [String] = []
    public var quarantined: [QuarantineEntry] = []
    public var errors: [String] = []
    public var dryRun: Bool
    public var prune: Bool
    /// Would a real run change anything (repairs, or orphans with --prune)?
    public var changesPending: Bool { items.contains { $0.kind == .create || $0.kind == .repair || ($0.kind == .orphan && prune) } }
}

/// `reconcile`: the desired state is LDAP's mailboxes; the actual state is
/// observed in one batched call per component; drift is repaired one
/// mailbox per transaction; orphans are reported, and pruned (volumes to
/// the quarantine) only with `--prune`.
public struct Reconciler: Sendable {
    public let host: Host
    public init(host: Host) { self.host = host }

    struct Observation {
        /// The mailboxes the address map may list (`Mailboxes.decide`).
        var mailboxes: [MailboxRecord]
        /// Every mailbox entry, and why the others are refused.
        var all: [MailboxRecord] = []
        var refused: [String: String] = [:]
        var current: [String: String] = [:]
        var volumes: [String: VolumeState]
        var containers: [String: ContainerState]
        var zone: ZoneListing?
        var zoneError: String?
        var map: String?
        var baseImage: String?
        var calls: [String: Int]
        var mounts: [String: String]
        var millis: [String: Double]
        /// Why the mailbox network's isolation is not in place (nil: it is).
        var networkDrift: String? = nil
        /// The fixed container addresses (`<state>/addresses`).
        var addresses: [String: String] = [:]
        /// Mounted volumes whose mount point is not sealed underneath (true: files lie there).
        var unsealed: [String: Bool] = [:]
        /// Requests whose provisioning failed (`<state>/failures`).
        var failures: [String: ProvisioningFailure] = [:]
        /// The uids with a directory under [containers] dockerfile_dir.
        var dockerfileDirs: [String] = []
    }

    func observe() throws -> Observation {
        let mb = Mailboxes(host: host)
        var calls: [String: Int] = [:]
        var millis: [String: Double] = [:]
        func timed<T>(_ name: String, _ body: () throws -> T) rethrows -> T {
            let t = Date(); defer { millis[name, default: 0] += Date().timeIntervalSince(t) * 1000 }
            return try body()
        }
        let boxes = try timed("ldap") { try host.directory().mailboxes() }
        calls["ldap search", default: 0] += 1
        let vm = try host.volumes()
        let mountTable = timed("volumes") { SystemState.mounts() }
        let vols = try timed("volumes") { Dictionary(try vm.list(mounts: mountTable).map { ($0.uid, $0) }, uniquingKeysWith: { a, _ in a }) }
        calls[vm.backend.kind == "lvm" ? "lvs" : "volume scan (readdir + /sys + fstab)", default: 0] += 1
        let cm = host.containers()
        let cts = try timed("docker") { Dictionary(try cm.list().map { ($0.uid, $0) }, uniquingKeysWith: { a, _ in a }) }
        calls["docker api", default: 0] += 1
        var base: String?
        if !boxes.isEmpty { base = timed("docker") { try? cm.client.image(host.config.containers.baseImage)?.Id }; calls["docker api", default: 0] += 1 }
        var zone: ZoneListing?, zerr: String?
        timed("zone") { do { zone = try host.dns.list() } catch { zerr = "\(error)" } }
        calls["zone parse", default: 0] += 1
        let fsTypes = Dictionary(mountTable.map { ($0.mountPoint, $0.fsType) }, uniquingKeysWith: { _, b in b })
        var netDrift: String?
        if !cts.isEmpty { netDrift = timed("network") {
                do { return try cm.network().drift() } catch { return "it cannot be checked: \((error as? SemailError)?.description ?? "\(error)")" }
            }; calls["iptables -C/-S", default: 0] += 1 }
        let current = mb.map.entries()
        let decision = timed("policy") { mb.decide(boxes, current: current) }
        var o = Observation(mailboxes: decision.accepted, volumes: vols, containers: cts, zone: zone, zoneError: zerr, map: mb.map.read(), baseImage: base,
                            calls: calls, mounts: fsTypes, millis: millis, networkDrift: netDrift)
        o.all = boxes; o.refused = decision.refused; o.current = current
        o.addresses = (try? cm.addresses.entries()) ?? [:]
        let mounted = vols.values.filter(\.mounted).map(\.uid).sorted()
        if !mounted.isEmpty {
            o.unsealed = timed("volumes") { (try? vm.unsealedUnderneath(mounted)) ?? [:] }
            calls["bind mount of the mail root", default: 0] += 1
            o.calls = calls; o.millis = millis
        }
        o.failures = mb.failures.all()
        o.dockerfileDirs = cm.dockerfileDirs()
        return o
    }

    func plan(_ o: Observation) -> [ReconcileItem] {
        let mb = Mailboxes(host: host)
        let cm = host.containers()
        let fixedOwner = try? MailOwner.fixed(host.config.storage.owner)
        let template = try? DockerfileTemplate(directory: host.config.containers.templateDir)
        var items: [ReconcileItem] = []
        func add(_ k: ReconcileItem.Kind, _ uid: String, _ c: String, _ a: String, _ r: String, destructive: Bool = false, target: String? = nil) {
            items.append(ReconcileItem(kind: k, uid: uid, component: c, target: target ?? uid, action: a, reason: r, destructive: destructive))
        }
        // A refused entry's things are not orphans: it may be its owner's mailbox with a bad value written over it.
        let wanted = Set((o.all.isEmpty ? o.mailboxes : o.all).map(\.uid))
        for (uid, why) in o.refused.sorted(by: { $0.key < $1.key }) {
            let last = o.failures[uid].map { "; \($0.summary)" } ?? ""
            add(.refused, uid, "address-map", "none: not provisioned, not in the address map", why + last)
        }
        let maxSize = (try? ByteSize.parse(host.config.storage.maxSize)) ?? UInt64.max
        func owner(_ m: MailboxRecord) -> MailOwner? { fixedOwner ?? MailOwner.posix(uidNumber: m.uidNumber, gidNumber: m.gidNumber) }
        if let why = o.networkDrift {
            add(.repair, "-", "network", "isolate the network \(host.config.containers.network) (enable_icc off, firewall chains)", why)
        }
        for m in o.mailboxes {
            let mp = "\(host.config.storage.mailRoot)/\(m.uid)"
            if let f = o.failures[m.uid], f.address == m.address {
                add(.create, m.uid, "mailbox", "retry provisioning \(m.address)", f.summary)
            }
            if let v = o.volumes[m.uid] {
                if !v.mounted { add(.repair, m.uid, "volume", "mount \(v.source) at \(mp)", "the volume is not mounted") }
                else {
                    if let fs = o.mounts[mp], fs != "ext4" { add(.attention, m.uid, "volume", "none (never reformatted): fix by hand", "it is mounted as \(fs), not ext4") }
                    // Through descriptors, never following what the user made.
                    let tree = MaildirTree.inspect(mp, owner: owner(m))
                    let blocked = MaildirTree.blocked(tree)
                    if !blocked.isEmpty {
                        add(.attention, m.uid, "maildir", "none: an admin must look",
                            "\(blocked.map { "\(mp)/\($0)" }.joined(separator: ", ")) is not a directory (a symlink or a file); it is never followed")
                    } else {
                        let missing = MaildirTree.directories.filter { tree[$0] == .missing }
                        let owners = ([""] + MaildirTree.directories).filter { tree[$0] == .wrongOwner }
                        if !missing.isEmpty { add(.repair, m.uid, "maildir", "create \(missing.joined(separator: ", "))", "missing Maildir directories") }
                        if !owners.isEmpty {
                            add(.repair, m.uid, "maildir", "set owner and mode of \(owners.map { $0.isEmpty ? "the volume root" : $0 }.joined(separator: ", "))",
                                "the volume root must be root's (0711), the Maildir the owner's (0700)")
                        }
                    }
                }
                if !v.persistent { add(.repair, m.uid, "volume", "add the fstab entry", "it would not be mounted at boot before the container engine") }
                if let hidden = o.unsealed[m.uid] {
                    if hidden {
                        add(.attention, m.uid, "volume", "none: an admin must look (unmount the volume and move them away)",
                            "files lie in \(mp) under the mounted volume (made while it was not mounted)")
                    } else {
                        add(.repair, m.uid, "volume", "seal the mount point under the volume (mode 000, immutable)",
                            "made before mount points were sealed: while the volume is not mounted a Maildir could be made there")
                    }
                }
                if let want = m.size, v.size < want {
                    if want > maxSize {
                        add(.attention, m.uid, "volume", "none: not grown", "the directory asks for \(ByteSize.format(want)), above [storage] max_size \(host.config.storage.maxSize)")
                    } else {
                        add(.repair, m.uid, "volume", "grow to \(ByteSize.format(want))", "it is \(ByteSize.format(v.size)), the directory says \(ByteSize.format(want))")
                    }
                }
            } else {
                let size = m.size ?? (try? ByteSize.parse(host.config.storage.defaultSize)) ?? 0
                add(.create, m.uid, "volume", "create an empty \(ByteSize.format(size)) volume", "the mailbox has no volume", destructive: true)
            }
            if let c = o.containers[m.uid] {
                var expected: String?
                if let base = o.baseImage, let owner = owner(m) {
                    let input = ContainerInput(uid: m.uid, address: m.address, owner: owner, sshKeys: m.sshKeys, maildir: "\(mp)/Maildir")
                    expected = try? cm.expectedSpecHash(input, baseImageID: base, template: template)
                }
                if c.isUp, o.volumes[m.uid]?.mounted != true {
                    add(.repair, m.uid, "container", "stop semail-\(m.uid), mount the volume, start it", "it runs without its volume (VOLUME NOT MOUNTED)")
                } else if c.specHash != expected {
                    add(.repair, m.uid, "container", "rebuild semail-\(m.uid)", "its recorded hash no longer matches the template, image, keys or mounts")
                } else if c.fixedAddress == nil || c.fixedAddress != o.addresses[m.uid] {
                    add(.repair, m.uid, "container", "rebuild semail-\(m.uid) with its fixed address",
                        "it was made with \(c.fixedAddress ?? "no fixed address"), its address is \(o.addresses[m.uid] ?? "not assigned yet")")
                } else if c.state != "running" { add(.repair, m.uid, "container", "start semail-\(m.uid)", "it is \(c.state)") }
            } else {
                add(.repair, m.uid, "container", "create semail-\(m.uid)", "the mailbox has no container")
            }
            let domain = String(m.address.split(separator: "@").last ?? "")
            if mb.managedDomain(domain), let z = o.zone, !mb.hasMX(domain, in: z) {
                add(.repair, m.uid, "dns", "add \(domain) MX", "the managed zone has no MX for \(domain)", target: domain)
            }
        }
        // The address map as a whole.
        let mapWanted = AddressMap.render(o.mailboxes)
        if o.map != mapWanted { add(.repair, "-", "address-map", "rewrite \(host.config.smtp.addressMap)", o.map == nil ? "it does not exist" : "it differs from the directory") }
        let stale = mb.map.stalePostfix(o.mailboxes)
        if !stale.isEmpty { add(.repair, "-", "address-map", "rewrite \(stale.joined(separator: ", "))", "the Postfix form of the map differs from it") }
        // Orphans.
        for (uid, v) in o.volumes.sorted(by: { $0.key < $1.key }) where !wanted.contains(uid) {
            add(.orphan, uid, "volume", "move \(v.source) to the quarantine", "no mailbox in the directory", destructive: true)
        }
        for (uid, _) in o.containers.sorted(by: { $0.key < $1.key }) where !wanted.contains(uid) {
            add(.orphan, uid, "container", "remove semail-\(uid)", "no mailbox in the directory", destructive: true)
        }
        for uid in o.dockerfileDirs.sorted() where !wanted.contains(uid) {
            add(.orphan, uid, "dockerfile", "remove \(cm.dockerfileDir(uid)) (Dockerfile, authorized_keys, the container's private host key)",
                "no mailbox in the directory")
        }
        if let z = o.zone {
            let mx = ZoneName.absolute(host.config.dns.mxHost.lowercased())
            let domains = Set((o.mailboxes + o.all).map { ZoneName.absolute(String($0.address.split(separator: "@").last ?? "")) })
            for r in z.managed where r.type == "MX" && r.rdata.last?.lowercased() == mx && !domains.contains(r.owner.lowercased()) {
                add(.orphan, "-", "dns", "remove \(r.owner) MX", "no mailbox uses \(r.owner)", destructive: true, target: r.owner)
            }
        }
        return items
    }

    public struct Options: Sendable {
        public var dryRun = false
        public var prune = false
        public var force = false
        public init() {}
    }

    public func run(_ opt: Options) throws -> ReconcileReport {
        let o = try observe()
        let tp = Date()
        let items = plan(o)
        var report = ReconcileReport(mailboxes: max(o.all.count, o.mailboxes.count), items: items, observeCalls: o.calls, dryRun: opt.dryRun, prune: opt.prune)
        report.errors += o.refused.sorted { $0.key < $1.key }.map { "\($0.key): refused, not provisioned: \($0.value)" }
        report.millis = o.millis
        report.millis["plan"] = Date().timeIntervalSince(tp) * 1000
        if let e = o.zoneError { report.errors.append("zone: \(e)") }
        // The directory can lie (outage, wrong base, empty result): stop
        // before a mass change.
        let risky = items.filter { $0.destructive && ($0.kind != .orphan || opt.prune) }.count
        let limit = max(host.config.state.guardMin, o.mailboxes.count * host.config.state.guardPercent / 100)
        if risky > limit && !opt.force && !opt.dryRun {
            throw SemailError("reconcile stopped by the mass-change guard", why: "it would remove or recreate \(risky) things; the limit is \(limit) (\(host.config.state.guardPercent)% of \(o.mailboxes.count) mailboxes, at least \(host.config.state.guardMin))",
                              hint: "check the directory (base DN, outage) with `semailctl reconcile --dry-run`; if the plan is right, add --force", status: .failure)
        }
        if opt.dryRun { return report }
        let mb = Mailboxes(host: host)
        // The network first: the containers run, and must not reach each other.
        if items.contains(where: { $0.component == "network" }) {
            do { try host.containers().network().ensure() } catch { report.errors.append("network: \((error as? SemailError)?.description ?? "\(error)")") }
        }
        // Mount points under mounted volumes, sealed in one pass (one bind of the mail root).
        let toSeal = items.filter { $0.component == "volume" && $0.action.hasPrefix("seal ") }.map(\.uid)
        if !toSeal.isEmpty {
            do { _ = try host.volumes().sealUnderneath(toSeal) } catch { report.errors.append("seal: \((error as? SemailError)?.description ?? "\(error)")") }
        }
        // What needs an admin is reported and that mailbox left alone.
        let attention = Set(items.filter { $0.kind == .attention }.map(\.uid))
        for i in items where i.kind == .attention { report.errors.append("\(i.uid): needs an admin: \(i.reason)") }
        // Repairs: one transaction per mailbox (every step checks first).
        let approved = mb.approvedAddresses()
        let byUID = Dictionary(grouping: items.filter { ($0.kind == .create || $0.kind == .repair) && $0.uid != "-" }, by: \.uid)
        for m in o.mailboxes where byUID[m.uid] != nil && !attention.contains(m.uid) {
            do {
                // A container running without its volume stops before the volume is mounted under it.
                if let c = o.containers[m.uid], c.isUp, o.volumes[m.uid]?.mounted != true {
                    try host.containers().client.stop(container: c.name)
                }
                if let want = m.size, let v = o.volumes[m.uid], v.size < want, v.mounted {
                    _ = try host.volumes().resize(uid: m.uid, to: want, owner: try host.mailOwner(m.uid))
                }
                // An address never approved nor provisioned is checked as a user's request would be.
                // A directory request: a failure keeps it, with why, for the next pass.
                let r = try mb.provision(uid: m.uid, address: m.address, size: m.size ?? (try ByteSize.parse(host.config.storage.defaultSize)),
                                         requestSize: m.size, by: o.current[m.uid] == m.address || approved[m.uid] == m.address ? .admin : .user)
                report.applied.append(r)
                if !r.ok { report.errors.append("\(m.uid): \(r.reason ?? "failed")") }
            } catch {
                report.errors.append("\(m.uid): \((error as? SemailError)?.description ?? "\(error)")")
            }
        }
        if items.contains(where: { $0.component == "address-map" }) {
            do { try mb.rewriteMap(for: "reconcile") } catch { report.errors.append("address map: \(error)") }
        }
        if opt.prune {
            for i in items where i.kind == .orphan {
                do {
                    switch i.component {
                    case "container": _ = try host.containers().remove(uid: i.uid, releaseAddress: true); report.pruned.append("container semail-\(i.uid)")
                    case "dns": _ = try host.dns.removeMX(i.target); report.pruned.append("MX \(i.target)")
                    case "dockerfile":
                        let dir = host.containers().dockerfileDir(try Validate.uid(i.uid))
                        try FileManager.default.removeItem(atPath: dir)
                        report.pruned.append("directory \(dir)")
                    default: break
                    }
                } catch { report.errors.append("prune \(i.component) \(i.uid): \((error as? SemailError)?.description ?? "\(error)")") }
            }
            for i in items where i.kind == .orphan && i.component == "volume" {
                do { report.quarantined.append(try host.volumes().quarantine(uid: i.uid, days: host.config.state.quarantineDays)) }
                catch { report.errors.append("quarantine \(i.uid): \((error as? SemailError)?.description ?? "\(error)")") }
            }
        }
        return report
    }
}

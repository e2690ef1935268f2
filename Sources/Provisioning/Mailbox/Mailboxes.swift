import CShims
import Containers
import Core
import DNS
import Directory
import Foundation
import LDAPClient
import Storage

/// A mailbox as the directory records it (semail.schema: `semailUser`).
public struct MailboxRecord: Sendable, Codable, Equatable {
    public var uid: String
    public var dn: String
    public var address: String
    public var size: UInt64?
    public var uidNumber: Int? = nil
    public var gidNumber: Int? = nil
    public var sshKeys: [String] = []
    /// The Debian packages the user chose (`semailPackage`).
    public var packages: [String] = []
    /// The entry's createTimestamp (GeneralizedTime): who came first.
    public var created: String? = nil
    /// `semailState`/`semailStateReason` (nil: active).
    public var suspension: Suspension? = nil
}

extension Directory {
    static let mailboxAttributes = [
        "uid", "semailMailbox", "semailVolumeSize", "uidNumber", "gidNumber", "sshPublicKey", "createTimestamp",
        "semailPackage", Suspension.attribute, Suspension.reasonAttribute
    ]

    /// Every mailbox, in one paged search. The values are as the entries
    /// hold them, unchecked: see `MapDecision`.
    public func mailboxes() throws -> [MailboxRecord] {
        var out: [MailboxRecord] = []
        try wrap {
            try connection.search(
                base: config.peopleDN,
                filter: .and([.equal("objectClass", "inetOrgPerson"), .present("semailMailbox")]),
                attributes: Self.mailboxAttributes
            ) { e in
                guard let uid = e.first("uid"), let a = e.first("semailMailbox") else { return }
                out.append(
                    MailboxRecord(
                        uid: uid, dn: e.dn, address: a.lowercased(),
                        size: e.first("semailVolumeSize").flatMap { UInt64($0) },
                        uidNumber: e.first("uidNumber").flatMap { Int($0) },
                        gidNumber: e.first("gidNumber").flatMap { Int($0) },
                        sshKeys: e.strings("sshPublicKey"), packages: e.strings("semailPackage"),
                        created: e.first("createTimestamp"), suspension: Suspension.from(e)))
            }
        }
        return out.sorted { $0.uid < $1.uid }
    }

    public func mailbox(_ uid: String) throws -> MailboxRecord? {
        guard let e = try find(uid), let a = e.first("semailMailbox") else { return nil }
        return MailboxRecord(
            uid: uid, dn: e.dn, address: a.lowercased(), size: e.first("semailVolumeSize").flatMap { UInt64($0) },
            suspension: Suspension.from(e))
    }

    /// The uids (other than `except`) whose mailbox is `address`.
    public func addressHolders(_ address: String, except: String) throws -> [String] {
        var uids: [String] = []
        // Only mailboxes count: `mail` is what an entry says of itself (users
        // may write it), so counting it would let anyone squat an address.
        try wrap {
            try connection.search(
                base: config.ldap.base, filter: .equal("semailMailbox", address),
                attributes: ["uid"]
            ) { e in
                let u = e.first("uid") ?? e.dn
                if u != except { uids.append(u) }
            }
        }
        return uids
    }

    /// Records the mailbox on the user's entry (and `mail` when missing).
    public func setMailbox(_ uid: String, address: String, size: UInt64) throws {
        guard let e = try find(uid) else { throw noUser(uid) }
        var mods: [LDAPModification] = []
        if !e.strings("objectClass").contains(where: { $0.lowercased() == "semailuser" }) {
            mods.append(.add("objectClass", ["semailUser"]))
        }
        mods.append(.replace("semailMailbox", [address]))
        mods.append(.replace("semailVolumeSize", ["\(size)"]))
        if !e.strings("mail").contains(where: { $0.lowercased() == address }) { mods.append(.add("mail", [address])) }
        try wrap { try connection.modify(e.dn, mods) }
    }

    /// Removes the mailbox attributes (and `address` from mail when asked;
    /// with `objectClass`, the semailUser class too), in one modify.
    public func clearMailbox(_ uid: String, removeMail address: String? = nil, objectClass: Bool = false) throws {
        guard let e = try find(uid) else { return }
        var mods: [LDAPModification] = []
        if e.first("semailMailbox") != nil { mods.append(.delete("semailMailbox")) }
        if e.first("semailVolumeSize") != nil { mods.append(.delete("semailVolumeSize")) }
        if let address, let v = e.strings("mail").first(where: { $0.lowercased() == address }) {
            mods.append(.delete("mail", [v]))
        }
        if objectClass, let c = e.strings("objectClass").first(where: { $0.lowercased() == "semailuser" }) {
            // The class's other attributes go with it (a suspended mailbox's state).
            for a in [Suspension.attribute, Suspension.reasonAttribute] where e.first(a) != nil {
                mods.append(.delete(a))
            }
            mods.append(.delete("objectClass", [c]))
        }
        if !mods.isEmpty { try wrap { try connection.modify(e.dn, mods) } }
    }

    /// Whether nothing of a mailbox is left on UID's entry: no mailbox
    /// attributes, no semailUser class, no `address` in mail.
    public func mailboxCleared(_ uid: String, address: String) throws -> Bool {
        guard let e = try find(uid) else { return true }
        return e.first("semailMailbox") == nil && e.first("semailVolumeSize") == nil
            && !e.strings("objectClass").contains { $0.lowercased() == "semailuser" }
            && !e.strings("mail").contains { $0.lowercased() == address }
    }

    /// Records a mailbox request on UID's entry (semailMailbox, and
    /// semailVolumeSize when given; none when nil), without `mail`: what a
    /// failed provisioning leaves for reconcile to retry. One modify;
    /// `removeMail` also takes that value out of mail.
    public func setRequest(_ uid: String, address: String, size: UInt64?, removeMail: String? = nil) throws {
        guard let e = try find(uid) else { throw noUser(uid) }
        var mods: [LDAPModification] = []
        if !e.strings("objectClass").contains(where: { $0.lowercased() == "semailuser" }) {
            mods.append(.add("objectClass", ["semailUser"]))
        }
        if e.strings("semailMailbox") != [address] { mods.append(.replace("semailMailbox", [address])) }
        if let size {
            if e.strings("semailVolumeSize") != ["\(size)"] { mods.append(.replace("semailVolumeSize", ["\(size)"])) }
        } else if e.first("semailVolumeSize") != nil {
            mods.append(.delete("semailVolumeSize"))
        }
        if let removeMail, let v = e.strings("mail").first(where: { $0.lowercased() == removeMail }) {
            mods.append(.delete("mail", [v]))
        }
        if !mods.isEmpty { try wrap { try connection.modify(e.dn, mods) } }
    }
}

/// Addresses a create pipeline checked (the admin's, or a user's that
/// passed the address policy): `<state>/approved`, one `uid address` line
/// each, root's, written under the map lock. Reconcile applies the
/// self-service policy only to addresses not approved here nor listed in
/// the map, so a lost or clobbered map does not demote the admin's choices.
public struct Approvals: Sendable {
    public let path: String
    public init(stateDir: String) { path = "\(stateDir)/approved" }

    public func entries() -> [String: String] {
        guard FileManager.default.fileExists(atPath: path),
            let bytes = try? Trust.read(path, what: "the approvals file", secret: true)
        else { return [:] }
        var d: [String: String] = [:]
        for l in String(decoding: bytes, as: UTF8.self).split(separator: "\n") {
            let f = l.split(separator: " ")
            if f.count == 2 { d[String(f[0])] = String(f[1]) }
        }
        return d
    }

    /// Records (or with nil, forgets) UID's approved address.
    public func set(_ uid: String, _ address: String?) throws {
        var d = entries()
        guard d[uid] != address else { return }
        d[uid] = address
        try Trust.stateDirectory((path as NSString).deletingLastPathComponent)
        try AtomicFile.write(
            path, Array(d.sorted { $0.key < $1.key }.map { "\($0.key) \($0.value)\n" }.joined().utf8), mode: 0o600)
    }
}

/// The address map the SMTP servers read: one `uid: <uid> mail: <address>`
/// line per mailbox, sorted, rewritten atomically, one rewrite at a time;
/// with it, from the same records and under the same lock, its Postfix
/// form (`PostfixMaps`) when configured.
public struct AddressMap: Sendable {
    public let path: String
    public var postfix: PostfixMaps
    public init(path: String, postfix: PostfixMaps = PostfixMaps()) { self.path = path; self.postfix = postfix }

    /// Only mailboxes whose values pass validation, one owner per address
    /// (`MapDecision`): a directory value never adds a line of its own.
    public static func render(
        _ mailboxes: [MailboxRecord], excluding: Set<String> = [], current: [String: String] = [:]
    ) -> String {
        lines(MapDecision.decide(mailboxes.filter { !excluding.contains($0.uid) }, current: current).accepted)
    }
    /// The map's text for records already decided.
    public static func lines(_ accepted: [MailboxRecord]) -> String {
        accepted.map { "uid: \($0.uid) mail: \($0.address)\n" }.joined()
    }

    /// Computes the records and writes every output holding an exclusive
    /// lock (`<map>.lock`) across reading the directory and writing, so that
    /// two rewrites (two import workers, two processes) never lose each
    /// other's lines.
    public func rewrite(for label: String, _ compute: () throws -> [MailboxRecord]) throws {
        try SystemState.makeDirectories((path as NSString).deletingLastPathComponent, mode: 0o755)
        let lockPath = "\(path).lock"
        let fd = open(lockPath, O_CREAT | O_RDWR | O_CLOEXEC | O_NOFOLLOW, 0o600)
        guard fd >= 0 else {
            throw SemailError(
                "cannot open \(lockPath)", why: String(cString: strerror(errno)), hint: "check [smtp] address_map",
                status: .ioError)
        }
        defer { close(fd) }
        while flock(fd, LOCK_EX) != 0 {
            let e = errno
            if e == EINTR { continue }
            throw SemailError("cannot lock \(lockPath)", why: String(cString: strerror(e)), status: .ioError)
        }
        let accepted = try compute()
        try Fault.check("address-map.write")
        try Fault.check("address-map.write@\(label)")
        try write(accepted)
    }
    public func read() -> String? {
        FileManager.default.contents(atPath: path).map { String(decoding: $0, as: UTF8.self) }
    }

    /// The Postfix outputs first, the map last: a failure leaves the map as
    /// it was, so the step that wrote it is not "done" and runs again.
    public func write(_ accepted: [MailboxRecord]) throws {
        for out in try postfix.render(accepted) {
            let dir = (out.path as NSString).deletingLastPathComponent
            var isDir: ObjCBool = false
            guard FileManager.default.fileExists(atPath: dir, isDirectory: &isDir), isDir.boolValue else {
                throw SemailError(
                    "cannot write \(out.path)", why: "its directory \(dir) does not exist",
                    hint: "create it, or fix [smtp] \(out.kind.rawValue)", status: .ioError)
            }
            do { try AtomicFile.write(out.path, Array(out.text.utf8)) } catch {
                throw SemailError(
                    "cannot write \(out.path)", why: "\(error)", hint: "check [smtp] \(out.kind.rawValue)",
                    status: .ioError)
            }
        }
        try write(Self.lines(accepted))
    }
    public func write(_ text: String) throws {
        do {
            // Readable by the SMTP servers, whatever the umask.
            try SystemState.makeDirectories((path as NSString).deletingLastPathComponent, mode: 0o755)
            try AtomicFile.write(path, Array(text.utf8))
        } catch {
            throw SemailError(
                "cannot write the address map \(path)", why: "\(error)", hint: "check [smtp] address_map",
                status: .ioError)
        }
    }

    /// Whether every output says what ACCEPTED would write.
    public func isCurrent(_ accepted: [MailboxRecord]) -> Bool {
        read() == Self.lines(accepted) && stalePostfix(accepted).isEmpty
    }

    /// The configured Postfix outputs that differ from what ACCEPTED would write.
    public func stalePostfix(_ accepted: [MailboxRecord]) -> [String] {
        guard let outs = try? postfix.render(accepted) else { return postfix.paths.values.sorted() }
        return outs.filter { FileManager.default.contents(atPath: $0.path) != Data($0.text.utf8) }.map(\.path)
    }
    /// uid -> address, as the file says.
    public func entries() -> [String: String] {
        var d: [String: String] = [:]
        for l in (read() ?? "").split(separator: "\n") {
            let f = l.split(separator: " ")
            if f.count == 4, f[0] == "uid:", f[2] == "mail:" { d[String(f[1])] = String(f[3]) }
        }
        return d
    }
}

/// A mailbox and what the host has of it, for `mailbox list/show`.
public struct MailboxStatus: Sendable, Codable {
    public var uid: String
    public var address: String
    public var size: UInt64?
    public var volume: VolumeState?
    public var container: ContainerState?
    /// "ok", "missing" (managed zone, no MX) or "external" (published elsewhere).
    public var dns: String
    public var inAddressMap: Bool
    /// Why the address map does not list it (invalid value, address claimed
    /// by another, refused by the address policy); nil when it may.
    public var refused: String? = nil
    /// Why its provisioning last failed (reconcile retries it).
    public var lastFailure: ProvisioningFailure? = nil
    /// The highest usage threshold its user was warned about (`mailbox usage`).
    public var warned: Int? = nil
    /// Suspended (`mailbox suspend`, or `semailState` on the entry); nil: active.
    public var suspension: Suspension? = nil
}

/// Mailboxes: the pipelines of `mailbox create/delete`, their recovery, and
/// the combined view.
public struct Mailboxes: Sendable {
    public let host: Host
    public init(host: Host) { self.host = host }

    var config: Config { host.config }
    public var journal: Journal { Journal(stateDir: config.state.dir) }
    var map: AddressMap { AddressMap(path: config.smtp.addressMap, postfix: PostfixMaps(config: config)) }
    /// The parts of a mailbox (`MailboxComponents.all`).
    var components: [any MailboxComponent] { MailboxComponents.all }

    /// Whether DOMAIN's MX belongs in the managed zone (a subdomain of it).
    public func managedDomain(_ domain: String) -> Bool { DNSComponent.managed(domain, config) }

    /// Which mailboxes the map may list: valid values, one owner per
    /// address, and, for an address the map does not list yet for its uid
    /// (reconcile cannot know who wrote it), the self-service address
    /// policy. `allowing` is the mailbox a pipeline is making, already
    /// checked for its requester.
    public func decide(
        _ boxes: [MailboxRecord], current: [String: String], allowing: (uid: String, address: String)? = nil
    ) -> MapDecision {
        var d = MapDecision.decide(boxes, current: current, prefer: allowing?.uid)
        let approved = approvedAddresses()
        let new = d.accepted.filter {
            current[$0.uid] != $0.address && approved[$0.uid] != $0.address
                && !(allowing?.uid == $0.uid && allowing?.address == $0.address)
        }
        guard !new.isEmpty else { return d }
        let policy = AddressPolicy(host: host)
        let context: AddressPolicy.Context
        // Only entries that own their address reserve it (or a domain): a
        // refused value written by someone is no claim on anything.
        do { context = try policy.context(mailboxes: d.accepted) } catch {
            for m in new {
                d.refused[m.uid] =
                    "not yet checked by the address policy: \((error as? SemailError)?.what ?? "\(error)")"
            }
            d.accepted.removeAll { m in new.contains { $0.uid == m.uid } }
            return d
        }
        for m in new {
            let a = try! Validate.address(m.address)  // decide() let only valid ones through
            do {
                try policy.check(
                    uid: m.uid, local: a.local, domain: a.domain, by: .user, context: context, resolve: false)
            } catch {
                d.refused[m.uid] = (error as? SemailError).map { "\($0.what): \($0.why)" } ?? "\(error)"
                d.accepted.removeAll { $0.uid == m.uid }
            }
        }
        return d
    }

    /// The records the map (and its Postfix form) lists.
    func mapRecords(excluding: Set<String> = [], allowing: (uid: String, address: String)? = nil) throws
        -> [MailboxRecord]
    {
        let current = map.entries()
        let d = decide(try host.directory().mailboxes(), current: current, allowing: allowing)
        return MapDecision.decide(d.accepted.filter { !excluding.contains($0.uid) }, current: current).accepted
    }

    public var approvals: Approvals { Approvals(stateDir: config.state.dir) }
    public var failures: ProvisioningFailures { ProvisioningFailures(stateDir: config.state.dir) }

    /// uid -> address the admin approved: the approvals file, and the
    /// admin's requests that failed to provision (kept for reconcile, which
    /// retries them under the admin's rules, not the self-service ones).
    public func approvedAddresses() -> [String: String] {
        var d = approvals.entries()
        // Only requests that passed the admin's checks (the rules for everyone included).
        for (uid, f) in failures.all()
        where f.by == .admin && (f.step.map { $0 != StepName.directoryCheck.rawValue } ?? false) && d[uid] == nil {
            d[uid] = f.address
        }
        return d
    }

    /// Provisions a directory request (`request` mode of the create
    /// pipeline): a failure is recorded (`failures`) with the request left
    /// on the entry; a success clears the record.
    public func provision(uid: String, address: String, size: UInt64, requestSize: UInt64?, by requester: Requester)
        throws -> PipelineReport
    {
        let uid = try Validate.uid(uid)
        let r: PipelineReport
        do {
            r = try createPipeline(
                uid: uid, address: address, size: size, by: requester, request: true, requestSize: requestSize
            )
            .run(journal: journal, reporter: host.reporter)
        } catch {
            recordFailure(
                uid: uid, address: address, requestSize: requestSize, by: requester, step: nil,
                reason: (error as? SemailError)?.description ?? "\(error)")
            throw error
        }
        // A failed check records too when the entry holds the request (a
        // retry's new reason replaces the old one); recordFailure looks.
        if r.ok {
            failures.clear(uid)
        } else {
            recordFailure(
                uid: uid, address: address, requestSize: requestSize, by: requester, step: r.failedStep,
                reason: r.reason ?? "failed")
        }
        return r
    }

    func recordFailure(
        uid: String, address: String, requestSize: UInt64?, by requester: Requester, step: String?, reason: String
    ) {
        // Only while the request is on the entry (nothing to retry otherwise).
        guard let a = try? Validate.address(address),
            (try? host.directory().mailbox(uid))?.address == "\(a.local)@\(a.domain)"
        else { return }
        do {
            try failures.record(
                ProvisioningFailure(
                    uid: uid, address: "\(a.local)@\(a.domain)", size: requestSize, by: requester, step: step,
                    reason: reason, at: ProvisioningFailures.now()))
        } catch {
            host.reporter.warn(
                "cannot record why \(uid)'s mailbox failed: \((error as? SemailError)?.description ?? "\(error)")")
        }
    }

    /// Rewrites the map under its lock (directory read inside it); records
    /// the address a pipeline checked (`allowing`), or forgets UID's
    /// (`revoking`).
    func rewriteMap(
        for label: String, excluding: Set<String> = [], allowing: (uid: String, address: String)? = nil,
        revoking: String? = nil
    ) throws {
        try map.rewrite(for: label) {
            if let allowing { try approvals.set(allowing.uid, allowing.address) }
            if let revoking { try approvals.set(revoking, nil) }
            return try mapRecords(excluding: excluding, allowing: allowing)
        }
    }

    // MARK: Pipelines

    /// `request`: the mailbox is a directory request (from `import`, or an
    /// entry's semailMailbox reconcile provisions): it is recorded on the
    /// entry first and a failure leaves it there (without the `mail` value
    /// the create added) for reconcile to retry; `requestSize` is the size it
    /// asks for (nil: none, the default). Otherwise a failure removes
    /// everything the create added. The steps are the components'.
    public func createPipeline(
        uid: String, address: String, size: UInt64, by requester: Requester = .admin,
        request: Bool = false, requestSize: UInt64? = nil
    ) throws -> Pipeline {
        let uid = try Validate.uid(uid)
        let a = try Validate.address(address)
        let r = CreateRequest(
            uid: uid, address: "\(a.local)@\(a.domain)", local: a.local, domain: a.domain, size: size,
            requester: requester, request: request, requestSize: requestSize)
        let steps = MailboxComponents.steps(StepName.createOrder, components.flatMap { $0.createSteps(r, self) })
        var params = ["uid": uid, "address": r.address, "size": "\(size)", "by": requester.rawValue]
        if request { params["request"] = requestSize.map { "\($0)" } ?? "-" }
        return Pipeline(kind: PipelineKind.create.rawValue, subject: uid, params: params, steps: steps)
    }

    public func deletePipeline(uid: String, address: String, archive: String?) throws -> Pipeline {
        let uid = try Validate.uid(uid)
        let a = try Validate.address(address)
        let r = DeleteRequest(
            uid: uid, address: address, normalized: "\(a.local)@\(a.domain)", domain: a.domain,
            archive: archive)
        let steps = MailboxComponents.steps(StepName.deleteOrder, components.flatMap { $0.deleteSteps(r, self) })
        var params = ["uid": uid, "address": r.normalized]
        if let archive { params["archive"] = archive }
        return Pipeline(kind: PipelineKind.delete.rawValue, subject: uid, params: params, steps: steps)
    }

    /// The pipeline a journaled transaction was running.
    public func pipeline(for p: Journal.Pending) throws -> Pipeline? {
        guard let start = p.records.first, let params = start.params, let uid = params["uid"],
            let address = params["address"]
        else { return nil }
        switch start.kind.flatMap(PipelineKind.init(rawValue:)) {
        case .create:
            return try createPipeline(
                uid: uid, address: address, size: UInt64(params["size"] ?? "") ?? 0,
                by: params["by"] == Requester.user.rawValue ? .user : .admin,
                request: params["request"] != nil, requestSize: params["request"].flatMap { UInt64($0) })
        case .delete: return try deletePipeline(uid: uid, address: address, archive: params["archive"])
        case .suspend, .resume: return try statePipeline(for: p)
        case nil: return nil
        }
    }

    /// Repairs every interrupted transaction (the caller holds the state lock).
    public func recover() throws -> [PipelineReport] {
        var reports: [PipelineReport] = []
        for p in try journal.pending() {
            guard let pipe = try pipeline(for: p) else {
                host.reporter.warn("journal \(p.path): unknown transaction kind; left in place")
                continue
            }
            host.reporter.info("recovering an interrupted \(pipe.kind) of \(pipe.subject)")
            let r = try pipe.recover(p, journal: journal, reporter: host.reporter)
            reports.append(r)
            // An interrupted request that was rolled back is kept on the entry: say why it is not provisioned.
            if pipe.kind == PipelineKind.create.rawValue, let params = p.records.first?.params,
                let req = params["request"], let address = params["address"]
            {
                if r.ok && r.applied.isEmpty && r.notes.contains("rolling back") {
                    recordFailure(
                        uid: pipe.subject, address: address, requestSize: UInt64(req),
                        by: params["by"] == Requester.user.rawValue ? .user : .admin,
                        step: p.records.last(where: { $0.event == .begin })?.step,
                        reason: "interrupted, rolled back by recovery")
                } else if r.ok {
                    failures.clear(pipe.subject)
                }
            }
        }
        return reports
    }

    // MARK: Views

    public func list() throws -> [MailboxStatus] {
        try statuses(.list)
    }

    /// One mailbox: its entry, its volume, one container inspect (with the
    /// address and the ssh command), the zone and the map.
    public func status(_ uid: String) throws -> MailboxStatus? {
        try statuses(.show(try Validate.uid(uid))).first
    }

    /// Each component observes (every mailbox at once, or one) and adds its part.
    func statuses(_ scope: ObserveScope) throws -> [MailboxStatus] {
        var o = Observation()
        for c in components {
            try c.observe(&o, scope, self)
            if o.all.isEmpty, case .show = scope { return [] }
        }
        let warned = (try? UsageWarningState(stateDir: config.state.dir).read()) ?? [:]
        return o.all.map { b in
            var s = MailboxStatus(
                uid: b.uid, address: b.address, size: b.size, volume: nil, container: nil, dns: "missing",
                inAddressMap: false)
            s.suspension = b.suspension
            for c in components { c.status(&s, o, config) }
            s.warned = warned[b.uid]
            return s
        }
    }
}

extension Mailboxes {
    /// Runs `body` holding the state lock, after repairing whatever an
    /// interrupted command left in the journal.
    public func locked<T>(wait: Bool, _ body: ([PipelineReport]) throws -> T) throws -> T {
        let lock = try StateLock(stateDir: config.state.dir, wait: wait, reporter: host.reporter)
        defer { withExtendedLifetime(lock) {} }
        let recovered = try recover()
        return try body(recovered)
    }

    /// `mailbox create`: the pipeline, or its plan with `dryRun`.
    public func create(
        uid: String, address: String, size: UInt64?, by requester: Requester = .admin, dryRun: Bool = false
    ) throws -> PipelineReport {
        let bytes = try size ?? ByteSize.parse(config.storage.defaultSize)
        // The entry already asks for this address (a directory request, or
        // an import that failed): a failure keeps the request.
        let a = try Validate.address(address)
        if let m = try host.directory().mailbox(uid), m.address == "\(a.local)@\(a.domain)" {
            if dryRun {
                return try createPipeline(
                    uid: uid, address: address, size: bytes, by: requester, request: true, requestSize: m.size
                ).plan()
            }
            return try provision(uid: uid, address: address, size: bytes, requestSize: m.size, by: requester)
        }
        let p = try createPipeline(uid: uid, address: address, size: bytes, by: requester)
        return dryRun ? p.plan() : try p.run(journal: journal, reporter: host.reporter)
    }

    /// `mailbox delete`: the address comes from the directory.
    public func delete(uid: String, archive: String?, dryRun: Bool = false) throws -> PipelineReport {
        let uid = try Validate.uid(uid)
        guard let m = try host.directory().mailbox(uid) else {
            throw SemailError(
                "\(uid) has no mailbox", why: "the entry has no semailMailbox attribute",
                hint: "see `semailctl mailbox list`", status: .failure)
        }
        // An absolute path (so tar never reads it as an option), in a directory
        // that exists, never an existing file: checked before anything is touched.
        let archive = archive.map { URL(fileURLWithPath: $0).standardizedFileURL.path }
        if let archive {
            guard !archive.contains(where: { $0 == "\0" || $0.isNewline }), !archive.hasSuffix("/") else {
                throw SemailError(
                    "invalid archive path \(Validate.quoted(archive))",
                    why: "expected a file name such as /srv/archive/uid.tar.gz", status: .usage)
            }
            var isDir: ObjCBool = false
            let parent = (archive as NSString).deletingLastPathComponent
            guard FileManager.default.fileExists(atPath: parent, isDirectory: &isDir), isDir.boolValue else {
                throw SemailError(
                    "cannot archive to \(archive)", why: "\(parent) is not a directory", hint: "create it first",
                    status: .cantCreate)
            }
            var st = stat()
            if lstat(archive, &st) == 0 {
                throw SemailError(
                    "\(archive) already exists", why: "an archive is never overwritten",
                    hint: "choose another file name", status: .cantCreate)
            }
        }
        let p = try deletePipeline(uid: uid, address: m.address, archive: archive)
        if dryRun { return p.plan() }
        let r = try p.run(journal: journal, reporter: host.reporter)
        if r.ok { failures.clear(uid) }
        return r
    }
}

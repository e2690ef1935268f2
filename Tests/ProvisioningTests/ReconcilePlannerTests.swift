@testable import Containers
@testable import Core
@testable import DNS
import Foundation
@testable import Provisioning
@testable import Storage
import Testing

/// The reconcile planner's decisions, from observations built by hand: no
/// service is called.
@Suite struct ReconcilePlannerTests {
    let config: Config = {
        var c = Config()
        c.storage.owner = "vmail:5000:5000"
        c.storage.mailRoot = "/home/Personnes"
        c.storage.defaultSize = "5G"
        c.storage.maxSize = "50G"
        c.dns.zone = "semail.email"
        c.dns.mxHost = "ns1.semail.email."
        c.smtp.addressMap = "/var/lib/semail/mailbox.txt"
        return c
    }()

    func box(_ uid: String, _ domain: String = "a.semail.email", size: UInt64? = nil) -> MailboxRecord {
        MailboxRecord(
            uid: uid, dn: "uid=\(uid),ou=Personnes,dc=semail,dc=email", address: "\(uid)@\(domain)", size: size)
    }
    func volume(_ uid: String, size: UInt64 = 1 << 30, mounted: Bool = true, persistent: Bool = true) -> VolumeState {
        VolumeState(
            uid: uid, backend: "image", source: "/var/lib/semail/images/\(uid).img", size: size, device: "/dev/loop0",
            mountPoint: "/home/Personnes/\(uid)", mounted: mounted, fsSize: nil, fsUsed: nil, fsFree: nil,
            persistent: persistent)
    }
    func container(_ uid: String, state: String = "running", spec: String = "spec", address: String? = "10.0.0.2")
        -> ContainerState
    {
        var c = ContainerState(
            uid: uid, name: "semail-\(uid)", id: "abc", address: "\(uid)@a.semail.email", state: state, status: state,
            image: "img", templateHash: "t", specHash: spec, ipAddress: nil, ssh: nil)
        c.fixedAddress = address
        return c
    }
    func mx(_ domain: String, host: String = "ns1.semail.email.") -> ZoneRecord {
        ZoneRecord(
            owner: "\(domain).", ttl: 3600, rrclass: "IN", type: "MX", rdata: ["10", host], file: "db", line: 1,
            managed: true,
            included: false, origin: "semail.email.", rdataRanges: [],
            key: "\(domain).")
    }
    func zone(_ records: [ZoneRecord]) -> ZoneListing {
        ZoneListing(zone: "semail.email", file: "db", serial: 1, managed: records, mx: records)
    }
    let okTree: [String: MaildirTree.State] = [
        "": .ok, "Maildir": .ok, "Maildir/tmp": .ok, "Maildir/new": .ok, "Maildir/cur": .ok
    ]

    /// An observation where every mailbox is whole: nothing to do.
    func healthy(_ boxes: [MailboxRecord]) -> Observation {
        var o = Observation()
        o.mailboxes = boxes
        o.all = boxes
        for b in boxes {
            o.volumes[b.uid] = volume(b.uid)
            o.mounts["/home/Personnes/\(b.uid)"] = "ext4"
            o.maildirs[b.uid] = okTree
            o.containers[b.uid] = container(b.uid)
            o.expectedSpecs[b.uid] = "spec"
            o.addresses[b.uid] = "10.0.0.2"
            o.dockerfileDirs.append(b.uid)
        }
        o.zone = zone(Set(boxes.map { DNSComponent.domain(of: $0.address) }).sorted().map { mx($0) })
        o.map = AddressMap.render(boxes)
        o.current = Dictionary(uniqueKeysWithValues: boxes.map { ($0.uid, $0.address) })
        return o
    }
    func plan(_ o: Observation) -> [ReconcileItem] { ReconcilePlanner.plan(o, config) }
    func lines(_ items: [ReconcileItem]) -> [String] {
        items.map { "\($0.kind.rawValue) \($0.uid) \($0.component.rawValue)" }
    }

    @Test func wholeMailboxesNeedNothing() {
        #expect(plan(healthy([box("ann"), box("bob")])).isEmpty)
    }

    @Test func missingVolumeIsCreatedWithTheDirectorySizeOrTheDefault() throws {
        var o = healthy([box("ann", size: 2 << 30), box("bob")])
        o.volumes = [:]
        o.maildirs = [:]
        let items = plan(o)
        let creates = items.filter { $0.component == .volume }
        #expect(creates.map(\.kind) == [.create, .create])
        #expect(creates.filter { !$0.destructive }.isEmpty)
        #expect(creates[0].action == "create an empty 2G volume", "\(creates)")
        #expect(creates[1].action == "create an empty 5G volume", "\(creates)")
        // The containers run without their volume: stopped, the volume mounted, started.
        #expect(
            items.filter { $0.component == .container }.map(\.action) == [
                "stop semail-ann, mount the volume, start it",
                "stop semail-bob, mount the volume, start it"
            ])
    }

    @Test func volumeDrift() {
        var o = healthy([box("ann", size: 4 << 30), box("bob", size: 100 << 30), box("cid")])
        o.volumes["cid"] = volume("cid", mounted: false, persistent: false)
        o.maildirs["cid"] = nil
        o.unsealed = ["ann": false, "bob": true]
        let items = plan(o)
        let ann = items.filter { $0.uid == "ann" }.map { "\($0.kind.rawValue): \($0.action)" }
        #expect(ann == ["repair: \(VolumeComponent.sealAction)", "repair: grow to 4G"])
        let bob = items.filter { $0.uid == "bob" }.map(\.kind)
        #expect(bob == [.attention, .attention], "files under the mount point, and a size above max_size: \(items)")
        let cid = items.filter { $0.uid == "cid" }.map(\.action)
        #expect(cid.contains("mount /var/lib/semail/images/cid.img at /home/Personnes/cid"))
        #expect(cid.contains("add the fstab entry"))
    }

    @Test func notExt4AndBrokenMaildirs() {
        var o = healthy([box("ann"), box("bob"), box("cid")])
        o.mounts["/home/Personnes/ann"] = "xfs"
        o.maildirs["bob"] = ["": .ok, "Maildir": .notADirectory]
        o.maildirs["cid"] = [
            "": .wrongOwner, "Maildir": .ok, "Maildir/tmp": .missing, "Maildir/new": .ok, "Maildir/cur": .missing
        ]
        let items = plan(o)
        #expect(items.first { $0.uid == "ann" }?.kind == .attention)
        #expect(items.first { $0.uid == "ann" }?.reason == "it is mounted as xfs, not ext4")
        let bob = items.filter { $0.uid == "bob" }
        #expect(bob.map(\.kind) == [.attention] && bob.first?.component == .maildir, "\(bob)")
        #expect(
            items.filter { $0.uid == "cid" }.map(\.action) == [
                "create Maildir/tmp, Maildir/cur", "set owner and mode of the volume root"
            ])
    }

    @Test func containerDriftInOrderOfPrecedence() {
        var o = healthy([box("ann"), box("bob"), box("cid"), box("dan"), box("eve")])
        o.containers["ann"] = nil
        o.containers["bob"] = container("bob", state: "exited")
        o.expectedSpecs["cid"] = "other"
        o.containers["dan"] = container("dan", address: nil)
        o.volumes["eve"] = volume("eve", mounted: false)
        o.containers["eve"] = container("eve", state: "restarting", spec: "stale")
        let actions = Dictionary(
            plan(o).filter { $0.component == .container }.map { ($0.uid, $0.action) }, uniquingKeysWith: { a, _ in a })
        #expect(
            actions == [
                "ann": "create semail-ann", "bob": "start semail-bob", "cid": "rebuild semail-cid",
                "dan": "rebuild semail-dan with its fixed address",
                "eve": "stop semail-eve, mount the volume, start it"
            ])
        // Unknown expected spec (no base image or owner): rebuilt.
        var p = healthy([box("ann")])
        p.expectedSpecs = [:]
        #expect(plan(p).map(\.action) == ["rebuild semail-ann"])
    }

    @Test func missingMXInTheManagedZoneOnly() {
        var o = healthy([box("ann"), box("bob", "example.org")])
        o.zone = zone([])
        let items = plan(o)
        #expect(lines(items) == ["repair ann dns"])
        #expect(items.first?.target == "a.semail.email" && items.first?.action == "add a.semail.email MX")
        // A zone that could not be read plans nothing for DNS.
        o.zone = nil
        #expect(plan(o).isEmpty)
    }

    @Test func staleOrMissingMap() {
        var o = healthy([box("ann")])
        o.map = "uid: old mail: old@a.semail.email\n"
        #expect(plan(o).map(\.reason) == ["it differs from the directory"])
        o.map = nil
        #expect(plan(o).map(\.reason) == ["it does not exist"])
        o = healthy([box("ann")])
        o.stalePostfix = ["/etc/postfix/vmailbox"]
        #expect(plan(o).map(\.action) == ["rewrite /etc/postfix/vmailbox"])
    }

    @Test func orphansAreDestructiveExceptDockerfileDirs() {
        var o = healthy([box("ann")])
        o.volumes["old"] = volume("old")
        o.containers["old"] = container("old")
        o.dockerfileDirs.append("old")
        o.zone = zone([mx("a.semail.email"), mx("gone.semail.email"), mx("other.semail.email", host: "mx.elsewhere.")])
        let items = plan(o)
        #expect(lines(items) == ["orphan old volume", "orphan old container", "orphan old dockerfile", "orphan - dns"])
        #expect(items.map(\.destructive) == [true, true, false, true])
        #expect(items.last?.target == "gone.semail.email.")
    }

    @Test func aRefusedEntryKeepsItsThingsAndIsReportedFirst() {
        var o = healthy([box("ann")])
        let bad = box("bob")
        o.all.append(bad)
        o.refused = ["bob": "bob@a.semail.email is claimed by ann"]
        o.failures["bob"] = ProvisioningFailure(
            uid: "bob", address: bad.address, size: nil, by: .user, step: "directory-check",
            reason: "refused", at: "2026-01-01T00:00:00Z")
        o.volumes["bob"] = volume("bob")
        o.containers["bob"] = container("bob")
        o.networkDrift = "enable_icc is on"
        let items = plan(o)
        #expect(lines(items) == ["refused bob address-map", "repair - network"], "not orphans: \(items)")
        #expect(
            items[0].reason.hasPrefix(
                "bob@a.semail.email is claimed by ann; last failed: refused (step directory-check)"))
    }

    @Test func aFailedRequestIsRetried() {
        var o = healthy([box("ann")])
        o.failures["ann"] = ProvisioningFailure(
            uid: "ann", address: "ann@a.semail.email", size: nil, by: .admin, step: "container",
            reason: "boom", at: "2026-01-01T00:00:00Z")
        #expect(lines(plan(o)) == ["create ann mailbox"])
        // A failure for another address is not this mailbox's.
        o.failures["ann"]?.address = "ann@b.semail.email"
        #expect(plan(o).isEmpty)
    }

    @Test func linesComeHostThenMailboxesThenMapThenOrphans() {
        var o = healthy([box("ann"), box("bob")])
        o.networkDrift = "x"
        o.containers["ann"] = nil
        o.zone = zone([mx("gone.semail.email")])
        o.map = nil
        o.volumes["old"] = volume("old")
        #expect(
            lines(plan(o)) == [
                "repair - network", "repair ann container", "repair ann dns", "repair bob dns",
                "repair - address-map", "orphan old volume", "orphan - dns"
            ])
    }

    @Test func massChangeGuard() throws {
        var c = config
        c.state.guardMin = 2
        c.state.guardPercent = 10
        let orphans = (0..<3).map { ReconcileItem(.orphan, "o\($0)", .volume, "move", "no mailbox", destructive: true) }
        var opt = Reconciler.Options()
        // Orphans count only when they would be pruned.
        try ReconcilePlanner.checkMassChange(orphans, mailboxes: 10, opt, c)
        opt.prune = true
        #expect(throws: SemailError.self) { try ReconcilePlanner.checkMassChange(orphans, mailboxes: 10, opt, c) }
        // 10% of 40 mailboxes is 4.
        try ReconcilePlanner.checkMassChange(orphans, mailboxes: 40, opt, c)
        let creates = (0..<3).map { ReconcileItem(.create, "c\($0)", .volume, "create", "none", destructive: true) }
        #expect(throws: SemailError.self) {
            try ReconcilePlanner.checkMassChange(creates, mailboxes: 0, Reconciler.Options(), c)
        }
        var forced = Reconciler.Options()
        forced.force = true
        try ReconcilePlanner.checkMassChange(creates, mailboxes: 0, forced, c)
        var dry = Reconciler.Options()
        dry.dryRun = true
        try ReconcilePlanner.checkMassChange(creates, mailboxes: 0, dry, c)
        // Repairs that destroy nothing never count.
        let repairs = (0..<9).map { ReconcileItem(.repair, "r\($0)", .container, "start", "exited") }
        try ReconcilePlanner.checkMassChange(repairs, mailboxes: 0, Reconciler.Options(), c)
    }
}

/// The mailbox pipelines are composed from the components in a fixed order;
/// the journal's names and events keep their strings.
@Suite struct MailboxCompositionTests {
    let mailboxes = Mailboxes(
        host: Host(
            config: {
                var c = Config()
                c.dns.zone = "semail.email"
                return c
            }()))

    @Test func createSteps() throws {
        let p = try mailboxes.createPipeline(uid: "ann", address: "Ann@A.semail.email", size: 1 << 30)
        #expect(p.kind == "mailbox.create")
        #expect(
            p.steps.map(\.name) == [
                "directory-check", "volume", "dockerfile", "container", "dns", "directory", "address-map"
            ])
        #expect(p.steps.filter(\.pointOfNoReturn).map(\.name) == ["address-map"])
        #expect(p.params == ["uid": "ann", "address": "ann@a.semail.email", "size": "1073741824", "by": "admin"])
        let r = try mailboxes.createPipeline(
            uid: "ann", address: "ann@example.org", size: 1, by: .user, request: true, requestSize: nil)
        #expect(
            r.steps.map(\.name) == [
                "directory-check", "request", "volume", "dockerfile", "container", "dns", "directory", "address-map"
            ])
        #expect(r.params["request"] == "-" && r.params["by"] == "user")
    }

    @Test func deleteSteps() throws {
        let p = try mailboxes.deletePipeline(uid: "ann", address: "ann@a.semail.email", archive: "/srv/ann.tar.gz")
        #expect(p.kind == "mailbox.delete")
        #expect(
            p.steps.map(\.name) == [
                "directory-check", "stop-delivery", "container", "archive", "volume", "dns", "directory",
                "address-map", "dockerfile", "address"
            ])
        #expect(p.steps.filter(\.pointOfNoReturn).map(\.name) == ["volume"])
        let q = try mailboxes.deletePipeline(uid: "ann", address: "ann@a.semail.email", archive: nil)
        #expect(!q.steps.map(\.name).contains("archive"))
    }

    @Test func journalStringsAndObservations() throws {
        #expect(StepName.createOrder.map(\.rawValue).contains("directory-check"))
        let events: [JournalEvent] = [.start, .begin, .done, .skipped, .undone, .undoFailed, .commit, .rolledback]
        #expect(
            events.map(\.rawValue) == [
                "start", "begin", "done", "skipped", "undone", "undo-failed", "commit", "rolledback"
            ])
        let line = #"{"before":{"existed":"0"},"event":"undo-failed","step":"volume","time":0,"tx":"t"}"#
        let r = try JSONDecoder().decode(JournalRecord.self, from: Data(line.utf8))
        #expect(r.event == .undoFailed)
        let enc = JSONEncoder()
        enc.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        #expect(String(decoding: try enc.encode(r), as: UTF8.self) == line)
        #expect(Before(record: r.before ?? [:]) == Before(existed: false))
        #expect(Before(existed: true, hadMail: false).record == ["existed": "1", "hadMail": "0"])
        // Nothing recorded (a step `recover` began) is neither "existed" nor "did not".
        #expect(Before(record: [:]).existed == nil)
        #expect(ComponentName.addressMap.rawValue == "address-map")
    }
}

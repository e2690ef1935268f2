@testable import Containers
import Core
@testable import Directory
import Foundation
import LDAPClient
@testable import Storage
import Testing
@testable import Provisioning

/// `Mailboxes.recover` and `pipeline(for:)` on a journal an interrupted
/// `mailbox create` or `delete` left, with fakes for the directory,
/// volumes, containers and zone: only the calls each direction needs are
/// answered, any other fails the test.
@Suite struct MailboxRecoverUnitTests {
    static let uid = "alice"
    static let address = "alice@example.org"  // outside the managed zone: the zone is not edited

    /// A host in a temporary directory; the fakes answer nothing until a test says.
    struct World {
        let dir: TempDir
        let config: Config
        let log = CallLog([])
        var directory = FakeDirectory()
        var volumes: FakeVolumes
        var containers: FakeContainers
        var dns = FakeZone()

        init() throws {
            dir = try TempDir()
            var c = Config()
            c.state.dir = "\(dir.path)/state"
            c.smtp.addressMap = "\(dir.path)/map/mailbox.txt"
            c.storage.mailRoot = "\(dir.path)/mail"
            c.storage.owner = "vmail:5000:5000"
            c.containers.dockerfileDir = "\(dir.path)/containers"
            c.dns.zone = "semail.test"
            config = c
            volumes = FakeVolumes(mailRoot: c.storage.mailRoot)
            containers = FakeContainers(config: c.containers, stateDir: c.state.dir)
            try Trust.stateDirectory(c.state.dir)
        }

        var host: Provisioning.Host {
            Provisioning.Host(
                config: config, reporter: recordingReporter(log), runner: FakeRunner(),
                directory: directory, volumes: volumes, containers: containers, dns: dns)
        }
        var mailboxes: Mailboxes { Mailboxes(host: host) }

        /// A journal as an interrupted `kind` run leaves it.
        func interrupted(
            _ kind: String, params: [String: String],
            _ records: [(event: String, step: String, before: [String: String])]
        ) throws -> String {
            let j = Journal(stateDir: config.state.dir)
            let w = try j.begin(kind: kind, params: params)
            for r in records {
                let before = r.event == "begin" ? r.before : nil
                try w.write(
                    JournalRecord(
                        tx: w.tx, event: try #require(JournalEvent(rawValue: r.event)), step: r.step,
                        before: before))
            }
            return "\(j.dir)/\(w.tx).jsonl"
        }

        var mapLines: String? {
            FileManager.default.contents(atPath: config.smtp.addressMap).map { String(decoding: $0, as: UTF8.self) }
        }
    }

    static func user() -> UserRecord {
        UserRecord(
            LDAPEntry(
                dn: "uid=\(uid),ou=Personnes,dc=semail,dc=email",
                attributes: [
                    .init("uid", strings: [uid]), .init("cn", strings: ["Alice"]), .init("sn", strings: ["A"]),
                    .init("mail", strings: [address]), .init("uidNumber", strings: ["10001"])
                ]))
    }
    static func record() -> MailboxRecord {
        MailboxRecord(uid: uid, dn: "uid=\(uid),ou=Personnes,dc=semail,dc=email", address: address, size: 1 << 30)
    }
    static func container(_ uid: String) -> ContainerState {
        ContainerState(
            uid: uid, name: "semail-\(uid)", id: "c0ffee", address: address, state: "running", status: "Up",
            image: "semail/mailbox:\(uid)-0", templateHash: "t", specHash: "s", ipAddress: nil, ssh: nil)
    }
    static func created(_ uid: String) -> ContainerResult {
        ContainerResult(uid: uid, action: .created, container: container(uid), dockerfile: "")
    }
    static let createParams = ["uid": uid, "address": address, "size": "\(1 << 30)", "by": "admin"]

    @Test func anInterruptedCreateBeforeThePointOfNoReturnIsRolledBack() throws {
        var w = try World()
        defer { w.dir.cleanup() }
        let log = w.log
        w.containers.onRemove = { uid, release in
            log.add("containers.remove \(uid) release=\(release)"); return []
        }
        w.volumes.onDelete = { uid in
            log.add("volumes.delete \(uid)"); return .init(uid: uid, removed: [])
        }
        try FileManager.default.createDirectory(
            atPath: "\(w.config.containers.dockerfileDir)/\(Self.uid)",
            withIntermediateDirectories: true)
        let path = try w.interrupted(
            "mailbox.create", params: Self.createParams,
            [
                ("begin", "directory-check", [:]), ("done", "directory-check", [:]),
                ("begin", "volume", ["existed": "0"]), ("done", "volume", [:]),
                ("begin", "dockerfile", ["existed": "0"]), ("done", "dockerfile", [:]),
                ("begin", "container", ["existed": "0"])
            ])
        let reports = try w.mailboxes.recover()
        #expect(reports.count == 1)
        let r = try #require(reports.first)
        #expect(r.ok)
        #expect(r.kind == "mailbox.create")
        #expect(r.rolledBack == ["container", "dockerfile", "volume"])
        #expect(
            log.value.filter { !$0.hasPrefix("info") }
                == ["containers.remove alice release=true", "volumes.delete alice"])
        #expect(!FileManager.default.fileExists(atPath: "\(w.config.containers.dockerfileDir)/\(Self.uid)"))
        #expect(!FileManager.default.fileExists(atPath: path))
    }

    @Test func aRollbackKeepsWhatExistedBefore() throws {
        let w = try World()
        defer { w.dir.cleanup() }
        // The volume and the container were there before the create: nothing is undone.
        _ = try w.interrupted(
            "mailbox.create", params: Self.createParams,
            [
                ("begin", "volume", ["existed": "1"]), ("done", "volume", [:]),
                ("begin", "container", ["existed": "1"])
            ])
        let r = try #require(try w.mailboxes.recover().first)
        #expect(r.ok)
        // No fake was given a closure: any removal would have failed the test.
        #expect(r.rolledBack == ["container", "volume"])
    }

    @Test func anInterruptedCreatePastThePointOfNoReturnIsFinished() throws {
        var w = try World()
        defer { w.dir.cleanup() }
        let log = w.log
        let onEntry = Box<MailboxRecord?>(Self.record())
        w.directory.onUser = { _ in Self.user() }
        w.directory.onMailbox = { _ in onEntry.value }
        w.directory.onMailboxes = { [onEntry.value].compactMap { $0 } }
        w.directory.onAddressHolders = { _, _ in [] }
        w.dns.onHandKeptNames = { [] }
        w.volumes.onLooksComplete = { _ in true }
        w.containers.onEnsure = { input in
            log.add("containers.ensure \(input.uid) \(input.address) \(input.owner.uid) \(input.maildir)")
            return Self.created(input.uid)
        }
        let keyDir = "\(w.config.containers.dockerfileDir)/\(Self.uid)"
        try FileManager.default.createDirectory(atPath: keyDir, withIntermediateDirectories: true)
        #expect(FileManager.default.createFile(atPath: "\(keyDir)/ssh_host_ed25519_key", contents: Data()))
        let path = try w.interrupted(
            "mailbox.create", params: Self.createParams,
            [
                ("begin", "directory-check", [:]), ("done", "directory-check", [:]),
                ("begin", "volume", ["existed": "0"]), ("done", "volume", [:]),
                ("begin", "dockerfile", ["existed": "0"]), ("done", "dockerfile", [:]),
                ("begin", "container", ["existed": "0"]), ("done", "container", [:]),
                ("skipped", "dns", [:]),
                ("begin", "directory", ["hadMail": "1"]), ("done", "directory", [:]),
                ("begin", "address-map", [:])
            ])
        let r = try #require(try w.mailboxes.recover().first)
        #expect(r.ok, "\(r.reason ?? "")")
        #expect(r.notes == ["finishing (past the point of no return)"])
        // Every step without a check runs again; the others are skipped as done.
        #expect(r.applied == ["directory-check", "container", "address-map"])
        #expect(r.rolledBack.isEmpty)
        let maildir = "\(w.config.storage.mailRoot)/alice/Maildir"
        #expect(log.value.contains("containers.ensure alice alice@example.org 5000 \(maildir)"))
        #expect(w.mapLines == "uid: alice mail: alice@example.org\n")
        #expect(Approvals(stateDir: w.config.state.dir).entries() == [Self.uid: Self.address])
        #expect(!FileManager.default.fileExists(atPath: path))
    }

    static let deleteParams = ["uid": uid, "address": address]

    @Test func anInterruptedDeleteBeforeThePointOfNoReturnGivesTheMailboxBack() throws {
        var w = try World()
        defer { w.dir.cleanup() }
        let log = w.log
        w.directory.onUser = { _ in Self.user() }
        w.directory.onMailboxes = { [Self.record()] }
        w.containers.onEnsure = { input in
            log.add("containers.ensure \(input.uid)")
            return Self.created(input.uid)
        }
        _ = try w.interrupted(
            "mailbox.delete", params: Self.deleteParams,
            [
                ("begin", "directory-check", [:]), ("done", "directory-check", [:]),
                ("begin", "stop-delivery", [:]), ("done", "stop-delivery", [:]),
                ("begin", "container", ["existed": "1"])
            ])
        let r = try #require(try w.mailboxes.recover().first)
        #expect(r.ok)
        #expect(r.kind == "mailbox.delete")
        #expect(r.rolledBack == ["container", "stop-delivery"])
        #expect(log.value.filter { !$0.hasPrefix("info") } == ["containers.ensure alice"])
        #expect(w.mapLines == "uid: alice mail: alice@example.org\n", "delivery resumes")
    }

    @Test func anInterruptedDeletePastThePointOfNoReturnIsFinished() throws {
        var w = try World()
        defer { w.dir.cleanup() }
        let log = w.log
        let volume = Box(true), cleared = Box(false)
        w.directory.onUser = { _ in Self.user() }
        w.directory.onMailboxes = { cleared.value ? [] : [Self.record()] }
        w.directory.onMailboxCleared = { _, _ in cleared.value }
        w.directory.onClearMailbox = { uid, mail, objectClass in
            log.add("directory.clearMailbox \(uid) \(mail ?? "-") \(objectClass)")
            cleared.value = true
        }
        w.containers.onShow = { _ in nil }
        w.volumes.onExists = { _ in volume.value }
        w.volumes.onDelete = { uid in
            log.add("volumes.delete \(uid)")
            volume.value = false
            return .init(uid: uid, removed: [])
        }
        try FileManager.default.createDirectory(
            atPath: "\(w.config.containers.dockerfileDir)/\(Self.uid)",
            withIntermediateDirectories: true)
        let path = try w.interrupted(
            "mailbox.delete", params: Self.deleteParams,
            [
                ("begin", "directory-check", [:]), ("done", "directory-check", [:]),
                ("begin", "stop-delivery", [:]), ("done", "stop-delivery", [:]),
                ("begin", "container", ["existed": "1"]), ("done", "container", [:]),
                ("begin", "volume", [:])
            ])
        let r = try #require(try w.mailboxes.recover().first)
        #expect(r.ok, "\(r.reason ?? "")")
        #expect(r.applied == ["directory-check", "volume", "directory", "address-map", "dockerfile"])
        #expect(
            log.value.filter { !$0.hasPrefix("info") }
                == ["volumes.delete alice", "directory.clearMailbox alice alice@example.org true"])
        #expect(w.mapLines == "")
        #expect(!FileManager.default.fileExists(atPath: "\(w.config.containers.dockerfileDir)/\(Self.uid)"))
        #expect(!FileManager.default.fileExists(atPath: path))
    }

    @Test func anInterruptedRequestRolledBackIsRecordedForReconcile() throws {
        var w = try World()
        defer { w.dir.cleanup() }
        // The request stays on the entry (its step has no undo): reconcile retries it.
        w.directory.onMailbox = { _ in Self.record() }
        w.volumes.onDelete = { uid in .init(uid: uid, removed: []) }
        _ = try w.interrupted(
            "mailbox.create", params: Self.createParams.merging(["request": "-"]) { a, _ in a },
            [
                ("begin", "directory-check", [:]), ("done", "directory-check", [:]),
                ("begin", "request", [:]), ("done", "request", [:]),
                ("begin", "volume", ["existed": "0"])
            ])
        let r = try #require(try w.mailboxes.recover().first)
        #expect(r.ok)
        #expect(r.rolledBack == ["volume"])
        let f = try #require(ProvisioningFailures(stateDir: w.config.state.dir).get(Self.uid))
        #expect(f.address == Self.address)
        #expect(f.step == "volume")
        #expect(f.reason == "interrupted, rolled back by recovery")
        #expect(f.by == .admin)
    }

    @Test func aDryRunOnlyLooks() throws {
        var w = try World()
        defer { w.dir.cleanup() }
        // Only reads are answered: a change of anything would be an unexpected call.
        w.directory.onMailbox = { _ in nil }
        w.directory.onMailboxes = { [] }
        w.volumes.onLooksComplete = { _ in false }
        let r = try w.mailboxes.create(uid: Self.uid, address: Self.address, size: 1 << 30, dryRun: true)
        #expect(
            r.plan?.map(\.step) == [
                "directory-check", "volume", "dockerfile", "container", "dns", "directory",
                "address-map"
            ])
        #expect(r.plan?.allSatisfy { $0.action == "apply" } == true)
        #expect(try Journal(stateDir: w.config.state.dir).pending().isEmpty)
        #expect(w.mapLines == nil)
    }

    @Test func aJournalOfAnUnknownKindIsLeftInPlace() throws {
        let w = try World()
        defer { w.dir.cleanup() }
        let path = try w.interrupted("mailbox.teleport", params: Self.deleteParams, [("begin", "volume", [:])])
        #expect(try w.mailboxes.recover().isEmpty)
        #expect(FileManager.default.fileExists(atPath: path))
        #expect(w.log.value.contains { $0.hasPrefix("warn: journal \(path): unknown transaction kind") })
    }

    @Test func pipelineForAJournalRebuildsItsParameters() throws {
        let w = try World()
        defer { w.dir.cleanup() }
        _ = try w.interrupted("mailbox.create", params: Self.createParams.merging(["request": "-"]) { a, _ in a }, [])
        let p = try #require(try Journal(stateDir: w.config.state.dir).pending().first)
        let pipe = try #require(try w.mailboxes.pipeline(for: p))
        #expect(pipe.kind == "mailbox.create")
        #expect(pipe.subject == Self.uid)
        #expect(pipe.params == Self.createParams.merging(["request": "-"]) { a, _ in a })
        #expect(pipe.steps.map(\.name).contains("request"))
    }

    @Test func aHostOfFakesOpensNoConnectionOfItsOwn() throws {
        let w = try World()
        defer { w.dir.cleanup() }
        let e = #expect(throws: SemailError.self) { try w.host.ldap() }
        #expect(e?.what == "this context has no LDAP connection")
    }

    @Test func aFakeFailsLoudlyOnACallItWasNotGiven() throws {
        try withKnownIssue {
            _ = try FakeDirectory().mailboxes()
        } matching: {
            $0.description.contains("unexpected call directory.mailboxes")
        }
        try withKnownIssue {
            _ = try FakeVolumes(mailRoot: "/m").exists("x")
        } matching: {
            $0.description.contains("unexpected call volumes.exists(x)")
        }
    }
}

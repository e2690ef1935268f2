@testable import Containers
@testable import Core
@testable import Directory
import Foundation
import LDAPClient
@testable import Provisioning
import Testing

/// The suspension's reading of untrusted entry values, its place in the
/// reconcile plan, the schema upgrade, and the audit log (written by the
/// pipeline, read back as untrusted input).
@Suite(.serialized) struct SuspendAuditUnitTests {
    @Test func theStateValuesOfAnEntry() throws {
        #expect(Suspension.from(state: nil, reason: "ignored") == nil)
        #expect(Suspension.from(state: "active", reason: nil) == nil)
        #expect(Suspension.from(state: " Active ", reason: nil) == nil)
        #expect(Suspension.from(state: "suspended", reason: "unpaid") == Suspension(reason: "unpaid"))
        // Anything else suspends: a typo never gives access back.
        #expect(Suspension.from(state: "suspend", reason: nil)?.state == "suspend")
        #expect(Suspension.from(state: "", reason: nil)?.state == "suspended")
        // Values are made printable and cut before anything shows them.
        let s = try #require(Suspension.from(state: "x\u{1B}[2J", reason: "a\u{1B}]0;t\u{7}b\nc"))
        #expect(!s.state.contains("\u{1B}") && !(s.reason ?? "").contains("\u{1B}") && !(s.reason ?? "").contains("\n"))
        #expect(s.reason == "a\\u{1b}]0;t\\u{7}b\\nc")
        let long = try #require(Suspension.from(state: "suspended", reason: String(repeating: "r", count: 5000)))
        #expect((long.reason ?? "").count == Suspension.maxReason + 1)
    }

    @Test func aReasonGivenOnTheCommandLine() throws {
        #expect(try Suspension.validReason(" unpaid invoice ") == "unpaid invoice")
        for bad in [
            "", "   ", "two\nlines", "tab\there", "esc\u{1B}[2J", String(repeating: "x", count: 201), "bidi\u{202E}"
        ] {
            #expect(throws: SemailError.self, "\(Validate.quoted(bad))") { try Suspension.validReason(bad) }
        }
        #expect(try Suspension.validReason(String(repeating: "é", count: 200)).count == 200)
    }

    func container(_ uid: String, state: String) -> ContainerState {
        ContainerState(
            uid: uid, name: "semail-\(uid)", id: "abc", address: "\(uid)@a.example", state: state, status: state,
            image: "img", templateHash: "t", specHash: "other-spec", ipAddress: nil, ssh: nil)
    }

    /// Suspended: no start, create or rebuild planned (its spec differs here),
    /// only a stop when something runs it.
    @Test func reconcileKeepsASuspendedContainerStopped() {
        var m = MailboxRecord(uid: "ann", dn: "uid=ann", address: "ann@a.example", size: nil)
        m.suspension = Suspension(reason: "x")
        var o = Observation()
        o.mailboxes = [m]
        let c = ContainerComponent()
        #expect(c.drift(of: m, o, Config()).isEmpty)  // no container: not made
        o.containers["ann"] = container("ann", state: "exited")
        #expect(c.drift(of: m, o, Config()).isEmpty)  // stopped, spec stale: left alone
        o.containers["ann"] = container("ann", state: "running")
        #expect(c.drift(of: m, o, Config()).map(\.action) == ["stop semail-ann and keep it stopped"])
        // Active again: the stopped container is started (here: rebuilt, its spec is stale).
        m.suspension = nil
        o.containers["ann"] = container("ann", state: "exited")
        #expect(!c.drift(of: m, o, Config()).isEmpty)
    }

    /// A semail schema loaded by an older semailctl gains the new types and
    /// the extended class in one modify; a foreign one is not touched.
    @Test func schemaUpgradeFromTheOldDefinition() throws {
        let old = """
            dn: cn={4}semail,cn=schema,cn=config
            objectClass: olcSchemaConfig
            cn: {4}semail
            olcAttributeTypes: {0}( 1.3.6.1.4.1.99999.1.1.1 NAME 'semailMailbox' DESC 'The mailbox address owned by \
            this user (id@domain)' EQUALITY caseIgnoreIA5Match SUBSTR caseIgnoreIA5SubstringsMatch SYNTAX \
            1.3.6.1.4.1.1466.115.121.1.26 SINGLE-VALUE )
            olcAttributeTypes: {1}( 1.3.6.1.4.1.99999.1.1.2 NAME 'semailVolumeSize' DESC 'Size of the mailbox \
            volume in bytes' EQUALITY integerMatch SYNTAX 1.3.6.1.4.1.1466.115.121.1.27 SINGLE-VALUE )
            olcObjectClasses: {0}( 1.3.6.1.4.1.99999.1.2.1 NAME 'semailUser' DESC 'A user with a semail mailbox' \
            SUP top AUXILIARY MAY ( semailMailbox $ semailVolumeSize ) )

            """
        let have = try #require(try LDIF.records(old, file: "old.ldif").first?.entry)
        let ours = DirectorySchema.semail.entry
        let up = try #require(DirectorySetup.schemaUpgrade(have: have, ours: ours))
        #expect(up.mods.count == 2)
        #expect(up.mods[0].op == .add && up.mods[0].attribute.name == "olcAttributeTypes")
        #expect(up.mods[0].attribute.values.count == 2)
        #expect(up.mods[1].op == .replace && up.mods[1].attribute.name == "olcObjectClasses")
        #expect(up.what.contains("semailstate") && up.what.contains("semailstatereason"), "\(up.what)")
        // Already ours: nothing. Another definition of one of our types: a conflict, not an upgrade.
        #expect(DirectorySetup.schemaUpgrade(have: ours, ours: ours) == nil)
        let foreign = old.replacingOccurrences(of: "integerMatch", with: "caseIgnoreMatch")
        let other = try #require(try LDIF.records(foreign, file: "f.ldif").first?.entry)
        #expect(DirectorySetup.schemaUpgrade(have: other, ours: ours) == nil)
    }

    func report(_ ok: Bool) -> PipelineReport {
        var r = PipelineReport(kind: "mailbox.create", subject: "ann", ok: ok)
        r.applied = ["volume"]
        if !ok { r.reason = "injected failure\nat\u{1B}[2J dns"; r.rolledBack = ["volume"] }
        return r
    }

    @Test func theAuditLogIsAppendedAndReadBackAsUntrusted() throws {
        let t = try TempDir()
        defer { t.cleanup() }
        let log = AuditLog(stateDir: t.path)
        AuditLog.begin(AuditContext(user: "root", sudoUser: "admin", asUser: nil, command: "mailbox create"))
        defer { AuditLog.begin(AuditContext.process(command: "-")) }
        try log.append(AuditLog.record(report(true), tx: "1", result: .committed))
        try log.append(AuditLog.record(report(false), tx: "2", result: .rolledBack))
        var st = stat()
        #expect(lstat(log.path, &st) == 0 && st.st_mode & 0o777 == 0o600)
        let text = try String(contentsOfFile: log.path, encoding: .utf8)
        #expect(text.split(separator: "\n").count == 2)
        #expect(!text.contains("\u{1B}"))
        // A file left 0644 (a rotation's `create 0644`) is put back to 0600.
        chmod(log.path, 0o644)
        try log.append(AuditLog.record(report(true), tx: "3", result: .committed))
        #expect(lstat(log.path, &st) == 0 && st.st_mode & 0o777 == 0o600)

        // Forged lines: reported with their number, the rest read.
        let fd = open(log.path, O_WRONLY | O_APPEND)
        _ = "{\"broken\n\u{1B}]0;x\u{7}\n".withCString { write(fd, $0, strlen($0)) }
        close(fd)
        let (records, bad) = try log.read()
        #expect(records.map(\.tx) == ["1", "2", "3"])
        #expect(records[0].sudoUser == "admin" && records[0].command == "mailbox create" && records[0].uid == "ann")
        #expect(records[1].result == .rolledBack && records[1].rolledBack == ["volume"])
        #expect(records[1].error == "injected failure at\\u{1b}[2J dns")
        #expect(bad.map(\.line) == [4, 5])
        #expect(bad.allSatisfy { !$0.text.contains("\u{1B}") })
    }

    @Test func aLinkAtThePathIsRefused() throws {
        let t = try TempDir()
        defer { t.cleanup() }
        let target = "\(t.path)/target"
        _ = FileManager.default.createFile(atPath: target, contents: Data("keep\n".utf8))
        let log = AuditLog(stateDir: t.path)
        try FileManager.default.createSymbolicLink(atPath: log.path, withDestinationPath: target)
        #expect(throws: SemailError.self) { try log.append(AuditLog.record(report(true), tx: "1", result: .committed)) }
        #expect(throws: SemailError.self) { _ = try log.read() }
        #expect(try String(contentsOfFile: target, encoding: .utf8) == "keep\n")
        // A hard link to another file is refused too.
        try FileManager.default.removeItem(atPath: log.path)
        #expect(link(target, log.path) == 0)
        #expect(throws: SemailError.self) { try log.append(AuditLog.record(report(true), tx: "1", result: .committed)) }
        #expect(try String(contentsOfFile: target, encoding: .utf8) == "keep\n")
    }

    /// The pipeline writes the line (one place): a commit, a rollback, and
    /// nothing of its parameters (where a secret could be).
    @Test func thePipelineWritesOneLinePerTransaction() throws {
        let t = try TempDir()
        defer { t.cleanup() }
        let j = Journal(stateDir: t.path)
        let ok = Pipeline(
            kind: "t.ok", subject: "ann", params: ["password": "hunter2-secret"],
            steps: [Step("a", why: "", apply: {})])
        _ = try ok.run(journal: j)
        let bad = Pipeline(
            kind: "t.bad", subject: "ann", params: ["password": "hunter2-secret"],
            steps: [
                Step("a", why: "", apply: {}, undo: { _ in }),
                Step("b", why: "", apply: { throw SemailError("boom", why: "test") })
            ])
        let r = try bad.run(journal: j)
        #expect(!r.ok)
        _ = ok.plan()  // a dry run is no transaction
        let (records, unreadable) = try AuditLog(stateDir: t.path).read()
        #expect(unreadable.isEmpty)
        #expect(records.map(\.kind) == ["t.ok", "t.bad"])
        #expect(records.map(\.result) == [.committed, .rolledBack])
        #expect(records[1].applied == ["a"] && records[1].rolledBack == ["a"])
        #expect(records[1].error?.contains("boom") == true)
        #expect(!(try String(contentsOfFile: "\(t.path)/audit.log", encoding: .utf8)).contains("hunter2"))
    }
}

import Containers
import Core
import Directory
import Foundation
import Testing
@testable import Provisioning

/// Pipeline rollback, dry-run plans and `recover` in every direction, on
/// closures and a journal in a temporary directory: no services.
@Suite struct PipelineUnitTests {
    /// A step that logs what it does; `fail` names the closures that throw.
    static func step(
        _ name: String, _ log: CallLog, done: Bool = false, fail: Set<String> = [],
        pointOfNoReturn: Bool = false, undoable: Bool = true
    ) -> Step {
        @Sendable func act(_ what: String) throws {
            log.add("\(what) \(name)")
            if fail.contains(what) {
                throw SemailError("\(what) \(name) failed", why: "the test says so", status: .failure)
            }
        }
        let check: @Sendable () throws -> Bool = {
            log.add("check \(name)")
            if fail.contains("check") { try act("check") }
            return done
        }
        let undo: @Sendable ([String: String]) throws -> Void = { before in
            try act("undo")
            log.add("before \(before["of"] ?? "-")")
        }
        return Step(
            name, why: "because \(name)", pointOfNoReturn: pointOfNoReturn, check: check,
            observe: { ["of": name] }, apply: { try act("apply") }, undo: undoable ? undo : nil)
    }

    static func journalFiles(_ j: Journal) -> [String] {
        ((try? FileManager.default.contentsOfDirectory(atPath: j.dir)) ?? []).filter { $0.hasSuffix(".jsonl") }
    }

    static func events(_ j: Journal) throws -> [String] {
        try j.pending().flatMap(\.records).map { [$0.event.rawValue, $0.step].compactMap { $0 }.joined(separator: " ") }
    }

    func withJournal(_ body: (Journal) throws -> Void) throws {
        let t = try TempDir()
        defer { t.cleanup() }
        try body(Journal(stateDir: t.path))
    }

    @Test func aCompleteRunCommitsAndLeavesNoJournal() throws {
        try withJournal { j in
            let log = CallLog([])
            let p = Pipeline(
                kind: "t", subject: "s", params: [:],
                steps: [Self.step("a", log), Self.step("b", log, done: true), Self.step("c", log)])
            let r = try p.run(journal: j)
            #expect(r.ok)
            #expect(r.applied == ["a", "c"])
            #expect(r.skipped == ["b"])
            #expect(!log.value.contains("apply b"))
            #expect(Self.journalFiles(j).isEmpty)
        }
    }

    @Test func aFailureUndoesTheEarlierStepsInReverseWithTheirBefore() throws {
        try withJournal { j in
            let log = CallLog([])
            let p = Pipeline(
                kind: "t", subject: "s", params: [:],
                steps: [
                    Self.step("a", log), Self.step("skipped", log, done: true),
                    Self.step("noundo", log, undoable: false),
                    Self.step("b", log), Self.step("c", log, fail: ["apply"]), Self.step("d", log)
                ])
            let r = try p.run(journal: j)
            #expect(!r.ok)
            #expect(r.failedStep == "c")
            #expect(r.reason?.contains("apply c failed") == true)
            // c began (it may have half done its work) and is undone first; the
            // skipped step was never begun; a step without undo has none; d never ran.
            #expect(r.rolledBack == ["c", "b", "a"])
            #expect(
                log.value.filter { $0.hasPrefix("undo") || $0.hasPrefix("before") }
                    == ["undo c", "before c", "undo b", "before b", "undo a", "before a"])
            #expect(!log.value.contains("check d"))
            #expect(r.undoFailures.isEmpty)
            #expect(Self.journalFiles(j).isEmpty, "a clean rollback ends the transaction")
        }
    }

    @Test func anUndoFailureLeavesTheJournalAndSaysSo() throws {
        try withJournal { j in
            let log = CallLog([])
            let p = Pipeline(
                kind: "t", subject: "s", params: [:],
                steps: [
                    Self.step("a", log), Self.step("b", log, fail: ["undo"]), Self.step("c", log, fail: ["apply"])
                ])
            let r = try p.run(journal: j)
            #expect(!r.ok)
            #expect(r.rolledBack == ["c", "a"], "the rollback goes on past a failed undo")
            #expect(r.undoFailures.count == 1)
            #expect(r.undoFailures.first?.hasPrefix("b: undo b failed") == true)
            #expect(Self.journalFiles(j).count == 1)
            let ev = try Self.events(j)
            #expect(ev.contains("undo-failed b"))
            #expect(ev.contains("undone a"))
            #expect(!ev.contains("rolledback"))
        }
    }

    @Test func aFailurePastThePointOfNoReturnIsLeftForRecover() throws {
        try withJournal { j in
            let log = CallLog([])
            let p = Pipeline(
                kind: "t", subject: "s", params: [:],
                steps: [
                    Self.step("a", log), Self.step("ponr", log, pointOfNoReturn: true),
                    Self.step("c", log, fail: ["apply"])
                ])
            let r = try p.run(journal: j)
            #expect(!r.ok)
            #expect(r.failedStep == "c")
            #expect(r.rolledBack.isEmpty)
            #expect(!log.value.contains { $0.hasPrefix("undo") })
            #expect(r.notes.contains { $0.contains("semailctl recover") })
            #expect(Self.journalFiles(j).count == 1)
        }
    }

    @Test func aFailureAtThePointOfNoReturnItselfIsRolledBack() throws {
        try withJournal { j in
            let log = CallLog([])
            let p = Pipeline(
                kind: "t", subject: "s", params: [:],
                steps: [
                    Self.step("a", log), Self.step("ponr", log, fail: ["apply"], pointOfNoReturn: true)
                ])
            let r = try p.run(journal: j)
            #expect(r.rolledBack == ["ponr", "a"])
            #expect(Self.journalFiles(j).isEmpty)
        }
    }

    @Test func aPlanRunsOnlyTheChecksAndWritesNoJournal() throws {
        try withJournal { j in
            let log = CallLog([])
            let p = Pipeline(
                kind: "t", subject: "s", params: [:],
                steps: [
                    Self.step("a", log), Self.step("b", log, done: true), Self.step("c", log, fail: ["check"])
                ])
            let r = p.plan()
            #expect(r.plan?.map(\.action) == ["apply", "skip", "error"])
            #expect(r.plan?.map(\.why).first == "because a")
            #expect(r.plan?[1].why == "already done")
            #expect(log.value.allSatisfy { $0.hasPrefix("check") })
            #expect(!FileManager.default.fileExists(atPath: j.dir))
        }
    }

    // MARK: recover

    /// A journal as an interrupted run leaves it: `begun` steps with their before.
    static func interrupted(
        _ j: Journal, kind: String = "t", params: [String: String] = [:],
        _ records: [(event: String, step: String)]
    ) throws -> Journal.Pending {
        let w = try j.begin(kind: kind, params: params)
        for r in records {
            let before = r.event == "begin" ? ["of": r.step] : nil
            try w.write(
                JournalRecord(
                    tx: w.tx, event: try #require(JournalEvent(rawValue: r.event)), step: r.step,
                    before: before))
        }
        return try #require(try j.pending().first { $0.tx == w.tx })
    }

    @Test func recoverRollsBackARunInterruptedBeforeThePointOfNoReturn() throws {
        try withJournal { j in
            let log = CallLog([])
            let p = Pipeline(
                kind: "t", subject: "s", params: [:],
                steps: [
                    Self.step("a", log), Self.step("b", log), Self.step("c", log),
                    Self.step("ponr", log, pointOfNoReturn: true)
                ])
            let pending = try Self.interrupted(j, [("begin", "a"), ("done", "a"), ("skipped", "b"), ("begin", "c")])
            let r = try p.recover(pending, journal: j)
            #expect(r.ok)
            #expect(r.notes == ["rolling back"])
            #expect(r.rolledBack == ["c", "a"])
            #expect(log.value == ["undo c", "before c", "undo a", "before a"], "no check, no apply, b was not begun")
            #expect(Self.journalFiles(j).isEmpty)
        }
    }

    @Test func recoverFinishesARunPastThePointOfNoReturnSkippingWhatIsDone() throws {
        try withJournal { j in
            let log = CallLog([])
            let p = Pipeline(
                kind: "t", subject: "s", params: [:],
                steps: [
                    Self.step("a", log, done: true), Self.step("ponr", log, done: true, pointOfNoReturn: true),
                    Self.step("c", log), Self.step("d", log)
                ])
            let pending = try Self.interrupted(
                j,
                [
                    ("begin", "a"), ("done", "a"), ("begin", "ponr"), ("done", "ponr"),
                    ("begin", "c")
                ])
            let r = try p.recover(pending, journal: j)
            #expect(r.ok)
            #expect(r.notes == ["finishing (past the point of no return)"])
            #expect(r.applied == ["c", "d"])
            #expect(!log.value.contains { $0.hasPrefix("undo") || $0 == "apply a" || $0 == "apply ponr" })
            #expect(Self.journalFiles(j).isEmpty)
        }
    }

    @Test func recoverForwardThatFailsKeepsTheJournal() throws {
        try withJournal { j in
            let log = CallLog([])
            let p = Pipeline(
                kind: "t", subject: "s", params: [:],
                steps: [
                    Self.step("ponr", log, done: true, pointOfNoReturn: true), Self.step("c", log, fail: ["apply"])
                ])
            let pending = try Self.interrupted(j, [("begin", "ponr")])
            let r = try p.recover(pending, journal: j)
            #expect(!r.ok)
            #expect(r.failedStep == "c")
            #expect(Self.journalFiles(j).count == 1, "the next recover tries again")
        }
    }

    @Test func recoverOfAPartlyUndoneRunUndoesNothingTwice() throws {
        try withJournal { j in
            let log = CallLog([])
            let p = Pipeline(
                kind: "t", subject: "s", params: [:],
                steps: [
                    Self.step("a", log), Self.step("b", log), Self.step("c", log)
                ])
            // A rollback undid c, then failed on b and stopped (or the process died).
            let pending = try Self.interrupted(
                j,
                [
                    ("begin", "a"), ("done", "a"), ("begin", "b"), ("done", "b"),
                    ("begin", "c"), ("undone", "c"), ("undo-failed", "b")
                ])
            let r = try p.recover(pending, journal: j)
            #expect(r.ok)
            #expect(r.rolledBack == ["b", "a"])
            #expect(!log.value.contains("undo c"))
            #expect(Self.journalFiles(j).isEmpty)
        }
    }

    @Test func recoverWhoseUndoFailsAgainKeepsTheJournal() throws {
        try withJournal { j in
            let log = CallLog([])
            let p = Pipeline(kind: "t", subject: "s", params: [:], steps: [Self.step("a", log, fail: ["undo"])])
            let pending = try Self.interrupted(j, [("begin", "a")])
            let r = try p.recover(pending, journal: j)
            #expect(!r.ok)
            #expect(r.undoFailures.count == 1)
            #expect(Self.journalFiles(j).count == 1)
        }
    }

    @Test func aTornLastLineIsIgnored() throws {
        try withJournal { j in
            let log = CallLog([])
            let pending = try Self.interrupted(j, [("begin", "a")])
            // Power lost in the middle of writing the next record.
            let fd = open(pending.path, O_WRONLY | O_APPEND)
            #expect(fd >= 0)
            _ = "{\"event\":\"done\",\"st".withCString { write(fd, $0, strlen($0)) }
            close(fd)
            let again = try #require(try j.pending().first)
            #expect(again.records.map(\.event) == [.start, .begin])
            let p = Pipeline(kind: "t", subject: "s", params: [:], steps: [Self.step("a", log)])
            let r = try p.recover(again, journal: j)
            #expect(r.rolledBack == ["a"])
            #expect(Self.journalFiles(j).isEmpty)
        }
    }

    @Test func aJournalFileNotRootsStopsRecovery() throws {
        try withJournal { j in
            let pending = try Self.interrupted(j, [("begin", "a")])
            #expect(chown(pending.path, 65534, 65534) == 0)
            let e = #expect(throws: SemailError.self) { try j.pending() }
            #expect(e?.what.hasPrefix("refusing the journal file") == true)
            #expect(e?.why.contains("owned by uid 65534") == true)
        }
    }

    @Test func aJournalFileThatIsALinkIsRefused() throws {
        try withJournal { j in
            let pending = try Self.interrupted(j, [("begin", "a")])
            #expect(rename(pending.path, "\(j.dir)/elsewhere") == 0)
            #expect(symlink("\(j.dir)/elsewhere", pending.path) == 0)
            let e = #expect(throws: SemailError.self) { try j.pending() }
            #expect(e?.why == "it is a symbolic link")
        }
    }

    @Test func aJournalDirectoryOthersMayWriteIsRefused() throws {
        try withJournal { j in
            _ = try Self.interrupted(j, [("begin", "a")])
            #expect(chmod(j.dir, 0o777) == 0)
            #expect(throws: SemailError.self) { try j.pending() }
        }
    }
}

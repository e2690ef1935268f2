import Core
import Foundation

/// One step of a transaction. `check` says whether it is already done (then
/// it is skipped: this is what makes every command idempotent); `observe`
/// records what existed before, so `undo` only removes what this
/// transaction made. Every closure is idempotent.
public struct Step: Sendable {
    public var name: String
    /// Why it runs (printed by --dry-run).
    public var why: String
    public var check: @Sendable () throws -> Bool
    public var observe: @Sendable () throws -> [String: String]
    public var apply: @Sendable () throws -> Void
    /// nil: the step changes nothing that needs undoing (a check, a message).
    public var undo: (@Sendable (_ before: [String: String]) throws -> Void)?
    /// Once this step has begun, an interrupted transaction is finished,
    /// never rolled back (mail may already be flowing, or be gone).
    public var pointOfNoReturn: Bool

    public init(
        _ name: String, why: String, pointOfNoReturn: Bool = false,
        check: @escaping @Sendable () throws -> Bool = { false },
        observe: @escaping @Sendable () throws -> [String: String] = { [:] },
        apply: @escaping @Sendable () throws -> Void,
        undo: (@Sendable ([String: String]) throws -> Void)? = nil
    ) {
        self.name = name; self.why = why; self.check = check; self.observe = observe; self.apply = apply;
        self.undo = undo
        self.pointOfNoReturn = pointOfNoReturn
    }
}

/// What a journal record says happened (its `event`, as stored).
public enum JournalEvent: String, Codable, Sendable {
    case start, begin, done, skipped, undone
    case undoFailed = "undo-failed"
    case commit, rolledback
}

/// A journal record: JSON lines, one file per transaction, fsynced.
public struct JournalRecord: Codable, Sendable {
    public var tx: String
    public var event: JournalEvent
    public var kind: String? = nil
    public var params: [String: String]? = nil
    public var step: String? = nil
    public var before: [String: String]? = nil
    public var error: String? = nil
    public var time = Date().timeIntervalSince1970
}

/// The write-ahead journal under `<state>/journal/`: a transaction's file
/// exists from its first record until it is committed or rolled back.
public struct Journal: Sendable {
    public let dir: String
    public init(stateDir: String) { dir = "\(stateDir)/journal" }

    public final class Writer: Sendable {
        let fd: Int32
        let path: String
        public let tx: String
        init(path: String, tx: String) throws {
            self.path = path; self.tx = tx
            fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC | O_NOFOLLOW, 0o600)
            guard fd >= 0 else {
                throw SemailError(
                    "cannot write the journal \(path)", why: String(cString: strerror(errno)), status: .ioError)
            }
        }
        deinit { close(fd) }
        public func write(_ r: JournalRecord) throws {
            let enc = JSONEncoder(); enc.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
            var line = try enc.encode(r); line.append(0x0A)
            let n = line.withUnsafeBytes { Glibc.write(fd, $0.baseAddress!, $0.count) }
            guard n == line.count, fsync(fd) == 0 else {
                throw SemailError(
                    "cannot write the journal \(path)", why: String(cString: strerror(errno)), status: .ioError)
            }
        }
        /// The transaction is over: its file goes.
        public func finish() {
            unlink(path)
            AtomicFile.syncDirectory((path as NSString).deletingLastPathComponent)
        }
    }

    public func begin(kind: String, params: [String: String]) throws -> Writer {
        try Trust.stateDirectory((dir as NSString).deletingLastPathComponent)
        try Trust.stateDirectory(dir)
        let tx = "\(Int(Date().timeIntervalSince1970 * 1000))-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        let w = try Writer(path: "\(dir)/\(tx).jsonl", tx: tx)
        AtomicFile.syncDirectory(dir)
        try w.write(JournalRecord(tx: tx, event: .start, kind: kind, params: params))
        return w
    }

    public struct Pending: Sendable {
        public var tx: String; public var path: String; public var records: [JournalRecord]
    }

    /// Unfinished transactions, oldest first. A torn last line (power loss
    /// mid-write) is ignored. A journal file root did not write (another
    /// owner, writable by others, a link) stops everything: acting on a
    /// forged one could destroy a volume.
    public func pending() throws -> [Pending] {
        guard FileManager.default.fileExists(atPath: dir) else { return [] }
        try Trust.stateDirectory((dir as NSString).deletingLastPathComponent)
        try Trust.stateDirectory(dir)
        let files = ((try? FileManager.default.contentsOfDirectory(atPath: dir)) ?? []).filter {
            $0.hasSuffix(".jsonl")
        }.sorted()
        return try files.compactMap { f in
            let path = "\(dir)/\(f)"
            let data = Data(try Trust.read(path, what: "the journal file", secret: true))
            let recs = data.split(separator: 0x0A).compactMap {
                try? JSONDecoder().decode(JournalRecord.self, from: Data($0))
            }
            guard let first = recs.first else { unlink(path); return nil }
            return Pending(tx: first.tx, path: path, records: recs)
        }
    }

    public func reopen(_ p: Pending) throws -> Writer { try Writer(path: p.path, tx: p.tx) }
}

/// What a pipeline run did, for the report.
public struct PipelineReport: Sendable, Codable {
    public var kind: String
    public var subject: String
    public var ok: Bool
    public var applied: [String] = []
    public var skipped: [String] = []
    public var failedStep: String?
    public var reason: String?
    public var rolledBack: [String] = []
    public var undoFailures: [String] = []
    public var notes: [String] = []
    public var plan: [PlannedStep]?
    public struct PlannedStep: Sendable, Codable {
        public var step: String; public var action: String; public var why: String
    }
}

/// A transaction: steps in order, journaled before and after each apply;
/// a failure undoes the completed steps in reverse order.
public struct Pipeline: Sendable {
    public var kind: String
    public var subject: String
    public var params: [String: String]
    public var steps: [Step]
    public init(kind: String, subject: String, params: [String: String], steps: [Step]) {
        self.kind = kind; self.subject = subject; self.params = params; self.steps = steps
    }

    /// What would run and why; changes nothing.
    public func plan() -> PipelineReport {
        var r = PipelineReport(kind: kind, subject: subject, ok: true)
        r.plan = steps.map { s in
            let done: Bool
            do { done = try s.check() } catch { return .init(step: s.name, action: "error", why: "\(error)") }
            return .init(step: s.name, action: done ? "skip" : "apply", why: done ? "already done" : s.why)
        }
        return r
    }

    public func run(journal: Journal, reporter: Reporter = .silent) throws -> PipelineReport {
        let w = try journal.begin(kind: kind, params: params)
        var report = PipelineReport(kind: kind, subject: subject, ok: true)
        var begun: [(Step, [String: String])] = []
        for s in steps {
            do {
                try Fault.check("\(kind).\(s.name).check")
                if try CallTrace.timed("\(s.name).check", { try s.check() }) {
                    try w.write(JournalRecord(tx: w.tx, event: .skipped, step: s.name))
                    report.skipped.append(s.name)
                    continue
                }
                let before = try s.observe()
                try w.write(JournalRecord(tx: w.tx, event: .begin, step: s.name, before: before))
                begun.append((s, before))
                try Fault.check("\(kind).\(s.name)")
                try Fault.check("\(kind).\(s.name)@\(subject)")
                reporter.info("\(subject): \(s.name)")
                try CallTrace.timed(s.name) { try s.apply() }
                try Fault.check("\(kind).\(s.name).after")
                try w.write(JournalRecord(tx: w.tx, event: .done, step: s.name))
                report.applied.append(s.name)
            } catch {
                report.ok = false
                report.failedStep = s.name
                report.reason = (error as? SemailError)?.description ?? "\(error)"
                // The failing step itself did not take effect (it threw), so
                // only an earlier point of no return forbids the rollback.
                if begun.contains(where: { $0.0.pointOfNoReturn && $0.0.name != s.name }) {
                    // Past the point of no return: leave it to `recover`, which finishes it.
                    report.notes.append("past the point of no return: `semailctl recover` finishes this transaction")
                    Self.audit(&report, tx: w.tx, result: .failed, journal: journal, reporter: reporter)
                    return report
                }
                Self.rollback(begun, writer: w, report: &report)
                Self.audit(
                    &report, tx: w.tx, result: report.undoFailures.isEmpty ? .rolledBack : .failed, journal: journal,
                    reporter: reporter)
                return report
            }
        }
        try w.write(JournalRecord(tx: w.tx, event: .commit))
        w.finish()
        Self.audit(&report, tx: w.tx, result: .committed, journal: journal, reporter: reporter)
        return report
    }

    static func rollback(_ begun: [(Step, [String: String])], writer w: Journal.Writer, report: inout PipelineReport) {
        for (s, before) in begun.reversed() {
            guard let undo = s.undo else { continue }
            do {
                try undo(before)
                try? w.write(JournalRecord(tx: w.tx, event: .undone, step: s.name))
                report.rolledBack.append(s.name)
            } catch {
                try? w.write(JournalRecord(tx: w.tx, event: .undoFailed, step: s.name, error: "\(error)"))
                report.undoFailures.append("\(s.name): \((error as? SemailError)?.description ?? "\(error)")")
            }
        }
        if report.undoFailures.isEmpty {
            try? w.write(JournalRecord(tx: w.tx, event: .rolledback))
            w.finish()
        }
    }

    /// Repairs an interrupted run of this pipeline from its journal: rolls
    /// back the steps that began, or, past the point of no return, applies
    /// the remaining steps (each is skipped when already done).
    public func recover(_ p: Journal.Pending, journal: Journal, reporter: Reporter = .silent) throws -> PipelineReport {
        let w = try journal.reopen(p)
        var report = PipelineReport(kind: kind, subject: subject, ok: true)
        var before: [String: [String: String]] = [:]
        var order: [String] = []
        for r in p.records where r.event == .begin {
            if let s = r.step { before[s] = r.before ?? [:]; order.append(s) }
        }
        let undone = Set(p.records.filter { $0.event == .undone }.compactMap(\.step))
        let forward = steps.contains { $0.pointOfNoReturn && before[$0.name] != nil }
        if forward {
            report.notes.append("finishing (past the point of no return)")
            for s in steps {
                do {
                    if try s.check() { continue }
                    try w.write(JournalRecord(tx: w.tx, event: .begin, step: s.name, before: [:]))
                    try s.apply()
                    try w.write(JournalRecord(tx: w.tx, event: .done, step: s.name))
                    report.applied.append(s.name)
                } catch {
                    report.ok = false; report.failedStep = s.name;
                    report.reason = (error as? SemailError)?.description ?? "\(error)"
                    Self.audit(&report, tx: w.tx, result: .failed, journal: journal, reporter: reporter)
                    return report
                }
            }
            try w.write(JournalRecord(tx: w.tx, event: .commit))
            w.finish()
            Self.audit(&report, tx: w.tx, result: .committed, journal: journal, reporter: reporter)
            return report
        }
        report.notes.append("rolling back")
        let begun = order.compactMap { n in
            steps.first { $0.name == n && !undone.contains(n) }.map { ($0, before[n] ?? [:]) }
        }
        Self.rollback(begun, writer: w, report: &report)
        report.ok = report.undoFailures.isEmpty
        Self.audit(
            &report, tx: w.tx, result: report.ok ? .rolledBack : .failed, journal: journal, reporter: reporter)
        return report
    }
}

/// The state directory lock: mutating commands hold it; a second one waits
/// (saying so) or, with `--no-wait`, fails at once. Read-only commands take
/// no lock.
public final class StateLock: Sendable {
    let fd: Int32
    public init(stateDir: String, wait: Bool, reporter: Reporter) throws {
        try Trust.stateDirectory(stateDir)
        let path = "\(stateDir)/semail.lock"
        fd = open(path, O_CREAT | O_RDWR | O_CLOEXEC | O_NOFOLLOW, 0o600)
        guard fd >= 0 else {
            throw SemailError("cannot open the lock \(path)", why: String(cString: strerror(errno)), status: .ioError)
        }
        if flock(fd, LOCK_EX | LOCK_NB) != 0 {
            var buf = [UInt8](repeating: 0, count: 32)
            let n = pread(fd, &buf, 31, 0)
            let holder =
                n > 0
                ? String(decoding: buf[0..<n], as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines) : "?"
            guard wait else {
                close(fd)
                throw SemailError(
                    "another semailctl is running", why: "pid \(holder) holds \(path)",
                    hint: "retry when it has finished, or drop --no-wait to wait for it", status: .tempFailure)
            }
            reporter.info("waiting for another semailctl (pid \(holder)) to finish...")
            while flock(fd, LOCK_EX) != 0 {
                if errno == EINTR { continue }
                let e = errno; close(fd)
                throw SemailError("cannot lock \(path)", why: String(cString: strerror(e)), status: .ioError)
            }
        }
        ftruncate(fd, 0)
        let pid = "\(getpid())\n"
        _ = pid.withCString { pwrite(fd, $0, strlen($0), 0) }
    }
    deinit { close(fd) }
}

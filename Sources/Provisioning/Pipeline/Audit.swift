import Core
import Foundation
import Synchronization

/// Who runs this process and which command, for the audit log: set once
/// by the command line (`Audit.begin`); read by every pipeline that ends.
public struct AuditContext: Sendable, Equatable {
    /// The invoking user's name (getuid), or `#<uid>` without a passwd entry.
    public var user: String
    /// `SUDO_USER`, when the process runs through sudo.
    public var sudoUser: String?
    /// `--as-user UID`: the user the command acts for (self-service).
    public var asUser: String?
    /// The command as typed, without its arguments: `mailbox create`.
    public var command: String

    public init(user: String, sudoUser: String? = nil, asUser: String? = nil, command: String) {
        self.user = user; self.sudoUser = sudoUser; self.asUser = asUser; self.command = command
    }

    /// This process: its real uid's name and SUDO_USER (made printable, cut).
    public static func process(command: String, asUser: String? = nil) -> AuditContext {
        let env = ProcessInfo.processInfo.environment["SUDO_USER"].flatMap { $0.isEmpty ? nil : $0 }
        return AuditContext(
            user: userName(getuid()), sudoUser: env.map { AuditRecord.clean($0, limit: 64) },
            asUser: asUser.map { AuditRecord.clean($0, limit: 64) }, command: AuditRecord.clean(command, limit: 128))
    }

    static func userName(_ uid: uid_t) -> String {
        var pw = passwd()
        var result: UnsafeMutablePointer<passwd>?
        var buf = [CChar](repeating: 0, count: 4096)
        if getpwuid_r(uid, &pw, &buf, buf.count, &result) == 0, result != nil, let name = pw.pw_name {
            return String(cString: name)
        }
        return "#\(uid)"
    }
}

/// One line of `<state>/audit.log`: a transaction that ended. Never a
/// secret: only these fields, none of the pipeline's parameters.
public struct AuditRecord: Codable, Sendable, Equatable {
    public enum Result: String, Codable, Sendable {
        case committed
        case rolledBack = "rolled-back"
        /// Neither: past its point of no return (`recover` finishes it), or an undo failed.
        case failed
    }
    /// ISO-8601, UTC, milliseconds.
    public var time: String
    public var user: String
    public var sudoUser: String?
    public var asUser: String?
    public var command: String
    /// The transaction: `mailbox.create`, `mailbox.suspend`...
    public var kind: String
    /// The uid acted on.
    public var uid: String
    public var tx: String
    public var applied: [String]
    public var rolledBack: [String]?
    public var result: Result
    public var error: String?

    /// A value made safe for one JSON line and a terminal: printable, one line, at most LIMIT characters.
    static func clean(_ s: String, limit: Int = 1000) -> String {
        let one = s.replacingOccurrences(of: "\n", with: " ").replacingOccurrences(of: "\r", with: " ")
            .replacingOccurrences(of: "\t", with: " ")
        let cut = one.count > limit ? String(one.prefix(limit)) + "…" : one
        return Validate.printable(cut)
    }
}

/// The audit log: one JSON line per transaction that committed, rolled
/// back or failed, appended by `Pipeline` (the one place), in a single
/// write() on a descriptor opened with O_APPEND (so rotation by rename
/// needs no signal: the next line goes to a new file), then fsynced; mode
/// 0600. Read back by `semailctl audit` as untrusted input.
public struct AuditLog: Sendable {
    public let path: String
    public init(stateDir: String) { path = "\(stateDir)/audit.log" }
    public init(path: String) { self.path = path }

    /// Whose process and which command: `Audit.begin` sets it.
    static let context = Mutex(AuditContext.process(command: "-"))

    /// Called once by the command line, before any work.
    public static func begin(_ c: AuditContext) { context.withLock { $0 = c } }
    public static var current: AuditContext { context.withLock { $0 } }

    /// The line for REPORT, as `append` writes it.
    public static func record(_ r: PipelineReport, tx: String, result: AuditRecord.Result, at: Date = Date())
        -> AuditRecord
    {
        let c = current
        return AuditRecord(
            time: JSONDates.string(at), user: c.user, sudoUser: c.sudoUser, asUser: c.asUser, command: c.command,
            kind: AuditRecord.clean(r.kind, limit: 64), uid: AuditRecord.clean(r.subject, limit: 64), tx: tx,
            applied: r.applied, rolledBack: r.rolledBack.isEmpty ? nil : r.rolledBack, result: result,
            error: (r.reason ?? (r.undoFailures.isEmpty ? nil : r.undoFailures.joined(separator: "; "))).map {
                AuditRecord.clean($0)
            })
    }

    /// Appends one line: one write() with O_APPEND, fsynced. Refuses a
    /// link, anything but a regular file, or a file another user owns.
    public func append(_ record: AuditRecord) throws {
        let enc = JSONEncoder()
        enc.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        var line = try enc.encode(record)
        line.append(0x0A)
        try Fault.check("audit.append")
        let fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK, 0o600)
        guard fd >= 0 else {
            let e = errno
            throw SemailError(
                "cannot write the audit log \(path)",
                why: e == ELOOP ? "it is a symbolic link" : SystemState.errnoText(e),
                hint: "remove what is at that path; semailctl makes the file itself", status: .ioError)
        }
        defer { close(fd) }
        var st = stat()
        guard fstat(fd, &st) == 0, (st.st_mode & S_IFMT) == S_IFREG, st.st_uid == geteuid(), st.st_nlink == 1 else {
            throw SemailError(
                "refusing to write the audit log \(path)",
                why: "it is not a regular file of this user's with one link", hint: "move it away",
                status: .noPermission)
        }
        if st.st_mode & 0o077 != 0 { fchmod(fd, 0o600) }
        let n = line.withUnsafeBytes { Glibc.write(fd, $0.baseAddress!, $0.count) }
        guard n == line.count, fsync(fd) == 0 else {
            throw SemailError(
                "cannot write the audit log \(path)", why: SystemState.errnoText(), status: .ioError)
        }
    }

    /// A line `read` could not use: where, and what it starts with (printable, cut).
    public struct Unreadable: Codable, Sendable, Equatable {
        public var line: Int
        public var text: String
    }

    /// Every record (in file order) and the lines that are not records.
    /// The file is input: never followed through a link, lines that do not
    /// parse are reported, values are made printable.
    public func read() throws -> (records: [AuditRecord], unreadable: [Unreadable]) {
        let fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK)
        guard fd >= 0 else {
            let e = errno
            if e == ENOENT { return ([], []) }
            throw SemailError(
                "cannot read the audit log \(path)",
                why: e == ELOOP ? "it is a symbolic link (refused)" : SystemState.errnoText(e),
                hint: e == ELOOP ? "remove the link; semailctl writes a regular file there" : nil,
                status: e == EACCES ? .noPermission : .ioError)
        }
        defer { close(fd) }
        var st = stat()
        guard fstat(fd, &st) == 0, (st.st_mode & S_IFMT) == S_IFREG else {
            throw SemailError(
                "refusing the audit log \(path)", why: "it is not a regular file", status: .noPermission)
        }
        var data = Data()
        var buf = [UInt8](repeating: 0, count: 1 << 16)
        while true {
            let n = Glibc.read(fd, &buf, buf.count)
            if n < 0 {
                if errno == EINTR { continue }
                throw SemailError("cannot read the audit log \(path)", why: SystemState.errnoText(), status: .ioError)
            }
            if n == 0 { break }
            data.append(contentsOf: buf[0..<n])
            if data.count > 256 << 20 {
                throw SemailError(
                    "cannot read the audit log \(path)", why: "it is larger than 256 MiB",
                    hint: "rotate it (see README, `audit`)", status: .ioError)
            }
        }
        var records: [AuditRecord] = []
        var bad: [Unreadable] = []
        let dec = JSONDecoder()
        for (i, l) in data.split(separator: 0x0A, omittingEmptySubsequences: false).enumerated() where !l.isEmpty {
            if var r = try? dec.decode(AuditRecord.self, from: Data(l)) {
                r.sanitize()
                records.append(r)
            } else {
                bad.append(
                    Unreadable(line: i + 1, text: AuditRecord.clean(String(decoding: l.prefix(80), as: UTF8.self))))
            }
        }
        return (records, bad)
    }
}

extension AuditRecord {
    /// Values read from the file made printable and cut.
    mutating func sanitize() {
        time = Self.clean(time, limit: 40); user = Self.clean(user, limit: 64)
        sudoUser = sudoUser.map { Self.clean($0, limit: 64) }; asUser = asUser.map { Self.clean($0, limit: 64) }
        command = Self.clean(command, limit: 128); kind = Self.clean(kind, limit: 64); uid = Self.clean(uid, limit: 64)
        tx = Self.clean(tx, limit: 64); applied = applied.prefix(50).map { Self.clean($0, limit: 64) }
        rolledBack = rolledBack.map { $0.prefix(50).map { Self.clean($0, limit: 64) } }
        error = error.map { Self.clean($0) }
    }
}

extension Pipeline {
    /// Appends the transaction's line to the audit log next to JOURNAL's
    /// directory; a failure to write it is said (note, warning), never undoes the transaction.
    static func audit(
        _ report: inout PipelineReport, tx: String, result: AuditRecord.Result, journal: Journal, reporter: Reporter
    ) {
        let log = AuditLog(stateDir: (journal.dir as NSString).deletingLastPathComponent)
        do { try log.append(AuditLog.record(report, tx: tx, result: result)) } catch {
            let text = "audit log: \(SemailError.text(error))"
            report.notes.append(text)
            reporter.warn(text)
        }
    }
}

import ArgumentParser
import Containers
import Core
import Foundation
import Logging
import Provisioning
import Synchronization

/// The only place that switches on the output format. Data goes to stdout
/// (text or one JSON document); messages and progress go to stderr; the
/// progress bar is drawn only on a terminal. Off a terminal (a service
/// manager's journal, a pipe, a file) every message line starts with its
/// syslog priority `<N>` (journald's SyslogLevelPrefix= turns it into the
/// entry's priority) and an ISO-8601 UTC timestamp; `--json` lines of a
/// long-running command carry a `time` field.
struct Output: Sendable {
    let json: Bool
    let quiet: Bool
    /// Where messages go: `StderrLogHandler`, at `.warning` with --quiet.
    let logger: Logger

    init(json: Bool, quiet: Bool, logger: Logger = Output.logger()) {
        self.json = json
        self.quiet = quiet
        var logger = logger
        if quiet { logger.logLevel = max(logger.logLevel, .warning) }
        self.logger = logger
    }

    /// The tool's logger, writing through `StderrLogHandler`.
    static func logger() -> Logger { Logger(label: "semailctl") { _ in StderrLogHandler() } }

    func info(_ s: String) { logger.info("\(s)") }
    func warn(_ s: String) { logger.warning("\(s)") }
    /// A message of a long-running command: with the time on a terminal too.
    func note(_ s: String) { logger.notice("\(s)") }

    /// syslog(3) priorities of the messages.
    enum Priority: Int { case error = 3, warning = 4, info = 6 }

    /// Whether messages carry a priority and a timestamp: stderr is not a terminal.
    static let stamped = isatty(2) == 0

    /// Now, in ISO 8601, UTC, to the millisecond.
    static func timestamp(_ date: Date = Date()) -> String {
        JSONDates.string(date)
    }

    /// Writes all of `s`; a closed pipe or terminal is not an error worth
    /// dying for (SIGPIPE is ignored: a transaction must never be killed
    /// half-way because nobody reads its output).
    static func write(_ fd: Int32, _ s: String) { write(fd, Data(s.utf8)) }
    static func write(_ fd: Int32, _ data: Data) {
        data.withUnsafeBytes { raw in
            var off = 0
            while off < raw.count {
                let n = Glibc.write(fd, raw.baseAddress! + off, raw.count - off)
                if n < 0 { if errno == EINTR { continue }; return }
                off += n
            }
        }
    }

    /// What every command does first: files it creates are private unless
    /// made otherwise on purpose, and a closed output does not kill it.
    static func prepareProcess() {
        umask(0o077)
        signal(SIGPIPE, SIG_IGN)
    }

    var reporter: Reporter {
        let drawBar = !json && isatty(2) == 1
        let bar = ProgressBar()
        return Reporter(logger: logger, progress: { done, total in if drawBar { bar.draw(done, total) } })
    }

    /// Prints the result: `value` as JSON, or `text(value)` as text.
    func emit<T: Encodable>(_ value: T, text: (T) -> String) {
        if json {
            let enc = JSONEncoder()
            enc.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
            enc.dateEncodingStrategy = JSONDates.encoding
            let data = (try? enc.encode(value)) ?? Data("{}".utf8)
            Output.write(1, data + Data("\n".utf8))
        } else {
            let t = Validate.printable(text(value))
            if !t.isEmpty { Output.write(1, t.hasSuffix("\n") ? t : t + "\n") }
        }
    }

    /// One result of a long-running command: a JSON line with a `time`
    /// field (when it was printed), or text. Each goes out in one write(2),
    /// so it reaches a pipe or a journal at once (there is no stdio buffer).
    func emitLine<T: Encodable>(_ value: T, text: (T) -> String) {
        if json {
            let enc = JSONEncoder()
            enc.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
            enc.dateEncodingStrategy = JSONDates.encoding
            Output.write(
                1,
                ((try? enc.encode(Timed(value: value, time: Output.timestamp()))) ?? Data("{}".utf8)) + Data("\n".utf8))
        } else {
            Output.write(1, Validate.printable(text(value)) + "\n")
        }
    }

    struct ErrorDocument: Encodable {
        struct Body: Encodable { var what: String; var why: String; var hint: String?; var exitCode: Int32 }
        var error: Body
    }

    /// Runs a command body; errors are printed (and as JSON with --json)
    /// and turned into the documented exit code.
    func run(_ body: () async throws -> ExitStatus) async throws {
        Output.prepareProcess()
        let status: ExitStatus
        do {
            status = try await body()
        } catch let e as SemailError {
            report(e)
            status = e.status
        } catch let e as DockerError {
            let s = SemailError(
                "Docker request failed", why: e.description, hint: "see the engine's log (journalctl -u docker)",
                status: .failure)
            report(s)
            status = s.status
        } catch let e as ValidationError {
            throw e
        } catch let e as ExitCode {
            throw e
        } catch {
            report(SemailError("unexpected error", why: "\(error)", status: .software))
            status = .software
        }
        if status != .success { throw ExitCode(status.rawValue) }
    }

    func report(_ e: SemailError) {
        logger.error("\(e)")
        if json {
            emit(ErrorDocument(error: .init(what: e.what, why: e.why, hint: e.hint, exitCode: e.status.rawValue))) {
                _ in ""
            }
        }
    }
}

/// A JSON object with a `time` member added to the value's own.
private struct Timed<T: Encodable>: Encodable {
    var value: T
    var time: String
    enum Key: String, CodingKey { case time }
    func encode(to encoder: Encoder) throws {
        try value.encode(to: encoder)
        var c = encoder.container(keyedBy: Key.self)
        try c.encode(time, forKey: .time)
    }
}

/// A one-line progress bar on stderr, redrawn at most every 100 ms.
final class ProgressBar: Sendable {
    private let last = Mutex(Date.distantPast)
    func draw(_ done: Int, _ total: Int) {
        last.withLock { last in
            let now = Date()
            guard done >= total || now.timeIntervalSince(last) > 0.1 else { return }
            last = now
            let width = 30
            let filled = total > 0 ? width * done / total : width
            let bar = "\(String(repeating: "#", count: filled))\(String(repeating: " ", count: width - filled))"
            Output.write(2, "\r[\(bar)] \(done)/\(total)" + (done >= total ? "\n" : ""))
        }
    }
}

/// The tool's `LogHandler`: every message goes out through here, control
/// characters escaped, in one write(2). On a terminal a line is the
/// message (`warning: `/`error: ` before those levels; a notice, the
/// message of a long-running command, after its timestamp). Off a terminal
/// every line starts with its syslog priority `<N>` and an ISO-8601 UTC
/// timestamp.
struct StderrLogHandler: LogHandler {
    var logLevel: Logger.Level = .info
    var metadata: Logger.Metadata = [:]
    var metadataProvider: Logger.MetadataProvider?
    var stamped = Output.stamped
    var write: @Sendable (String) -> Void = { Output.write(2, $0) }
    var now: @Sendable () -> Date = { Date() }

    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    func log(event: LogEvent) { write(Self.format(event.level, "\(event.message)", stamped: stamped, now: now())) }

    static func format(_ level: Logger.Level, _ message: String, stamped: Bool, now: Date) -> String {
        let (priority, text): (Output.Priority, String) =
            switch level {
            case .critical, .error: (.error, "error: \(message)")
            case .warning: (.warning, "warning: \(message)")
            case .notice: (.info, stamped ? message : "\(Output.timestamp(now)) \(message)")
            case .info, .debug, .trace: (.info, message)
            }
        let printable = Validate.printable(text)
        guard stamped else { return printable + "\n" }
        let prefix = "<\(priority.rawValue)>\(Output.timestamp(now)) "
        let lines = printable.split(separator: "\n", omittingEmptySubsequences: false)
        return lines.map { prefix + $0 }.joined(separator: "\n") + "\n"
    }
}

/// Rows in columns as wide as their widest cell: nothing is cut (a
/// 40-character uid stays whole). `minimum` keeps short values where they
/// always were; the last cell of a row is not padded.
enum TextTable {
    static func render(_ rows: [[String]], minimum: [Int] = [], indent: String = "") -> String {
        var widths = minimum
        for row in rows {
            for (i, cell) in row.dropLast().enumerated() {
                if i >= widths.count { widths.append(0) }
                widths[i] = max(widths[i], cell.count)
            }
        }
        return rows.map { row in
            indent
                + row.enumerated().map { i, cell in
                    i == row.count - 1 ? cell : cell + String(repeating: " ", count: max(0, widths[i] - cell.count))
                }.joined(separator: " ")
        }.joined(separator: "\n")
    }
}

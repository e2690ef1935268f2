import ArgumentParser
import Containers
import Core
import Foundation
import Provisioning

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

    func info(_ s: String) { if !quiet { Output.stderr(s) } }
    func warn(_ s: String) { Output.stderr("warning: \(s)", .warning) }
    /// A message of a long-running command: with the time on a terminal too.
    func note(_ s: String) { info(Output.stamped ? s : "\(Output.timestamp()) \(s)") }

    /// syslog(3) priorities of the messages.
    enum Priority: Int { case error = 3, warning = 4, info = 6 }

    /// Whether messages carry a priority and a timestamp: stderr is not a terminal.
    static let stamped = isatty(2) == 0

    /// Every message goes out through here: control characters escaped,
    /// and off a terminal each line stamped.
    static func stderr(_ s: String, _ priority: Priority = .info) {
        let text = Validate.printable(s)
        guard stamped else { write(2, text + "\n"); return }
        let prefix = "<\(priority.rawValue)>\(timestamp()) "
        write(2, text.split(separator: "\n", omittingEmptySubsequences: false).map { prefix + $0 }.joined(separator: "\n") + "\n")
    }

    /// Now, in ISO 8601, UTC, to the millisecond.
    static func timestamp(_ date: Date = Date()) -> String {
        date.formatted(Date.ISO8601FormatStyle(includingFractionalSeconds: true, timeZone: .gmt))
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
        let quiet = quiet, drawBar = !json && isatty(2) == 1
        let bar = ProgressBar()
        return Reporter(info: { if !quiet { Output.stderr($0) } }, warn: { Output.stderr("warning: \($0)", .warning) },
                        progress: { done, total in if drawBar { bar.draw(done, total) } })
    }

    /// Prints the result: `value` as JSON, or `text(value)` as text.
    func emit<T: Encodable>(_ value: T, text: (T) -> String) {
        if json {
            let enc = JSONEncoder()
            enc.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
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
            Output.write(1, ((try? enc.encode(Timed(value: value, time: Output.timestamp()))) ?? Data("{}".utf8)) + Data("\n".utf8))
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
            let s = SemailError("Docker request failed", why: e.description, hint: "see the engine's log (journalctl -u docker)", status: .failure)
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
        Output.stderr("error: \(e)", .error)
        if json {
            emit(ErrorDocument(error: .init(what: e.what, why: e.why, hint: e.hint, exitCode: e.status.rawValue))) { _ in "" }
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
final class ProgressBar: @unchecked Sendable {
    private let lock = NSLock()
    private var last = Date.distantPast
    func draw(_ done: Int, _ total: Int) {
        lock.lock(); defer { lock.unlock() }
        let now = Date()
        guard done >= total || now.timeIntervalSince(last) > 0.1 else { return }
        last = now
        let width = 30
        let filled = total > 0 ? width * done / total : width
        let line = "\r[\(String(repeating: "#", count: filled))\(String(repeating: " ", count: width - filled))] \(done)/\(total)"
        Output.write(2, line + (done >= total ? "\n" : ""))
    }
}

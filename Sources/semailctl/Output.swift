import ArgumentParser
import Foundation
import Provisioning

/// The only place that switches on the output format. Data goes to stdout
/// (text or one JSON document); messages and progress go to stderr; the
/// progress bar is drawn only on a terminal.
struct Output: Sendable {
    let json: Bool
    let quiet: Bool

    func info(_ s: String) { if !quiet { Output.stderr(s) } }
    func warn(_ s: String) { Output.stderr("warning: \(s)") }

    static func stderr(_ s: String) { FileHandle.standardError.write(Data((s + "\n").utf8)) }

    var reporter: Reporter {
        let quiet = quiet, drawBar = !json && isatty(2) == 1
        let bar = ProgressBar()
        return Reporter(info: { if !quiet { Output.stderr($0) } }, warn: { Output.stderr("warning: \($0)") },
                        progress: { done, total in if drawBar { bar.draw(done, total) } })
    }

    /// Prints the result: `value` as JSON, or `text(value)` as text.
    func emit<T: Encodable>(_ value: T, text: (T) -> String) {
        if json {
            let enc = JSONEncoder()
            enc.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
            let data = (try? enc.encode(value)) ?? Data("{}".utf8)
            FileHandle.standardOutput.write(data + Data("\n".utf8))
        } else {
            let t = text(value)
            if !t.isEmpty { FileHandle.standardOutput.write(Data((t.hasSuffix("\n") ? t : t + "\n").utf8)) }
        }
    }

    /// One result of a long-running command: a JSON line, or text.
    func emitLine<T: Encodable>(_ value: T, text: (T) -> String) {
        if json {
            let enc = JSONEncoder()
            enc.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
            FileHandle.standardOutput.write(((try? enc.encode(value)) ?? Data("{}".utf8)) + Data("\n".utf8))
        } else {
            FileHandle.standardOutput.write(Data((text(value) + "\n").utf8))
        }
    }

    struct ErrorDocument: Encodable {
        struct Body: Encodable { var what: String; var why: String; var hint: String?; var exitCode: Int32 }
        var error: Body
    }

    /// Runs a command body; errors are printed (and as JSON with --json)
    /// and turned into the documented exit code.
    func run(_ body: () async throws -> ExitStatus) async throws {
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
        Output.stderr("error: \(e)")
        if json {
            emit(ErrorDocument(error: .init(what: e.what, why: e.why, hint: e.hint, exitCode: e.status.rawValue))) { _ in "" }
        }
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
        FileHandle.standardError.write(Data((line + (done >= total ? "\n" : "")).utf8))
    }
}

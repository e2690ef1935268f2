import CLVM2
import Core
import Foundation
import Synchronization
#if canImport(Glibc)
    import Glibc
#endif

/// liblvm2cmd in this process, wrapped once: the `lvm2_init()` handle,
/// `lvm2_run`, `lvm2_exit`, and the output read through `lvm2_log_fn`
/// (the library hands every line to that callback instead of stdout and
/// stderr). The library keeps global state and is not thread-safe: every
/// use goes through one Mutex, and the lines captured by the callback are
/// only touched while it is held.
///
/// One per process (`shared`): the library's state is global, so two
/// handles could not be kept apart. It runs with umask 077 (its own
/// default) and leaves the process's umask and locale as they were.
///
/// `lvm2_run` takes ONE command line and splits it itself at blanks, with
/// quotes, and stops at a `#` (tools/lvmcmdline.c `lvm_split`); no shell is
/// involved, but a value with a blank or a quote would become other
/// arguments. Callers put in it only words they validated (the volume group
/// checked with the configuration, `Vol<uid>` from a validated uid, sizes
/// as numbers); `run` refuses any word that is empty or holds a blank, a
/// control character, a non-ASCII byte, or starts with a quote or `#`.
public final class LVMLibrary: Sendable {
    public static let shared = LVMLibrary()

    /// The handle of `lvm2_init()`, made on first use.
    private let handle = Mutex<UnsafeMutableRawPointer?>(nil)

    private init() {}

    /// What one command said through the log callback.
    public struct Output: Sendable, Equatable {
        /// `LVM2_COMMAND_SUCCEEDED` (1) or the failure's code.
        public var status: Int32
        /// Output lines (level PRINT: reports, and warnings: liblvm2cmd
        /// gives both the same level).
        public var lines: [String]
        /// Error lines (levels ERROR and FATAL).
        public var errors: [String]
    }

    /// Runs one lvm command (`["lvs", "-o", "lv_name", "mvg"]`) in this
    /// process; a failure is an `LVMError` with what lvm said.
    public func run(_ words: [String]) throws -> Output {
        try Self.check(words)
        let line = words.joined(separator: " ")
        let out = try handle.withLock { h -> Output in
            let mask = umask(0o077)
            defer { umask(mask) }
            if h == nil { h = try Self.open() }
            LVMLog.reset()
            defer { LVMLog.reset() }
            let status = lvm2_run(h, line)
            return Self.output(status: status, LVMLog.taken())
        }
        guard out.status == LVM2_COMMAND_SUCCEEDED else { throw LVMError(command: words, output: out) }
        return out
    }

    /// Releases the handle (`lvm2_exit`); the next `run` makes a new one.
    public func close() {
        handle.withLock { h in
            if let open = h { lvm2_exit(open) }
            h = nil
        }
    }

    /// The words `run` accepts: see the type's comment.
    static func check(_ words: [String]) throws {
        guard !words.isEmpty else {
            throw LVMError(
                command: words,
                output: .init(status: LVM2_INVALID_PARAMETERS, lines: [], errors: ["no command"]))
        }
        for w in words {
            let bytes = Array(w.utf8)
            guard let first = bytes.first, bytes.allSatisfy({ (0x21...0x7E).contains($0) }),
                first != UInt8(ascii: "'"), first != UInt8(ascii: "\""), first != UInt8(ascii: "#")
            else {
                throw SemailError(
                    "refusing to pass \(Validate.quoted(w)) to liblvm2cmd",
                    why: "lvm2_run splits its command line at blanks and quotes: "
                        + "every word must be a plain name or number",
                    status: .software)
            }
        }
    }

    /// Sorts the captured lines by level (the callback keeps PRINT and more
    /// serious; debug and verbose lines are dropped there).
    static func output(status: Int32, _ captured: [(level: Int32, text: String)]) -> Output {
        Output(
            status: status, lines: captured.filter { $0.level == LVM2_LOG_PRINT }.map(\.text),
            errors: captured.filter { $0.level < LVM2_LOG_PRINT }.map(\.text))
    }

    /// `lvm2_init()` with the callback in place. On the process's main
    /// thread the library would reopen stdin and stdout with buffers of its
    /// own (create_toolcontext); on another thread it leaves them alone, so
    /// it starts on a short-lived one. It also sets the locale from the
    /// environment: the process's is put back (messages stay as they were).
    /// What stays is its `mallopt(M_MMAP_MAX, 0)` (no mmap for large
    /// allocations, for its memory locking while devices are suspended).
    private static func open() throws -> UnsafeMutableRawPointer {
        lvm2_log_fn(lvmLogLine)
        LVMLog.reset()
        defer { LVMLog.reset() }
        let locale = setlocale(LC_ALL, nil).map { String(cString: $0) }
        let started = StartedHandle()
        let done = DispatchSemaphore(value: 0)
        let thread = Thread {
            started.value = lvm2_init(); done.signal()
        }
        thread.start()
        done.wait()
        if let locale { setlocale(LC_ALL, locale) }
        guard let h = started.value else {
            let said = output(status: LVM2_INIT_FAILED, LVMLog.taken())
            let why = (said.errors + said.lines).suffix(5).joined(separator: "\n  ")
            throw SemailError(
                "cannot start liblvm2cmd", why: why,
                hint: "check /etc/lvm/lvm.conf (`lvm config`)", status: .unavailable)
        }
        return h
    }

    private final class StartedHandle: Sendable {
        private let handle = Mutex<UInt?>(nil)
        var value: UnsafeMutableRawPointer? {
            get { handle.withLock { $0 }.flatMap { UnsafeMutableRawPointer(bitPattern: $0) } }
            set { handle.withLock { $0 = newValue.map { UInt(bitPattern: $0) } } }
        }
    }
}

/// The lines `lvm2_log_fn` hands over during one command (the library
/// calls back within `lvm2_run` or `lvm2_init`, while `LVMLibrary`'s own
/// Mutex is held; this one keeps the lines themselves safe).
enum LVMLog {
    private static let lines = Mutex<[(level: Int32, text: String)]>([])
    static func reset() { lines.withLock { $0 = [] } }
    static func append(_ level: Int32, _ text: String) { lines.withLock { $0.append((level, text)) } }
    static func taken() -> [(level: Int32, text: String)] { lines.withLock { $0 } }
}

/// The log callback: keeps PRINT, ERROR and FATAL lines (a C function: no
/// context, hence `LVMLog`).
private let lvmLogLine: lvm2_log_fn_t = { level, _, _, _, message in
    guard let message, level > LVM2_LOG_SUPPRESS, level <= LVM2_LOG_PRINT else { return }
    LVMLog.append(level, String(cString: message))
}

/// An lvm command that did not succeed, with what it said.
public struct LVMError: Error, Sendable, CustomStringConvertible {
    public let command: [String]
    public let output: LVMLibrary.Output

    public var description: String {
        let said = output.errors.isEmpty ? output.lines : output.errors
        let tail = said.map { $0.trimmingCharacters(in: .whitespaces) }.suffix(5).joined(separator: "\n    ")
        return "`lvm \(command.joined(separator: " "))` failed (\(reason))" + (tail.isEmpty ? "" : ":\n    \(tail)")
    }

    var reason: String {
        switch output.status {
        case LVM2_NO_SUCH_COMMAND: "no such command"
        case LVM2_INVALID_PARAMETERS: "invalid parameters"
        case LVM2_INIT_FAILED: "initialisation failed"
        case LVM2_PROCESSING_FAILED: "processing failed"
        default: "status \(output.status)"
        }
    }
}

/// Reports asked with `--noheadings --nameprefixes`: one line per row of
/// `LVM2_FIELD='value'` pairs. Rows are told from warnings (which the log
/// callback gives the same level) by their `LVM2_` prefix.
enum LVMReport {
    static func rows(_ lines: [String]) -> [[String: String]] {
        lines.compactMap { line in
            let t = line.trimmingCharacters(in: .whitespaces)
            return t.hasPrefix("LVM2_") ? fields(t) : nil
        }
    }

    /// `LVM2_LV_NAME='Volalice' LVM2_LV_SIZE='67108864'` -> ["LV_NAME": "Volalice", ...]
    static func fields(_ line: String) -> [String: String]? {
        var out: [String: String] = [:]
        var rest = Substring(line)
        while true {
            rest = rest.drop { $0 == " " }
            if rest.isEmpty { return out }
            guard rest.hasPrefix("LVM2_"), let eq = rest.firstIndex(of: "=") else { return nil }
            let key = String(rest[rest.index(rest.startIndex, offsetBy: 5)..<eq])
            rest = rest[rest.index(after: eq)...]
            var value = ""
            if rest.first == "'" {
                rest = rest.dropFirst()
                var closed = false
                while let c = rest.first {
                    rest = rest.dropFirst()
                    if c == "\\", let n = rest.first { value.append(n); rest = rest.dropFirst(); continue }
                    if c == "'" { closed = true; break }
                    value.append(c)
                }
                guard closed else { return nil }
            } else {
                value = String(rest.prefix { $0 != " " })
                rest = rest.dropFirst(value.count)
            }
            out[key] = value
        }
    }
}

import CShims
import Foundation
#if canImport(Glibc)
    import Glibc
#endif

/// A program run that failed: the exit status, the argv (shell-escaped for
/// reading, never for running) and the tail of its stderr.
public struct ProcessError: Error, Sendable, CustomStringConvertible {
    public let argv: [String]
    public let status: Int32
    public let stderr: String
    public var description: String {
        let tail = stderr.split(separator: "\n").suffix(5).joined(separator: "\n    ")
        return "`\(ProcessRunner.display(argv))` exited with status \(status)" + (tail.isEmpty ? "" : ":\n    \(tail)")
    }
}

public struct ProcessOutput: Sendable {
    public let status: Int32
    public let stdout: Data
    public let stderr: String
    public var text: String { String(decoding: stdout, as: UTF8.self) }
}

/// The one way the tool runs programs: an argument array (never a shell
/// command line), spawned with posix_spawn so the child inherits none of our
/// descriptors; stdout and stderr go to unlinked temporary files so neither
/// can block the other; optional data on stdin through a pipe fed by its
/// own thread (secrets never touch the disk).
public struct ProcessRunner: Sendable {
    public var environment: [String: String]?
    public init(environment: [String: String]? = nil) { self.environment = environment }

    /// `stdinFD` / `stdoutFD`: descriptors of the caller's (read from, or
    /// written to, from their current offset) instead of data and a
    /// captured stdout; they stay open. `stderrFD`: a file of the caller's
    /// (an `anonymousFile()`) that stderr is written to, so the caller can
    /// read it while the program runs; it is still returned whole.
    @discardableResult
    public func run(
        _ argv: [String], stdin: Data? = nil, stdinFD: Int32? = nil, stdoutFD: Int32? = nil, stderrFD: Int32? = nil,
        check: Bool = true
    ) throws -> ProcessOutput {
        precondition(!argv.isEmpty)
        let path = try ProcessRunner.resolve(argv[0])
        let outFD = try stdoutFD.map { dup($0) } ?? ProcessRunner.tempFD()
        let errFD = try stderrFD.map { dup($0) } ?? ProcessRunner.tempFD()
        defer { close(outFD); close(errFD) }
        var inFD: Int32 = -1
        var feeder: (Int32, Data)?
        if let stdinFD {
            inFD = dup(stdinFD)
        } else if let stdin {
            var fds: [Int32] = [0, 0]
            guard semail_pipe_cloexec(&fds) == 0 else {
                throw ProcessError(argv: argv, status: 127, stderr: "pipe: \(String(cString: strerror(errno)))")
            }
            inFD = fds[0]; feeder = (fds[1], stdin)
        } else {
            inFD = open("/dev/null", O_RDONLY | O_CLOEXEC)
        }
        let env = (environment ?? ProcessInfo.processInfo.environment).map { "\($0.key)=\($0.value)" }
        var pid: pid_t = 0
        let rc = withCStrings(argv) { cargv in
            withCStrings(env) { cenv in semail_spawn(&pid, path, cargv, cenv, inFD, outFD, errFD) }
        }
        close(inFD)
        guard rc == 0 else {
            if let (w, _) = feeder { close(w) }
            throw ProcessError(
                argv: argv, status: 127, stderr: "cannot start \(path): \(String(cString: strerror(rc)))")
        }
        if let (w, data) = feeder {
            let t = Thread {
                data.withUnsafeBytes { raw in
                    var off = 0
                    while off < raw.count {
                        let n = write(w, raw.baseAddress! + off, raw.count - off)
                        if n < 0 { if errno == EINTR { continue }; break }
                        off += n
                    }
                }
                close(w)
            }
            t.start()
        }
        let raw = semail_wait(pid)
        let status: Int32 =
            raw < 0 ? 127 : (semail_wifexited(raw) != 0 ? semail_wexitstatus(raw) : 128 + semail_wtermsig(raw))
        let out = stdoutFD == nil ? ProcessRunner.readAll(outFD) : Data()
        let err = String(decoding: ProcessRunner.readAll(errFD), as: UTF8.self)
        if check && status != 0 { throw ProcessError(argv: argv, status: status, stderr: err) }
        return ProcessOutput(status: status, stdout: out, stderr: err)
    }

    /// An anonymous temporary file (O_TMPFILE: never visible by name); the caller closes it.
    public static func anonymousFile() throws -> Int32 { try tempFD() }

    /// What FD holds, from its start (pread: the file offset is not moved).
    public static func contents(_ fd: Int32) -> Data { readAll(fd) }

    /// An anonymous temporary file (O_TMPFILE: never visible by name).
    static func tempFD() throws -> Int32 {
        let fd = semail_tmpfile(NSTemporaryDirectory())
        guard fd >= 0 else {
            throw ProcessError(argv: [], status: 127, stderr: "temporary file: \(String(cString: strerror(errno)))")
        }
        return fd
    }

    static func readAll(_ fd: Int32) -> Data {
        var data = Data()
        var buf = [UInt8](repeating: 0, count: 65536)
        var off: off_t = 0
        while true {
            let n = pread(fd, &buf, buf.count, off)
            if n < 0 { if errno == EINTR { continue }; break }
            if n == 0 { break }
            data.append(contentsOf: buf[0..<n]); off += off_t(n)
        }
        return data
    }

    /// Finds a program in PATH (and the sbin directories) unless given a path.
    public static func resolve(_ name: String) throws -> String {
        if name.contains("/") { return name }
        let path = (ProcessInfo.processInfo.environment["PATH"] ?? "") + ":/usr/sbin:/sbin:/usr/bin:/bin"
        for d in path.split(separator: ":") where FileManager.default.isExecutableFile(atPath: "\(d)/\(name)") {
            return "\(d)/\(name)"
        }
        throw ProcessError(argv: [name], status: 127, stderr: "\(name): not found in PATH")
    }

    /// argv as a reader would type it (for messages only).
    public static func display(_ argv: [String]) -> String {
        argv.map { a in
            a.allSatisfy({ $0.isLetter || $0.isNumber || "-_./=:,@%+".contains($0) }) && !a.isEmpty
                ? a : "'" + a.replacingOccurrences(of: "'", with: "'\\''") + "'"
        }.joined(separator: " ")
    }
}

/// Calls `body` with a NULL-terminated C array of the strings.
func withCStrings<R>(_ strings: [String], _ body: (UnsafePointer<UnsafeMutablePointer<CChar>?>) -> R) -> R {
    var ptrs: [UnsafeMutablePointer<CChar>?] = strings.map { strdup($0) }
    ptrs.append(nil)
    defer { for p in ptrs { free(p) } }
    return ptrs.withUnsafeBufferPointer { body($0.baseAddress!) }
}

import Foundation

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
/// command line), stdout and stderr captured into files so neither can
/// block the other, optional data on stdin.
public struct ProcessRunner: Sendable {
    public var environment: [String: String]?
    public init(environment: [String: String]? = nil) { self.environment = environment }

    @discardableResult
    public func run(_ argv: [String], stdin: Data? = nil, check: Bool = true) throws -> ProcessOutput {
        precondition(!argv.isEmpty)
        let p = Process()
        p.executableURL = URL(fileURLWithPath: try ProcessRunner.resolve(argv[0]))
        p.arguments = Array(argv.dropFirst())
        if let environment { p.environment = environment }
        let dir = FileManager.default.temporaryDirectory
        let outURL = dir.appendingPathComponent("semail-\(UUID().uuidString).out")
        let errURL = dir.appendingPathComponent("semail-\(UUID().uuidString).err")
        FileManager.default.createFile(atPath: outURL.path, contents: nil)
        FileManager.default.createFile(atPath: errURL.path, contents: nil)
        defer { try? FileManager.default.removeItem(at: outURL); try? FileManager.default.removeItem(at: errURL) }
        let outH = try FileHandle(forWritingTo: outURL), errH = try FileHandle(forWritingTo: errURL)
        p.standardOutput = outH
        p.standardError = errH
        let inPipe = stdin.map { _ in Pipe() }
        p.standardInput = inPipe ?? FileHandle.nullDevice
        do { try p.run() } catch {
            throw ProcessError(argv: argv, status: 127, stderr: "cannot start: \(error)")
        }
        if let inPipe, let stdin {
            inPipe.fileHandleForWriting.write(stdin)
            try? inPipe.fileHandleForWriting.close()
        }
        p.waitUntilExit()
        try? outH.close(); try? errH.close()
        let out = (try? Data(contentsOf: outURL)) ?? Data()
        let err = String(decoding: (try? Data(contentsOf: errURL)) ?? Data(), as: UTF8.self)
        let status = p.terminationReason == .uncaughtSignal ? 128 + p.terminationStatus : p.terminationStatus
        if check && status != 0 { throw ProcessError(argv: argv, status: status, stderr: err) }
        return ProcessOutput(status: status, stdout: out, stderr: err)
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

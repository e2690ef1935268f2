import Foundation
#if canImport(Glibc)
    import Glibc
#endif

/// A password in memory: never printed, never logged, never put in argv.
public struct Secret: Sendable, CustomStringConvertible, CustomDebugStringConvertible {
    public let bytes: [UInt8]
    public init(_ bytes: [UInt8]) { self.bytes = bytes }
    public var description: String { "<secret>" }
    public var debugDescription: String { "<secret>" }
    public var isEmpty: Bool { bytes.isEmpty }
}

public enum Secrets {
    /// Reads a secret file: a regular file (never through a link) of
    /// root's or ours, that group and others cannot access, in trusted
    /// directories; one trailing newline stripped. An empty one is refused:
    /// an empty password would make an unauthenticated bind.
    /// `emptyStatus`: the exit status when the file is empty (a file named
    /// on the command line is a usage error; one in the configuration, a
    /// configuration error).
    public static func readFile(_ path: String, emptyStatus: ExitStatus = .config) throws -> Secret {
        var st = stat()
        if stat(path, &st) != 0 && errno == ENOENT {
            throw SemailError(
                "cannot read secret file \(path)", why: "no such file",
                hint: "create it with mode 0600 (e.g. install -m 600 /dev/null \(path), then write the password)",
                status: .config)
        }
        let s = Secret(stripNewline(try Trust.read(path, what: "secret file", secret: true)))
        guard !s.isEmpty else {
            throw SemailError(
                "secret file \(path) is empty", why: "an empty password is never sent (it would be an anonymous bind)",
                hint: "write the password into it (mode 0600)", status: emptyStatus)
        }
        return s
    }

    /// Reads a secret from standard input (all of it, one trailing newline removed).
    public static func readStdin() throws -> Secret {
        let data = FileHandle.standardInput.readDataToEndOfFile()
        let s = Secret(stripNewline(Array(data)))
        guard !s.isEmpty else {
            throw SemailError("no password on standard input", why: "standard input was empty", status: .usage)
        }
        return s
    }

    /// Two secrets given as two lines (the current password, then the new
    /// one); each must be non-empty.
    public static func twoLines(_ s: Secret) throws -> (Secret, Secret) {
        let lines = s.bytes.split(separator: 0x0A, omittingEmptySubsequences: false)
        guard lines.count == 2, !lines[0].isEmpty, !lines[1].isEmpty else {
            throw SemailError(
                "expected two passwords on standard input",
                why: "the current password on the first line and the new one on the second, neither empty",
                status: .usage)
        }
        return (Secret(Array(lines[0])), Secret(Array(lines[1])))
    }

    /// Prompts on the terminal without echo, twice when `confirm`.
    public static func prompt(_ label: String, confirm: Bool) throws -> Secret {
        let fd = open("/dev/tty", O_RDWR | O_NOCTTY)
        guard fd >= 0 else {
            throw SemailError(
                "cannot prompt for a password", why: "no terminal",
                hint: "use --password-stdin or --password-file FILE (mode 0600)", status: .usage)
        }
        defer { close(fd) }
        func ask(_ text: String) throws -> [UInt8] {
            _ = text.withCString { write(fd, $0, strlen($0)) }
            var old = termios()
            tcgetattr(fd, &old)
            var noEcho = old
            noEcho.c_lflag &= ~tcflag_t(ECHO)
            tcsetattr(fd, TCSAFLUSH, &noEcho)
            defer { tcsetattr(fd, TCSAFLUSH, &old); _ = write(fd, "\n", 1) }
            var out: [UInt8] = []
            var c: UInt8 = 0
            while true {
                let n = read(fd, &c, 1)
                if n < 0, errno == EINTR { continue }
                if n <= 0 || c == 0x0A { break }
                out.append(c)
            }
            return out
        }
        let first = try ask("\(label): ")
        guard !first.isEmpty else {
            throw SemailError("no password entered", why: "the password was empty", status: .usage)
        }
        if confirm {
            let second = try ask("Retype \(label.lowercased()): ")
            guard first == second else {
                throw SemailError("passwords do not match", why: "the two entries differ", status: .usage)
            }
        }
        return Secret(first)
    }

    static func stripNewline(_ b: [UInt8]) -> [UInt8] {
        var b = b
        if b.last == 0x0A { b.removeLast() }
        if b.last == 0x0D { b.removeLast() }
        return b
    }
}

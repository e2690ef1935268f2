import Foundation

/// Names that come from users, checked at the boundary before they reach
/// LDAP, a file path, a volume, a container or a zone file.
public enum Validate {
    /// The uid policy: lowercase letters, digits, `.`, `_`, `-`, starting
    /// with a letter, 1 to 32 characters.
    public static func uid(_ s: String) throws -> String {
        let b = Array(s.utf8)
        let ok =
            !b.isEmpty && b.count <= 32 && isLower(b[0])
            && b.allSatisfy {
                isLower($0) || isDigit($0) || $0 == UInt8(ascii: ".") || $0 == UInt8(ascii: "_")
                    || $0 == UInt8(ascii: "-")
            }
        guard ok, !s.contains("..") else {
            throw SemailError(
                "invalid uid \(quoted(s))",
                why: "a uid is 1-32 characters: lowercase letters, digits, '.', '_', '-', starting with a letter",
                hint: "choose a uid such as \"jdupont\" or \"j.dupont\"", status: .usage)
        }
        return s
    }

    /// A DNS domain name (letters, digits, hyphens; labels of 1-63, total at
    /// most 253), returned lowercased without a trailing dot.
    public static func domain(_ s: String) throws -> String {
        var d = s.lowercased()
        if d.hasSuffix(".") { d.removeLast() }
        let labels = d.split(separator: ".", omittingEmptySubsequences: false)
        let ok =
            !d.isEmpty && d.utf8.count <= 253 && labels.count >= 1
            && labels.allSatisfy { l in
                let b = Array(l.utf8)
                return !b.isEmpty && b.count <= 63 && b.first != UInt8(ascii: "-") && b.last != UInt8(ascii: "-")
                    && b.allSatisfy { isLower($0) || isDigit($0) || $0 == UInt8(ascii: "-") }
            }
        guard ok else {
            throw SemailError(
                "invalid domain \(quoted(s))",
                why: "a domain is dot-separated labels of 1-63 letters, digits or hyphens, at most 253 characters",
                status: .usage)
        }
        return d
    }

    /// A mail address `id@domain`; the local part uses the uid alphabet
    /// plus `+`.
    public static func address(_ s: String) throws -> (local: String, domain: String) {
        let parts = s.split(separator: "@", omittingEmptySubsequences: false)
        guard parts.count == 2 else {
            throw SemailError(
                "invalid address \(quoted(s))", why: "expected exactly one '@', as in id@domain", status: .usage)
        }
        let local = String(parts[0]).lowercased()
        let b = Array(local.utf8)
        guard !b.isEmpty, b.count <= 64, isLower(b[0]) || isDigit(b[0]),
            b.allSatisfy({ isLower($0) || isDigit($0) || "._-+".utf8.contains($0) }), !local.contains(".."),
            b.last != UInt8(ascii: ".")
        else {
            throw SemailError(
                "invalid address \(quoted(s))",
                why: "the part before '@' may hold letters, digits, '.', '_', '-', '+' (at most 64)", status: .usage)
        }
        return (local, try domain(String(parts[1])))
    }

    /// A human-readable attribute value (cn, sn...): no control characters.
    public static func text(_ s: String, field: String) throws -> String {
        guard !s.isEmpty, s.utf8.count <= 256,
            !s.unicodeScalars.contains(where: { $0.value < 0x20 || $0.value == 0x7f })
        else {
            throw SemailError(
                "invalid \(field) \(quoted(s))", why: "it must be 1-256 characters without control characters",
                status: .usage)
        }
        return s
    }

    static func isLower(_ c: UInt8) -> Bool { c >= 0x61 && c <= 0x7a }
    static func isDigit(_ c: UInt8) -> Bool { c >= 0x30 && c <= 0x39 }

    /// Text for a terminal: control characters (C0 but newline and tab,
    /// DEL, C1, and the bidirectional overrides) shown as escapes, so a
    /// value from the directory cannot move the cursor, retitle the window
    /// or hide what follows it.
    public static func printable(_ s: String) -> String {
        guard s.unicodeScalars.contains(where: needsEscape) else { return s }
        var out = String.UnicodeScalarView()
        for c in s.unicodeScalars {
            if needsEscape(c) {
                out.append(contentsOf: "\\u{\(String(c.value, radix: 16))}".unicodeScalars)
            } else {
                out.append(c)
            }
        }
        return String(out)
    }

    static func needsEscape(_ c: Unicode.Scalar) -> Bool {
        let v = c.value
        return (v < 0x20 && v != 0x0A && v != 0x09) || (v >= 0x7F && v <= 0x9F) || (0x202A...0x202E).contains(v)
            || (0x2066...0x2069).contains(v)
            || v == 0x2028 || v == 0x2029 || v == 0x200E || v == 0x200F || v == 0x061C
    }

    /// A value shown in a message, with control characters made visible.
    public static func quoted(_ s: String) -> String {
        var out = "\""
        for c in s.unicodeScalars.prefix(80) {
            switch c {
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            case "\"": out += "\\\""
            case _ where c.value < 0x20 || c.value == 0x7f: out += "\\x" + String(c.value, radix: 16)
            default: out.unicodeScalars.append(c)
            }
        }
        return out + (s.unicodeScalars.count > 80 ? "…\"" : "\"")
    }
}

/// A regular expression compiled once (compiling per call costs more than
/// matching: reconcile checks every mailbox's values).
public final class Pattern: Sendable {
    let re: NSRegularExpression
    public init(_ pattern: String) { re = try! NSRegularExpression(pattern: pattern) }
    /// Whether the whole string matches.
    public func matches(_ s: String) -> Bool {
        let r = NSRange(s.startIndex..., in: s)
        return re.firstMatch(in: s, options: [.anchored], range: r).map { $0.range == r } ?? false
    }
}

extension Validate {
    /// An OpenSSH public key line without options: `type base64 [comment]`.
    static let keyPattern = Pattern(
        #"^(ssh-ed25519|ssh-rsa|ecdsa-sha2-nistp(256|384|521)|sk-ssh-ed25519@openssh\.com|"#
            + #"sk-ecdsa-sha2-nistp256@openssh\.com) [A-Za-z0-9+/]+={0,3}( [ -~]{0,200})?$"#
    )

    /// The key line trimmed, or nil when it is not one.
    public static func sshPublicKey(_ k: String) -> String? {
        let t = k.trimmingCharacters(in: .whitespaces)
        let ok = keyPattern.matches(t)
        return ok ? t : nil
    }

    /// `[user@]host[:port]` with nothing an ssh_config line or `ssh -J` could
    /// read as more (no whitespace, `%` token, quote, comma or newline).
    public static func isJumpHost(_ s: String) -> Bool {
        let allowed = Set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.-_@:[]")
        guard !s.isEmpty, s.count <= 255, s.allSatisfy({ allowed.contains($0) }), !s.hasPrefix("-") else {
            return false
        }
        return s.filter { $0 == "@" }.count <= 1
    }

    static let packagePattern = Pattern(#"^[a-z0-9][a-z0-9+.-]+$"#)

    /// A Debian package name (policy §5.6.1: lowercase letters, digits,
    /// `+ - .`, at least two characters, starting with a letter or digit),
    /// at most 100 bytes; anything else is refused, never rendered.
    public static func debianPackage(_ s: String) throws -> String {
        guard s.utf8.count <= 100, packagePattern.matches(s) else {
            throw SemailError(
                "invalid package name \(quoted(s))",
                why: "Debian package names are lowercase letters, digits and + - . (two characters or more)",
                status: .usage)
        }
        return s
    }
}

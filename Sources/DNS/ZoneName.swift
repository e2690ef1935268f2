/// Domain names in master-file syntax.
public enum ZoneName {
    /// `name` with a trailing dot.
    public static func absolute(_ name: String) -> String {
        name.hasSuffix(".") && !isEscapedDot(name) ? name : name + "."
    }

    /// Whether the final dot is escaped (`a\.`), so the name is relative.
    static func isEscapedDot(_ name: String) -> Bool {
        var n = 0
        for c in name.utf8.dropLast().reversed() { if c == 0x5C { n += 1 } else { break } }
        return n % 2 == 1
    }

    /// A name as written, made absolute against `origin` (`@` is the origin).
    public static func resolve(_ name: String, origin: String) -> String {
        if name == "@" { return origin }
        if name.hasSuffix("."), !isEscapedDot(name) { return name }
        return origin == "." ? name + "." : name + "." + origin
    }

    /// `name` (absolute) relative to `origin`, or nil if outside it.
    public static func relative(_ name: String, to origin: String) -> String? {
        let n = name.lowercased(), o = origin.lowercased()
        if n == o { return "@" }
        guard n.hasSuffix("." + o) else { return nil }
        return String(name.dropLast(o.count + 1))
    }

    /// A value shown in a message, control characters made visible.
    public static func shown(_ s: String) -> String {
        var out = "\""
        for c in s.unicodeScalars.prefix(80) {
            if c.value < 0x20 || c.value == 0x7f {
                out += "\\x" + String(c.value, radix: 16)
            } else {
                out.unicodeScalars.append(c)
            }
        }
        return out + "\""
    }

    /// Checks a host name a user gives (for a record the tool writes):
    /// letters, digits and hyphens in labels of 1-63 bytes, at most 253 in
    /// all; nothing else, so no zone-file syntax (`;`, `(`, `$`, quotes,
    /// blanks, newlines) can get through. Returns it lowercased, absolute.
    public static func checkHost(_ s: String, what: String = "name") throws -> String {
        var d = s.lowercased()
        if d.hasSuffix(".") { d.removeLast() }
        guard !d.isEmpty else { throw ZoneError.invalidInput("an empty \(what)") }
        guard d.utf8.count <= 253 else { throw ZoneError.invalidInput("\(what) \(shown(s)) is longer than 253 bytes") }
        for label in d.split(separator: ".", omittingEmptySubsequences: false) {
            guard !label.isEmpty else { throw ZoneError.invalidInput("\(what) \(shown(s)) has an empty label") }
            guard label.utf8.count <= 63 else {
                throw ZoneError.invalidInput(
                    "\(what) \(shown(s)): the label \(shown(String(label.prefix(20))))… is longer than 63 bytes")
            }
            guard label.utf8.allSatisfy({ ($0 >= 0x61 && $0 <= 0x7a) || ($0 >= 0x30 && $0 <= 0x39) || $0 == 0x2D }),
                label.first != "-", label.last != "-"
            else {
                throw ZoneError.invalidInput(
                    """
                    \(what) \(shown(s)) may hold only letters, digits and hyphens (not at a label's start or end), \
                    in dot-separated labels
                    """
                )
            }
        }
        return d + "."
    }
}

/// TTLs: seconds, or BIND's units (`1w2d3h4m5s`).
public enum ZoneTTL {
    public static func parse(_ s: String) -> UInt32? {
        guard let first = s.utf8.first, first >= 0x30, first <= 0x39 else { return nil }
        var total: UInt64 = 0, n: UInt64 = 0, digits = 0, sawUnit = false
        for b in s.utf8 {
            let c = (b >= 0x41 && b <= 0x5A) ? b | 0x20 : b
            if c >= 0x30 && c <= 0x39 {
                n = n * 10 + UInt64(c - 0x30); digits += 1
                if n > UInt64(UInt32.max) { return nil }
                continue
            }
            guard digits > 0 else { return nil }
            let mult: UInt64
            switch c {
            case UInt8(ascii: "s"): mult = 1
            case UInt8(ascii: "m"): mult = 60
            case UInt8(ascii: "h"): mult = 3600
            case UInt8(ascii: "d"): mult = 86400
            case UInt8(ascii: "w"): mult = 604800
            default: return nil
            }
            total += n * mult; n = 0; digits = 0; sawUnit = true
        }
        if digits > 0 { if sawUnit { return nil }; total += n }
        return total <= UInt64(Int32.max) ? UInt32(total) : nil
    }
}

/// Record types and classes, and the rdata checks that let a parse error
/// name its line instead of leaving it to named.
public enum ZoneRecordType {
    public static let classes: Set<String> = ["IN", "CH", "HS", "CS"]

    /// The class a token names, upper case, or nil (no allocation for the
    /// common case).
    static func rrclass(_ s: String) -> String? {
        let u = s.utf8
        guard u.count == 2, let a = u.first, let b = u.last else { return nil }
        switch (a & 0xDF, b & 0xDF) {
        case (0x49, 0x4E): return "IN"
        case (0x43, 0x48): return "CH"
        case (0x48, 0x53): return "HS"
        case (0x43, 0x53): return "CS"
        default: return nil
        }
    }

    /// `s` in upper/lower case, without copying when it already is.
    static func upper(_ s: String) -> String {
        s.utf8.contains(where: { $0 >= 0x61 && $0 <= 0x7A }) ? s.uppercased() : s
    }
    static func lower(_ s: String) -> String {
        s.utf8.contains(where: { $0 >= 0x41 && $0 <= 0x5A }) ? s.lowercased() : s
    }
    public static let known: Set<String> = [
        "SOA", "NS", "A", "AAAA", "MX", "CNAME", "TXT", "SRV", "CAA", "PTR", "SPF", "DNAME"
    ]
    static let numbers: [String: String] = [
        "TYPE1": "A", "TYPE2": "NS", "TYPE5": "CNAME", "TYPE6": "SOA", "TYPE12": "PTR", "TYPE15": "MX",
        "TYPE16": "TXT", "TYPE28": "AAAA", "TYPE33": "SRV", "TYPE39": "DNAME", "TYPE99": "SPF", "TYPE257": "CAA"
    ]

    /// The mnemonic of a `TYPEnn` name for a type of `known` (RFC 3597 §5), else `s`.
    static func canonical(_ s: String) -> String { s.hasPrefix("TYPE") ? numbers[s] ?? s : s }

    /// A type mnemonic (known or not, e.g. SVCB, NSAP, TYPE65534): a letter,
    /// then letters, digits or hyphens.
    public static func isMnemonic(_ s: String) -> Bool {
        guard let f = s.utf8.first, (f >= 0x41 && f <= 0x5A) else { return false }
        return s.utf8.allSatisfy { ($0 >= 0x41 && $0 <= 0x5A) || ($0 >= 0x30 && $0 <= 0x39) || $0 == 0x2D }
    }

    static func checkRData(_ type: String, _ r: [String], fail: (String) -> ZoneParseError) throws {
        func count(_ n: Int, _ what: String) throws {
            guard r.count == n else { throw fail("\(type) needs \(what), found \(r.count) field(s)") }
        }
        func number(_ i: Int, _ what: String, max: UInt64 = 65535) throws {
            guard let v = UInt64(r[i]), v <= max else {
                throw fail("\(type) \(what) must be a number up to \(max), found \(ZoneName.shown(r[i]))")
            }
        }
        switch type {
        case "SOA":
            try count(7, "MNAME RNAME SERIAL REFRESH RETRY EXPIRE MINIMUM")
            try number(2, "serial", max: UInt64(UInt32.max))
            for i in 3..<7 where ZoneTTL.parse(r[i]) == nil {
                throw fail("SOA timer \(ZoneName.shown(r[i])) is not a time value")
            }
        case "MX": try count(2, "PREFERENCE EXCHANGE"); try number(0, "preference")
        case "SRV": try count(4, "PRIORITY WEIGHT PORT TARGET"); for i in 0..<3 { try number(i, "field \(i + 1)") }
        case "A":
            try count(1, "an IPv4 address")
            guard IPAddress.isV4(r[0]) else { throw fail("A needs an IPv4 address, found \(ZoneName.shown(r[0]))") }
        case "AAAA":
            try count(1, "an IPv6 address")
            guard IPAddress.isV6(r[0]) else { throw fail("AAAA needs an IPv6 address, found \(ZoneName.shown(r[0]))") }
        case "NS", "CNAME", "PTR", "DNAME": try count(1, "one domain name")
        case "TXT", "SPF": guard !r.isEmpty else { throw fail("\(type) needs at least one string") }
        case "CAA": try count(3, "FLAGS TAG VALUE"); try number(0, "flags", max: 255)
        default: break
        }
    }
}

#if canImport(Glibc)
    import Glibc
#endif

public enum IPAddress {
    public static func isV4(_ s: String) -> Bool { var a = in_addr(); return inet_pton(AF_INET, s, &a) == 1 }
    public static func isV6(_ s: String) -> Bool { var a = in6_addr(); return inet_pton(AF_INET6, s, &a) == 1 }
}

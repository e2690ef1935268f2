/// Distinguished names (RFC 4514): parsing, escaping and building, so that
/// user input is always an attribute value, never DN syntax.
public struct DN: Hashable, Sendable, CustomStringConvertible {
    public struct AVA: Hashable, Sendable {
        public var type: String
        public var value: String
        public init(_ type: String, _ value: String) { self.type = type; self.value = value }
    }
    /// RDNs from the leaf to the root; each RDN is one or more AVAs.
    public var rdns: [[AVA]]

    public init(rdns: [[AVA]]) { self.rdns = rdns }

    /// Parses an RFC 4514 string. Throws `DNError` on malformed input.
    public init(_ string: String) throws {
        var parser = DNParser(string)
        self.rdns = try parser.parse()
    }

    /// A new DN with one RDN `type=value` under `parent`; the value is escaped.
    public init(_ type: String, _ value: String, under parent: DN) {
        self.rdns = [[AVA(type, value)]] + parent.rdns
    }

    public var description: String {
        rdns.map { rdn in rdn.map { "\($0.type)=\(DN.escape($0.value))" }.joined(separator: "+") }
            .joined(separator: ",")
    }

    public var parent: DN? { rdns.isEmpty ? nil : DN(rdns: Array(rdns.dropFirst())) }
    public var rdn: [AVA] { rdns.first ?? [] }
    public var rdnString: String { DN(rdns: [rdn]).description }

    /// A comparison key: types and values folded to lowercase (the naming
    /// attributes this tool uses all match case-insensitively).
    public var normalized: String {
        rdns.map { rdn in
            rdn.map { "\($0.type.lowercased())=\(DN.escape($0.value.lowercased()))" }.sorted().joined(separator: "+")
        }.joined(separator: ",")
    }

    public func isDescendant(of other: DN) -> Bool {
        guard rdns.count > other.rdns.count else { return false }
        return DN(rdns: Array(rdns.suffix(other.rdns.count))).normalized == other.normalized
    }

    /// RFC 4514 §2.4 escaping of an attribute value.
    public static func escape(_ value: String) -> String {
        var out = ""
        let scalars = Array(value.unicodeScalars)
        for (i, c) in scalars.enumerated() {
            switch c {
            case "\"", "+", ",", ";", "<", ">", "\\", "=":
                out += "\\"; out.unicodeScalars.append(c)
            case "\0":
                out += "\\00"
            case " " where i == 0 || i == scalars.count - 1:
                out += "\\ "
            case "#" where i == 0:
                out += "\\#"
            case _ where c.value < 0x20 || c.value == 0x7f:
                out += "\\" + hex2(UInt8(c.value))
            default:
                out.unicodeScalars.append(c)
            }
        }
        return out
    }
}

public struct DNError: Error, Sendable, CustomStringConvertible {
    public let input: String
    public let reason: String
    public var description: String { "invalid DN \"\(input)\": \(reason)" }
}

func hex2(_ b: UInt8) -> String {
    let d = Array("0123456789abcdef".utf8)
    return String(decoding: [d[Int(b >> 4)], d[Int(b & 15)]], as: UTF8.self)
}

private struct DNParser {
    let input: String
    let bytes: [UInt8]
    var i = 0
    init(_ s: String) { input = s; bytes = Array(s.utf8) }

    func fail(_ r: String) -> DNError { DNError(input: input, reason: r) }

    mutating func skipSpaces() { while i < bytes.count, bytes[i] == 0x20 { i += 1 } }

    mutating func parse() throws -> [[DN.AVA]] {
        var rdns: [[DN.AVA]] = []
        if bytes.allSatisfy({ $0 == 0x20 }) { return [] }
        while true {
            var rdn: [DN.AVA] = []
            while true {
                rdn.append(try parseAVA())
                if i < bytes.count, bytes[i] == UInt8(ascii: "+") { i += 1; continue }
                break
            }
            rdns.append(rdn)
            if i == bytes.count { return rdns }
            guard bytes[i] == UInt8(ascii: ",") else { throw fail("unexpected character at offset \(i)") }
            i += 1
        }
    }

    mutating func parseAVA() throws -> DN.AVA {
        skipSpaces()
        let start = i
        while i < bytes.count, bytes[i] != UInt8(ascii: "=") {
            let c = bytes[i]
            let ok =
                (c >= 0x30 && c <= 0x39) || (c >= 0x41 && c <= 0x5a) || (c >= 0x61 && c <= 0x7a) || c == 0x2d
                || c == 0x2e
            guard ok else { throw fail("bad character in attribute type at offset \(i)") }
            i += 1
        }
        guard i < bytes.count, i > start else { throw fail("missing attribute type or '='") }
        let type = String(decoding: bytes[start..<i], as: UTF8.self)
        i += 1  // '='
        var value: [UInt8] = []
        if i < bytes.count, bytes[i] == UInt8(ascii: "#") {
            // BER-encoded value: keep the hex string as text.
            let s = i
            i += 1
            while i < bytes.count, isHex(bytes[i]) { i += 1 }
            value = Array(bytes[s..<i])
        } else {
            var lastUnescapedSpaceRun = 0
            while i < bytes.count {
                let c = bytes[i]
                if c == UInt8(ascii: ",") || c == UInt8(ascii: "+") { break }
                if c == UInt8(ascii: "\\") {
                    i += 1
                    guard i < bytes.count else { throw fail("dangling backslash") }
                    if i + 1 < bytes.count, isHex(bytes[i]), isHex(bytes[i + 1]) {
                        value.append(UInt8(hexValue(bytes[i]) << 4 | hexValue(bytes[i + 1])))
                        i += 2
                    } else {
                        let e = bytes[i]
                        guard "\"+,;<>\\= #".utf8.contains(e) else { throw fail("bad escape at offset \(i)") }
                        value.append(e)
                        i += 1
                    }
                    lastUnescapedSpaceRun = 0
                    continue
                }
                if c == UInt8(ascii: "\"") || c == UInt8(ascii: ";") || c == UInt8(ascii: "<") || c == UInt8(ascii: ">")
                    || c == 0
                {
                    throw fail("character '\(Character(Unicode.Scalar(c)))' must be escaped (offset \(i))")
                }
                lastUnescapedSpaceRun = c == 0x20 ? lastUnescapedSpaceRun + 1 : 0
                value.append(c)
                i += 1
            }
            value.removeLast(lastUnescapedSpaceRun)
        }
        guard let v = String(validating: value, as: UTF8.self) else { throw fail("value is not UTF-8") }
        return DN.AVA(type, v)
    }

    func isHex(_ c: UInt8) -> Bool { (c >= 0x30 && c <= 0x39) || (c >= 0x41 && c <= 0x46) || (c >= 0x61 && c <= 0x66) }
    func hexValue(_ c: UInt8) -> UInt8 { c <= 0x39 ? c - 0x30 : (c | 0x20) - 0x61 + 10 }
}

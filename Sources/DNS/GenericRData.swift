#if canImport(Glibc)
    import Glibc
#endif

/// RFC 3597 generic rdata (`\# LENGTH HEX...`). named reads it for any
/// type, and for a type it knows decodes the bytes as that type (refusing
/// them when they are not a valid one); so do we, into the presentation
/// tokens the rest of the module reads (`MX` → ["10", "mx.example."]).
public enum GenericRData {
    /// Whether rdata tokens are in generic form.
    static func isGeneric(_ tokens: [String]) -> Bool { tokens.first == "\\#" }

    /// The wire bytes of generic tokens (`\#`, the length, the hex), or a
    /// message saying what is wrong.
    static func wire(_ tokens: [String]) -> Result<[UInt8], Failure> {
        guard tokens.count >= 2, let length = Int(tokens[1]), length >= 0, length <= 65535 else {
            return .failure(Failure("generic rdata (\\# LENGTH HEX) needs a length of 0 to 65535 after \\#"))
        }
        var hex: [UInt8] = []
        for t in tokens.dropFirst(2) { hex += t.utf8 }
        guard hex.count == 2 * length else {
            return .failure(
                Failure("generic rdata says \(length) bytes but has \(hex.count) hex digits (\(2 * length) expected)"))
        }
        var out: [UInt8] = []
        out.reserveCapacity(length)
        var i = 0
        while i < hex.count {
            guard let hi = nibble(hex[i]), let lo = nibble(hex[i + 1]) else {
                return .failure(
                    Failure(
                        """
                        generic rdata: \
                        \(ZoneName.shown(String(decoding: hex[i...min(i + 1, hex.count - 1)], as: UTF8.self))) is \
                        not hexadecimal
                        """
                    ))
            }
            out.append(hi << 4 | lo); i += 2
        }
        return .success(out)
    }

    struct Failure: Error { var message: String; init(_ m: String) { message = m } }

    static func nibble(_ c: UInt8) -> UInt8? {
        switch c {
        case 0x30...0x39: c - 0x30
        case 0x41...0x46: c - 0x41 + 10
        case 0x61...0x66: c - 0x61 + 10
        default: nil
        }
    }

    /// The presentation tokens of `bytes` as `type`, or nil for a type this
    /// module does not decode (the tokens then stay generic). Throws when
    /// the bytes are not a valid rdata of a type it decodes.
    static func decode(_ type: String, _ bytes: [UInt8]) throws(Failure) -> [String]? {
        var r = Reader(bytes: bytes)
        var out: [String]
        switch type {
        case "A":
            guard bytes.count == 4 else {
                throw Failure("an A record is 4 bytes, the generic rdata has \(bytes.count)")
            }
            out = [bytes.map(String.init).joined(separator: ".")]
            r.pos = 4
        case "AAAA":
            guard bytes.count == 16 else {
                throw Failure("an AAAA record is 16 bytes, the generic rdata has \(bytes.count)")
            }
            var a = in6_addr()
            withUnsafeMutableBytes(of: &a) { $0.copyBytes(from: bytes) }
            var buf = [CChar](repeating: 0, count: 64)
            inet_ntop(AF_INET6, &a, &buf, 64)
            out = [String(decoding: buf.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)]
            r.pos = 16
        case "NS", "CNAME", "PTR", "DNAME": out = [try r.name()]
        case "MX": out = [String(try r.u16()), try r.name()]
        case "SRV": out = [String(try r.u16()), String(try r.u16()), String(try r.u16()), try r.name()]
        case "SOA":
            out = [try r.name(), try r.name()]
            for _ in 0..<5 { out.append(String(try r.u32())) }
        case "CAA":
            let flags = try r.u8(), tagLength = Int(try r.u8())
            guard tagLength > 0 else { throw Failure("a CAA record needs a tag") }
            let tag = try r.bytes(tagLength)
            guard
                tag.allSatisfy({
                    (0x30...0x39).contains($0) || (0x41...0x5A).contains($0) || (0x61...0x7A).contains($0)
                })
            else {
                throw Failure("a CAA tag holds only letters and digits")
            }
            out = [String(flags), String(decoding: tag, as: UTF8.self), quoted(try r.bytes(bytes.count - r.pos))]
        case "TXT", "SPF":
            guard !bytes.isEmpty else { throw Failure("a \(type) record needs at least one string") }
            out = []
            while r.pos < bytes.count { out.append(quoted(try r.bytes(Int(try r.u8())))) }
        default: return nil
        }
        guard r.pos == bytes.count else {
            throw Failure("the generic rdata has \(bytes.count - r.pos) byte(s) more than a \(type) record holds")
        }
        return out
    }

    /// Where the serial of a generic SOA starts, in bytes.
    static func soaSerialOffset(_ bytes: [UInt8]) -> Int? {
        var r = Reader(bytes: bytes)
        guard (try? r.name()) != nil, (try? r.name()) != nil, r.pos + 20 == bytes.count else { return nil }
        return r.pos
    }

    static func quoted(_ b: [UInt8]) -> String {
        var s = "\""
        for c in b {
            switch c {
            case 0x22, 0x5C: s += "\\" + String(UnicodeScalar(c))
            case 0x20...0x7E: s.unicodeScalars.append(UnicodeScalar(c))
            default: s += "\\" + String(repeating: "0", count: c < 10 ? 2 : c < 100 ? 1 : 0) + String(c)
            }
        }
        return s + "\""
    }

    /// Uncompressed wire reading (RFC 3597 §4: no compression in generic rdata).
    struct Reader {
        let bytes: [UInt8]
        var pos = 0
        mutating func u8() throws(Failure) -> UInt8 {
            guard pos < bytes.count else { throw Failure("the generic rdata ends too early") }
            defer { pos += 1 }
            return bytes[pos]
        }
        mutating func u16() throws(Failure) -> UInt16 { UInt16(try u8()) << 8 | UInt16(try u8()) }
        mutating func u32() throws(Failure) -> UInt32 { UInt32(try u16()) << 16 | UInt32(try u16()) }
        mutating func bytes(_ n: Int) throws(Failure) -> [UInt8] {
            guard n >= 0, pos + n <= bytes.count else { throw Failure("the generic rdata ends too early") }
            defer { pos += n }
            return Array(bytes[pos..<pos + n])
        }
        /// A domain name, absolute, in master-file syntax (special bytes escaped).
        mutating func name() throws(Failure) -> String {
            var labels: [String] = [], total = 1
            while true {
                let n = Int(try u8())
                if n == 0 { break }
                guard n <= 63 else {
                    throw Failure("a name in the generic rdata has a label longer than 63 bytes (or is compressed)")
                }
                total += n + 1
                guard total <= 255 else { throw Failure("a name in the generic rdata is longer than 255 bytes") }
                var l = ""
                for c in try bytes(n) {
                    switch c {
                    case 0x2E, 0x22, 0x28, 0x29, 0x3B, 0x5C, 0x40, 0x24: l += "\\" + String(UnicodeScalar(c))
                    case 0x21...0x7E: l.unicodeScalars.append(UnicodeScalar(c))
                    default: l += "\\" + String(repeating: "0", count: c < 10 ? 2 : c < 100 ? 1 : 0) + String(c)
                    }
                }
                labels.append(l)
            }
            return labels.isEmpty ? "." : labels.joined(separator: ".") + "."
        }
    }
}

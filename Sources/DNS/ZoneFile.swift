import Foundation

/// A parse error: the file, the line and what is wrong.
public struct ZoneParseError: Error, Sendable, CustomStringConvertible, Equatable {
    public var file: String
    public var line: Int
    public var message: String
    public var description: String { "\(file):\(line): \(message)" }
}

/// One token of a master file, with its byte range in the file.
public struct ZoneToken: Sendable, Equatable {
    public var text: String
    public var range: Range<Int>
    public var quoted: Bool
}

/// One resource record as read (names made absolute, inherited owner, TTL
/// and class filled in).
public struct ZoneRecord: Sendable, Equatable, Codable {
    public var owner: String  // absolute, as written (case kept), with the trailing dot
    public var ttl: UInt32
    public var rrclass: String
    public var type: String  // upper case
    public var rdata: [String]  // tokens as written (quoted strings keep their quotes)
    public var file: String
    public var line: Int
    /// Inside the block this tool manages.
    public var managed: Bool
    /// Read from an `$INCLUDE`d file: never rewritten.
    public var included: Bool
    /// The `$ORIGIN` in effect where the record stands (relative rdata names
    /// are relative to it).
    public var origin: String
    /// Byte ranges of the rdata fields in the file (for generic rdata, of
    /// the tokens as written: `\#`, the length, the hex).
    public var rdataRanges: [Range<Int>]
    /// Written as RFC 3597 generic rdata (`\# 4 C0000201`); `rdata` holds
    /// the decoded presentation form when the type is one this module knows.
    public var generic: Bool = false

    /// The owner, lowercased, for comparisons.
    public var key: String
    /// rdata names made absolute against `origin` where the type holds names.
    public var rdataText: String { rdata.joined(separator: " ") }
}

/// A master file (RFC 1035 §5) kept byte for byte: `entries` cover every
/// byte of `bytes` in order, so writing an unedited file gives the same
/// bytes. Edits are byte splices (see `ZoneEdit`), never a re-serialisation.
public struct ZoneFile: Sendable {
    public enum Kind: Sendable, Equatable {
        case blank  // empty or comment-only line
        case directive(String)  // $ORIGIN, $TTL, $INCLUDE, $GENERATE
        case record(Int)  // index into `records`
        case managedBegin, managedEnd
    }
    public struct Entry: Sendable {
        public var kind: Kind
        public var range: Range<Int>  // whole physical lines, newline included
        public var line: Int
        public var tokens: [ZoneToken]
        /// The owner was omitted (the line starts with a blank).
        public var inheritsOwner: Bool
    }

    public static let managedBeginMarker = "; semailctl:begin"
    public static let managedEndMarker = "; semailctl:end"

    public let path: String
    public let origin: String  // absolute, trailing dot, lowercased
    public let bytes: [UInt8]
    public private(set) var entries: [Entry] = []
    public private(set) var records: [ZoneRecord] = []
    /// Entry index of each record in this file (nil for included records).
    public private(set) var recordEntry: [Int?] = []

    public var text: String { String(decoding: bytes, as: UTF8.self) }

    /// The TTL state where the file ends: named keeps `$TTL` (and the last
    /// explicit TTL) set in an included file for the rest of the zone.
    private(set) var endDefaultTTL: UInt32?
    private(set) var endLastTTL: UInt32?

    /// Parses `bytes` as the zone `origin`. `$INCLUDE` files are read (from
    /// `baseDir` when relative: named's `directory`) and their records
    /// added, marked `included`.
    public init(bytes: [UInt8], origin: String, path: String = "<zone>", baseDir: String? = nil) throws {
        try self.init(
            bytes: bytes, origin: origin, path: path, baseDir: baseDir, includeDepth: 0, defaultTTL: nil, lastTTL: nil)
    }

    init(
        bytes: [UInt8], origin: String, path: String, baseDir: String?, includeDepth: Int, defaultTTL: UInt32?,
        lastTTL: UInt32?
    ) throws {
        self.path = path
        self.origin = ZoneName.absolute(origin.lowercased())
        self.bytes = bytes
        var p = Parser(bytes: bytes, path: path)
        var state = ParseState(origin: self.origin)
        state.defaultTTL = defaultTTL
        state.lastTTL = lastTTL
        defer { endDefaultTTL = state.defaultTTL; endLastTTL = state.lastTTL }
        var inManaged = false
        while let raw = try p.nextEntry() {
            var entry = Entry(
                kind: .blank, range: raw.range, line: raw.line, tokens: raw.tokens, inheritsOwner: raw.inheritsOwner)
            if raw.tokens.isEmpty {
                let lineText = String(decoding: bytes[raw.range], as: UTF8.self).trimmingCharacters(
                    in: .whitespacesAndNewlines)
                if lineText.hasPrefix(Self.managedBeginMarker) {
                    guard !inManaged else {
                        throw ZoneParseError(file: path, line: raw.line, message: "nested managed block")
                    }
                    entry.kind = .managedBegin; inManaged = true
                } else if lineText.hasPrefix(Self.managedEndMarker) {
                    guard inManaged else {
                        throw ZoneParseError(file: path, line: raw.line, message: "managed block end without begin")
                    }
                    entry.kind = .managedEnd; inManaged = false
                }
                entries.append(entry)
                continue
            }
            let first = raw.tokens[0]
            if !raw.inheritsOwner, first.text.hasPrefix("$"), !first.quoted {
                let name = first.text.uppercased()
                entry.kind = .directive(name)
                try state.directive(name, Array(raw.tokens.dropFirst()), line: raw.line, path: path)
                if name == "$INCLUDE" {
                    let args = raw.tokens.dropFirst().map(\.text)
                    let file = args[0].hasPrefix("/") ? args[0] : "\(baseDir ?? ".")/\(args[0])"
                    let incOrigin = args.count > 1 ? ZoneName.resolve(args[1], origin: state.origin) : state.origin
                    guard includeDepth < 8 else {
                        throw ZoneParseError(file: path, line: raw.line, message: "$INCLUDE nested too deeply")
                    }
                    guard let data = FileManager.default.contents(atPath: file) else {
                        throw ZoneParseError(file: path, line: raw.line, message: "$INCLUDE \(file): cannot read it")
                    }
                    var inc = try ZoneFile(
                        bytes: Array(data), origin: incOrigin, path: file,
                        baseDir: baseDir, includeDepth: includeDepth + 1, defaultTTL: state.defaultTTL,
                        lastTTL: state.lastTTL)
                    // As in named (BIND's load context holds the TTLs, not the
                    // include's): its $TTL and last TTL carry on after it; the
                    // origin and the owner to inherit do not.
                    state.defaultTTL = inc.endDefaultTTL
                    state.lastTTL = inc.endLastTTL
                    for i in inc.records.indices { inc.records[i].included = true }
                    records += inc.records
                    recordEntry += Array(repeating: nil, count: inc.records.count)
                }
                entries.append(entry)
                continue
            }
            var record = try state.record(raw, path: path)
            record.managed = inManaged
            entry.kind = .record(records.count)
            records.append(record)
            recordEntry.append(entries.count)
            entries.append(entry)
        }
        if inManaged {
            throw ZoneParseError(
                file: path, line: p.line, message: "managed block not closed (\(Self.managedEndMarker) missing)")
        }
    }

    /// Reads and parses a file. Relative `$INCLUDE`s are read from
    /// `includeBase` (named's `directory`), else from the file's directory.
    public static func read(path: String, origin: String, includeBase: String? = nil) throws -> ZoneFile {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw ZoneParseError(
                file: path, line: 0,
                message: FileManager.default.fileExists(atPath: path) ? "permission denied" : "no such file")
        }
        return try ZoneFile(
            bytes: Array(data), origin: origin, path: path,
            baseDir: includeBase ?? (path as NSString).deletingLastPathComponent)
    }

    /// The SOA record of the zone apex (the first, when a file repeats it
    /// at its end as `dig axfr` output does).
    public var soa: ZoneRecord? { records.first { $0.type == "SOA" && $0.key == origin } }

    /// Every SOA record of the apex, in file order.
    public var apexSOAs: [ZoneRecord] { records.filter { $0.type == "SOA" && $0.key == origin } }

    public func records(named name: String, type: String? = nil) -> [ZoneRecord] {
        let k = name.lowercased()
        return records.filter { $0.key == k && (type == nil || $0.type == type) }
    }
}

/// Directive and inheritance state while reading a file.
struct ParseState {
    var origin: String
    var defaultTTL: UInt32?
    var lastTTL: UInt32?
    var lastOwner: String?
    var lastClass = "IN"

    mutating func directive(_ name: String, _ args: [ZoneToken], line: Int, path: String) throws {
        func fail(_ m: String) -> ZoneParseError { ZoneParseError(file: path, line: line, message: m) }
        switch name {
        case "$ORIGIN":
            guard args.count == 1 else { throw fail("$ORIGIN takes one domain name") }
            origin = ZoneName.resolve(args[0].text, origin: origin).lowercased()
        case "$TTL":
            guard args.count == 1, let t = ZoneTTL.parse(args[0].text) else {
                throw fail("$TTL takes one TTL (seconds, or units such as 1h30m)")
            }
            defaultTTL = t
        case "$INCLUDE":
            guard args.count == 1 || args.count == 2 else {
                throw fail("$INCLUDE takes a file name and an optional origin")
            }
        case "$GENERATE":
            guard args.count >= 4 else { throw fail("$GENERATE takes a range, an owner, a type and rdata") }
        default:
            throw fail("unknown directive \(name)")
        }
    }

    mutating func record(_ raw: Parser.RawEntry, path: String) throws -> ZoneRecord {
        func fail(_ m: String) -> ZoneParseError { ZoneParseError(file: path, line: raw.line, message: m) }
        var tokens = raw.tokens[...]
        let owner: String
        if raw.inheritsOwner {
            guard let lastOwner else { throw fail("a record without an owner name, and no previous owner to inherit") }
            owner = lastOwner
        } else {
            let t = tokens.removeFirst()
            guard !t.quoted else { throw fail("an owner name cannot be a quoted string") }
            owner = ZoneName.resolve(t.text, origin: origin)
        }
        var ttl: UInt32?
        var rrclass: String?
        var written: String?
        while let t = tokens.first {
            tokens.removeFirst()
            if ttl == nil, !t.quoted, let v = ZoneTTL.parse(t.text) { ttl = v; continue }
            if rrclass == nil, !t.quoted, let c = ZoneRecordType.rrclass(t.text) { rrclass = c; continue }
            written = ZoneRecordType.upper(t.text)
            guard !t.quoted, ZoneRecordType.isMnemonic(written!) else {
                throw fail("expected a record type, found \(ZoneName.shown(t.text))")
            }
            break
        }
        guard let written else { throw fail("a record needs a type (A, MX, ...) after the owner, TTL and class") }
        let type = ZoneRecordType.canonical(written)  // TYPE15 is MX
        var rdata = tokens.map(\.text)
        let rdataRanges = tokens.map(\.range)
        var generic = false
        if GenericRData.isGeneric(rdata) {
            do {
                let wire = try GenericRData.wire(rdata).get()
                if let decoded = try GenericRData.decode(type, wire) { rdata = decoded; generic = true }
            } catch { throw fail("\(type) in generic form (\\# LENGTH HEX): \(error.message)") }
        }
        try ZoneRecordType.checkRData(type, rdata, fail: fail)
        let effectiveTTL: UInt32
        if let ttl {
            effectiveTTL = ttl
        } else if let d = defaultTTL {
            effectiveTTL = d
        } else if let l = lastTTL {
            effectiveTTL = l
        } else if type == "SOA", rdata.count == 7, let m = ZoneTTL.parse(rdata[6]) {
            effectiveTTL = m
        } else {
            throw fail("no TTL: give the record a TTL or put $TTL before it")
        }
        if ttl != nil { lastTTL = ttl }
        lastOwner = owner
        if let rrclass { lastClass = rrclass }
        return ZoneRecord(
            owner: owner, ttl: effectiveTTL, rrclass: rrclass ?? lastClass, type: type, rdata: rdata,
            file: path, line: raw.line, managed: false, included: false,
            origin: origin, rdataRanges: rdataRanges, generic: generic, key: ZoneRecordType.lower(owner))
    }
}

/// The tokenizer: splits the bytes into logical entries (a physical line,
/// or several joined by parentheses), keeping each token's byte range.
struct Parser {
    struct RawEntry { var range: Range<Int>; var line: Int; var tokens: [ZoneToken]; var inheritsOwner: Bool }
    let bytes: [UInt8]
    let path: String
    var pos = 0
    var line = 1

    init(bytes: [UInt8], path: String) { self.bytes = bytes; self.path = path }

    mutating func nextEntry() throws -> RawEntry? {
        guard pos < bytes.count else { return nil }
        let start = pos, startLine = line
        let inherits = bytes[pos] == 0x20 || bytes[pos] == 0x09
        var tokens: [ZoneToken] = []
        var depth = 0
        var parenLine = line
        func fail(_ m: String, _ l: Int) -> ZoneParseError { ZoneParseError(file: path, line: l, message: m) }
        while pos < bytes.count {
            let c = bytes[pos]
            switch c {
            case 0x0A:  // newline
                pos += 1; line += 1
                if depth == 0 {
                    return RawEntry(
                        range: start..<pos, line: startLine, tokens: tokens, inheritsOwner: inherits && !tokens.isEmpty)
                }
            case 0x20, 0x09, 0x0D: pos += 1
            case 0x3B:  // ; comment to end of line
                while pos < bytes.count, bytes[pos] != 0x0A { pos += 1 }
            case 0x28: if depth == 0 { parenLine = line }; depth += 1; pos += 1
            case 0x29:
                guard depth > 0 else { throw fail("')' without '('", line) }
                depth -= 1; pos += 1
            case 0x22:  // quoted string
                let tStart = pos, tLine = line
                pos += 1
                while true {
                    guard pos < bytes.count else { throw fail("unterminated quoted string", tLine) }
                    let q = bytes[pos]
                    if q == 0x5C { pos += 2; continue }
                    if q == 0x0A { line += 1 }
                    pos += 1
                    if q == 0x22 { break }
                }
                guard pos <= bytes.count else { throw fail("unterminated quoted string", tLine) }
                tokens.append(
                    ZoneToken(
                        text: String(decoding: bytes[tStart..<pos], as: UTF8.self), range: tStart..<pos, quoted: true))
            default:
                let tStart = pos
                while pos < bytes.count {
                    let b = bytes[pos]
                    if b == 0x5C {  // escape: the next byte is part of the token
                        guard pos + 1 < bytes.count, bytes[pos + 1] != 0x0A else {
                            throw fail("a backslash at the end of a line", line)
                        }
                        pos += 2; continue
                    }
                    if b == 0x20 || b == 0x09 || b == 0x0A || b == 0x0D || b == 0x3B || b == 0x28 || b == 0x29
                        || b == 0x22
                    {
                        break
                    }
                    pos += 1
                }
                tokens.append(
                    ZoneToken(
                        text: String(decoding: bytes[tStart..<pos], as: UTF8.self), range: tStart..<pos, quoted: false))
            }
        }
        if depth > 0 { throw fail("'(' is never closed", parenLine) }
        return RawEntry(range: start..<pos, line: startLine, tokens: tokens, inheritsOwner: inherits && !tokens.isEmpty)
    }
}

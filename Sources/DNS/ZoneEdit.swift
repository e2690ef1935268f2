import Foundation

/// What can go wrong with a zone edit. Every case says what and why.
public enum ZoneError: Error, Sendable, CustomStringConvertible, Equatable {
    case invalidInput(String)
    case parse(ZoneParseError)
    case conflict(String)
    case handWritten(String)
    case checkFailed(record: String?, output: String)
    /// The zone file as it is fails the check too: the edit is not to blame.
    case alreadyFailing(output: String)
    case rndc(command: String, output: String)
    case io(String)

    public var description: String {
        switch self {
        case let .invalidInput(m): "invalid input: \(m)"
        case let .parse(e): "cannot read the zone file: \(e)"
        case let .conflict(m): m
        case let .handWritten(m): m
        case let .checkFailed(record, output):
            "named-checkzone rejected the edited zone" + (record.map { " at \($0)" } ?? "") + ": \(output)"
        case let .alreadyFailing(output):
            """
            the zone file as it is already fails named-checkzone (not because of this edit; named keeps serving \
            what it last loaded): \(output)
            """
        case let .rndc(command, output): "`\(command)` failed: \(output)"
        case let .io(m): m
        }
    }
}

/// A record the tool writes: always absolute owner, explicit TTL and class,
/// so it means the same wherever it stands.
public struct ZoneNewRecord: Sendable, Equatable, Codable {
    public var owner: String
    public var ttl: UInt32
    public var type: String
    public var rdata: [String]
    public init(owner: String, ttl: UInt32, type: String, rdata: [String]) {
        self.owner = owner; self.ttl = ttl; self.type = type; self.rdata = rdata
    }
    public var line: String { "\(owner)\t\(ttl)\tIN\t\(type)\t\(rdata.joined(separator: " "))\n" }
}

/// A replacement of a byte range.
public struct ZoneSplice: Sendable, Equatable {
    public var range: Range<Int>
    public var bytes: [UInt8]
    public init(_ range: Range<Int>, _ text: String) { self.range = range; self.bytes = Array(text.utf8) }
}

/// Pure edits: each returns the splices to apply to the file's bytes (empty
/// when there is nothing to do), touching no byte it does not need to.
public enum ZoneEdit {
    static let beginLine =
        "\(ZoneFile.managedBeginMarker) records managed by semailctl (change them with `semailctl zone`)\n"
    static let endLine = "\(ZoneFile.managedEndMarker)\n"

    /// A name a user gives, made absolute inside the zone, checked.
    public static func nameInZone(_ name: String, zone: ZoneFile) throws -> String {
        try nameInZone(name, origin: zone.origin)
    }

    public static func nameInZone(_ name: String, origin zoneOrigin: String) throws -> String {
        for bad in ["\n", "\r", ";", "(", ")", "$", "\"", " ", "\t", "\\"] where name.contains(bad) {
            throw ZoneError.invalidInput(
                "the name \(ZoneName.shown(name)) contains \(ZoneName.shown(bad)), which a zone name may not")
        }
        let origin = ZoneName.absolute(zoneOrigin.lowercased())
        let n = name.lowercased(), bareOrigin = String(origin.dropLast())
        // Absolute with or without its trailing dot ("ssow.semail.email"), else relative to the zone.
        let isAbsolute = n.hasSuffix(".") || n == bareOrigin || n.hasSuffix("." + bareOrigin)
        // A dotted name outside the zone is a mistake, not a relative name
        // (evil.example.org -> evil.example.org.<zone>).
        if !isAbsolute && n.contains(".") {
            throw ZoneError.invalidInput(
                "\(ZoneName.shown(name)) has a dot but is not inside the zone \(origin): write a name inside it "
                    + "in full (\(n.split(separator: ".").first ?? "name").\(bareOrigin)), a single label (relative), "
                    + "or a trailing dot for an absolute name")
        }
        let abs = try ZoneName.checkHost(isAbsolute ? n : n + "." + origin)
        guard let rel = ZoneName.relative(abs, to: origin) else {
            throw ZoneError.invalidInput("\(ZoneName.shown(name)) is not inside the zone \(origin)")
        }
        guard rel != "@" else {
            throw ZoneError.invalidInput("the zone apex \(origin) belongs to the administrator; give a subdomain")
        }
        return abs
    }

    /// The records of `wanted` that are not in the zone yet (what `add` writes).
    public static func missing(_ wanted: [ZoneNewRecord], in zone: ZoneFile) throws -> [ZoneNewRecord] {
        var out: [ZoneNewRecord] = []
        for r in wanted {
            let owner = r.owner.lowercased()
            let existing = zone.records(named: owner)
            if let cname = existing.first(where: { $0.type == "CNAME" }) {
                throw ZoneError.conflict(
                    "\(owner) is a CNAME (\(cname.file):\(cname.line)); it cannot also have \(r.type) records")
            }
            if let cut = zone.records.first(where: {
                $0.type == "NS" && $0.key != zone.origin && (owner == $0.key || owner.hasSuffix("." + $0.key))
            }) {
                throw ZoneError.conflict(
                    """
                    \(owner) is at or below the delegation \(cut.owner) (\(cut.file):\(cut.line)); records there \
                    are not served from this zone
                    """
                )
            }
            if !existing.contains(where: { same($0, r) }) && !out.contains(r) { out.append(r) }
        }
        return out
    }

    /// Splices that add `wanted` to the managed block (created at the end of
    /// the file if missing). Records already present anywhere are skipped.
    public static func add(_ wanted: [ZoneNewRecord], to zone: ZoneFile) throws -> [ZoneSplice] {
        let lines = try missing(wanted, in: zone).map(\.line).joined()
        guard !lines.isEmpty else { return [] }
        if let end = zone.entries.firstIndex(where: { $0.kind == .managedEnd }) {
            let at = zone.entries[end].range.lowerBound
            return [ZoneSplice(at..<at, lines)]
        }
        let at = zone.bytes.count
        // A file without a final newline keeps none: the block then ends
        // without one too, and `remove` takes back the newline put before it.
        if let last = zone.bytes.last, last != 0x0A {
            return [ZoneSplice(at..<at, "\n" + beginLine + lines + String(endLine.dropLast()))]
        }
        return [ZoneSplice(at..<at, beginLine + lines + endLine)]
    }

    /// Whether a record read from the file is the record `r`.
    public static func same(_ have: ZoneRecord, _ r: ZoneNewRecord) -> Bool {
        guard have.type == r.type, have.key == r.owner.lowercased(), have.rdata.count == r.rdata.count else {
            return false
        }
        switch r.type {
        case "MX":
            return UInt16(have.rdata[0]) == UInt16(r.rdata[0])
                && ZoneName.resolve(have.rdata[1], origin: have.origin).lowercased() == r.rdata[1].lowercased()
        case "A", "AAAA":
            return canonicalIP(have.rdata[0]) == canonicalIP(r.rdata[0])
        default:
            return have.rdata == r.rdata
        }
    }

    static func canonicalIP(_ s: String) -> String {
        var v4 = in_addr(), v6 = in6_addr()
        var buf = [CChar](repeating: 0, count: 64)
        if inet_pton(AF_INET, s, &v4) == 1 { inet_ntop(AF_INET, &v4, &buf, 64); return cString(buf) }
        if inet_pton(AF_INET6, s, &v6) == 1 { inet_ntop(AF_INET6, &v6, &buf, 64); return cString(buf) }
        return s.lowercased()
    }

    /// Indices of the records `remove` takes out: those of `types` at `name`
    /// the tool wrote, hand-written ones too with `force` (else an error
    /// naming them), and those of `alsoManaged` only where the tool wrote
    /// them. Records from `$INCLUDE` files are never removed.
    public static func removable(
        name: String, types: Set<String>, alsoManaged: Set<String> = [], from zone: ZoneFile, force: Bool
    ) throws -> [Int] {
        let key = name.lowercased()
        let matches = zone.records.indices.filter {
            zone.records[$0].key == key && types.contains(zone.records[$0].type)
        }
        let managed = matches.filter { zone.records[$0].managed }
        let byHand = matches.filter { !zone.records[$0].managed && !zone.records[$0].included }
        if let inc = matches.first(where: { zone.records[$0].included }), force || managed.isEmpty {
            let r = zone.records[inc]
            throw ZoneError.handWritten(
                """
                the \(r.type) record of \(r.owner) comes from the included file \(r.file):\(r.line); semailctl \
                never rewrites included files
                """
            )
        }
        if !byHand.isEmpty && !force && managed.isEmpty {
            let where_ = byHand.map { "\(zone.records[$0].file):\(zone.records[$0].line)" }.joined(separator: ", ")
            throw ZoneError.handWritten(
                """
                the \(types.sorted().joined(separator: "/")) records of \(name) were written by hand (\(where_)); \
                semailctl removes them only with --force
                """
            )
        }
        guard !managed.isEmpty || (force && !byHand.isEmpty) else { return [] }
        return managed + (force ? byHand : [])
            + zone.records.indices.filter {
                zone.records[$0].key == key && alsoManaged.contains(zone.records[$0].type) && zone.records[$0].managed
            }
    }

    /// Splices that remove the records of `types` at `name`. Records the tool
    /// wrote go; hand-written ones only with `force` (else an error naming
    /// them); records from `$INCLUDE` files never.
    /// `alsoManaged` names types removed only where the tool wrote them
    /// (the A/AAAA that came with an MX).
    public static func remove(
        name: String, types: Set<String>, alsoManaged: Set<String> = [], from zone: ZoneFile, force: Bool
    ) throws -> [ZoneSplice] {
        let doomed = try removable(name: name, types: types, alsoManaged: alsoManaged, from: zone, force: force)
        guard !doomed.isEmpty else { return [] }
        let doomedEntries = Set(doomed.compactMap { zone.recordEntry[$0] })
        var splices: [ZoneSplice] = []

        // A managed block left without records goes as a whole.
        var blockGone: Range<Int>?
        if let b = zone.entries.firstIndex(where: { $0.kind == .managedBegin }),
            let e = zone.entries.firstIndex(where: { $0.kind == .managedEnd })
        {
            let inside = (b + 1)..<e
            let remaining = inside.filter { i in
                if case .record = zone.entries[i].kind { return !doomedEntries.contains(i) }
                return false
            }
            if remaining.isEmpty, inside.contains(where: { doomedEntries.contains($0) }) {
                var start = zone.entries[b].range.lowerBound
                let end = zone.entries[e].range.upperBound
                // The block closes the file without a final newline: `add`
                // put a newline before it, which goes with it.
                if end == zone.bytes.count, zone.bytes.last != 0x0A, start > 0, zone.bytes[start - 1] == 0x0A {
                    start -= 1
                }
                blockGone = start..<end
                splices.append(ZoneSplice(blockGone!, ""))
            }
        }
        for i in doomedEntries.sorted() {
            let entry = zone.entries[i]
            if let g = blockGone, g.contains(entry.range.lowerBound) { continue }
            guard case let .record(ri) = entry.kind else { continue }
            splices.append(ZoneSplice(entry.range, ""))
            // The next record that inherits this line's owner keeps it.
            if !entry.inheritsOwner,
                let next = zone.entries[(i + 1)...].firstIndex(where: {
                    if case .record = $0.kind { return true }; if case .directive = $0.kind { return true };
                    return false
                }),
                case .record = zone.entries[next].kind, zone.entries[next].inheritsOwner, !doomedEntries.contains(next)
            {
                let at = zone.entries[next].range.lowerBound
                splices.append(ZoneSplice(at..<at, zone.records[ri].owner))
            }
        }
        return splices
    }

    /// The next SOA serial (RFC 1982): date-based `YYYYMMDDnn` when the
    /// current one follows that scheme, else one more, wrapping at 2^32.
    public static func nextSerial(_ s: UInt32, now: Date = Date()) -> UInt32 {
        if isDateSerial(s) {
            var cal = Calendar(identifier: .gregorian)
            cal.timeZone = TimeZone(identifier: "UTC")!
            let c = cal.dateComponents([.year, .month, .day], from: now)
            let today = UInt32(c.year! * 1_000_000 + c.month! * 10_000 + c.day! * 100)
            if serialGreater(today, s) { return today }
        }
        return s &+ 1
    }

    static func isDateSerial(_ s: UInt32) -> Bool {
        guard s >= 1_970_010_100 else { return false }
        let day = (s / 100) % 100, month = (s / 10_000) % 100, year = s / 1_000_000
        return (1970...2999).contains(year) && (1...12).contains(month) && (1...31).contains(day)
    }

    /// RFC 1982 comparison: a is greater than b.
    public static func serialGreater(_ a: UInt32, _ b: UInt32) -> Bool {
        a != b && ((a > b && a - b < 0x8000_0000) || (a < b && b - a > 0x8000_0000))
    }

    /// The splices that set the SOA serial to the next value: in every SOA
    /// record of the apex (a file in `dig axfr` form repeats the SOA at its
    /// end, and named refuses two SOAs that differ).
    public static func bumpSerial(_ zone: ZoneFile, now: Date = Date()) throws -> (
        splices: [ZoneSplice], old: UInt32, new: UInt32
    ) {
        let soas = zone.apexSOAs
        guard let first = soas.first else {
            throw ZoneError.conflict("the zone \(zone.origin) has no SOA record at its apex")
        }
        guard let old = UInt32(first.rdata[2]) else {
            throw ZoneError.conflict("the SOA record (\(first.file):\(first.line)) has no serial semailctl can read")
        }
        let new = nextSerial(old, now: now)
        var splices: [ZoneSplice] = []
        for soa in soas {
            guard !soa.included else {
                throw ZoneError.conflict(
                    """
                    the SOA record (\(soa.file):\(soa.line)) is not in the zone file itself; semailctl cannot bump \
                    its serial
                    """
                )
            }
            splices += try serialSplices(soa, new, in: zone)
        }
        return (splices, old, new)
    }

    static func serialSplices(_ soa: ZoneRecord, _ new: UInt32, in zone: ZoneFile) throws -> [ZoneSplice] {
        guard soa.generic else {
            guard soa.rdataRanges.count == 7 else {
                throw ZoneError.conflict("the SOA record (\(soa.file):\(soa.line)) does not have 7 fields")
            }
            return [ZoneSplice(soa.rdataRanges[2], String(new))]
        }
        // Generic rdata: the serial's 8 hex digits are rewritten where they
        // stand, each token keeping its length (and its letter case).
        let tokens = soa.rdataRanges.map { Array(zone.bytes[$0]) }
        guard case let .success(wire) = GenericRData.wire(tokens.map { String(decoding: $0, as: UTF8.self) }),
            let at = GenericRData.soaSerialOffset(wire)
        else {
            throw ZoneError.conflict("the SOA record (\(soa.file):\(soa.line)) is generic rdata semailctl cannot read")
        }
        let digits = Array(String(new, radix: 16)), padded = Array(repeating: "0", count: 8 - digits.count) + digits
        var splices: [ZoneSplice] = []
        var pos = 0
        let from = 2 * at, to = from + 8
        for (i, range) in soa.rdataRanges.enumerated().dropFirst(2) {
            let n = range.count, lo = max(from, pos), hi = min(to, pos + n)
            if lo < hi {
                let upper = tokens[i].contains { $0 >= 0x41 && $0 <= 0x46 }
                let text = String(padded[(lo - from)..<(hi - from)])
                let start = range.lowerBound + lo - pos
                splices.append(ZoneSplice(start..<start + hi - lo, upper ? text.uppercased() : text))
            }
            pos += n
        }
        return splices
    }

    /// Applies splices (non-overlapping) to `bytes`.
    public static func apply(_ splices: [ZoneSplice], to bytes: [UInt8]) -> [UInt8] {
        var out = bytes
        for s in splices.sorted(by: {
            ($0.range.lowerBound, $0.range.upperBound) > ($1.range.lowerBound, $1.range.upperBound)
        }) {
            out.replaceSubrange(s.range, with: s.bytes)
        }
        return out
    }
}

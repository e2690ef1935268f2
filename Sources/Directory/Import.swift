import Core
import Foundation
import LDAPClient

public struct ImportOptions: Sendable {
    public var dryRun = false
    public var continueOnError = false
    public var update = false
    /// Requests kept in flight on the connection.
    public var window = 64
    public init(dryRun: Bool = false, continueOnError: Bool = false, update: Bool = false, window: Int = 64) {
        self.dryRun = dryRun; self.continueOnError = continueOnError; self.update = update; self.window = window
    }
}

public struct ImportSummary: Sendable, Codable {
    public struct Item: Sendable, Codable {
        public var dn: String?
        public var line: Int
        public var reason: String
    }
    public var file: String
    public var dryRun: Bool
    public var records = 0
    public var added = 0
    public var modified = 0
    public var deleted = 0
    public var renamed = 0
    public var skipped = 0
    public var failed = 0
    /// Records after a failure that were not applied (without --continue-on-error).
    public var notApplied = 0
    /// The line of the first record not sent after a failure (all later ones were not sent either).
    public var notSentFromLine: Int?
    /// Records later in the file than the first failure that were already in
    /// flight when it came back, and were applied (ldapmodify, one record at
    /// a time, would not have applied them; `--window 1` does the same).
    public var appliedAfterFailure: [Item] = []
    /// Entries that exist with other attribute values (updated only with --update).
    public var differing: [Item] = []
    public var failures: [Item] = []
    public var ok: Bool { failed == 0 && notApplied == 0 }
}

/// Applies LDIF records with many requests in flight on one connection
/// (the asynchronous message-id API), in file order. A record is sent only
/// when no entry it touches (its DN, a rename's new DN and new superior) is
/// in flight, nor any ancestor or descendant of one: so it always sees the
/// results of every earlier record it depends on, as with ldapmodify.
/// Without --continue-on-error nothing is sent after a failure; records
/// already in flight then are reported (`appliedAfterFailure`).
public struct Importer {
    public let connection: LDAPConnection
    public let options: ImportOptions
    public let reporter: Reporter

    public init(connection: LDAPConnection, options: ImportOptions, reporter: Reporter = .silent) {
        self.connection = connection; self.options = options; self.reporter = reporter
    }

    public func run(file: String, items: [LDIFItem]) throws -> ImportSummary {
        var summary = ImportSummary(file: file, dryRun: options.dryRun)
        var records: [LDIFRecord] = []
        for (i, item) in items.enumerated() {
            switch item {
            case let .record(r): records.append(r)
            case let .error(e):
                summary.failed += 1
                summary.failures.append(.init(dn: nil, line: e.line, reason: e.message))
                if !options.continueOnError {
                    summary.notApplied = items[(i + 1)...].count
                    summary.records = records.count + 1 + summary.notApplied
                    // Apply what precedes the error, nothing after it.
                    return try apply(records, into: summary)
                }
            }
        }
        summary.records = records.count + summary.failed
        return try apply(records, into: summary)
    }

    private func apply(_ records: [LDIFRecord], into start: ImportSummary) throws -> ImportSummary {
        var s = start
        if options.dryRun { return try plan(records, into: s) }
        var inFlight: [Int32: (index: Int, keys: [DNKey]?)] = [:]
        var deps = InFlightDNs()
        var done = 0
        /// Index of the first record that failed (without --continue-on-error: nothing is sent after it).
        var firstFailure: Int?
        var appliedAt: [Int] = []

        func fail(_ i: Int, _ reason: String) {
            let r = records[i]
            s.failed += 1
            s.failures.append(.init(dn: r.dn, line: r.line, reason: reason))
            if !options.continueOnError { firstFailure = min(firstFailure ?? i, i) }
        }

        func complete() throws {
            let c = try connection.next()
            guard let (i, keys) = inFlight.removeValue(forKey: c.messageID) else { return }
            deps.remove(keys)
            let r = records[i]
            done += 1
            reporter.progress(done, records.count)
            guard let e = c.error else {
                switch r.change {
                case .content, .add: s.added += 1
                case .modify: s.modified += 1
                case .delete: s.deleted += 1
                case .modDN: s.renamed += 1
                }
                appliedAt.append(i)
                return
            }
            switch (r.change, e.code) {
            case (.content, .alreadyExists), (.add, .alreadyExists):
                // Compared (and updated) now, before any later record on this DN is sent.
                if let f = firstFailure, i > f { s.notApplied += 1; return }
                if let reason = try compare(r, into: &s, apply: true) { fail(i, reason) }
            case (.delete, .noSuchObject):
                s.skipped += 1
            default:
                fail(i, e.description)
            }
        }

        var index = 0
        while index < records.count, firstFailure == nil {
            let r = records[index]
            let keys = Importer.touched(r)
            // Wait until nothing this record depends on (or that depends on it) is in flight.
            while !inFlight.isEmpty, firstFailure == nil, inFlight.count >= options.window || deps.conflicts(keys) {
                try complete()
            }
            if firstFailure != nil { break }
            let id: Int32
            do {
                id = try connection.send(request(for: r), controls: r.controls)
            } catch let e as LDAPError {
                if e.code.isConnectionFailure { throw DirectoryServer.explain(e, uri: connection.options.uri) }
                fail(index, e.description)
                index += 1
                continue
            }
            inFlight[id] = (index, keys)
            deps.insert(keys)
            index += 1
        }
        while !inFlight.isEmpty { try complete() }
        if let f = firstFailure {
            s.notApplied += records.count - index
            if index < records.count { s.notSentFromLine = records[index].line }
            s.appliedAfterFailure = appliedAt.filter { $0 > f }.sorted().map {
                .init(dn: records[$0].dn, line: records[$0].line, reason: "sent before the failure came back")
            }
        }
        return s
    }

    /// Every entry a record touches: its DN, and for a rename the new DN and
    /// the new superior. Nil when one of them does not parse: such a record
    /// is sent alone, with nothing else in flight.
    static func touched(_ r: LDIFRecord) -> [DNKey]? {
        guard let dn = DNKey(r.dn) else { return nil }
        guard case let .modDN(newRDN, _, newSuperior, _) = r.change else { return [dn] }
        let parent: DNKey?
        if let newSuperior {
            guard let p = DNKey(newSuperior) else { return nil }
            parent = p
        } else {
            parent = dn.parent
        }
        guard let moved = DNKey.renamed(newRDN: newRDN, under: parent) else { return nil }
        return [dn, moved] + (newSuperior == nil ? [] : [parent!])
    }

    /// `--dry-run`: reads only, says what would happen to each record. A
    /// record the server refuses to read (a DN it cannot parse) is a failure
    /// of that record, as it would be in the import.
    private func plan(_ records: [LDIFRecord], into start: ImportSummary) throws -> ImportSummary {
        var s = start
        for (i, r) in records.enumerated() {
            reporter.progress(i + 1, records.count)
            do {
                switch r.change {
                case .content, .add:
                    if try connection.read(r.dn, attributes: ["1.1"]) == nil {
                        s.added += 1
                    } else if let reason = try compare(r, into: &s, apply: false) {
                        s.failed += 1
                        s.failures.append(.init(dn: r.dn, line: r.line, reason: reason))
                    }
                case .delete:
                    if try connection.read(r.dn, attributes: ["1.1"]) == nil { s.skipped += 1 } else { s.deleted += 1 }
                case .modify: s.modified += 1
                case .modDN: s.renamed += 1
                }
            } catch let e as LDAPError where !e.code.isConnectionFailure {
                s.failed += 1
                s.failures.append(.init(dn: r.dn, line: r.line, reason: e.description))
            }
        }
        return s
    }

    /// Compares an existing entry with the record's attributes (only those
    /// the record names); same → skipped, different → reported, and
    /// replaced with `--update`. Values that differ as bytes are asked of
    /// the server (compare), which matches them as it stores them (DN
    /// syntax, case, the RDN value it adds).
    /// Returns why it failed, if it did.
    private func compare(_ r: LDIFRecord, into s: inout ImportSummary, apply: Bool) throws -> String? {
        guard let wanted = r.entry else { return nil }
        let names = wanted.attributes.map(\.name)
        guard let have = try connection.read(r.dn, attributes: names) else { return "entry vanished while importing" }
        let diff = try Importer.differences(wanted: wanted, have: have).filter {
            try !sameOnServer(r.dn, $0, wanted, have)
        }
        if diff.isEmpty { s.skipped += 1; return nil }
        guard options.update else {
            s.differing.append(.init(dn: r.dn, line: r.line, reason: "differs in: \(diff.joined(separator: ", "))"))
            s.skipped += 1
            return nil
        }
        if !apply { s.modified += 1; return nil }
        // The RDN values stay (the server refuses to remove them: notAllowedOnRDN).
        let mods = wanted.attributes.filter { a in diff.contains(a.name.lowercased()) }.map { a -> LDAPModification in
            let rdn = (DNKey(r.dn)?.rdnValues(of: a.name) ?? []).filter {
                Importer.rdnValuesAdded(r.dn, a.name, Set(a.values)).contains(Importer.folded($0))
            }
            return LDAPModification(.replace, LDAPAttribute(a.name, a.values + rdn))
        }
        do {
            try connection.modify(r.dn, mods)
            s.modified += 1
            return nil
        } catch let e as LDAPError {
            if e.code.isConnectionFailure { throw DirectoryServer.explain(e, uri: connection.options.uri) }
            return e.description
        }
    }

    /// Whether the entry holds exactly the wanted values of `name` as the
    /// server matches them: each wanted value compares true, and it holds no
    /// other values than those, but for RDN values the server added itself.
    private func sameOnServer(_ dn: String, _ name: String, _ wanted: LDAPEntry, _ have: LDAPEntry) throws -> Bool {
        let want = Set(wanted.values(name))
        let added = Importer.rdnValuesAdded(dn, name, want)
        let theirs = have.values(name).filter { !added.contains(Importer.folded($0)) }
        guard theirs.count == want.count else { return false }
        for v in want {
            do {
                guard try connection.compare(dn, attribute: name, value: v) else { return false }
            } catch let e as LDAPError where !e.code.isConnectionFailure {
                return false  // no equality rule: the bytes decide
            }
        }
        return true
    }

    static func folded(_ v: [UInt8]) -> String { String(decoding: v, as: UTF8.self).lowercased() }

    /// The RDN values of `name` that `want` lacks: slapd adds them to the entry.
    static func rdnValuesAdded(_ dn: String, _ name: String, _ want: Set<[UInt8]>) -> Set<String> {
        let w = Set(want.map(folded))
        return Set((DNKey(dn)?.rdnValues(of: name) ?? []).map(folded).filter { !w.contains($0) })
    }

    /// Names (lowercased) of the attributes whose value sets differ.
    /// objectClass values compare case-insensitively; a clear-text
    /// userPassword cannot be compared to a stored hash and is left alone.
    static func differences(wanted: LDAPEntry, have: LDAPEntry) -> [String] {
        let h = have.valueSets
        var out: [String] = []
        for (name, values) in wanted.valueSets.sorted(by: { $0.key < $1.key }) {
            let theirs = h[name] ?? []
            if name == "objectclass" {
                let fold = { (v: Set<[UInt8]>) in Set(v.map { String(decoding: $0, as: UTF8.self).lowercased() }) }
                if fold(values) != fold(theirs) { out.append(name) }
            } else if name == "userpassword" {
                let hashed = theirs.contains { $0.first == UInt8(ascii: "{") }
                let clear = values.contains { $0.first != UInt8(ascii: "{") }
                if !(hashed && clear) && values != theirs { out.append(name) }
            } else if values != theirs {
                out.append(name)
            }
        }
        return out
    }

    func request(for r: LDIFRecord) -> LDAPRequest {
        switch r.change {
        case let .content(a), let .add(a): .add(LDAPEntry(dn: r.dn, attributes: a))
        case .delete: .delete(dn: r.dn)
        case let .modify(mods): .modify(dn: r.dn, mods)
        case let .modDN(newRDN, deleteOld, newSuperior, _):
            .rename(dn: r.dn, newRDN: newRDN, deleteOldRDN: deleteOld, newSuperior: newSuperior)
        }
    }
}

/// The DNs touched by the requests in flight, for telling whether a record
/// may be sent: not while an entry it touches, an ancestor or a descendant
/// of one is being written.
struct InFlightDNs {
    private var exact: [ArraySlice<String>: Int] = [:]
    private var under: [ArraySlice<String>: Int] = [:]
    /// Requests in flight whose DNs did not parse: nothing goes beside them.
    private var alone = 0
    private var count = 0

    func conflicts(_ keys: [DNKey]?) -> Bool {
        guard let keys else { return count > 0 }
        if alone > 0 { return true }
        for k in keys {
            let full = k.rdns[...]
            if exact[full] != nil || under[full] != nil { return true }
            for a in k.ancestors where exact[a] != nil { return true }
        }
        return false
    }

    mutating func insert(_ keys: [DNKey]?) {
        count += 1
        guard let keys else { alone += 1; return }
        for k in keys {
            exact[k.rdns[...], default: 0] += 1
            for a in k.ancestors { under[a, default: 0] += 1 }
        }
    }

    mutating func remove(_ keys: [DNKey]?) {
        count -= 1
        guard let keys else { alone -= 1; return }
        func drop(_ d: inout [ArraySlice<String>: Int], _ k: ArraySlice<String>) {
            if let n = d[k], n > 1 { d[k] = n - 1 } else { d[k] = nil }
        }
        for k in keys {
            drop(&exact, k.rdns[...])
            for a in k.ancestors { drop(&under, a) }
        }
    }
}

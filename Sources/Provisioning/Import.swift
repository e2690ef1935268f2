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
    /// Entries that exist with other attribute values (updated only with --update).
    public var differing: [Item] = []
    public var failures: [Item] = []
    public var ok: Bool { failed == 0 && notApplied == 0 }
}

/// Applies LDIF records with many requests in flight on one connection
/// (the asynchronous message-id API). A record waits while its own DN or
/// its parent is still in flight, so parents are always added first.
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
        var inFlight: [Int32: (LDIFRecord, String)] = [:]  // msgid → record, normalized DN
        var busy: [String: Int] = [:]
        var existing: [LDIFRecord] = []
        var done = 0
        var stop = false

        func key(_ dn: String) -> String { (try? DN(dn).normalized) ?? dn.lowercased() }
        func parentKey(_ dn: String) -> String? { (try? DN(dn))?.parent.map(\.normalized) }

        func complete() throws {
            let c = try connection.next()
            guard let (r, k) = inFlight.removeValue(forKey: c.messageID) else { return }
            busy[k, default: 1] -= 1
            if busy[k] == 0 { busy[k] = nil }
            done += 1
            reporter.progress(done, records.count)
            guard let e = c.error else {
                switch r.change {
                case .content, .add: s.added += 1
                case .modify: s.modified += 1
                case .delete: s.deleted += 1
                case .modDN: s.renamed += 1
                }
                return
            }
            switch (r.change, e.code) {
            case (.content, .alreadyExists), (.add, .alreadyExists):
                existing.append(r)
            case (.delete, .noSuchObject):
                s.skipped += 1
            default:
                s.failed += 1
                s.failures.append(.init(dn: r.dn, line: r.line, reason: e.description))
                if !options.continueOnError { stop = true }
            }
        }

        var index = 0
        while index < records.count, !stop {
            let r = records[index]
            let k = key(r.dn)
            // Wait while this DN or its parent is being written.
            while busy[k] != nil || (parentKey(r.dn).map { busy[$0] != nil } ?? false) || inFlight.count >= options.window {
                try complete()
                if stop { break }
            }
            if stop { break }
            let id: Int32
            do {
                id = try connection.send(request(for: r))
            } catch let e as LDAPError {
                if e.code.isConnectionFailure { throw Host.explain(e, uri: connection.options.uri) }
                s.failed += 1
                s.failures.append(.init(dn: r.dn, line: r.line, reason: e.description))
                if !options.continueOnError { stop = true }
                index += 1
                continue
            }
            inFlight[id] = (r, k)
            busy[k, default: 0] += 1
            index += 1
        }
        while !inFlight.isEmpty { try complete() }
        if stop { s.notApplied += records.count - index }

        for r in existing {
            try compare(r, into: &s, apply: true)
        }
        return s
    }

    /// `--dry-run`: reads only, says what would happen to each record.
    private func plan(_ records: [LDIFRecord], into start: ImportSummary) throws -> ImportSummary {
        var s = start
        for (i, r) in records.enumerated() {
            reporter.progress(i + 1, records.count)
            switch r.change {
            case .content, .add:
                if try connection.read(r.dn, attributes: ["1.1"]) == nil { s.added += 1 } else { try compare(r, into: &s, apply: false) }
            case .delete:
                if try connection.read(r.dn, attributes: ["1.1"]) == nil { s.skipped += 1 } else { s.deleted += 1 }
            case .modify: s.modified += 1
            case .modDN: s.renamed += 1
            }
        }
        return s
    }

    /// Compares an existing entry with the record's attributes (only those
    /// the record names); same → skipped, different → reported, and
    /// replaced with `--update`.
    private func compare(_ r: LDIFRecord, into s: inout ImportSummary, apply: Bool) throws {
        guard let wanted = r.entry else { return }
        let names = wanted.attributes.map(\.name)
        guard let have = try connection.read(r.dn, attributes: names) else {
            s.failed += 1
            s.failures.append(.init(dn: r.dn, line: r.line, reason: "entry vanished while importing"))
            return
        }
        let diff = Importer.differences(wanted: wanted, have: have)
        if diff.isEmpty { s.skipped += 1; return }
        guard options.update else {
            s.differing.append(.init(dn: r.dn, line: r.line, reason: "differs in: \(diff.joined(separator: ", "))"))
            s.skipped += 1
            return
        }
        if !apply { s.modified += 1; return }
        let mods = wanted.attributes.filter { a in diff.contains(a.name.lowercased()) }.map { LDAPModification(.replace, $0) }
        do {
            try connection.modify(r.dn, mods)
            s.modified += 1
        } catch let e as LDAPError {
            s.failed += 1
            s.failures.append(.init(dn: r.dn, line: r.line, reason: e.description))
        }
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

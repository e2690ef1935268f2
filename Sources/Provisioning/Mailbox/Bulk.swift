import Core
import Foundation
import LDAPClient
import Synchronization

/// A mailbox an LDIF entry asks for (`semailMailbox`, `semailVolumeSize`).
public struct MailboxRequest: Sendable, Codable, Equatable {
    public var uid: String
    public var address: String
    public var size: UInt64?
    public var line: Int
}

/// `import` with mailboxes: the entries go to the directory without their
/// mailbox attributes, then each mailbox is provisioned as its own
/// transaction (which records them), by a bounded pool of workers.
public enum BulkProvisioning {
    static let mailboxAttributes: Set<String> = ["semailmailbox", "semailvolumesize"]

    /// Splits the mailbox requests off the LDIF items: the mailbox
    /// attributes of add, content and modify records become requests for
    /// the `mailbox create` pipeline (which checks them) and never reach the
    /// directory directly. A modify that removes them is refused (that is
    /// `mailbox delete`); a modify left with no change is dropped.
    public static func split(_ items: [LDIFItem], file: String = "") -> (items: [LDIFItem], requests: [MailboxRequest])
    {
        var requests: [MailboxRequest] = []
        func text(_ v: [UInt8]) -> String { String(decoding: v, as: UTF8.self) }
        let out: [LDIFItem] = items.compactMap { item in
            guard case var .record(r) = item else { return item }
            let rdnUID: String =
                DNKey(r.dn)?.rdnValues(of: "uid").first.map { String(decoding: $0, as: UTF8.self) } ?? ""
            func strip(_ attrs: [LDAPAttribute]) -> [LDAPAttribute] {
                guard let a = attrs.first(where: { $0.name.lowercased() == "semailmailbox" })?.values.first else {
                    return attrs.filter { !mailboxAttributes.contains($0.name.lowercased()) }
                }
                let uid = attrs.first { $0.name.lowercased() == "uid" }?.values.first.map(text) ?? rdnUID
                let size = attrs.first { $0.name.lowercased() == "semailvolumesize" }?.values.first.flatMap {
                    UInt64(text($0))
                }
                requests.append(MailboxRequest(uid: uid, address: text(a).lowercased(), size: size, line: r.line))
                return attrs.filter { !mailboxAttributes.contains($0.name.lowercased()) }
            }
            switch r.change {
            case let .content(attrs): r.change = .content(strip(attrs))
            case let .add(attrs): r.change = .add(strip(attrs))
            case let .modify(mods):
                let touching = mods.filter { mailboxAttributes.contains($0.attribute.name.lowercased()) }
                if touching.isEmpty { break }
                let address = touching.first { $0.attribute.name.lowercased() == "semailmailbox" && $0.op != .delete }?
                    .attribute.values.first
                guard let address, !touching.contains(where: { $0.op == .delete || $0.attribute.values.isEmpty }) else {
                    return .error(
                        LDIFError(
                            file: file, line: r.line,
                            message:
                                "\(r.dn): refused: a modify may only set semailMailbox (with semailVolumeSize); "
                                + "removing or resizing a mailbox is `semailctl mailbox delete` / `reconcile`"))
                }
                let size = touching.first { $0.attribute.name.lowercased() == "semailvolumesize" }?.attribute.values
                    .first.flatMap { UInt64(text($0)) }
                requests.append(
                    MailboxRequest(uid: rdnUID, address: text(address).lowercased(), size: size, line: r.line))
                let rest = mods.filter { !mailboxAttributes.contains($0.attribute.name.lowercased()) }
                if rest.isEmpty { return nil }
                r.change = .modify(rest)
            default: break
            }
            return .record(r)
        }
        return (out, requests)
    }

    /// Refuses, record by record, changes to entries outside the people OU
    /// (the OU itself and entries below it are fine): an LDIF from elsewhere
    /// must not reach the rest of the directory unless the admin says so.
    public static func confine(_ items: [LDIFItem], to people: String, file: String) -> [LDIFItem] {
        // Parsed as the server parses DNs (LDAPv2 forms included); one that does not parse is outside.
        let p = DNKey(people)
        func inside(_ dn: String) -> Bool {
            guard let p, let n = DNKey(dn) else { return false }
            return n.isWithin(p)
        }
        return items.map { item in
            guard case let .record(r) = item else { return item }
            var ok = inside(r.dn)
            if case let .modDN(newRDN, _, newSuperior, _) = r.change {
                let parent = newSuperior.map { DNKey($0) } ?? DNKey(r.dn)?.parent
                ok =
                    ok
                    && (parent.flatMap { DNKey.renamed(newRDN: newRDN, under: $0) }.map { n in
                        p.map { n.isWithin($0) } ?? false
                    } ?? false)
            }
            guard ok else {
                return .error(
                    LDIFError(
                        file: file, line: r.line,
                        message:
                            """
                            \(r.dn): outside the people OU \(people): refused (an admin may pass --outside-people \
                            to import it)
                            """
                    ))
            }
            return item
        }
    }

    public struct Summary: Sendable, Codable {
        public var requested: Int
        public var created = 0
        public var unchanged = 0
        public var failed = 0
        public var seconds = 0.0
        public var results: [PipelineReport] = []
    }

    /// Runs one `mailbox create` transaction per request, `jobs` at a time;
    /// one user's failure does not stop the others. A request that passed
    /// its checks and then failed stays on the entry, its reason recorded
    /// (`Mailboxes.provision`): reconcile retries it.
    public static func run(_ requests: [MailboxRequest], host: Host, jobs: Int) -> Summary {
        let t0 = Date()
        let mb = Mailboxes(host: host)
        _ = try? host.containers().network().ensure()
        let results = ResultSlots(requests.count)
        // One address, one mailbox: a later request for an address an
        // earlier one in the same file asked for fails at once (in parallel
        // both could pass the check before either records it).
        var firstFor: [String: MailboxRequest] = [:]
        var duplicates: Set<Int> = []
        for (i, q) in requests.enumerated() {
            if let first = firstFor[q.address], first.uid != q.uid {
                var r = PipelineReport(kind: PipelineKind.create.rawValue, subject: q.uid, ok: false)
                r.failedStep = StepName.directoryCheck.rawValue
                r.reason =
                    "\(q.address) is asked for twice in this import: line \(first.line) gives it to \(first.uid) first"
                results.set(i, r)
                duplicates.insert(i)
            } else if firstFor[q.address] == nil {
                firstFor[q.address] = q
            }
        }
        let duplicate = duplicates
        let next = Counter()
        let done = Counter()
        let workers = max(1, min(jobs, requests.count))
        @Sendable func work() {
            while true {
                let i = next.increment() - 1
                guard i < requests.count else { return }
                if duplicate.contains(i) { host.reporter.progress(done.increment(), requests.count); continue }
                let q = requests[i]
                var r: PipelineReport
                do {
                    // A request: a failure keeps it on the entry (with why) for reconcile to retry.
                    r = try mb.provision(
                        uid: q.uid, address: q.address,
                        size: q.size ?? ByteSize.parse(host.config.storage.defaultSize),
                        requestSize: q.size, by: .admin)
                } catch {
                    r = PipelineReport(kind: PipelineKind.create.rawValue, subject: q.uid, ok: false)
                    r.reason = (error as? SemailError)?.description ?? "\(error)"
                }
                results.set(i, r)
                host.reporter.progress(done.increment(), requests.count)
            }
        }
        Concurrently.run(Array(repeating: work, count: workers))
        var s = Summary(requested: requests.count)
        s.results = results.all
        for r in s.results {
            if !r.ok {
                s.failed += 1
            } else if r.applied(.addressMap) || r.applied(.volume) {
                s.created += 1
            } else {
                s.unchanged += 1
            }
        }
        s.seconds = Date().timeIntervalSince(t0)
        return s
    }
}

final class Counter: Sendable {
    private let n = Atomic<Int>(0)
    func increment() -> Int { n.wrappingAdd(1, ordering: .relaxed).newValue }
}

final class ResultSlots: Sendable {
    private let slots: Mutex<[PipelineReport?]>
    init(_ n: Int) { slots = Mutex(Array(repeating: nil, count: n)) }
    func set(_ i: Int, _ r: PipelineReport) { slots.withLock { $0[i] = r } }
    var all: [PipelineReport] { slots.withLock { $0.compactMap { $0 } } }
}

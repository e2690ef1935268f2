import Foundation
import LDAPClient

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

    /// Splits the mailbox requests off the LDIF items.
    public static func split(_ items: [LDIFItem]) -> (items: [LDIFItem], requests: [MailboxRequest]) {
        var requests: [MailboxRequest] = []
        let out: [LDIFItem] = items.map { item in
            guard case var .record(r) = item else { return item }
            func strip(_ attrs: [LDAPAttribute]) -> [LDAPAttribute] {
                guard let a = attrs.first(where: { $0.name.lowercased() == "semailmailbox" })?.values.first else { return attrs }
                let uid = attrs.first { $0.name.lowercased() == "uid" }?.values.first.map { String(decoding: $0, as: UTF8.self) }
                    ?? (try? DN(r.dn))?.rdns.first?.first?.value ?? ""
                let size = attrs.first { $0.name.lowercased() == "semailvolumesize" }?.values.first.flatMap { UInt64(String(decoding: $0, as: UTF8.self)) }
                requests.append(MailboxRequest(uid: uid, address: String(decoding: a, as: UTF8.self).lowercased(), size: size, line: r.line))
                return attrs.filter { !mailboxAttributes.contains($0.name.lowercased()) }
            }
            switch r.change {
            case let .content(attrs): r.change = .content(strip(attrs))
            case let .add(attrs): r.change = .add(strip(attrs))
            default: break
            }
            return .record(r)
        }
        return (out, requests)
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
    /// one user's failure does not stop the others.
    public static func run(_ requests: [MailboxRequest], host: Host, jobs: Int) -> Summary {
        let t0 = Date()
        let mb = Mailboxes(host: host)
        _ = try? host.containers().network().ensure()
        let results = ResultSlots(requests.count)
        let next = Counter()
        let done = Counter()
        let workers = max(1, min(jobs, requests.count))
        let group = DispatchGroup()
        for _ in 0..<workers {
            group.enter()
            Thread {
                defer { group.leave() }
                while true {
                    let i = next.increment() - 1
                    guard i < requests.count else { return }
                    let q = requests[i]
                    var r: PipelineReport
                    do {
                        r = try mb.create(uid: q.uid, address: q.address, size: q.size)
                    } catch {
                        r = PipelineReport(kind: "mailbox.create", subject: q.uid, ok: false)
                        r.reason = (error as? SemailError)?.description ?? "\(error)"
                    }
                    results.set(i, r)
                    host.reporter.progress(done.increment(), requests.count)
                }
            }.start()
        }
        group.wait()
        var s = Summary(requested: requests.count)
        s.results = results.all
        for r in s.results {
            if !r.ok { s.failed += 1 } else if r.applied.contains("address-map") || r.applied.contains("volume") { s.created += 1 } else { s.unchanged += 1 }
        }
        s.seconds = Date().timeIntervalSince(t0)
        return s
    }
}

final class Counter: @unchecked Sendable {
    private let lock = NSLock()
    private var n = 0
    func increment() -> Int { lock.withLock { n += 1; return n } }
}

final class ResultSlots: @unchecked Sendable {
    private let lock = NSLock()
    private var slots: [PipelineReport?]
    init(_ n: Int) { slots = Array(repeating: nil, count: n) }
    func set(_ i: Int, _ r: PipelineReport) { lock.withLock { slots[i] = r } }
    var all: [PipelineReport] { lock.withLock { slots.compactMap { $0 } } }
}

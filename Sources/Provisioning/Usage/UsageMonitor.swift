import Core
import Foundation
import Storage

/// One mailbox's usage, as `mailbox usage` shows it.
public struct UsageRow: Sendable, Codable, Equatable {
    public var uid: String
    public var address: String
    /// Nil when the volume is not mounted (nothing to measure).
    public var usage: VolumeUsage?
    public var percent: Int?
    /// The highest threshold the user has been warned about (after this pass).
    public var warned: Int?
    /// The threshold warned about in this pass, if any.
    public var sent: Int?
    public var error: String?
}

/// A warning delivered into a Maildir.
public struct UsageWarningSent: Sendable, Codable, Equatable {
    public var uid: String
    public var threshold: Int
    public var percent: Int
    public var file: String
}

/// What one usage pass measured and sent (`mailbox usage`, each reconcile).
public struct UsagePass: Sendable, Codable {
    /// Sorted by percent, fullest first (unmounted last).
    public var rows: [UsageRow] = []
    public var sent: [UsageWarningSent] = []
    public var errors: [String] = []
    public var thresholds: [Int] = []
    /// Mailboxes by state (`MailboxStates`), when a reconcile pass observed them.
    public var states: [String: Int]? = nil
}

/// Measures every mailbox's volume (one fstatvfs each) and, when SEND,
/// delivers a warning at each threshold crossing and remembers it.
public struct UsageMonitor: Sendable {
    public let config: Config
    public let reporter: Reporter
    /// How a mount point is measured (tests replace it).
    var measure: @Sendable (String) -> VolumeUsage? = VolumeUsage.measure
    public init(config: Config, reporter: Reporter) { self.config = config; self.reporter = reporter }

    var state: UsageWarningState { UsageWarningState(stateDir: config.state.dir) }

    /// The measure of each mailbox's mount point; warnings need the owner.
    public func run(_ boxes: [MailboxRecord], send: Bool) throws -> UsagePass {
        var pass = UsagePass(thresholds: config.usage.warnPercent)
        let measured = boxes.map { b in (b, measure(VolumeComponent.mountPoint(b.uid, config))) }
        let body = { () throws -> Void in
            var warned = try state.read()
            let before = warned
            for (b, u) in measured {
                var row = UsageRow(uid: b.uid, address: b.address, usage: u, percent: u?.percent, warned: warned[b.uid])
                if let u {
                    let step = UsageThresholds.step(pass.thresholds, warned: warned[b.uid], percent: u.percent)
                    if send, let t = step.warn {
                        do {
                            let file = try deliver(b, threshold: t, usage: u)
                            pass.sent.append(UsageWarningSent(uid: b.uid, threshold: t, percent: u.percent, file: file))
                            row.sent = t
                            warned[b.uid] = step.warned
                        } catch {
                            row.error = SemailError.text(error)
                            pass.errors.append("\(b.uid): cannot deliver the \(t)% warning: \(SemailError.text(error))")
                        }
                    } else if step.warn == nil {
                        warned[b.uid] = step.warned
                    }
                    row.warned = warned[b.uid]
                }
                pass.rows.append(row)
            }
            // Forget mailboxes that are gone (a new mailbox of that uid starts afresh).
            let known = Set(boxes.map(\.uid))
            if send { warned = warned.filter { known.contains($0.key) } }
            if send && warned != before { try state.write(warned) }
        }
        if send { try state.locked(body) } else { try body() }
        pass.rows.sort { ($0.percent ?? -1, $1.uid) > ($1.percent ?? -1, $0.uid) }
        return pass
    }

    func deliver(_ b: MailboxRecord, threshold: Int, usage: VolumeUsage) throws -> String {
        _ = try Validate.address(b.address)
        guard let owner = VolumeComponent.owner(b, config) else {
            throw SemailError(
                "\(b.uid) has no valid owner", why: "no uidNumber/gidNumber in the allowed range",
                hint: "make the entry a posixAccount (`semailctl user modify \(b.uid) --posix`)", status: .dataError)
        }
        let text = UsageWarningMessage.render(
            to: b.address, from: config.usageFrom, threshold: threshold, usage: usage)
        let host = ProcessInfo.processInfo.hostName
        let file = try MaildirDelivery.deliver(
            Array(text.utf8), root: VolumeComponent.mountPoint(b.uid, config), owner: owner, host: host)
        reporter.info("\(b.uid): \(usage.percent)% used; warned at \(threshold)% (\(file))")
        return file
    }

    /// The mailboxes the address map may list (valid values), from one directory search.
    public static func mailboxes(_ host: Host, only uids: [String] = []) throws -> [MailboxRecord] {
        let mb = Mailboxes(host: host)
        let all = try host.directory().mailboxes()
        let ok = mb.decide(all, current: mb.map.entries()).accepted
        return uids.isEmpty ? ok : ok.filter { uids.contains($0.uid) }
    }
}

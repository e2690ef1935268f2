import Core
import Directory
import Foundation
import Provisioning

extension PipelineReport {
    var text: String {
        if let plan {
            return
                (["\(kind) \(subject) (dry run, nothing changed):"]
                + plan.map { "  \($0.action.padding(toLength: 5, withPad: " ", startingAt: 0)) \($0.step): \($0.why)" })
                .joined(separator: "\n")
        }
        var l: [String] = []
        if ok {
            l.append("\(kind) \(subject): done" + (applied.isEmpty ? " (nothing to do)" : ""))
            if !applied.isEmpty { l.append("  applied: \(applied.joined(separator: ", "))") }
            if !skipped.isEmpty { l.append("  already done: \(skipped.joined(separator: ", "))") }
        } else {
            l.append("\(kind) \(subject): FAILED at step \(failedStep ?? "?"): \(reason ?? "")")
            l.append("  rolled back: \(rolledBack.isEmpty ? "nothing" : rolledBack.joined(separator: ", "))")
            if !undoFailures.isEmpty {
                l.append(
                    "  could NOT undo: \(undoFailures.joined(separator: "; ")) (the journal keeps it; run "
                        + "`semailctl recover`)"
                )
            }
        }
        l += notes.map { "  \($0)" }
        return l.joined(separator: "\n")
    }
}

extension MailboxStatus {
    var cells: [String] {
        let vol =
            volume.map { v in
                v.mounted
                    ? "\(ByteSize.format(v.fsUsed ?? 0))/\(ByteSize.format(v.fsSize ?? v.size)) \(v.percentUsed)%"
                        + (warned.map { " warned \($0)%" } ?? "") : "unmounted"
            } ?? "no volume"
        let shown = refused == nil ? address : Validate.quoted(address)
        let last =
            "dns \(dns)\(inAddressMap ? "" : "  (not in address map)")"
            + (refused.map { "  NOT DELIVERED: \($0)" } ?? "")
            + (lastFailure.map { "  NOT PROVISIONED (reconcile retries): \($0.summary)" } ?? "")
            + (suspension.map { "  SUSPENDED: \($0.reason ?? "no reason given")" } ?? "")
        return [uid, shown, vol, container?.shownState ?? "no container", last]
    }
    /// Columns as wide as their values (a long uid, address or state stays whole).
    static func table(_ l: [MailboxStatus]) -> String { TextTable.render(l.map(\.cells), minimum: [16, 30, 16, 13]) }
}

enum MailboxText {
    /// `mailbox show`'s text.
    static func show(_ m: MailboxStatus) -> String {
        var l = [
            "uid        \(m.uid)", "address    \(m.refused == nil ? m.address : Validate.quoted(m.address))",
            "size       \(m.size.map { ByteSize.format($0) } ?? "-")"
        ]
        if let why = m.refused { l.append("REFUSED    \(why) (not in the address map)") }
        if let f = m.lastFailure { l.append("FAILED     \(f.summary) (`semailctl reconcile` retries it)") }
        if let s = m.suspension { l.append("state      \(s.summary) (`semailctl mailbox resume \(m.uid)`)") }
        if let v = m.volume {
            let used =
                "\(ByteSize.format(v.fsUsed ?? 0)) used of \(ByteSize.format(v.fsSize ?? 0)) (\(v.percentUsed)%"
                + (m.warned.map { ", warned at \($0)%" } ?? "") + ")"
            l.append("volume     \(v.source) \(v.mounted ? "mounted at \(v.mountPoint), \(used)" : "NOT mounted")")
        } else {
            l.append("volume     MISSING")
        }
        l.append(
            "container  \(m.container.map { "\($0.name) \($0.shownState)" } ?? "MISSING")"
                + (m.container?.volumeMounted == false ? " (run `semailctl reconcile`)" : ""))
        if let s = m.container?.ssh { l.append("ssh        \(s)") }
        l.append("dns        \(m.dns)")
        l.append("map        \(m.inAddressMap ? "listed" : "NOT listed")")
        return l.joined(separator: "\n")
    }
}

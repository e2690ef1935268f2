import ArgumentParser
import Core
import Provisioning
import Storage

struct MailboxUsageCommand: SemailCommand {
    static let configuration = CommandConfiguration.leaf(
        commandName: "usage",
        abstract:
            "Bytes and inodes used per mailbox, with the volume's size and percent used, fullest first; warns "
            + "users past a [usage] warn_percent threshold.",
        discussion: """
            Each mailbox is its own ext4 volume, so its usage is one fstatvfs of the mount point (exact, and as \
            fast for a full mailbox as for an empty one; `du -s` walks every file). Percent is df's Use%: \
            used / (used + available).
            At each threshold crossing ([usage] warn_percent, default [80, 95]) the user gets one warning message \
            in their own Maildir, from the postmaster; it is sent again only after the usage has gone back below \
            that threshold (as Dovecot's quota warnings). `reconcile` and `reconcile --watch` check the same way \
            on every pass. The warnings sent are remembered in <state>/usage-warnings.json.
            """)
    @Argument(help: "The mailboxes to show (default: every one).") var uids: [String] = []
    @OptionGroup var global: GlobalOptions

    func execute(_ ctx: CommandContext) throws -> ExitStatus {
        let uids = try self.uids.map { try Validate.uid($0) }
        let host = try ctx.host()
        let boxes = try UsageMonitor.mailboxes(host, only: uids)
        if let missing = uids.first(where: { u in !boxes.contains { $0.uid == u } }) {
            throw SemailError(
                "no mailbox \(missing)", why: "the directory has no valid mailbox for that uid",
                hint: "see `semailctl mailbox list`", status: .dataError)
        }
        let pass = try UsageMonitor(config: host.config, reporter: host.reporter).run(boxes, send: true)
        ctx.emit(pass) { $0.text }
        return pass.errors.isEmpty ? .success : .failure
    }
}

extension UsagePass {
    var text: String {
        let head = ["UID", "ADDRESS", "USED", "SIZE", "USE%", "INODES", "WARNED"]
        let rows = rows.map { r -> [String] in
            guard let u = r.usage else { return [r.uid, r.address, "-", "-", "-", "-", "unmounted"] }
            return [
                r.uid, r.address, ByteSize.format(u.used), ByteSize.format(u.size), "\(u.percent)%",
                "\(u.inodesUsed)/\(u.inodes)",
                (r.warned.map { "at \($0)%" } ?? "-") + (r.sent != nil ? " (sent now)" : "")
            ]
        }
        var l = [TextTable.render([head] + rows, minimum: [16, 24, 6, 6, 4, 12])]
        if rows.isEmpty { l = ["no mailboxes"] }
        for e in errors { l.append("error: \(e)") }
        l.append(
            thresholds.isEmpty
                ? "warnings are off ([usage] warn_percent = [])"
                : "warnings at \(thresholds.map { "\($0)%" }.joined(separator: ", ")); \(sent.count) sent now")
        return l.joined(separator: "\n")
    }
}

extension VolumeState {
    /// df's Use% (as `mailbox usage`).
    var percentUsed: Int {
        VolumeUsage(used: fsUsed ?? 0, available: fsFree ?? 0, size: fsSize ?? size, inodesUsed: 0, inodes: 0).percent
    }
}

import ArgumentParser
import Foundation
import Provisioning

struct MailboxCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "mailbox", abstract: "Mailboxes: volume, container, MX record, directory entry and address map, as one transaction.",
        subcommands: [MailboxCreate.self, MailboxDelete.self, MailboxList.self, MailboxShow.self])
}

/// Options of every mutating command.
struct MutationOptions: ParsableArguments {
    @Flag(help: "Print the steps that would run and why; change nothing.") var dryRun = false
    @Flag(help: "Fail at once (exit 75) if another semailctl holds the state lock, instead of waiting.") var noWait = false
}

extension PipelineReport {
    var text: String {
        if let plan {
            return (["\(kind) \(subject) (dry run, nothing changed):"] + plan.map { "  \($0.action.padding(toLength: 5, withPad: " ", startingAt: 0)) \($0.step): \($0.why)" })
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
            if !undoFailures.isEmpty { l.append("  could NOT undo: \(undoFailures.joined(separator: "; ")) (the journal keeps it; run `semailctl recover`)") }
        }
        l += notes.map { "  \($0)" }
        return l.joined(separator: "\n")
    }
}

extension Output {
    /// Runs a mutating command's body under the state lock, after repairing
    /// (and saying) what an interrupted command left.
    func locked<T>(_ host: Provisioning.Host, wait: Bool, _ body: () throws -> T) throws -> T {
        try Mailboxes(host: host).locked(wait: wait) { recovered in
            for r in recovered { info("recovered: \(r.text)") }
            return try body()
        }
    }
}

struct MailboxCreate: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "create",
        abstract: "Create UID's mailbox: volume, ext4, mount and Maildir, container, MX record, directory entry, address map.",
        discussion: "Each step is skipped when already done, so running it again completes a half-made mailbox. A failed step rolls back what this run made.")
    @Argument(help: "The uid (an existing user).") var uid: String
    @Option(help: "The mailbox address, ID@DOMAIN.") var address: String
    @Option(help: "Volume size (default: [storage] default_size).") var size: String?
    @Option(help: "SSH public keys for the user's container (a file, one key per line).") var sshKey: String?
    @Flag(help: "Ask the user's own password and check it by binding as the user (self-service: the [policy] rules for users apply).") var asUser = false
    @OptionGroup var password: PasswordOptions
    @OptionGroup var mutation: MutationOptions
    @OptionGroup var global: GlobalOptions

    func run() async throws {
        let out = global.output
        try await out.run {
            _ = try Validate.uid(uid)
            _ = try Validate.address(address)
            let bytes = try size.map { try ByteSize.parse($0) }
            let host = try global.host()
            // Self-service: the user proves who they are before any file they named is opened.
            if asUser {
                guard let pw = try password.read(required: true, confirm: false) else { return .usage }
                try host.directory().checkPassword(uid, pw)
            }
            let keys = try sshKey.map { try Directory.readKeyFile($0) }
            let r = try out.locked(host, wait: !mutation.noWait) {
                if let keys, !mutation.dryRun { _ = try host.directory().setSSHKeys(uid, keys) }
                return try Mailboxes(host: host).create(uid: uid, address: address, size: bytes, by: asUser ? .user : .admin, dryRun: mutation.dryRun)
            }
            out.emit(r) { $0.text }
            return r.ok ? .success : .failure
        }
    }
}

struct MailboxDelete: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "delete",
        abstract: "Delete UID's mailbox: container, (archive), volume, MX record, directory attributes, address map line.")
    @Argument var uid: String
    @Option(help: "Archive the Maildir to this .tar.gz first (read back before anything is destroyed).") var archive: String?
    @Flag(help: "Do not ask; required when standard input is not a terminal.") var yes = false
    @OptionGroup var mutation: MutationOptions
    @OptionGroup var global: GlobalOptions

    func run() async throws {
        let out = global.output
        try await out.run {
            _ = try Validate.uid(uid)
            let host = try global.host()
            if !mutation.dryRun {
                try Terminal.confirm("Delete the mailbox of \(uid)\(archive == nil ? " and ALL its mail" : " (archived to \(archive!))")?", yes: yes,
                                     what: "delete \(uid)'s mailbox")
            }
            let r = try out.locked(host, wait: !mutation.noWait) {
                try Mailboxes(host: host).delete(uid: uid, archive: archive, dryRun: mutation.dryRun)
            }
            out.emit(r) { $0.text }
            return r.ok ? .success : .failure
        }
    }
}

extension MailboxStatus {
    var cells: [String] {
        let vol = volume.map { v in v.mounted ? "\(ByteSize.format(v.fsUsed ?? 0))/\(ByteSize.format(v.fsSize ?? v.size))" : "unmounted" } ?? "no volume"
        let shown = refused == nil ? address : Validate.quoted(address)
        let last = "dns \(dns)\(inAddressMap ? "" : "  (not in address map)")"
            + (refused.map { "  NOT DELIVERED: \($0)" } ?? "")
            + (lastFailure.map { "  NOT PROVISIONED (reconcile retries): \($0.summary)" } ?? "")
        return [uid, shown, vol, container?.shownState ?? "no container", last]
    }
    /// Columns as wide as their values (a long uid, address or state stays whole).
    static func table(_ l: [MailboxStatus]) -> String { TextTable.render(l.map(\.cells), minimum: [16, 30, 16, 13]) }
}

struct MailboxList: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "list",
        abstract: "Every mailbox with its address, volume usage, container state and DNS state (one call per component).")
    @OptionGroup var global: GlobalOptions

    func run() async throws {
        let out = global.output
        try await out.run {
            let l = try Mailboxes(host: global.host()).list()
            out.emit(l) { MailboxStatus.table($0) }
            return .success
        }
    }
}

struct MailboxShow: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "show", abstract: "One mailbox in detail.")
    @Argument var uid: String
    @OptionGroup var global: GlobalOptions

    func run() async throws {
        let out = global.output
        try await out.run {
            _ = try Validate.uid(uid)
            guard let m = try Mailboxes(host: global.host()).status(uid) else {
                throw SemailError("\(uid) has no mailbox", why: "no semailMailbox on the entry", hint: "see `semailctl mailbox list`", status: .failure)
            }
            out.emit(m) { m in
                var l = ["uid        \(m.uid)", "address    \(m.refused == nil ? m.address : Validate.quoted(m.address))", "size       \(m.size.map { ByteSize.format($0) } ?? "-")"]
                if let why = m.refused { l.append("REFUSED    \(why) (not in the address map)") }
                if let f = m.lastFailure { l.append("FAILED     \(f.summary) (`semailctl reconcile` retries it)") }
                if let v = m.volume {
                    l.append("volume     \(v.source) \(v.mounted ? "mounted at \(v.mountPoint), \(ByteSize.format(v.fsUsed ?? 0)) used of \(ByteSize.format(v.fsSize ?? 0))" : "NOT mounted")")
                } else { l.append("volume     MISSING") }
                l.append("container  \(m.container.map { "\($0.name) \($0.shownState)" } ?? "MISSING")"
                         + (m.container?.volumeMounted == false ? " (run `semailctl reconcile`)" : ""))
                if let s = m.container?.ssh { l.append("ssh        \(s)") }
                l.append("dns        \(m.dns)")
                l.append("map        \(m.inAddressMap ? "listed" : "NOT listed")")
                return l.joined(separator: "\n")
            }
            return .success
        }
    }
}

struct RecoverCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "recover",
        abstract: "Repair what an interrupted command left (also done by every mutating command): roll back, or finish past the point of no return.")
    @Flag(help: "Fail at once if another semailctl holds the state lock.") var noWait = false
    @OptionGroup var global: GlobalOptions

    func run() async throws {
        let out = global.output
        try await out.run {
            let reports = try Mailboxes(host: global.host()).locked(wait: !noWait) { $0 }
            out.emit(reports) { rs in rs.isEmpty ? "nothing to recover" : rs.map(\.text).joined(separator: "\n") }
            return reports.allSatisfy(\.ok) ? .success : .failure
        }
    }
}

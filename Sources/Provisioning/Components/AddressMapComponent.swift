import Core
import Foundation
import Storage

/// The mailbox's line in the address map the SMTP servers read (and its
/// Postfix form): written last by create (mail flows from then on), dropped
/// first by delete; with it, the approvals of the addresses it lists.
struct AddressMapComponent: MailboxComponent {
    func createSteps(_ r: CreateRequest, _ mb: Mailboxes) -> [Step] {
        let host = mb.host
        let map = mb.map
        let uid = r.uid
        let address = r.address
        return [
            Step(
                .addressMap, why: "rewrite \(mb.config.smtp.addressMap) with \(uid): \(address)", pointOfNoReturn: true,
                check: { map.isCurrent(try mb.mapRecords(allowing: (uid, address))) },
                apply: {
                    try mb.rewriteMap(for: uid, allowing: (uid, address))
                    // Never "done" without its line (an entry changed meanwhile, say): the step fails and is undone.
                    guard map.entries()[uid] == address else {
                        throw SemailError(
                            "the address map does not list \(uid): \(address)",
                            why: mb.decide(
                                try host.directory().mailboxes(),
                                current: map.entries(), allowing: (uid, address)
                            ).refused[uid] ?? "the directory changed meanwhile",
                            hint: "check the entry with `semailctl mailbox show \(uid)`, then run the command again",
                            status: .failure)
                    }
                },
                // Undone before the directory step is: leave this uid out explicitly.
                undo: { _ in try mb.rewriteMap(for: uid, excluding: [uid], revoking: uid) })
        ]
    }

    func deleteSteps(_ r: DeleteRequest, _ mb: Mailboxes) -> [Step] {
        let map = mb.map
        let uid = r.uid
        let normalized = r.normalized
        return [
            Step(
                .stopDelivery, why: "drop \(uid) from \(mb.config.smtp.addressMap) so no new mail arrives",
                check: { map.entries()[uid] == nil },
                apply: { try mb.rewriteMap(for: uid, excluding: [uid]) },
                undo: { _ in try mb.rewriteMap(for: uid, allowing: (uid, normalized)) }),
            Step(
                .addressMap, why: "rewrite \(mb.config.smtp.addressMap) without \(uid)",
                check: { map.isCurrent(try mb.mapRecords(excluding: [uid])) && mb.approvals.entries()[uid] == nil },
                apply: { try mb.rewriteMap(for: uid, excluding: [uid], revoking: uid) })
        ]
    }

    /// The map's file and its Postfix outputs, read once.
    func observe(_ o: inout Observation, _ scope: ObserveScope, _ mb: Mailboxes) throws {
        guard scope == .reconcile else {
            o.current = mb.map.entries()
            return
        }
        if o.current.isEmpty { o.current = mb.map.entries() }
        o.map = mb.map.read()
        o.stalePostfix = mb.map.stalePostfix(o.wanted().mailboxes)
    }

    func adopt(_ part: Observation, into o: inout Observation) {
        o.current = part.current
        o.map = part.map
        o.stalePostfix = part.stalePostfix
    }

    /// The map as a whole: its text, then its Postfix form.
    func sharedDrift(_ o: Observation, _ c: Config) -> [ReconcileItem] {
        var items: [ReconcileItem] = []
        if o.map != AddressMap.render(o.mailboxes) {
            items.append(
                ReconcileItem(
                    .repair, "-", .addressMap, "rewrite \(c.smtp.addressMap)",
                    o.map == nil ? "it does not exist" : "it differs from the directory"))
        }
        if !o.stalePostfix.isEmpty {
            items.append(
                ReconcileItem(
                    .repair, "-", .addressMap, "rewrite \(o.stalePostfix.joined(separator: ", "))",
                    "the Postfix form of the map differs from it"))
        }
        return items
    }

    /// Any line about the map (a refused entry included) rewrites it once,
    /// after the mailboxes' transactions.
    func repairShared(_ items: [ReconcileItem], _ mb: Mailboxes, errors: inout [String]) {
        guard items.contains(where: { $0.component == .addressMap }) else { return }
        do { try mb.rewriteMap(for: "reconcile") } catch { errors.append("address map: \(error)") }
    }

    func status(_ s: inout MailboxStatus, _ o: Observation, _ c: Config) {
        s.inAddressMap = o.current[s.uid] == s.address
    }

    func check(_ config: Config) -> [ConfigReport.Component] {
        config.sections.contains("smtp") ? [Self.checkSMTP(config)] : []
    }

    /// The address map and its Postfix form: each file's directory exists
    /// (the map's is made on the first write; Postfix's must be there).
    static func checkSMTP(_ config: Config) -> ConfigReport.Component {
        let map = AddressMap(path: config.smtp.addressMap, postfix: PostfixMaps(config: config))
        var problems: [String] = []
        var hint: String?
        do { _ = try MailOwner.fixed(config.storage.owner) } catch let e as SemailError {
            if !map.postfix.paths.isEmpty { problems.append("the Postfix uid/gid maps need [storage] owner: \(e.why)") }
        } catch {}
        for kind in PostfixMaps.Kind.allCases {
            guard let path = map.postfix.paths[kind] else { continue }
            let dir = (path as NSString).deletingLastPathComponent
            var isDir: ObjCBool = false
            if !FileManager.default.fileExists(atPath: dir, isDirectory: &isDir) || !isDir.boolValue {
                problems.append("[smtp] \(kind.rawValue): the directory \(dir) does not exist")
                hint = "create it (root's, e.g. mode 0755), or fix the path"
            }
        }
        guard problems.isEmpty else {
            return .init(name: "smtp", ok: false, message: problems.joined(separator: "; "), hint: hint)
        }
        let n = map.entries().count
        let outputs =
            map.postfix.paths.isEmpty
            ? "no Postfix maps"
            : "Postfix maps: " + PostfixMaps.Kind.allCases.compactMap { map.postfix.paths[$0] }.joined(separator: ", ")
        let unwritten = map.postfix.paths.values.filter { !FileManager.default.fileExists(atPath: $0) }.sorted()
        return .init(
            name: "smtp", ok: true,
            message:
                "address map \(config.smtp.addressMap) (\(map.read() == nil ? "not written yet" : "\(n) mailbox(es)"))"
                + "; \(outputs)"
                + (unwritten.isEmpty ? "" : "; not written yet: \(unwritten.joined(separator: ", "))"),
            hint: unwritten.isEmpty ? nil : "`semailctl reconcile` writes them")
    }
}

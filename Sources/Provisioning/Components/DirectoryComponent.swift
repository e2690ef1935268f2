import Core
import Directory
import Foundation
import LDAPClient

/// The mailbox on the user's directory entry (semailMailbox,
/// semailVolumeSize, the semailUser class, the `mail` value): the desired
/// state everything else follows, the requests reconcile retries, and the
/// LDAP checks of `config check`.
struct DirectoryComponent: MailboxComponent {
    func createSteps(_ r: CreateRequest, _ mb: Mailboxes) -> [Step] {
        let host = mb.host
        let uid = r.uid
        let address = r.address
        let requester = r.requester
        let request = r.request
        let requestSize = r.requestSize
        let size = r.size
        let local = r.local
        let domain = r.domain
        var steps = [
            Step(
                .directoryCheck,
                why:
                    "the admin bind works, \(uid) exists and has no other mailbox, \(address)"
                    + " is free and allowed (\(requester.rawValue))",
                apply: { try mb.checkClaim(uid: uid, local: local, domain: domain, by: requester) })
        ]
        if request {
            // No undo: a request outlives a failed provisioning (reconcile retries it).
            steps.append(
                Step(
                    .request,
                    why:
                        """
                        record the request on \(uid)'s entry \
                        (semailMailbox\(requestSize == nil ? "" : ", semailVolumeSize"))
                        """
                            + " so a failure leaves it for reconcile",
                    check: {
                        let m = try host.directory().mailbox(uid)
                        return m?.address == address && (requestSize == nil || m?.size == requestSize)
                    },
                    apply: { try host.directory().setRequest(uid, address: address, size: requestSize) }))
        }
        steps.append(
            Step(
                .directory, why: "record the mailbox on \(uid)'s entry (semailMailbox, semailVolumeSize, mail)",
                check: {
                    let m = try host.directory().mailbox(uid)
                    guard m?.address == address && m?.size == size else { return false }
                    // The request step recorded the attributes without `mail`.
                    if !request { return true }
                    return try host.directory().user(uid).mail.contains { $0.lowercased() == address }
                },
                observe: {
                    Before(hadMail: try host.directory().user(uid).mail.contains { $0.lowercased() == address })
                },
                apply: { try host.directory().setMailbox(uid, address: address, size: size) },
                undo: { before in
                    let added = before.hadMail == false ? address : nil
                    if request {
                        try host.directory().setRequest(uid, address: address, size: requestSize, removeMail: added)
                    } else {
                        try host.directory().clearMailbox(uid, removeMail: added)
                    }
                }))
        return steps
    }

    func deleteSteps(_ r: DeleteRequest, _ mb: Mailboxes) -> [Step] {
        let host = mb.host
        let uid = r.uid
        let address = r.address
        return [
            Step(
                .directoryCheck, why: "the admin bind works and \(uid) has the mailbox \(address)",
                apply: { _ = try host.directory().user(uid) }),
            Step(
                .directory,
                why:
                    "remove the mailbox from \(uid)'s entry in one modify: semailMailbox, semailVolumeSize"
                    + ", the semailUser class, and the mail value \(address) (other mail values stay)",
                check: { try host.directory().mailboxCleared(uid, address: address) },
                apply: { try host.directory().clearMailbox(uid, removeMail: address, objectClass: true) })
        ]
    }

    /// Every mailbox entry in one paged search, which the address map may
    /// list (`Mailboxes.decide`), and the failed requests.
    func observe(_ o: inout Observation, _ scope: ObserveScope, _ mb: Mailboxes) throws {
        let host = mb.host
        switch scope {
        case .reconcile:
            let boxes = try o.timed("ldap") { try host.directory().mailboxes() }
            o.count("ldap search")
            o.current = mb.map.entries()
            let current = o.current
            let decision = o.timed("policy") { mb.decide(boxes, current: current) }
            o.all = boxes
            o.mailboxes = decision.accepted
            o.refused = decision.refused
        case .list:
            o.all = try host.directory().mailboxes()
            o.refused = mb.decide(o.all, current: mb.map.entries()).refused
        case .show(let uid):
            guard let m = try host.directory().mailbox(uid) else { return }
            o.all = [m]
            o.refused = mb.decide(try host.directory().mailboxes(), current: mb.map.entries()).refused.filter {
                $0.key == uid
            }
        }
        o.failures = mb.failures.all()
    }

    func adopt(_ part: Observation, into o: inout Observation) {
        o.mailboxes = part.mailboxes
        o.all = part.all
        o.refused = part.refused
        o.failures = part.failures
        o.current = part.current
    }

    /// A refused entry is neither provisioned nor in the map: said once, first.
    func hostDrift(_ o: Observation, _ c: Config) -> [ReconcileItem] {
        o.refused.sorted { $0.key < $1.key }.map { uid, why in
            let last = o.failures[uid].map { "; \($0.summary)" } ?? ""
            return ReconcileItem(
                .refused, uid, .addressMap, "none: not provisioned, not in the address map", why + last)
        }
    }

    /// A request whose provisioning failed is retried as a whole.
    func drift(of m: MailboxRecord, _ o: Observation, _ c: Config) -> [ReconcileItem] {
        guard let f = o.failures[m.uid], f.address == m.address else { return [] }
        return [ReconcileItem(.create, m.uid, .mailbox, "retry provisioning \(m.address)", f.summary)]
    }

    func status(_ s: inout MailboxStatus, _ o: Observation, _ c: Config) {
        s.refused = o.refused[s.uid]
        s.lastFailure = o.failures[s.uid].flatMap { $0.address == s.address ? $0 : nil }
    }

    /// The bind and the people OU, then the schema, write access and sync.
    func check(_ config: Config) -> [ConfigReport.Component] {
        [Self.checkLDAP(config)] + ConfigChecker.checkDirectory(config)
    }

    static func checkLDAP(_ config: Config) -> ConfigReport.Component {
        do {
            let c = try DirectoryServer.connect(config.ldap)
            defer { c.close() }
            try DirectoryServer.bindAdmin(c, config.ldap)
            let who = (try? c.whoAmI()) ?? ""
            var found = false
            try c.search(base: config.peopleDN, scope: .base, attributes: ["1.1"]) { _ in found = true }
            return .init(
                name: "ldap", ok: found,
                message: "connected to \(config.ldap.uri), bound as \(who.isEmpty ? config.ldap.bindDN : who)"
                    + (found ? ", \(config.peopleDN) exists" : ""))
        } catch let e as SemailError {
            return .init(name: "ldap", ok: false, message: "\(e.what): \(e.why)", hint: e.hint)
        } catch let e as LDAPError where e.code == .noSuchObject {
            return .init(
                name: "ldap", ok: false, message: "the people OU \(config.peopleDN) does not exist",
                hint: "create it, or fix [ldap] base / people")
        } catch {
            return .init(name: "ldap", ok: false, message: "\(error)")
        }
    }
}

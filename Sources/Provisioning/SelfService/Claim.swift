import Core
import Directory
import Foundation

/// What `mailbox create` checks before it makes anything (its
/// `directory-check` step), and the same checks as a preview that changes
/// nothing (`mailbox check-address`, the portal's form before submit).
extension Mailboxes {
    /// The admin bind works, UID exists and has no other mailbox, the
    /// address is nobody else's and the address policy allows it for the
    /// requester. Throws the refusal (the rule, why, what to do).
    public func checkClaim(uid: String, local: String, domain: String, by requester: Requester) throws {
        let address = "\(local)@\(domain)"
        let dir = try host.directory()
        _ = try dir.user(uid)
        let policy = AddressPolicy(host: host)
        // The admin's requests need only the zone (no search of every mailbox per create);
        // a user's domain rule looks at the entries that own their address, read once and only when needed.
        var owning: [MailboxRecord]?
        func owners() throws -> [MailboxRecord] {
            if let owning { return owning }
            let o = decide(try dir.mailboxes(), current: map.entries()).accepted
            owning = o
            return o
        }
        try policy.check(
            uid: uid, local: local, domain: domain, by: requester,
            context: try policy.context(mailboxes: requester == .admin ? [] : try owners()))
        if let m = try dir.mailbox(uid), m.address != address {
            throw SemailError(
                "\(uid) already has a mailbox", why: "\(m.address) (one mailbox per user)",
                hint: "delete it first: `semailctl mailbox delete \(uid)`", status: .failure)
        }
        var holders = try dir.addressHolders(address, except: uid)
        if !holders.isEmpty {
            // Only an entry that owns the address holds it: a value someone wrote that the map refuses is no claim.
            let uids = Set(try owners().map(\.uid))
            holders = holders.filter { uids.contains($0) }
        }
        guard holders.isEmpty else {
            throw SemailError(
                "\(address) is taken", why: "it belongs to \(holders.joined(separator: ", "))", status: .failure)
        }
    }

    /// `checkClaim` as an answer instead of an error: whether ADDRESS would
    /// be given to UID, and if not the rule and what to do; for an external
    /// domain the records to publish. Nothing is changed.
    public func preview(uid: String, address: String, by requester: Requester) throws -> AddressPreview {
        let a = try Validate.address(address)
        let normal = "\(a.local)@\(a.domain)"
        let managed = managedDomain(a.domain)
        var p = AddressPreview(uid: uid, address: normal, allowed: true, managed: managed)
        if !managed {
            let mx = config.dns.mxHost.hasSuffix(".") ? config.dns.mxHost : config.dns.mxHost + "."
            p.publish = ["\(a.domain). IN MX \(config.dns.mxPriority) \(mx)"]
            if requester == .user {
                let token = try AddressPolicy(host: host).proofToken(uid: uid, domain: a.domain)
                p.publish.append("_semail.\(a.domain). IN TXT \"\(token)\"")
            }
        }
        do { try checkClaim(uid: uid, local: a.local, domain: a.domain, by: requester) } catch let e as SemailError {
            p.allowed = false
            p.refusal = e.what
            p.why = e.why
            p.hint = e.hint
        }
        return p
    }
}

/// What `mailbox check-address` answers.
public struct AddressPreview: Sendable, Codable, Equatable {
    public var uid: String
    public var address: String
    public var allowed: Bool
    /// The domain is a subdomain of the managed zone (the MX record is made); else external.
    public var managed: Bool
    /// What was refused (names the rule), why, and what to do.
    public var refusal: String?
    public var why: String?
    public var hint: String?
    /// For an external domain: the records its owner publishes (the MX, and the TXT proof for a user).
    public var publish: [String] = []

    public var text: String {
        var l = ["\(address): \(allowed ? "allowed" : "REFUSED")"]
        if let refusal { l.append("  \(refusal)") }
        if let why { l.append("  why: \(why)") }
        if let hint { l.append("  what to do: \(hint)") }
        if !publish.isEmpty { l.append("  publish in \(address.split(separator: "@").last ?? ""):") }
        l += publish.map { "    \($0)" }
        return l.joined(separator: "\n")
    }
}

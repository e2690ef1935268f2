import Foundation

/// Owner of the Maildir: numeric ids.
public struct MailOwner: Sendable, Equatable {
    public var uid: uid_t
    public var gid: gid_t
    public init(uid: uid_t, gid: gid_t) { self.uid = uid; self.gid = gid }

    /// Ids a mailbox may be owned by: not root's nor a system account's
    /// (below 1000), and not the overflow id.
    public static let allowedIDs: ClosedRange<Int> = 1000...2_147_483_646

    /// The owner from a directory entry's uidNumber/gidNumber (values a user
    /// may influence): nil when missing or outside `allowedIDs`.
    public static func posix(uidNumber: Int?, gidNumber: Int?) -> MailOwner? {
        guard let u = uidNumber, allowedIDs.contains(u) else { return nil }
        let g = gidNumber ?? u
        guard allowedIDs.contains(g) else { return nil }
        return MailOwner(uid: uid_t(u), gid: gid_t(g))
    }

    /// `[storage] owner = "name:uid:gid"`; nil for "posix" (ids from LDAP).
    public static func fixed(_ spec: String) throws -> MailOwner? {
        if spec == "posix" { return nil }
        let f = spec.split(separator: ":")
        guard f.count == 3, let u = UInt32(f[1]), let g = UInt32(f[2]) else {
            throw SemailError(
                "invalid [storage] owner \(Validate.quoted(spec))",
                why: "expected \"posix\" or \"name:uid:gid\" such as \"vmail:5000:5000\"", status: .config)
        }
        return MailOwner(uid: u, gid: g)
    }
}

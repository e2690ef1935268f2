import Core
import Foundation

/// The address map in Postfix's form (`[smtp] postfix_*`), for `texthash:`
/// tables (no `postmap`; read when a Postfix process starts, so Postfix
/// needs a `postfix reload` after each rewrite):
/// - virtual_mailbox_maps: `address uid/Maildir/` (relative to
///   virtual_mailbox_base = `[storage] mail_root`; the final `/` asks
///   virtual(8) for Maildir delivery);
/// - virtual_uid_maps / virtual_gid_maps: `address uid` / `address gid`, the
///   Maildir's owner as `[storage] owner` decides (the entry's
///   uidNumber/gidNumber, or the fixed ids);
/// - virtual_mailbox_domains: `domain OK`, each domain with a mailbox.
///
/// Every file is rendered from the records the address map lists (already
/// validated: `MapDecision`), never from a value of its own, and written by
/// `AddressMap` under its lock. A mailbox whose owner ids are not allowed
/// has no uid/gid line: virtual(8) then defers its mail ("uid not found")
/// rather than deliver it as anyone.
public struct PostfixMaps: Sendable {
    public enum Kind: String, CaseIterable, Sendable {
        case mailboxes = "postfix_virtual_mailbox_maps"
        case uids = "postfix_virtual_uid_maps"
        case gids = "postfix_virtual_gid_maps"
        case domains = "postfix_virtual_mailbox_domains"
    }

    /// The outputs configured (a path per kind; absent kinds are not written).
    public var paths: [Kind: String]
    /// `[storage] owner`: "posix" or "name:uid:gid".
    public var owner: String

    public init(paths: [Kind: String] = [:], owner: String = "posix") {
        self.paths = paths.filter { !$0.value.isEmpty }
        self.owner = owner
    }

    public init(config: Config) {
        let s = config.smtp
        self.init(
            paths: [
                .mailboxes: s.postfixVirtualMailboxMaps, .uids: s.postfixVirtualUIDMaps,
                .gids: s.postfixVirtualGIDMaps, .domains: s.postfixVirtualMailboxDomains
            ],
            owner: config.storage.owner)
    }

    /// The text of every configured output for ACCEPTED (the map's records,
    /// in its order), in the order they are written.
    public func render(_ accepted: [MailboxRecord]) throws -> [(kind: Kind, path: String, text: String)] {
        guard !paths.isEmpty else { return [] }
        let fixed = try MailOwner.fixed(owner)
        func ids(_ m: MailboxRecord) -> MailOwner? {
            fixed ?? MailOwner.posix(uidNumber: m.uidNumber, gidNumber: m.gidNumber)
        }
        var domains: [String] = []
        for m in accepted {
            let d = String(m.address[m.address.index(after: m.address.lastIndex(of: "@")!)...])
            if !domains.contains(d) { domains.append(d) }
        }
        return Kind.allCases.compactMap { kind in
            guard let path = paths[kind] else { return nil }
            let text: String =
                switch kind {
                case .mailboxes: accepted.map { "\($0.address) \($0.uid)/Maildir/\n" }.joined()
                case .uids: accepted.compactMap { m in ids(m).map { "\(m.address) \($0.uid)\n" } }.joined()
                case .gids: accepted.compactMap { m in ids(m).map { "\(m.address) \($0.gid)\n" } }.joined()
                case .domains: domains.sorted().map { "\($0) OK\n" }.joined()
                }
            return (kind, path, text)
        }
    }
}

import Core
import DNS
import Foundation

/// Who asks for an address: the administrator, or a user for themself
/// (`mailbox create --as-user`; also `reconcile` for an address it never
/// provisioned, since it cannot know who wrote it).
public enum Requester: String, Sendable, Codable {
    case admin, user
}

/// Which addresses a mailbox may have (`[policy]`). For everyone: no name
/// of the managed zone that has records semailctl does not manage (kept by
/// hand outside its `; semailctl:begin/end` block). For a user, also: no
/// role local part (RFC 2142), not the zone apex, not a domain another
/// user's mailbox took first (nor one above or below it), and an external
/// domain only with proof of control (its MX points at `[dns] mx_host`, or
/// `_semail.<domain>` has a TXT record with the token for the uid).
public struct AddressPolicy: Sendable {
    public let host: Host
    public init(host: Host) { self.host = host }
    var config: Config { host.config }

    /// What the rules look at, read once per check or map rewrite.
    public struct Context: Sendable {
        /// Owners (absolute, lowercased) of records outside the managed block,
        /// or why the zone could not be read (fails closed for names in it).
        public var handNames: Result<Set<String>, SemailError>
        /// Every mailbox in the directory (values unchecked).
        public var mailboxes: [MailboxRecord]
    }

    public func context(mailboxes: [MailboxRecord]? = nil) throws -> Context {
        let names: Result<Set<String>, SemailError>
        do { names = .success(try host.dns.handKeptNames()) } catch {
            names = .failure(
                (error as? SemailError) ?? SemailError("cannot read the zone", why: "\(error)", status: .failure))
        }
        return Context(handNames: names, mailboxes: try mailboxes ?? host.directory().mailboxes())
    }

    var apex: String { config.dns.zone.lowercased().trimmingCharacters(in: CharacterSet(charactersIn: ".")) }
    func inZone(_ domain: String) -> Bool { domain == apex || domain.hasSuffix("." + apex) }

    /// Throws a SemailError naming the rule and what to do, or returns.
    /// `resolve`: look up an external domain's proof of control in the DNS
    /// (only for the user's own request: never for every entry of a map
    /// rewrite or a reconcile pass, under the locks, at a server the user
    /// may run).
    public func check(
        uid: String, local: String, domain: String, by requester: Requester, context: Context, resolve: Bool = true
    ) throws {
        let address = "\(local)@\(domain)"
        func refuse(_ rule: String, _ why: String, _ hint: String) -> SemailError {
            SemailError(
                "\(Validate.quoted(address)) is refused by the address policy (\(rule))", why: why, hint: hint,
                status: .noPermission)
        }
        if inZone(domain), domain != apex, try context.handNames.get().contains(ZoneName.absolute(domain)) {
            throw refuse(
                "records semailctl does not manage",
                """
                \(domain) has records semailctl does not manage in \(config.dns.zoneFile) (outside its `; \
                semailctl:begin/end` block); \
                an MX record there would take over mail of a name the administrator runs
                """,
                "choose another name; to use this one, the administrator removes its hand-kept records first")
        }
        if requester == .admin { return }
        let base = String(local.prefix { $0 != "+" })
        if config.policy.roles.contains(base) {
            throw refuse(
                "role address",
                """
                \(base)@ is a role address (RFC 2142 and system names, [policy] role_local_parts): only the \
                administrator gives it
                """,
                "choose another name before the @, or ask the administrator")
        }
        if domain == apex {
            throw refuse(
                "zone apex", "addresses at the zone apex \(apex) are the administrator's",
                "use your own subdomain, e.g. \(uid)@\(uid).\(apex)")
        }
        if !config.policy.shareSubdomains {
            for m in context.mailboxes where m.uid != uid {
                guard let other = try? Validate.address(m.address) else { continue }
                let d = other.domain
                guard d != apex, d == domain || domain.hasSuffix("." + d) || d.hasSuffix("." + domain) else { continue }
                throw refuse(
                    "domain belongs to another mailbox",
                    "\(domain) \(d == domain ? "is" : "overlaps") a domain another user's mailbox took first (\(d)); "
                        + "a domain belongs to the mailbox that took it first",
                    "choose a domain of your own, or ask the administrator ([policy] share_subdomains)")
            }
        }
        if !inZone(domain) {
            let token = try proofToken(uid: uid, domain: domain)
            guard resolve else {
                throw refuse(
                    "external domain without proof of control",
                    """
                    \(domain) is not in the managed zone \(apex); its proof of control is checked only when \(uid) \
                    asks for it
                    """,
                    """
                    publish `_semail.\(domain). IN TXT \"\(token)\"`, then run `semailctl mailbox create \(uid) \
                    --address \(address) --as-user`
                    """
                )
            }
            if controls(domain, token: token) { return }
            throw refuse(
                "external domain without proof of control",
                "\(domain) is not in the managed zone \(apex), and nothing shows that you control it",
                "publish `_semail.\(domain). IN TXT \"\(token)\"` in its zone, then retry")
        }
    }

    /// The TXT record holds the token made for this uid and domain. (An
    /// MX pointing here proves nothing about *who* asks: a domain whose
    /// mailbox was deleted still points here.)
    func controls(_ domain: String, token: String) -> Bool {
        let txt = (try? TXTResolver.lookup("_semail.\(domain)", server: config.dns.resolver)) ?? []
        return txt.contains { $0.trimmingCharacters(in: .whitespaces) == token }
    }

    /// `semail-verify=` and 32 hex digits of HMAC-SHA256(host secret, "uid@domain").
    public func proofToken(uid: String, domain: String) throws -> String {
        let mac = HMAC.sha256(key: try secret(), message: Array("\(uid)@\(domain)".utf8))
        return "semail-verify=" + mac.prefix(16).map { String(format: "%02x", $0) }.joined()
    }

    /// The host secret: made (32 random bytes, hex, mode 0600) on first use.
    func secret() throws -> [UInt8] {
        let path = config.policySecretFile
        if !FileManager.default.fileExists(atPath: path) {
            try? FileManager.default.createDirectory(
                atPath: (path as NSString).deletingLastPathComponent, withIntermediateDirectories: true,
                attributes: [.posixPermissions: 0o700])
            var bytes = [UInt8](repeating: 0, count: 32)
            let r = open("/dev/urandom", O_RDONLY | O_CLOEXEC)
            guard r >= 0, read(r, &bytes, 32) == 32 else {
                if r >= 0 { close(r) }
                throw SemailError(
                    "cannot make the policy secret", why: "/dev/urandom is not readable", status: .ioError)
            }
            close(r)
            let fd = open(path, O_CREAT | O_EXCL | O_WRONLY | O_CLOEXEC, 0o600)
            if fd >= 0 {
                let hex = bytes.map { String(format: "%02x", $0) }.joined() + "\n"
                _ = hex.withCString { write(fd, $0, strlen($0)) }
                fsync(fd); close(fd)
            } else if errno != EEXIST {
                throw SemailError(
                    "cannot create the policy secret \(path)", why: String(cString: strerror(errno)),
                    hint: "check [state] dir / [policy] secret_file", status: .ioError)
            }
        }
        let s = try Secrets.readFile(path)
        guard s.bytes.count >= 16 else {
            throw SemailError(
                "the policy secret \(path) is too short", why: "\(s.bytes.count) bytes",
                hint: "remove it; a new one is made", status: .config)
        }
        return s.bytes
    }
}

/// Which directory mailboxes the address map may list.
public struct MapDecision: Sendable {
    public var accepted: [MailboxRecord] = []
    /// uid -> why its mailbox is not listed.
    public var refused: [String: String] = [:]

    /// Values that pass `Validate.uid`/`Validate.address` (as written: no
    /// case or dot to normalise away), one entry per uid, one owner per
    /// address: the uid the current map lists for it, else the earliest
    /// createTimestamp, then the uid.
    /// `prefer`: the uid a pipeline is giving this address, after its own
    /// checks; it owns the address whatever the timestamps say.
    public static func decide(_ boxes: [MailboxRecord], current: [String: String], prefer: String? = nil) -> MapDecision
    {
        // A uid that is not one is reported quoted (a newline in it must not forge a line of output).
        func shown(_ uid: String) -> String { (try? Validate.uid(uid)) != nil ? uid : Validate.quoted(uid) }
        var d = MapDecision()
        var valid: [MailboxRecord] = []
        let counts = Dictionary(boxes.map { ($0.uid, 1) }, uniquingKeysWith: +)
        for b in boxes {
            do {
                _ = try Validate.uid(b.uid)
                let a = try Validate.address(b.address)
                guard "\(a.local)@\(a.domain)" == b.address else {
                    throw SemailError(
                        "invalid address \(Validate.quoted(b.address))",
                        why: "not in its normal form (\(a.local)@\(a.domain))")
                }
                guard counts[b.uid] == 1 else {
                    throw SemailError(
                        "ambiguous uid \(Validate.quoted(b.uid))", why: "\(counts[b.uid]!) entries have it")
                }
                valid.append(b)
            } catch let e as SemailError {
                d.refused[shown(b.uid)] = "invalid: \(e.what)"
            } catch { d.refused[shown(b.uid)] = "invalid: \(error)" }
        }
        for (address, claimants) in Dictionary(grouping: valid, by: \.address) {
            let owner =
                claimants.first { $0.uid == prefer } ?? claimants.first { current[$0.uid] == address }
                ?? claimants.min { ($0.created ?? "~", $0.uid) < ($1.created ?? "~", $1.uid) }!
            for c in claimants where c.uid != owner.uid {
                d.refused[c.uid] = "\(address) is claimed by \(owner.uid) (one owner per address)"
            }
            d.accepted.append(owner)
        }
        d.accepted.sort { $0.uid < $1.uid }
        return d
    }
}

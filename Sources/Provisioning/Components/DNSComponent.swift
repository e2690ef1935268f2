import Core
import Directory
import DNS
import Foundation

/// The MX record of the mailbox's domain: in the managed zone (a subdomain
/// of `[dns] zone`), shared by every mailbox of the domain; a domain outside
/// it is published by its owner (create prints the record to publish).
struct DNSComponent: MailboxComponent {
    func createSteps(_ r: CreateRequest, _ mb: Mailboxes) -> [Step] {
        let host = mb.host
        let map = mb.map
        let config = mb.config
        let uid = r.uid
        let domain = r.domain
        let address = r.address
        let request = r.request
        guard Self.managed(domain, config) else {
            return [
                Step(
                    .dns, why: "\(domain) is outside \(config.dns.zone): print the MX record to publish and check it",
                    // Said once, at creation (a recorded request is not created yet).
                    check: {
                        request ? map.entries()[uid] == address : try host.directory().mailbox(uid)?.address == address
                    },
                    apply: {
                        let c = try host.dns.checkMX(domain)
                        host.reporter.info(
                            "\(domain) is not in the managed zone: publish `\(domain)."
                                + " IN MX \(config.dns.mxPriority) \(ZoneName.absolute(config.dns.mxHost))`"
                        )
                        host.reporter.info("zone check-mx \(domain): \(c.ok ? "ok" : "not yet"): \(c.message)")
                    })
            ]
        }
        return [
            Step(
                .dns,
                why:
                    "add \(domain) MX \(config.dns.mxPriority) \(config.dns.mxHost)"
                    + " to the \(config.dns.zone) zone and reload",
                check: { Self.hasMX(domain, in: try host.dns.list(), config) },
                observe: { Before(existed: Self.hasMX(domain, in: try host.dns.list(), config)) },
                apply: { _ = try host.dns.addMX(domain) },
                undo: { before in
                    // Another mailbox on the same domain keeps the record.
                    if before.existed == false, try !Self.domainHasOtherMailbox(host, domain, besides: uid) {
                        _ = try host.dns.removeMX(domain)
                    }
                })
        ]
    }

    func deleteSteps(_ r: DeleteRequest, _ mb: Mailboxes) -> [Step] {
        let host = mb.host
        let config = mb.config
        let uid = r.uid
        let domain = r.domain
        let managed = Self.managed(r.domain, config)
        return [
            Step(
                .dns,
                why: managed
                    ? "remove the \(domain) MX unless another mailbox uses the domain"
                    : "\(domain) is not in the managed zone: nothing to do",
                check: {
                    guard managed, Self.hasMX(domain, in: try host.dns.list(), config) else { return true }
                    return try Self.domainHasOtherMailbox(host, domain, besides: uid)
                },
                apply: { _ = try host.dns.removeMX(domain) })
        ]
    }

    /// One parse of the zone file (a failure is reported, not fatal).
    func observe(_ o: inout Observation, _ scope: ObserveScope, _ mb: Mailboxes) throws {
        let dns = mb.host.dns
        guard scope == .reconcile else {
            o.zone = try? dns.list()
            return
        }
        var zone: ZoneListing?
        var zerr: String?
        o.timed("zone") { do { zone = try dns.list() } catch { zerr = "\(error)" } }
        o.count("zone parse")
        o.zone = zone
        o.zoneError = zerr
    }

    func adopt(_ part: Observation, into o: inout Observation) {
        o.zone = part.zone
        o.zoneError = part.zoneError
    }

    func drift(of m: MailboxRecord, _ o: Observation, _ c: Config) -> [ReconcileItem] {
        let domain = Self.domain(of: m.address)
        guard Self.managed(domain, c), let z = o.zone, !Self.hasMX(domain, in: z, c) else { return [] }
        return [
            ReconcileItem(
                .repair, m.uid, .dns, "add \(domain) MX", "the managed zone has no MX for \(domain)", target: domain)
        ]
    }

    /// Our MX records (pointing at `[dns] mx_host`) for a domain no mailbox uses.
    func orphans(_ o: Observation, wanted: Set<String>, _ c: Config) -> [ReconcileItem] {
        guard let z = o.zone else { return [] }
        let mx = ZoneName.absolute(c.dns.mxHost.lowercased())
        let domains = Set((o.mailboxes + o.all).map { ZoneName.absolute(Self.domain(of: $0.address)) })
        return z.managed.filter {
            $0.type == "MX" && $0.rdata.last?.lowercased() == mx && !domains.contains($0.owner.lowercased())
        }.map { r in
            ReconcileItem(
                .orphan, "-", .dns, "remove \(r.owner) MX", "no mailbox uses \(r.owner)", destructive: true,
                target: r.owner)
        }
    }

    func prune(_ item: ReconcileItem, _ host: Host) throws -> Pruned? {
        guard item.component == .dns else { return nil }
        _ = try host.dns.removeMX(item.target)
        return .removed("MX \(item.target)")
    }

    /// "ok", "missing" (managed zone, no MX) or "external" (published elsewhere).
    func status(_ s: inout MailboxStatus, _ o: Observation, _ c: Config) {
        let domain = Self.domain(of: s.address)
        s.dns =
            !Self.managed(domain, c)
            ? "external" : (o.zone.map { Self.hasMX(domain, in: $0, c) } ?? false) ? "ok" : "missing"
    }

    func check(_ config: Config) -> [ConfigReport.Component] {
        config.sections.contains("dns") ? [Self.checkDNS(config)] : []
    }

    static func checkDNS(_ config: Config) -> ConfigReport.Component {
        let dns = DNSManager(config: config.dns)
        do {
            let l = try dns.list()
            let r = try ProcessRunner().run(dns.store.settings.rndc + ["status"], check: false)
            guard r.status == 0 else {
                return .init(
                    name: "dns", ok: false,
                    message:
                        "zone \(l.zone) read (serial \(l.serial.map(String.init) ?? "?"))"
                            + """
                            , but rndc status failed: \
                            \((r.stderr + r.text).trimmingCharacters(in: .whitespacesAndNewlines))
                            """,
                    hint: "check that named runs and [dns] rndc_server/rndc_port/rndc_key match its controls")
            }
            return .init(
                name: "dns", ok: true,
                message:
                    "zone \(l.zone) in \(config.dns.zoneFile), serial \(l.serial.map(String.init) ?? "?")"
                    + ", \(l.managed.count) managed record(s); rndc answers"
            )
        } catch let e as SemailError {
            return .init(name: "dns", ok: false, message: "\(e.what): \(e.why)", hint: e.hint)
        } catch { return .init(name: "dns", ok: false, message: "\(error)") }
    }

    static func domain(of address: String) -> String { String(address.split(separator: "@").last ?? "") }

    /// Whether DOMAIN's MX belongs in the managed zone (a subdomain of it).
    static func managed(_ domain: String, _ c: Config) -> Bool {
        domain.hasSuffix("." + c.dns.zone.lowercased().trimmingCharacters(in: CharacterSet(charactersIn: ".")))
    }

    static func hasMX(_ domain: String, in listing: ZoneListing, _ c: Config) -> Bool {
        let mx = ZoneName.absolute(c.dns.mxHost.lowercased())
        return listing.mx.contains {
            $0.owner.lowercased() == ZoneName.absolute(domain) && $0.rdata.last?.lowercased() == mx
        }
    }

    /// Whether a mailbox other than UID's is on DOMAIN (its MX record stays).
    static func domainHasOtherMailbox(_ host: Host, _ domain: String, besides uid: String) throws -> Bool {
        var found = false
        try host.directory().connection.search(
            base: host.config.peopleDN,
            filter: .and([
                .substring("semailMailbox", initial: nil, any: [], final: "@\(domain)"), .not(.equal("uid", uid))
            ]),
            attributes: ["1.1"]
        ) { _ in found = true }
        return found
    }
}

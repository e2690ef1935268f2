import Core
import Foundation

extension ProcessRunner: ZoneCommandRunner {
    public func runCommand(_ argv: [String]) -> (status: Int32, output: String) {
        do {
            let r = try run(argv, check: false)
            return (r.status, r.text + r.stderr)
        } catch {
            return (127, "\(error)")
        }
    }
}

/// A managed MX record as `zone list` shows it.
public struct ZoneListing: Sendable, Codable {
    public var zone: String
    public var file: String
    public var serial: UInt32?
    public var managed: [ZoneRecord]
    public var mx: [ZoneRecord]
}

public struct MXCheck: Sendable, Codable {
    public var domain: String
    public var expected: String
    public var answers: [MXResolver.Answer]
    public var ok: Bool
    public var message: String
}

/// The `[dns]` part of the host: MX records in the bind9 master zone.
public struct DNSManager: Sendable {
    public let config: Config.DNS
    public let runner: ProcessRunner

    public init(config: Config.DNS, runner: ProcessRunner = ProcessRunner()) {
        self.config = config; self.runner = runner
    }

    public var store: ZoneStore {
        ZoneStore(
            settings: ZoneSettings(
                zone: config.zone, file: zoneFile, checkzone: config.checkzone,
                rndc: [config.rndc, "-s", config.rndcServer, "-p", String(config.rndcPort), "-k", config.rndcKey],
                dynamic: config.dynamic, directory: config.directory.isEmpty ? nil : config.directory),
            runner: runner)
    }

    /// zone_file as named finds it: a relative path is relative to named's directory.
    var zoneFile: String {
        config.zoneFile.hasPrefix("/") || config.directory.isEmpty
            ? config.zoneFile : "\(config.directory)/\(config.zoneFile)"
    }

    var mxHost: String { ZoneName.absolute(config.mxHost.lowercased()) }

    /// Adds `NAME MX priority mx_host` (and A/AAAA records when given) to the
    /// managed block. Already there: nothing changes, not even the serial.
    public func addMX(_ name: String, a: [String] = [], aaaa: [String] = []) throws -> ZoneEditResult {
        try validateSettings()
        for ip in a where !IPAddress.isV4(ip) {
            throw SemailError(
                "invalid IPv4 address \(Validate.quoted(ip))", why: "expected dotted quad such as 192.0.2.10",
                status: .usage)
        }
        for ip in aaaa where !IPAddress.isV6(ip) {
            throw SemailError(
                "invalid IPv6 address \(Validate.quoted(ip))", why: "expected an address such as 2001:db8::10",
                status: .usage)
        }
        try precheck(name)
        var added: [String] = []
        var result = try wrap {
            try store.edit { zone in
                let owner = try ZoneEdit.nameInZone(name, zone: zone)
                let ttl = UInt32(config.ttl)
                var wanted = [
                    ZoneNewRecord(owner: owner, ttl: ttl, type: "MX", rdata: [String(config.mxPriority), mxHost])
                ]
                wanted += a.map { ZoneNewRecord(owner: owner, ttl: ttl, type: "A", rdata: [$0]) }
                wanted += aaaa.map { ZoneNewRecord(owner: owner, ttl: ttl, type: "AAAA", rdata: [$0]) }
                added = try ZoneEdit.missing(wanted, in: zone).map { $0.line.trimmingCharacters(in: .newlines) }
                let splices = try ZoneEdit.add(wanted, to: zone)
                return splices
            }
        }
        result.added = added
        return result
    }

    /// Removes the MX (and A/AAAA) records semailctl added for NAME; records
    /// written by hand only with `force`.
    public func removeMX(_ name: String, force: Bool = false) throws -> ZoneEditResult {
        try validateSettings()
        try precheck(name)
        var removed: [String] = []
        var result = try wrap {
            try store.edit { zone in
                let owner = try ZoneEdit.nameInZone(name, zone: zone)
                removed = try ZoneEdit.removable(
                    name: owner, types: ["MX"], alsoManaged: ["A", "AAAA"], from: zone, force: force
                )
                .map {
                    let r = zone.records[$0]; return "\(r.owner) \(r.ttl) \(r.rrclass) \(r.type) \(r.rdataText)"
                }
                let splices = try ZoneEdit.remove(
                    name: owner, types: ["MX"], alsoManaged: ["A", "AAAA"], from: zone, force: force)
                return splices
            }
        }
        result.removed = removed
        return result
    }

    public func list() throws -> ZoneListing {
        let zone = try wrap { try store.read() }
        return ZoneListing(
            zone: zone.origin, file: zoneFile, serial: zone.soa.flatMap { UInt32($0.rdata[2]) },
            managed: zone.records.filter(\.managed), mx: zone.records.filter { $0.type == "MX" })
    }

    /// Owners (absolute, lowercased) of every record semailctl does not
    /// manage: outside its block, or in an `$INCLUDE`d file.
    public func handKeptNames() throws -> Set<String> {
        Set(try wrap { try store.read() }.records.filter { !$0.managed }.map(\.key))
    }

    /// Resolves DOMAIN's MX over DNS and says whether it points at mx_host.
    public func checkMX(_ domain: String) throws -> MXCheck {
        let d = try Validate.domain(domain)
        do {
            let answers = try MXResolver.lookup(d, server: config.resolver)
            let ok = answers.contains { $0.host == mxHost }
            return MXCheck(
                domain: d, expected: mxHost, answers: answers, ok: ok,
                message: ok
                    ? "\(d) has an MX record pointing at \(mxHost)"
                    : """
                    \(d) has MX records, but none points at \(mxHost): publish `\(d). IN MX \(config.mxPriority) \
                    \(mxHost)`
                    """
            )
        } catch let f as MXResolver.Failure {
            let why: String =
                switch f {
                case .noSuchDomain: "the domain does not exist in DNS"
                case .noMX: "the domain has no MX record"
                case .tryAgain: "the resolver did not answer (try again later)"
                case .failed: "the DNS query failed"
                }
            return MXCheck(
                domain: d, expected: mxHost, answers: [], ok: false,
                message: "\(why): publish `\(d). IN MX \(config.mxPriority) \(mxHost)` in the domain's zone")
        }
    }

    /// Rejects names with zone syntax before any file is opened.
    func precheck(_ name: String) throws {
        do { _ = try ZoneEdit.nameInZone(name, origin: config.zone) } catch let e as ZoneError { throw explain(e) }
    }

    func validateSettings() throws {
        do {
            _ = try ZoneName.checkHost(config.zone, what: "[dns] zone")
            _ = try ZoneName.checkHost(config.mxHost, what: "[dns] mx_host")
        } catch let e as ZoneError {
            throw SemailError("invalid [dns] configuration", why: e.description, status: .config)
        }
        guard (0...65535).contains(config.mxPriority), config.ttl > 0, config.ttl < Int(Int32.max) else {
            throw SemailError(
                "invalid [dns] configuration", why: "mx_priority must be 0-65535 and ttl a positive number of seconds",
                status: .config)
        }
    }

    func wrap<T>(_ body: () throws -> T) throws -> T {
        do { return try body() } catch let e as ZoneError { throw explain(e) }
    }

    func explain(_ e: ZoneError) -> SemailError {
        switch e {
        case let .invalidInput(m): SemailError("refused", why: m, status: .usage)
        case let .parse(p):
            SemailError(
                "cannot read the zone file", why: p.description, hint: "fix that line; nothing was written",
                status: .dataError)
        case let .conflict(m): SemailError("cannot edit the zone", why: m, status: .failure)
        case let .handWritten(m):
            SemailError("not removed", why: m, hint: "add --force to remove it anyway", status: .failure)
        case .checkFailed:
            SemailError("zone edit rejected; the old file is in place", why: e.description, status: .dataError)
        case .alreadyFailing:
            SemailError(
                "zone edit rejected; the old file is in place", why: e.description,
                hint: "fix the zone file first (named-checkzone -k fail \(config.zone) \(zoneFile))", status: .dataError
            )
        case let .rndc(cmd, out):
            SemailError(
                "rndc failed; the old zone file is back in place", why: "`\(cmd)`: \(out)",
                hint: "check that named is running and [dns] rndc_server/rndc_port/rndc_key match its controls",
                status: .unavailable)
        case let .io(m): SemailError("zone file I/O failed", why: m, status: .ioError)
        }
    }
}

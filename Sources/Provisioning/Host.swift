import Foundation
import LDAPClient
import Logging
import Synchronization

/// Where progress and messages go. Messages go through a swift-log
/// `Logger` (the CLI's handler writes them to stderr); stdout stays data.
/// The CLI decides whether progress is drawn (terminal only).
public struct Reporter: Sendable {
    public var logger: Logger
    public var progress: @Sendable (_ done: Int, _ total: Int) -> Void
    public init(logger: Logger, progress: @escaping @Sendable (Int, Int) -> Void = { _, _ in }) {
        self.logger = logger; self.progress = progress
    }
    public func info(_ s: String) { logger.info("\(s)") }
    public func warn(_ s: String) { logger.warning("\(s)") }
    /// Messages go nowhere.
    public static let silent = Reporter(logger: Logger(label: "semailctl") { _ in SwiftLogNoOpLogHandler() })
}

/// One context carrying every external system the tool talks to: the
/// configuration, the reporter, and lazily opened clients. Passed down to
/// every operation, never global.
public final class Host: Sendable {
    public let config: Config
    public let reporter: Reporter
    private let admin = Mutex<LDAPConnection?>(nil)

    public init(config: Config, reporter: Reporter = .silent) {
        self.config = config
        self.reporter = reporter
    }

    /// The admin connection from `[ldap]`, connected and bound once.
    public func ldap() throws -> LDAPConnection {
        try admin.withLock { admin in
            if let admin { return admin }
            let c = try Host.connect(config.ldap)
            try Host.bindAdmin(c, config.ldap)
            admin = c
            return c
        }
    }

    public func directory() throws -> Directory { Directory(connection: try ldap(), config: config) }

    /// The bind9 zone the tool manages.
    public var dns: DNSManager { DNSManager(config: config.dns, runner: runner) }

    /// Mailbox volumes (`[storage]`).
    public func volumes() throws -> VolumeManager { try VolumeManager(config: config.storage, stateDir: config.state.dir, runner: runner) }

    /// Mailbox containers (`[containers]`).
    public func containers() -> ContainerManager { ContainerManager(config: config.containers, stateDir: config.state.dir, runner: runner, reporter: reporter) }

    /// Containers marked when they run without their mailbox volume mounted.
    public func checkVolumes(_ cs: [ContainerState]) -> [ContainerState] {
        let list: [VolumeState]
        do { list = try volumes().list() } catch {
            // Unknown is not "not mounted": leave volumeMounted nil and say why.
            reporter.warn("cannot list the volumes, so whether each container has its volume is unknown: \((error as? SemailError)?.description ?? "\(error)")")
            return cs
        }
        let vols = Dictionary(list.map { ($0.uid, $0) }, uniquingKeysWith: { a, _ in a })
        return cs.map { $0.checked(against: vols[$0.uid]) }
    }

    /// What UID's container is made from: the user's entry (address, SSH
    /// keys, ids) and the Maildir on the user's volume.
    public func containerInput(_ uid: String, address: String? = nil) throws -> ContainerInput {
        let u = try directory().user(uid)
        let addr: String
        if let address { let a = try Validate.address(address); addr = "\(a.local)@\(a.domain)" } else {
            guard let m = u.mail.first else {
                throw SemailError("\(uid) has no mail address", why: "the entry has no mail attribute",
                                  hint: "pass --address ID@DOMAIN", status: .failure)
            }
            addr = m
        }
        let mp = try volumes().mountPoint(uid)
        return ContainerInput(uid: uid, address: addr, owner: try mailOwner(uid), sshKeys: u.sshPublicKeys, maildir: "\(mp)/Maildir")
    }

    /// Who owns UID's Maildir: `[storage] owner`, or the user's
    /// uidNumber/gidNumber from LDAP when it is "posix".
    public func mailOwner(_ uid: String) throws -> MailOwner {
        if let fixed = try MailOwner.fixed(config.storage.owner) { return fixed }
        let u = try directory().user(uid)
        guard u.uidNumber != nil else {
            throw SemailError("\(uid) has no uidNumber", why: "[storage] owner is \"posix\" but the entry is not a posixAccount",
                              hint: "make it one with `semailctl user modify \(uid) --posix`, or set [storage] owner = \"vmail:5000:5000\"", status: .failure)
        }
        guard let owner = MailOwner.posix(uidNumber: u.uidNumber, gidNumber: u.gidNumber) else {
            throw SemailError("\(uid)'s uidNumber or gidNumber is not allowed", why: "uidNumber \(u.uidNumber ?? 0), gidNumber \(u.gidNumber ?? 0): "
                                  + "ids must be \(MailOwner.allowedIDs.lowerBound)-\(MailOwner.allowedIDs.upperBound) (never root's or a system account's)",
                              hint: "fix the entry (an admin), then run the command again", status: .dataError)
        }
        return owner
    }

    /// The one process runner.
    public let runner = ProcessRunner()

    /// Opens a connection (no bind). Failures become a SemailError that says
    /// how to fix them.
    public static func connect(_ l: Config.LDAP) throws -> LDAPConnection {
        try refuseCleartext(l)
        do {
            let c = try LDAPConnection(LDAPConnectionOptions(uri: l.uri, startTLS: l.startTLS, caFile: l.caFile, timeout: l.timeout))
            return c
        } catch let e as LDAPError {
            throw explain(e, uri: l.uri)
        }
    }

    /// A simple bind over ldap:// sends the password in clear: refused
    /// before connecting unless the server is on loopback, StartTLS is on,
    /// or `[ldap] allow_cleartext` says so.
    public static func refuseCleartext(_ l: Config.LDAP) throws {
        guard !l.startTLS, !l.allowCleartext else { return }
        for uri in l.uri.split(whereSeparator: { $0 == " " || $0 == "," }).map(String.init) where uri.lowercased().hasPrefix("ldap://") {
            let host = LDAPURI.host(uri)
            guard !LDAPURI.isLoopback(host) else { continue }
            throw SemailError("refusing to send the LDAP password in clear to \(uri)",
                              why: "ldap:// without StartTLS to \(host), which is not this machine's loopback",
                              hint: "set [ldap] starttls = true (with ca_file), or use an ldaps:// URI; "
                                  + "if the network path is trusted, set [ldap] allow_cleartext = true", status: .config)
        }
    }

    /// Binds with `bind_dn` and the password file, or SASL EXTERNAL over
    /// ldapi:// when `bind_dn` is empty.
    public static func bindAdmin(_ c: LDAPConnection, _ l: Config.LDAP) throws {
        do {
            if l.bindDN.isEmpty {
                guard l.uri.lowercased().hasPrefix("ldapi://") else {
                    throw SemailError("no LDAP bind configured", why: "[ldap] bind_dn is empty and the URI is not ldapi://",
                                      hint: "set bind_dn and bind_password_file, or use an ldapi:// URI for SASL EXTERNAL", status: .config)
                }
                try c.bindExternal()
            } else {
                let pw = try Secrets.readFile(l.bindPasswordFile)
                try c.bind(dn: l.bindDN, password: pw.bytes)
            }
        } catch let e as LDAPError {
            throw explain(e, uri: l.uri)
        }
    }

    /// Turns an LDAP failure into what failed, why, and what to do.
    public static func explain(_ e: LDAPError, uri: String) -> SemailError {
        // TLS first: a failed handshake also reports a connect error.
        if e.operation.hasPrefix("StartTLS") || e.operation.hasPrefix("TLS setup") || (e.code == .localError) {
            return SemailError("LDAP TLS setup failed", why: e.description,
                               hint: "check [ldap] ca_file (the CA that signed the server's certificate) and that the certificate matches the host name in [ldap] uri",
                               status: .unavailable)
        }
        if uri.lowercased().hasPrefix("ldaps://"), e.code == .serverDown || e.code == .connectError {
            return SemailError("cannot reach the LDAP server at \(uri)", why: e.description,
                               hint: "a failed TLS handshake looks the same: check [ldap] ca_file (the CA of the server's certificate) and the host name "
                                   + "in [ldap] uri, and that the server is up and listens for ldaps:// there", status: .unavailable)
        }
        switch e.code {
        case .serverDown, .connectError, .timeout:
            return SemailError("cannot reach the LDAP server at \(uri)", why: e.description,
                               hint: "check that slapd is running and [ldap] uri is right (`semailctl config check`)", status: .unavailable)
        case .invalidCredentials, .inappropriateAuthentication:
            return SemailError("LDAP bind refused", why: e.description,
                               hint: "check [ldap] bind_dn and the password in bind_password_file", status: .noPermission)
        case .insufficientAccessRights:
            return SemailError("LDAP access denied", why: e.description,
                               hint: "the bind DN needs write access to the people OU", status: .noPermission)
        default:
            return SemailError("LDAP \(e.operation) failed", why: e.description, status: .failure)
        }
    }
}

/// Runs undo actions last-in-first-out: what a command made is removed if
/// a later part of it fails.
public final class UndoStack: Sendable {
    private let actions = Mutex<[(String, @Sendable () throws -> Void)]>([])
    public init() {}
    public func push(_ label: String, _ action: @escaping @Sendable () throws -> Void) {
        actions.withLock { $0.append((label, action)) }
    }
    public func commit() { actions.withLock { $0.removeAll() } }
    /// Undoes everything; returns what was undone and what failed to undo.
    @discardableResult
    public func unwind() -> (undone: [String], failed: [String]) {
        var undone: [String] = [], failed: [String] = []
        while let (label, action) = actions.withLock({ $0.popLast() }) {
            do { try action(); undone.append(label) } catch { failed.append("\(label): \(error)") }
        }
        return (undone, failed)
    }
}

/// The host part of an LDAP URI, and whether it is this machine's loopback.
enum LDAPURI {
    static func host(_ uri: String) -> String {
        var rest = Substring(uri)
        if let r = rest.range(of: "://") { rest = rest[r.upperBound...] }
        rest = rest.prefix { $0 != "/" && $0 != "?" }
        if rest.hasPrefix("["), let close = rest.firstIndex(of: "]") { return String(rest[rest.index(after: rest.startIndex)..<close]) }
        return String(rest.prefix { $0 != ":" }).removingPercentEncoding ?? String(rest)
    }

    /// An empty host is libldap's default (localhost).
    static func isLoopback(_ host: String) -> Bool {
        let h = host.lowercased()
        if h.isEmpty || h == "localhost" || h == "::1" || h.hasSuffix(".localhost") { return true }
        let octets = h.split(separator: ".", omittingEmptySubsequences: false)
        return octets.count == 4 && octets[0] == "127" && octets.allSatisfy { UInt8($0) != nil }
    }
}

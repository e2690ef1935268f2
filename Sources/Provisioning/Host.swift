import Containers
import Core
import DNS
import Directory
import Foundation
import LDAPClient
import Storage
import Synchronization

/// One context carrying every external system the tool talks to: the
/// configuration, the reporter, the process runner, and the directory,
/// volumes, containers and zone as protocols (`Context/Services.swift`),
/// built once per command. Passed down to every operation, never global.
/// Tests build one from fakes with `init(config:reporter:runner:...)`.
public final class Host: Sendable {
    public let config: Config
    public let reporter: Reporter
    /// The one process runner.
    public let runner: any CommandRunner
    private let makeDirectory: @Sendable (Host) throws -> any DirectoryService
    private let makeVolumes: @Sendable () throws -> any VolumeService
    private let makeContainers: @Sendable () -> any ContainerService
    private let makeZone: @Sendable () -> any ZoneService
    private let admin = Mutex<LDAPConnection?>(nil)
    /// False when built from given clients: no connection of its own.
    private let opensLDAP: Bool

    /// The real clients, from the configuration; the LDAP connection is
    /// opened on first use.
    public init(config: Config, reporter: Reporter = .silent) {
        self.config = config
        self.reporter = reporter
        let runner = ProcessRunner()
        self.runner = runner
        makeDirectory = { host in Directory(connection: try host.ldap(), config: config) }
        makeVolumes = { try VolumeManager(config: config.storage, stateDir: config.state.dir, runner: runner) }
        makeContainers = {
            ContainerManager(config: config.containers, stateDir: config.state.dir, runner: runner, reporter: reporter)
        }
        makeZone = { DNSManager(config: config.dns, runner: runner) }
        opensLDAP = true
        CallTrace.install
    }

    /// A context of given clients (the tests' fakes).
    public init(
        config: Config, reporter: Reporter = .silent, runner: any CommandRunner,
        directory: any DirectoryService, volumes: any VolumeService,
        containers: any ContainerService, dns: any ZoneService
    ) {
        self.config = config
        self.reporter = reporter
        self.runner = runner
        makeDirectory = { _ in directory }
        makeVolumes = { volumes }
        makeContainers = { containers }
        makeZone = { dns }
        opensLDAP = false
    }

    /// The admin connection from `[ldap]`, connected and bound once.
    public func ldap() throws -> LDAPConnection {
        guard opensLDAP else {
            throw SemailError(
                "this context has no LDAP connection",
                why: "it was built from given clients (a test's fakes)",
                hint: "use directory(), or build the Host from the configuration", status: .failure)
        }
        return try admin.withLock { admin in
            if let admin { return admin }
            let c = try DirectoryServer.connect(config.ldap)
            try DirectoryServer.bindAdmin(c, config.ldap)
            admin = c
            return c
        }
    }

    /// The people and their mailboxes (`[ldap]`).
    public func directory() throws -> any DirectoryService { try makeDirectory(self) }

    /// The bind9 zone the tool manages.
    public var dns: any ZoneService { makeZone() }

    /// Mailbox volumes (`[storage]`).
    public func volumes() throws -> any VolumeService { try makeVolumes() }

    /// Mailbox containers (`[containers]`).
    public func containers() -> any ContainerService { makeContainers() }

    /// Containers marked when they run without their mailbox volume mounted.
    public func checkVolumes(_ cs: [ContainerState]) -> [ContainerState] {
        let list: [VolumeState]
        do { list = try volumes().list() } catch {
            // Unknown is not "not mounted": leave volumeMounted nil and say why.
            reporter.warn(
                """
                cannot list the volumes, so whether each container has its volume is unknown: \
                \((error as? SemailError)?.description ?? "\(error)")
                """
            )
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
        if let address {
            let a = try Validate.address(address); addr = "\(a.local)@\(a.domain)"
        } else {
            guard let m = u.mail.first else {
                throw SemailError(
                    "\(uid) has no mail address", why: "the entry has no mail attribute",
                    hint: "pass --address ID@DOMAIN", status: .failure)
            }
            addr = m
        }
        let mp = try volumes().mountPoint(uid)
        var input = ContainerInput(
            uid: uid, address: addr, owner: try mailOwner(uid), sshKeys: u.sshPublicKeys, maildir: "\(mp)/Maildir",
            packages: u.packages)
        input.suspended = u.suspension != nil
        return input
    }

    /// Who owns UID's Maildir: `[storage] owner`, or the user's
    /// uidNumber/gidNumber from LDAP when it is "posix".
    public func mailOwner(_ uid: String) throws -> MailOwner {
        if let fixed = try MailOwner.fixed(config.storage.owner) { return fixed }
        let u = try directory().user(uid)
        guard u.uidNumber != nil else {
            throw SemailError(
                "\(uid) has no uidNumber", why: "[storage] owner is \"posix\" but the entry is not a posixAccount",
                hint:
                    """
                    make it one with `semailctl user modify \(uid) --posix`, or set [storage] owner = \
                    \"vmail:5000:5000\"
                    """,
                status: .failure)
        }
        guard let owner = MailOwner.posix(uidNumber: u.uidNumber, gidNumber: u.gidNumber) else {
            throw SemailError(
                "\(uid)'s uidNumber or gidNumber is not allowed",
                why: "uidNumber \(u.uidNumber ?? 0), gidNumber \(u.gidNumber ?? 0): "
                    + """
                    ids must be \(MailOwner.allowedIDs.lowerBound)-\(MailOwner.allowedIDs.upperBound) (never \
                    root's or a system account's)
                    """,
                hint: "fix the entry (an admin), then run the command again", status: .dataError)
        }
        return owner
    }

}

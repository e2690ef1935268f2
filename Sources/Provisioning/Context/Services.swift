import Containers
import Core
import DNS
import Directory
import Foundation
import LDAPClient
import Storage

// The external systems `Host` carries, as the rest of the tool uses them
// (`ContainerService` is in the Containers module: `SSHAccess` takes one).
// The real clients conform below; the tests give fakes that fail loudly
// on anything they were not told to expect. A requirement has no default
// arguments (a protocol cannot say them): the short forms are extensions.

/// Runs a program (posix_spawn in `ProcessRunner`).
public protocol CommandRunner: Sendable {
    func spawn(_ argv: [String], stdin: Data?, stdinFD: Int32?, stdoutFD: Int32?, check: Bool) throws -> ProcessOutput
}

extension CommandRunner {
    @discardableResult
    public func run(
        _ argv: [String], stdin: Data? = nil, stdinFD: Int32? = nil, stdoutFD: Int32? = nil,
        check: Bool = true
    ) throws -> ProcessOutput {
        try spawn(argv, stdin: stdin, stdinFD: stdinFD, stdoutFD: stdoutFD, check: check)
    }
}

extension ProcessRunner: CommandRunner {
    public func spawn(
        _ argv: [String], stdin: Data?, stdinFD: Int32?, stdoutFD: Int32?,
        check: Bool
    ) throws -> ProcessOutput {
        try run(argv, stdin: stdin, stdinFD: stdinFD, stdoutFD: stdoutFD, check: check)
    }
}

/// The people in LDAP and the mailboxes recorded on their entries.
public protocol DirectoryService: Sendable {
    /// The admin connection, for a search of its own (a fake has none).
    var connection: LDAPConnection { get }
    func user(_ uid: String) throws -> UserRecord
    func list(each: (UserRecord) throws -> Void) throws
    func add(_ u: NewUser, password: Secret?) throws -> UserRecord
    func modify(_ uid: String, _ change: UserChange) throws -> UserRecord
    func setPassword(_ uid: String, _ password: Secret) throws
    func setSSHKeys(_ uid: String, _ keys: [String]) throws -> UserRecord
    func delete(_ uid: String) throws -> UserRecord
    func checkPassword(_ uid: String, _ password: Secret) throws
    func changeOwnPassword(_ uid: String, old: Secret, new: Secret) throws
    func setPackages(_ uid: String, _ packages: [String]) throws -> UserRecord

    func mailboxes() throws -> [MailboxRecord]
    func mailbox(_ uid: String) throws -> MailboxRecord?
    func addressHolders(_ address: String, except: String) throws -> [String]
    func setMailbox(_ uid: String, address: String, size: UInt64) throws
    func clearMailbox(_ uid: String, removeMail address: String?, objectClass: Bool) throws
    func mailboxCleared(_ uid: String, address: String) throws -> Bool
    func setRequest(_ uid: String, address: String, size: UInt64?, removeMail: String?) throws

    // Suspension (`mailbox suspend/resume`; defaults in Mailbox/Suspension.swift).
    func storedState(_ uid: String) throws -> (state: String?, reason: String?)
    func setSuspension(_ uid: String, _ s: Suspension?) throws
    func restoreState(_ uid: String, state: String?, reason: String?) throws
}

extension DirectoryService {
    public func clearMailbox(_ uid: String) throws { try clearMailbox(uid, removeMail: nil, objectClass: false) }
    public func clearMailbox(_ uid: String, removeMail address: String?) throws {
        try clearMailbox(uid, removeMail: address, objectClass: false)
    }
    public func setRequest(_ uid: String, address: String, size: UInt64?) throws {
        try setRequest(uid, address: address, size: size, removeMail: nil)
    }
}

extension Directory: DirectoryService {}

/// The mailbox volumes: one per mailbox, mounted under the mail root.
public protocol VolumeService: Sendable {
    var backend: VolumeBackend { get }
    func mountPoint(_ uid: String) -> String
    func exists(_ uid: String) throws -> Bool
    func looksComplete(_ uid: String) throws -> Bool
    func create(uid: String, size: UInt64, owner: MailOwner, force: Bool) throws -> VolumeManager.CreateResult
    func delete(uid: String) throws -> VolumeManager.DeleteResult
    func resize(uid: String, to size: UInt64, owner: MailOwner, offline: Bool) throws -> VolumeState
    func list(mounts given: [MountEntry]?, only uid: String?) throws -> [VolumeState]
    func unsealedUnderneath(_ uids: [String]) throws -> [String: Bool]
    func sealUnderneath(_ uids: [String]) throws -> [String]
    func quarantine(uid: String, days: Int) throws -> QuarantineEntry
    func quarantined() throws -> [QuarantineEntry]
    func entry(_ id: String) throws -> QuarantineEntry
    func restore(id: String, owner: MailOwner) throws -> VolumeManager.CreateResult
    func purge(ids: [String], now: Date) throws -> [QuarantineEntry]
}

extension VolumeService {
    public func create(uid: String, size: UInt64, owner: MailOwner) throws -> VolumeManager.CreateResult {
        try create(uid: uid, size: size, owner: owner, force: false)
    }
    public func resize(uid: String, to size: UInt64, owner: MailOwner) throws -> VolumeState {
        try resize(uid: uid, to: size, owner: owner, offline: false)
    }
    public func list() throws -> [VolumeState] { try list(mounts: nil, only: nil) }
    public func list(mounts given: [MountEntry]?) throws -> [VolumeState] { try list(mounts: given, only: nil) }
    public func list(only uid: String?) throws -> [VolumeState] { try list(mounts: nil, only: uid) }
    public func purge(ids: [String]) throws -> [QuarantineEntry] { try purge(ids: ids, now: Date()) }
}

extension VolumeManager: VolumeService {}

/// The bind9 zone the tool manages (its MX records).
public protocol ZoneService: Sendable {
    func list() throws -> ZoneListing
    func addMX(_ name: String, a: [String], aaaa: [String]) throws -> ZoneEditResult
    func removeMX(_ name: String, force: Bool) throws -> ZoneEditResult
    func checkMX(_ domain: String) throws -> MXCheck
    func handKeptNames() throws -> Set<String>
}

extension ZoneService {
    public func addMX(_ name: String) throws -> ZoneEditResult { try addMX(name, a: [], aaaa: []) }
    public func removeMX(_ name: String) throws -> ZoneEditResult { try removeMX(name, force: false) }
}

extension DNSManager: ZoneService {}

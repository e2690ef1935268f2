@testable import Containers
import Core
import DNS
@testable import Directory
import Foundation
import Logging
import LDAPClient
@testable import Storage
import Synchronization
import Testing
@testable import Provisioning

// Test doubles for the systems `Host` carries (swiftly's style): every
// call is a closure the test sets; a call the test did not set records an
// issue ("unexpected call X") and throws, so a test never passes by
// touching something it did not mean to.

struct UnexpectedCall: Error, CustomStringConvertible {
    var call: String
    var description: String { "unexpected call \(call)" }
}

/// Records the issue and gives the error to throw.
func unexpected(_ call: String, _ location: SourceLocation = #_sourceLocation) -> UnexpectedCall {
    Issue.record("unexpected call \(call)", sourceLocation: location)
    return UnexpectedCall(call: call)
}

/// State shared by a test and the closures it gives its fakes.
final class Box<Value: Sendable>: Sendable {
    private let m: Mutex<Value>
    init(_ v: Value) { m = Mutex(v) }
    var value: Value {
        get { m.withLock { $0 } }
        set { m.withLock { $0 = newValue } }
    }
    func update<R: Sendable>(_ f: (inout Value) throws -> R) rethrows -> R { try m.withLock { try f(&$0) } }
}

/// The order of the calls the fakes answered, for tests that look at it.
typealias CallLog = Box<[String]>
extension Box where Value == [String] {
    func add(_ s: String) { update { $0.append(s) } }
}

struct FakeRunner: CommandRunner {
    var onRun: (@Sendable ([String]) throws -> ProcessOutput)?
    func spawn(_ argv: [String], stdin: Data?, stdinFD: Int32?, stdoutFD: Int32?, check: Bool) throws -> ProcessOutput {
        guard let onRun else { throw unexpected("run \(ProcessRunner.display(argv))") }
        return try onRun(argv)
    }
}

struct FakeDirectory: DirectoryService {
    var onUser: (@Sendable (String) throws -> UserRecord)?
    var onMailboxes: (@Sendable () throws -> [MailboxRecord])?
    var onMailbox: (@Sendable (String) throws -> MailboxRecord?)?
    var onAddressHolders: (@Sendable (String, String) throws -> [String])?
    var onSetMailbox: (@Sendable (String, String, UInt64) throws -> Void)?
    var onClearMailbox: (@Sendable (String, String?, Bool) throws -> Void)?
    var onMailboxCleared: (@Sendable (String, String) throws -> Bool)?
    var onSetRequest: (@Sendable (String, String, UInt64?, String?) throws -> Void)?

    var connection: LDAPConnection {
        Issue.record("unexpected call directory.connection")
        // A handle that was never connected: any use of it fails.
        return try! LDAPConnection(.init(uri: "ldap://unexpected.invalid", timeout: 1))
    }
    func user(_ uid: String) throws -> UserRecord {
        guard let onUser else { throw unexpected("directory.user(\(uid))") }
        return try onUser(uid)
    }
    func list(each: (UserRecord) throws -> Void) throws { throw unexpected("directory.list") }
    func add(_ u: NewUser, password: Secret?) throws -> UserRecord { throw unexpected("directory.add(\(u.uid))") }
    func modify(_ uid: String, _ change: UserChange) throws -> UserRecord {
        throw unexpected("directory.modify(\(uid))")
    }
    func setPassword(_ uid: String, _ password: Secret) throws { throw unexpected("directory.setPassword(\(uid))") }
    func setSSHKeys(_ uid: String, _ keys: [String]) throws -> UserRecord {
        throw unexpected("directory.setSSHKeys(\(uid))")
    }
    func delete(_ uid: String) throws -> UserRecord { throw unexpected("directory.delete(\(uid))") }
    func checkPassword(_ uid: String, _ password: Secret) throws { throw unexpected("directory.checkPassword(\(uid))") }
    func changeOwnPassword(_ uid: String, old: Secret, new: Secret) throws {
        throw unexpected("directory.changeOwnPassword(\(uid))")
    }
    func setPackages(_ uid: String, _ packages: [String]) throws -> UserRecord {
        throw unexpected("directory.setPackages(\(uid))")
    }
    func mailboxes() throws -> [MailboxRecord] {
        guard let onMailboxes else { throw unexpected("directory.mailboxes") }
        return try onMailboxes()
    }
    func mailbox(_ uid: String) throws -> MailboxRecord? {
        guard let onMailbox else { throw unexpected("directory.mailbox(\(uid))") }
        return try onMailbox(uid)
    }
    func addressHolders(_ address: String, except: String) throws -> [String] {
        guard let onAddressHolders else { throw unexpected("directory.addressHolders(\(address))") }
        return try onAddressHolders(address, except)
    }
    func setMailbox(_ uid: String, address: String, size: UInt64) throws {
        guard let onSetMailbox else { throw unexpected("directory.setMailbox(\(uid))") }
        try onSetMailbox(uid, address, size)
    }
    func clearMailbox(_ uid: String, removeMail address: String?, objectClass: Bool) throws {
        guard let onClearMailbox else { throw unexpected("directory.clearMailbox(\(uid))") }
        try onClearMailbox(uid, address, objectClass)
    }
    func mailboxCleared(_ uid: String, address: String) throws -> Bool {
        guard let onMailboxCleared else { throw unexpected("directory.mailboxCleared(\(uid))") }
        return try onMailboxCleared(uid, address)
    }
    func setRequest(_ uid: String, address: String, size: UInt64?, removeMail: String?) throws {
        guard let onSetRequest else { throw unexpected("directory.setRequest(\(uid))") }
        try onSetRequest(uid, address, size, removeMail)
    }
}

struct FakeVolumes: VolumeService {
    var mailRoot: String
    var onExists: (@Sendable (String) throws -> Bool)?
    var onLooksComplete: (@Sendable (String) throws -> Bool)?
    var onCreate: (@Sendable (String, UInt64, MailOwner) throws -> VolumeManager.CreateResult)?
    var onDelete: (@Sendable (String) throws -> VolumeManager.DeleteResult)?
    var onList: (@Sendable (String?) throws -> [VolumeState])?

    var backend: VolumeBackend {
        Issue.record("unexpected call volumes.backend")
        fatalError("unexpected call volumes.backend")
    }
    func mountPoint(_ uid: String) -> String { "\(mailRoot)/\(uid)" }
    func exists(_ uid: String) throws -> Bool {
        guard let onExists else { throw unexpected("volumes.exists(\(uid))") }
        return try onExists(uid)
    }
    func looksComplete(_ uid: String) throws -> Bool {
        guard let onLooksComplete else { throw unexpected("volumes.looksComplete(\(uid))") }
        return try onLooksComplete(uid)
    }
    func create(uid: String, size: UInt64, owner: MailOwner, force: Bool) throws -> VolumeManager.CreateResult {
        guard let onCreate else { throw unexpected("volumes.create(\(uid))") }
        return try onCreate(uid, size, owner)
    }
    func delete(uid: String) throws -> VolumeManager.DeleteResult {
        guard let onDelete else { throw unexpected("volumes.delete(\(uid))") }
        return try onDelete(uid)
    }
    func resize(uid: String, to size: UInt64, owner: MailOwner, offline: Bool) throws -> VolumeState {
        throw unexpected("volumes.resize(\(uid))")
    }
    func list(mounts given: [MountEntry]?, only uid: String?) throws -> [VolumeState] {
        guard let onList else { throw unexpected("volumes.list") }
        return try onList(uid)
    }
    func unsealedUnderneath(_ uids: [String]) throws -> [String: Bool] {
        throw unexpected("volumes.unsealedUnderneath")
    }
    func sealUnderneath(_ uids: [String]) throws -> [String] { throw unexpected("volumes.sealUnderneath") }
    func quarantine(uid: String, days: Int) throws -> QuarantineEntry { throw unexpected("volumes.quarantine(\(uid))") }
    func quarantined() throws -> [QuarantineEntry] { throw unexpected("volumes.quarantined") }
    func entry(_ id: String) throws -> QuarantineEntry { throw unexpected("volumes.entry(\(id))") }
    func restore(id: String, owner: MailOwner) throws -> VolumeManager.CreateResult {
        throw unexpected("volumes.restore(\(id))")
    }
    func purge(ids: [String], now: Date) throws -> [QuarantineEntry] { throw unexpected("volumes.purge") }
}

struct FakeContainers: ContainerService {
    var config: Config.Containers
    var stateDir: String
    var onRender: (@Sendable (ContainerInput) throws -> ContainerManager.Rendered)?
    var onEnsure: (@Sendable (ContainerInput) throws -> ContainerResult)?
    var onRemove: (@Sendable (String, Bool) throws -> [String])?
    var onList: (@Sendable () throws -> [ContainerState])?
    var onShow: (@Sendable (String) throws -> ContainerState?)?

    var client: DockerClient {
        Issue.record("unexpected call containers.client")
        return DockerClient(socket: "/nonexistent/unexpected.sock")
    }
    /// The fixed addresses are a file under the state directory, as for real.
    var addresses: ContainerAddresses { ContainerAddresses(stateDir: stateDir) }
    func dockerfileDir(_ uid: String) -> String { "\(config.dockerfileDir)/\(uid)" }
    func dockerfileDirs() -> [String] {
        Issue.record("unexpected call containers.dockerfileDirs")
        return []
    }
    func render(_ input: ContainerInput) throws -> ContainerManager.Rendered {
        guard let onRender else { throw unexpected("containers.render(\(input.uid))") }
        return try onRender(input)
    }
    func expectedSpecHash(
        _ input: ContainerInput, baseImageID: String,
        template: DockerfileTemplate?
    ) throws -> String? {
        throw unexpected("containers.expectedSpecHash(\(input.uid))")
    }
    func ensure(_ input: ContainerInput, force: Bool, progress: ((String) -> Void)?) throws -> ContainerResult {
        guard let onEnsure else { throw unexpected("containers.ensure(\(input.uid))") }
        return try onEnsure(input)
    }
    func remove(uid: String, releaseAddress: Bool) throws -> [String] {
        guard let onRemove else { throw unexpected("containers.remove(\(uid))") }
        return try onRemove(uid, releaseAddress)
    }
    func list() throws -> [ContainerState] {
        guard let onList else { throw unexpected("containers.list") }
        return try onList()
    }
    func show(uid: String) throws -> ContainerState? {
        guard let onShow else { throw unexpected("containers.show(\(uid))") }
        return try onShow(uid)
    }
    func network() throws -> MailboxNetwork { throw unexpected("containers.network") }
}

struct FakeZone: ZoneService {
    var onList: (@Sendable () throws -> ZoneListing)?
    var onAddMX: (@Sendable (String) throws -> ZoneEditResult)?
    var onRemoveMX: (@Sendable (String) throws -> ZoneEditResult)?
    var onCheckMX: (@Sendable (String) throws -> MXCheck)?
    var onHandKeptNames: (@Sendable () throws -> Set<String>)?

    func list() throws -> ZoneListing {
        guard let onList else { throw unexpected("dns.list") }
        return try onList()
    }
    func addMX(_ name: String, a: [String], aaaa: [String]) throws -> ZoneEditResult {
        guard let onAddMX else { throw unexpected("dns.addMX(\(name))") }
        return try onAddMX(name)
    }
    func removeMX(_ name: String, force: Bool) throws -> ZoneEditResult {
        guard let onRemoveMX else { throw unexpected("dns.removeMX(\(name))") }
        return try onRemoveMX(name)
    }
    func checkMX(_ domain: String) throws -> MXCheck {
        guard let onCheckMX else { throw unexpected("dns.checkMX(\(domain))") }
        return try onCheckMX(domain)
    }
    func handKeptNames() throws -> Set<String> {
        guard let onHandKeptNames else { throw unexpected("dns.handKeptNames") }
        return try onHandKeptNames()
    }
}

/// A reporter that keeps what it was told.
func recordingReporter(_ log: CallLog) -> Reporter {
    Reporter(logger: Logger(label: "test") { _ in RecordingLogHandler(log: log) })
}

/// Writes `info: ...` and `warn: ...` into a call log.
struct RecordingLogHandler: LogHandler {
    let log: CallLog
    var logLevel: Logger.Level = .trace
    var metadata: Logger.Metadata = [:]
    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }
    func log(event: LogEvent) {
        log.add("\(event.level >= .warning ? "warn" : "info"): \(event.message)")
    }
}

/// A temporary state directory (mode 0700, as `Trust` wants), removed by `cleanup`.
struct TempDir {
    let path: String
    init() throws {
        var t = Array("\(NSTemporaryDirectory())/semail-unit.XXXXXX".utf8CString)
        guard let p = mkdtemp(&t) else {
            throw SemailError("mkdtemp failed", why: SystemState.errnoText(), status: .ioError)
        }
        path = String(cString: p)
    }
    func cleanup() { try? FileManager.default.removeItem(atPath: path) }
}

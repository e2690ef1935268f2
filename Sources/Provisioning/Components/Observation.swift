import Containers
import DNS
import Foundation
import Storage
import Synchronization

/// What the host has of every mailbox, gathered once (one call per
/// external system) by the components' `observe`: a plain value, so the
/// reconcile plan and the status views are pure functions of it.
struct Observation: Sendable {
    // The directory (`DirectoryComponent`).
    /// The mailboxes the address map may list (`Mailboxes.decide`).
    var mailboxes: [MailboxRecord] = []
    /// Every mailbox entry, and why the others are refused.
    var all: [MailboxRecord] = []
    var refused: [String: String] = [:]
    /// Requests whose provisioning failed (`<state>/failures`).
    var failures: [String: ProvisioningFailure] = [:]

    // Storage (`VolumeComponent`).
    var volumes: [String: VolumeState] = [:]
    /// Mount point -> filesystem type, from the mount table.
    var mounts: [String: String] = [:]
    /// The Maildir tree of each wanted mailbox's mounted volume (`MaildirTree.inspect`).
    var maildirs: [String: [String: MaildirTree.State]] = [:]
    /// Mounted volumes whose mount point is not sealed underneath (true: files lie there).
    var unsealed: [String: Bool] = [:]

    // Containers (`ContainerComponent`).
    var containers: [String: ContainerState] = [:]
    var baseImage: String?
    /// The spec hash each wanted mailbox's container should carry (absent: cannot be known).
    var expectedSpecs: [String: String] = [:]
    /// Why the mailbox network's isolation is not in place (nil: it is).
    var networkDrift: String? = nil
    /// The fixed container addresses (`<state>/addresses`).
    var addresses: [String: String] = [:]
    /// The uids with a directory under [containers] dockerfile_dir.
    var dockerfileDirs: [String] = []

    // The zone (`DNSComponent`).
    var zone: ZoneListing?
    var zoneError: String?

    // The address map (`AddressMapComponent`).
    /// The map's text (nil: no file).
    var map: String?
    /// uid -> address, as the map lists them.
    var current: [String: String] = [:]
    /// The configured Postfix outputs that differ from what the map would write.
    var stalePostfix: [String] = []

    /// Set while a reconcile observes with every component at once: what
    /// the directory decided, for the parts that need it (`wanted()`).
    var directory: DirectorySeen? = nil

    /// The mailbox entries and the wanted mailboxes: waits for the
    /// directory's observation when it runs alongside.
    func wanted() -> (all: [MailboxRecord], mailboxes: [MailboxRecord]) {
        directory?.wait() ?? (all, mailboxes)
    }

    /// External calls made to observe, and milliseconds spent, by kind.
    var calls: [String: Int] = [:]
    var millis: [String: Double] = [:]

    /// Runs BODY, adding its time to `millis[name]`.
    mutating func timed<T>(_ name: String, _ body: () throws -> T) rethrows -> T {
        let t = Date()
        defer { millis[name, default: 0] += Date().timeIntervalSince(t) * 1000 }
        return try body()
    }
    mutating func count(_ call: String) { calls[call, default: 0] += 1 }
}

/// What the directory's observation decided, handed to the components
/// observing alongside it once it is known.
final class DirectorySeen: Sendable {
    private let value = Mutex<(all: [MailboxRecord], mailboxes: [MailboxRecord])>(([], []))
    private let done = DispatchGroup()
    init() { done.enter() }
    /// Called once, also when the directory could not be read (nothing wanted).
    func set(all: [MailboxRecord], mailboxes: [MailboxRecord]) {
        value.withLock { $0 = (all, mailboxes) }
        done.leave()
    }
    func wait() -> (all: [MailboxRecord], mailboxes: [MailboxRecord]) {
        done.wait()
        return value.withLock { $0 }
    }
}

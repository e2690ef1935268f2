import Core
import Directory
import Foundation

/// A user's SSH public keys (openssh-lpk `sshPublicKey` on the entry), the
/// ones the user's container accepts: read from a key file, checked, set.
/// What `user add --ssh-key`, `user ssh-keys` and `mailbox create --ssh-key`
/// do with them is here, not in the commands.
public struct SSHKeys: Sendable {
    public let host: Host
    public init(host: Host) { self.host = host }

    /// The keys of a key file: one per line, blank lines and comments
    /// skipped; a regular file of at most 1 MiB (never a FIFO or a device).
    public static func read(_ path: String) throws -> [String] { try Directory.readKeyFile(path) }

    /// Replaces UID's keys (an empty list removes them all); each must be
    /// one OpenSSH public key line. `container rebuild UID` puts them in
    /// the container.
    public func replace(_ uid: String, with keys: [String]) throws -> UserRecord {
        try host.directory().setSSHKeys(try Validate.uid(uid), keys)
    }

    /// Adds the entry, then gives it KEYS (when there are any).
    public func addUser(_ user: NewUser, password: Secret?, keys: [String]) throws -> UserRecord {
        let added = try host.directory().add(user, password: password)
        return keys.isEmpty ? added : try replace(user.uid, with: keys)
    }
}

extension Mailboxes {
    /// `mailbox create`, with the user's SSH keys: KEYS (when given) replace
    /// the entry's before the pipeline runs, so the container it makes
    /// carries them. The caller holds the state lock; a dry run sets nothing.
    public func create(
        uid: String, address: String, size: UInt64?, sshKeys: [String]?, by requester: Requester = .admin,
        dryRun: Bool = false
    ) throws -> PipelineReport {
        if let sshKeys, !dryRun { _ = try SSHKeys(host: host).replace(uid, with: sshKeys) }
        return try create(uid: uid, address: address, size: size, by: requester, dryRun: dryRun)
    }
}

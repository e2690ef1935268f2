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

    /// One key as the user sees it: type, OpenSSH SHA256 fingerprint, comment.
    public struct Info: Sendable, Codable, Equatable {
        public var type: String
        public var fingerprint: String
        public var comment: String
        public var key: String
    }

    /// The key's type, fingerprint (`SHA256:` and the unpadded base64 of
    /// the SHA-256 of the key blob, as `ssh-keygen -l` prints it) and
    /// comment; nil when it is not one OpenSSH public key line.
    public static func info(_ line: String) -> Info? {
        guard let k = Validate.sshPublicKey(line) else { return nil }
        let parts = k.split(separator: " ", maxSplits: 2).map(String.init)
        guard parts.count >= 2, let blob = Data(base64Encoded: parts[1]) else { return nil }
        let fp = Data(SHA256.digest(Array(blob))).base64EncodedString().replacingOccurrences(of: "=", with: "")
        return Info(type: parts[0], fingerprint: "SHA256:\(fp)", comment: parts.count > 2 ? parts[2] : "", key: k)
    }

    /// UID's keys (those that are not one key line are left out).
    public func list(_ uid: String) throws -> [Info] {
        try host.directory().user(try Validate.uid(uid)).sshPublicKeys.compactMap(Self.info)
    }

    /// Adds one key line (refused when it is not one OpenSSH public key
    /// without options, or when UID already has that key).
    public func add(_ uid: String, key: String) throws -> [Info] {
        guard let new = Self.info(key) else {
            throw SemailError(
                "not a valid SSH public key",
                why:
                    "expected one line \"TYPE BASE64 [comment]\" (ssh-ed25519, ssh-rsa, ecdsa-sha2-*), without options",
                hint: "paste the content of your ~/.ssh/id_ed25519.pub", status: .usage)
        }
        let keys = try host.directory().user(try Validate.uid(uid)).sshPublicKeys
        if keys.compactMap(Self.info).contains(where: { $0.fingerprint == new.fingerprint }) {
            throw SemailError(
                "\(uid) already has this key", why: "a key with fingerprint \(new.fingerprint) is on the entry",
                status: .failure)
        }
        return try replace(uid, with: keys + [new.key]).sshPublicKeys.compactMap(Self.info)
    }

    /// Removes the key with this fingerprint (`SHA256:...`).
    public func remove(_ uid: String, fingerprint: String) throws -> [Info] {
        let keys = try host.directory().user(try Validate.uid(uid)).sshPublicKeys
        let kept = keys.filter { Self.info($0)?.fingerprint != fingerprint }
        guard kept.count < keys.count else {
            throw SemailError(
                "\(uid) has no key \(Validate.quoted(fingerprint))", why: "no key on the entry has this fingerprint",
                hint: "see `semailctl user ssh-key list \(uid)`", status: .failure)
        }
        return try replace(uid, with: kept).sshPublicKeys.compactMap(Self.info)
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

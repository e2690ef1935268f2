import Core
import Foundation

/// How a user reaches a mailbox container: an `ssh_config` block (the fixed
/// address, through the jump host, under a host key alias of its own) and
/// the known_hosts line of the container's kept host key.
public struct SSHAccess: Sendable, Codable, Equatable {
    public var uid: String
    /// The `Host` name: `<uid>.semail`.
    public var host: String
    public var hostName: String
    public var user: String
    public var proxyJump: String
    public var hostKeyAlias: String
    /// `semail-<uid> ssh-ed25519 AAAA...`
    public var knownHosts: String
    /// The ssh_config block, ready to append to ~/.ssh/config.
    public var config: String

    public static func hostName(_ uid: String) -> String { "\(uid).semail" }
    public static func alias(_ uid: String) -> String { "semail-\(uid)" }
    /// `[containers] ssh_host`, or this host's name.
    public static func jumpHost(_ c: Config.Containers) -> String {
        if !c.sshHost.isEmpty { return c.sshHost }  // checked by Config.validate
        let name = ProcessInfo.processInfo.hostName
        return Validate.isJumpHost(name) ? name : "localhost"
    }

    /// The one-line form `container show` prints.
    public static func command(uid: String, address: String, jump: String) -> String {
        "ssh -J \(jump) -o HostKeyAlias=\(alias(uid)) \(uid)@\(address)"
    }

    /// The public half of an unencrypted or encrypted OpenSSH private key
    /// file ("openssh-key-v1": the public key blob is stored in the clear),
    /// as `ssh-ed25519 AAAA...`. Nothing is run.
    public static func publicKey(fromPrivate text: String) -> String? {
        let lines = text.split(whereSeparator: \.isNewline).map { $0.trimmingCharacters(in: .whitespaces) }
        guard let b = lines.firstIndex(of: "-----BEGIN OPENSSH PRIVATE KEY-----"),
            let e = lines.firstIndex(of: "-----END OPENSSH PRIVATE KEY-----"), b < e,
            let data = Data(base64Encoded: lines[(b + 1)..<e].joined())
        else { return nil }
        var bytes = [UInt8](data)[...]
        let magic = Array("openssh-key-v1\0".utf8)
        guard bytes.starts(with: magic) else { return nil }
        bytes = bytes.dropFirst(magic.count)
        func string() -> ArraySlice<UInt8>? {
            guard bytes.count >= 4 else { return nil }
            let h = Array(bytes.prefix(4))
            let n = Int(h[0]) << 24 | Int(h[1]) << 16 | Int(h[2]) << 8 | Int(h[3])
            bytes = bytes.dropFirst(4)
            guard n <= bytes.count else { return nil }
            defer { bytes = bytes.dropFirst(n) }
            return bytes.prefix(n)
        }
        // cipher, kdf, kdf options
        guard string() != nil, string() != nil, string() != nil, bytes.count >= 4 else { return nil }
        bytes = bytes.dropFirst(4)  // number of keys
        guard let blob = string() else { return nil }
        var inner = blob
        guard inner.count >= 4 else { return nil }
        let h = Array(inner.prefix(4))
        let n = Int(h[0]) << 24 | Int(h[1]) << 16 | Int(h[2]) << 8 | Int(h[3])
        inner = inner.dropFirst(4)
        guard n <= inner.count, let type = String(bytes: inner.prefix(n), encoding: .utf8), type == "ssh-ed25519" else {
            return nil
        }
        return "\(type) \(Data(blob).base64EncodedString())"
    }

    /// The access of UID, or all of them (those with an address and a host
    /// key; the others are reported through `skipped`).
    public static func entries(
        _ cm: any ContainerService, only uid: String?,
        skipped: (String, String) -> Void = { _, _ in }
    ) throws -> [SSHAccess] {
        let addresses = try cm.addresses.entries()
        let uids = try uid.map { [try Validate.uid($0)] } ?? addresses.keys.sorted()
        let jump = jumpHost(cm.config)
        var out: [SSHAccess] = []
        for u in uids {
            guard let ip = addresses[u] else {
                let e = SemailError(
                    "\(u) has no container address yet", why: "\(cm.addresses.path) has no line for \(u)",
                    hint: "create the container first: `semailctl container create \(u)` (or `semailctl reconcile`)",
                    status: .failure)
                if uid != nil { throw e }
                skipped(u, e.why); continue
            }
            let keyFile = "\(cm.dockerfileDir(u))/ssh_host_ed25519_key"
            guard
                let text = try? String(
                    decoding: Trust.read(keyFile, what: "the container's host key", secret: true), as: UTF8.self),
                let pub = publicKey(fromPrivate: text)
            else {
                let e = SemailError(
                    "no usable host key for \(u)", why: "\(keyFile) is missing or not an OpenSSH ed25519 key",
                    hint: "`semailctl container rebuild \(u)` makes one", status: .failure)
                if uid != nil { throw e }
                skipped(u, e.why); continue
            }
            let block = [
                "Host \(hostName(u))", "    HostName \(ip)", "    User \(u)", "    ProxyJump \(jump)",
                "    HostKeyAlias \(alias(u))", ""
            ]
            .joined(separator: "\n")
            out.append(
                SSHAccess(
                    uid: u, host: hostName(u), hostName: ip, user: u, proxyJump: jump, hostKeyAlias: alias(u),
                    knownHosts: "\(alias(u)) \(pub)", config: block))
        }
        return out
    }
}

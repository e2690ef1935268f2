import Containers
import Core
import DNS
import Directory
import Foundation

/// Everything a user sees of their own account and mailbox, in one
/// document (`mailbox status UID --as-user UID`, the portal's "my mailbox"
/// page): the entry, the keys, the chosen packages, the mailbox's state,
/// how to reach the container, and for an external domain the MX check and
/// the records to publish.
public struct SelfStatus: Sendable, Codable {
    public var uid: String
    public var cn: String
    public var mail: [String]
    public var sshKeys: [SSHKeys.Info]
    public var packages: [String]
    public var globalPackages: [String]
    /// The managed zone (a mailbox at `<name>.<zone>` gets its MX record by itself).
    public var zone: String
    public var mxHost: String
    public var mailbox: MailboxStatus?
    public var ssh: SSHAccess?
    /// For an external domain: its MX as the resolver sees it, and what to publish.
    public var mx: MXCheck?
    public var publish: [String] = []

    public var text: String {
        var l = ["uid        \(uid)", "name       \(Validate.printable(cn))", "ssh keys   \(sshKeys.count)"]
        l.append("packages   \(packages.isEmpty ? "-" : packages.joined(separator: " "))")
        guard let m = mailbox else { return (l + ["mailbox    none"]).joined(separator: "\n") }
        l.append("address    \(Validate.printable(m.address))")
        l.append("container  \(m.container.map { "\($0.name) \($0.shownState)" } ?? "MISSING")")
        if let s = m.suspension {
            l.append("SUSPENDED  \(s.summary): no SSH access until the administrator resumes it")
        }
        if let s = ssh?.config { l.append(s.trimmingCharacters(in: .newlines)) }
        if let mx { l.append("mx         \(mx.ok ? "ok" : "not ok"): \(Validate.printable(mx.message))") }
        l += publish.map { "publish    \($0)" }
        return l.joined(separator: "\n")
    }
}

extension Mailboxes {
    /// UID's own view (read-only: nothing is changed).
    public func selfStatus(_ uid: String) throws -> SelfStatus {
        let u = try host.directory().user(try Validate.uid(uid))
        let mx = config.dns.mxHost.hasSuffix(".") ? config.dns.mxHost : config.dns.mxHost + "."
        var s = SelfStatus(
            uid: uid, cn: u.cn, mail: u.mail, sshKeys: u.sshPublicKeys.compactMap(SSHKeys.info),
            packages: u.packages, globalPackages: config.containers.packages.split(separator: " ").map(String.init),
            zone: config.dns.zone, mxHost: mx)
        guard let m = try status(uid) else { return s }
        s.mailbox = m
        s.ssh = try? sshAccess(only: uid).first
        if let a = try? Validate.address(m.address), !managedDomain(a.domain) {
            s.publish = ["\(a.domain). IN MX \(config.dns.mxPriority) \(mx)"]
            s.mx = try? host.dns.checkMX(a.domain)
        }
        return s
    }
}

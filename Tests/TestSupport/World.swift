import Core
import Foundation
import Provisioning
import Testing
import Synchronization

/// Everything a mailbox needs, for one test: the suite's slapd, named and
/// dockerd, plus a private storage area (images, mail root, fstab, state,
/// address map, Dockerfiles). `cleanup()` removes what is left, even after
/// a failed test.
public final class World: Sendable {
    public let dir: String
    public let config: String
    public let slapd: Slapd
    public let named: Named
    public let dockerd: Dockerd
    /// This world's own people OU and DNS zone, so reconcile sees only its mailboxes.
    public let ou: String
    public let zone: String
    private let uids = LockedList()

    public init(slapd: Slapd, named: Named, dockerd: Dockerd, extra: String = "") throws {
        self.slapd = slapd; self.named = named; self.dockerd = dockerd
        let id = UUID().uuidString.prefix(8).lowercased()
        dir = "/tmp/semail-test-mb-\(id)"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        config = "\(dir)/semail.toml"
        ou = "ou=W\(id)"
        zone = "w\(id).test"
        try ProcessRunner().run(
            ["ldapadd", "-x", "-H", slapd.uri, "-D", slapd.adminDN, "-y", slapd.secretFile],
            stdin: Data("dn: \(ou),dc=semail,dc=email\nobjectClass: organizationalUnit\nou: W\(id)\n".utf8))
        let zoneFile = "\(named.dir)/db.\(zone)"
        try """
        $TTL 300\n@ IN SOA ns1.\(zone). hostmaster.\(zone). 1 3600 600 86400 300\n@ IN NS ns1.\(zone).\nns1 IN \
        A 127.0.0.1\nmx IN A 127.0.0.1\n
        """
        .write(toFile: zoneFile, atomically: true, encoding: .utf8)
        try named.rndc(["addzone", zone, "{ type primary; file \"\(zoneFile)\"; };"])
        try """
        [ldap]
        uri = "\(slapd.uri)"
        bind_dn = "\(slapd.adminDN)"
        bind_password_file = "\(slapd.secretFile)"
        people = "\(ou)"
        timeout = 5

        [state]
        dir = "\(dir)/state"

        [storage]
        backend = "image"
        image_dir = "\(dir)/images"
        mail_root = "\(dir)/mail"
        fstab = "\(dir)/fstab"
        default_size = "32M"
        owner = "posix"

        [containers]
        socket = "\(dockerd.socket)"
        template_dir = "\(repoRoot)/templates"
        dockerfile_dir = "\(dir)/Containers"
        network = "semail-test"
        memory = "128M"
        pids = 64

        [smtp]
        address_map = "\(dir)/state/mailbox.txt"

        \(named.dnsSection(zone: zone, file: "\(named.dir)/db.\(zone)"))
        \(extra)
        """.write(toFile: config, atomically: true, encoding: .utf8)
    }

    /// A world on the enclosing suite's slapd, named and dockerd, with the
    /// base image imported: what every mailbox suite starts from.
    public static func ready(_ extra: String = "") throws -> World {
        let w = try World(slapd: .shared, named: .shared, dockerd: .shared, extra: extra)
        try w.bootstrap()
        return w
    }

    /// Imports the base image once per dockerd (rootfs cached between runs).
    public func bootstrap() throws {
        try FileManager.default.createDirectory(atPath: "/var/cache/semail-test", withIntermediateDirectories: true)
        let r = try run(["image", "bootstrap", "--rootfs-cache", "/var/cache/semail-test/bookworm-ssh.tar"])
        guard r.status == 0 else { throw SemailError("image bootstrap failed", why: r.stderr) }
    }

    public func run(_ args: [String], stdin: String? = nil, env: [String: String] = [:]) throws -> ProcessOutput {
        try semailctl(args + ["--config", config], stdin: stdin, env: env)
    }

    /// A posix user (no mailbox yet).
    public func addUser(_ uid: String) throws {
        uids.append(uid)
        let r = try run(["user", "add", uid, "--cn", uid, "--sn", uid, "--posix"])
        guard r.status == 0 else { throw SemailError("user add \(uid) failed", why: r.stderr) }
    }

    public var mapText: String { (try? String(contentsOfFile: "\(dir)/state/mailbox.txt", encoding: .utf8)) ?? "" }
    public var fstab: String { (try? String(contentsOfFile: "\(dir)/fstab", encoding: .utf8)) ?? "" }
    public func mountPoint(_ uid: String) -> String { "\(dir)/mail/\(uid)" }
    public var journalFiles: [String] {
        ((try? FileManager.default.contentsOfDirectory(atPath: "\(dir)/state/journal")) ?? []).filter {
            $0.hasSuffix(".jsonl")
        }
    }
    public var mounts: [String] {
        (SystemState.readKernelFile("/proc/self/mountinfo") ?? "").split(separator: "\n").map(String.init).filter {
            $0.contains(dir)
        }
    }
    public var loops: [String] {
        ((try? FileManager.default.contentsOfDirectory(atPath: "/sys/block")) ?? []).filter { $0.hasPrefix("loop") }
            .filter { n in
                (SystemState.readKernelFile("/sys/block/\(n)/loop/backing_file") ?? "").contains(dir)
            }
    }

    /// The LDAP entry's semailMailbox, if any.
    public func ldapMailbox(_ uid: String) throws -> String? {
        let r = try ProcessRunner().run(
            [
                "ldapsearch", "-x", "-LLL", "-H", slapd.uri, "-D", slapd.adminDN, "-y", slapd.secretFile,
                "-b", "uid=\(uid),\(ou),dc=semail,dc=email", "-s", "base", "semailMailbox"
            ], check: false)
        return r.text.split(separator: "\n").first { $0.hasPrefix("semailMailbox: ") }.map { String($0.dropFirst(15)) }
    }

    public func mx(_ domain: String) throws -> [String] { try named.dig(domain, "MX") }

    /// Every trace of UID's mailbox, described; empty when nothing is left.
    public func traces(_ uid: String, domain: String) throws -> [String] {
        var t: [String] = []
        if FileManager.default.fileExists(atPath: "\(dir)/images/\(uid).img") { t.append("image file") }
        let mine = loops.filter { n in
            (SystemState.readKernelFile("/sys/block/\(n)/loop/backing_file") ?? "").contains("/images/\(uid).img")
        }
        if !mine.isEmpty { t.append("loop devices \(mine)") }
        if mounts.contains(where: { $0.contains("/mail/\(uid) ") }) { t.append("mount") }
        if FileManager.default.fileExists(atPath: mountPoint(uid)) { t.append("mount point directory") }
        if fstab.contains("/\(uid) ") { t.append("fstab entry") }
        let cs = try dockerd.client.containers(label: "semail.uid=\(uid)")
        if !cs.isEmpty { t.append("containers \(cs.map(\.Names))") }
        if try dockerd.client.images().contains(where: {
            ($0.RepoTags ?? []).contains { $0.hasPrefix("semail/mailbox:\(uid)-") }
        }) {
            t.append("image")
        }
        if !(try mx(domain)).isEmpty { t.append("MX record") }
        if try ldapMailbox(uid) != nil { t.append("LDAP semailMailbox") }
        if mapText.contains("uid: \(uid) ") { t.append("address map line") }
        if FileManager.default.fileExists(atPath: "\(dir)/Containers/\(uid)") { t.append("Dockerfile directory") }
        if !journalFiles.isEmpty { t.append("journal \(journalFiles)") }
        return t
    }

    /// What a complete mailbox has that is missing; empty when whole.
    public func missing(_ uid: String, domain: String) throws -> [String] {
        var t: [String] = []
        if !mounts.contains(where: { $0.contains("/mail/\(uid) ") }) { t.append("mount") }
        if !fstab.contains("/\(uid) ") { t.append("fstab entry") }
        if try dockerd.client.inspect(container: "semail-\(uid)")?.State.Running != true {
            t.append("running container")
        }
        if try mx(domain).isEmpty { t.append("MX record") }
        if try ldapMailbox(uid) == nil { t.append("LDAP semailMailbox") }
        if !mapText.contains("uid: \(uid) mail: \(uid)@\(domain)") { t.append("address map line") }
        if !journalFiles.isEmpty { t.append("journal \(journalFiles)") }
        return t
    }

    public func cleanup() {
        let mine = Set(uids.all)
        if let cs = try? dockerd.client.containers(label: "semail.uid") {
            for c in cs where mine.contains(c.Labels?["semail.uid"] ?? "") {
                try? dockerd.client.remove(container: c.Id)
            }
        }
        try? named.rndc(["delzone", zone])
        for line in mounts.reversed() {
            let f = line.split(separator: " ")
            if f.count > 4 { _ = umount2(String(f[4]), 0) }
        }
        for l in loops { _ = try? ProcessRunner().run(["losetup", "-d", "/dev/\(l)"], check: false) }
        // Mount points are sealed (immutable) while unmounted.
        for m in (try? FileManager.default.contentsOfDirectory(atPath: "\(dir)/mail")) ?? [] {
            SystemState.unsealMountPoint("\(dir)/mail/\(m)")
        }
        try? FileManager.default.removeItem(atPath: dir)
    }
}

/// Stops a private service for an outage test, and starts it again on the same data.
public func halt<S: ScriptedService>(_ s: S) throws {
    try ProcessRunner().run(["\(repoRoot)/scripts/\(S.script).sh", "halt", s.dir])
}
public func resume<S: ScriptedService>(_ s: S) throws {
    try ProcessRunner().run(["\(repoRoot)/scripts/\(S.script).sh", "resume", s.dir])
}

final class LockedList: Sendable {
    private let items = Mutex<[String]>([])
    func append(_ s: String) { items.withLock { $0.append(s) } }
    var all: [String] { items.withLock { $0 } }
}

/// One user entry with a mailbox request, as LDIF (ending with a blank
/// line); `extra` lines go before the mailbox attributes.
public func mailboxEntryLDIF(
    dn: String, uid: String, cn: String? = nil, home: String? = nil, number: Int, address: String,
    extra: [String] = [], size: Int? = 33_554_432
) -> String {
    let name = cn ?? uid
    var lines = [
        "dn: \(dn)", "objectClass: inetOrgPerson", "objectClass: posixAccount", "objectClass: semailUser",
        "uid: \(uid)", "cn: \(name)", "sn: \(name)", "uidNumber: \(number)", "gidNumber: \(number)",
        "homeDirectory: \(home ?? "/home/\(uid)")"
    ]
    lines += extra + ["semailMailbox: \(address)"] + (size.map { ["semailVolumeSize: \($0)"] } ?? [])
    return lines.joined(separator: "\n") + "\n\n"
}

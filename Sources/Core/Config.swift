import Foundation
import LDAPClient

/// The configuration file (`/etc/semail/semail.toml`). Each section is a
/// plain value; `Config.schema` lists every key, its type and its default,
/// and is the single place a new key is declared.
public struct Config: Sendable {
    public struct LDAP: Sendable {
        public var uri = "ldap://127.0.0.1:389"
        public var base = "dc=semail,dc=email"
        public var people = "ou=Personnes"
        public var bindDN = "cn=admin,dc=semail,dc=email"
        public var bindPasswordFile = "/etc/semail/ldap.secret"
        public var startTLS = false
        public var caFile = ""
        /// First uidNumber handed out by `user add --posix` and `user modify --posix`.
        public var uidNumberMin = 10000
        public var timeout = 30
        /// Send a simple bind's password over ldap:// to a non-loopback server without StartTLS.
        public var allowCleartext = false
    }
    public struct State: Sendable {
        public var dir = "/var/lib/semail"
        /// How long `reconcile --prune` keeps a volume in quarantine before `quarantine purge` may destroy it.
        public var quarantineDays = 30
        /// The mass-change guard: reconcile stops before removing or recreating more than
        /// max(guard_min, guard_percent% of the mailboxes) unless --force.
        public var guardPercent = 10
        public var guardMin = 5
    }
    public struct Storage: Sendable {
        public var backend = "image"
        public var volumeGroup = "mvg"
        public var imageDir = "/var/lib/semail/images"
        public var mailRoot = "/home/Personnes"
        public var defaultSize = "5G"
        public var mountOptions = "nodev,nosuid,noexec"
        public var owner = "posix"
        public var fstab = "/etc/fstab"
        /// The largest volume anyone (a command, the directory) may ask for.
        public var maxSize = "50G"
        /// image backend: the images' sizes may add up to this much of their filesystem.
        public var overcommitPercent = 100
    }
    public struct Containers: Sendable {
        public var socket = "/var/run/docker.sock"
        /// Default: `<prefix>/share/semail/templates` next to the installed binary (see `defaultTemplateDir`).
        public var templateDir = Config.defaultTemplateDir
        public var dockerfileDir = "/home/Containers"
        public var baseImage = "semail/base:latest"
        public var network = "semail"
        public var memory = "512M"
        public var pids = 256
        /// The jump host `container show` prints in its `ssh -J` command ("" = this host's name).
        public var sshHost = ""
        /// Extra Debian packages for every container, space-separated.
        public var packages = ""
        /// CPUs each container may use (a decimal, e.g. "1.0", "0.5").
        public var cpus = "1.0"
        /// The only destinations containers may open connections to, space-separated
        /// `tcp|udp:IPv4:port` (e.g. the outbound relay and DNS); "" = none, only replies.
        public var egress = ""
        /// The mailbox network's IPv4 subnet (CIDR); "" = a free one from the
        /// engine's pools, fixed when the network is made.
        public var subnet = ""
    }
    public struct DNS: Sendable {
        public var zone = "semail.email"
        public var zoneFile = "/etc/bind/db.semail.email"
        public var mxHost = "ns1.semail.email."
        public var mxPriority = 10
        public var ttl = 3600
        public var rndc = "/usr/sbin/rndc"
        public var rndcServer = "127.0.0.1"
        public var rndcPort = 953
        public var rndcKey = "/etc/bind/rndc.key"
        public var checkzone = "/usr/bin/named-checkzone"
        /// Freeze/thaw around edits (also assumed when a .jnl lies beside the file).
        public var dynamic = false
        /// DNS server for `zone check-mx`: "" for the system resolver, or "IPv4:port".
        public var resolver = ""
        /// named's `directory` option (Debian's default): named reads a relative
        /// `$INCLUDE` (and a relative zone_file) from there, and so do we.
        public var directory = "/var/cache/bind"
    }
    public struct SMTP: Sendable {
        public var addressMap = "/var/lib/semail/mailbox.txt"
        /// The same lines in Postfix's form, for texthash: tables ("" = not written;
        /// see `PostfixMaps`): `address uid/Maildir/`, `address uidNumber`,
        /// `address gidNumber`, `domain OK`.
        public var postfixVirtualMailboxMaps = ""
        public var postfixVirtualUIDMaps = ""
        public var postfixVirtualGIDMaps = ""
        public var postfixVirtualMailboxDomains = ""
    }
    /// Which addresses a mailbox may have (`AddressPolicy`).
    public struct Policy: Sendable {
        /// Local parts only the administrator gives (RFC 2142 and the usual system names), space- or comma-separated.
        public var roleLocalParts =
            "postmaster hostmaster abuse webmaster noc security info marketing sales support usenet news www uucp ftp "
            + "root mailer-daemon admin administrator nobody"
        /// Let mailboxes of different users share a managed subdomain (or an external domain).
        public var shareSubdomains = false
        /// The host secret external-domain proofs are derived from ("" = <state.dir>/policy.secret, made on first use).
        public var secretFile = ""

        public var roles: Set<String> {
            Set(
                roleLocalParts.lowercased().split(whereSeparator: { $0 == " " || $0 == "," || $0 == "\t" }).map(
                    String.init))
        }
    }

    /// The self-service portal, `semail-web` (README: Self-service portal).
    public struct Web: Sendable {
        /// Where it listens: IPv4 address or [IPv6] address, then `:port` (loopback: TLS is a reverse proxy's).
        public var listen = "127.0.0.1:8080"
        /// The system user it runs as; through sudo, semailctl refuses this user anything but `--as-user`.
        public var user = "semail-web"
        /// The semailctl it runs (through `sudo -n`) for everything privileged ("" = the one beside semail-web,
        /// which is the path the shipped sudo rule names).
        public var semailctl = ""
        public var sudo = "/usr/bin/sudo"
        /// Mark the session cookie Secure (set false only for plain-HTTP tests on loopback).
        public var secureCookies = true
        /// The origin browsers reach it at ("https://mail.example.org"): a form posted from any other
        /// Origin is refused ("" = the request's own Host, scheme from secure_cookies).
        public var origin = ""
        /// Minutes a session lasts without a request.
        public var sessionMinutes = 30
        /// Failed logins allowed per client address, and per uid, in `login_window` seconds.
        public var loginAttempts = 5
        public var loginWindow = 300
        /// Behind a reverse proxy on loopback: take the client's address (login throttling) from X-Real-IP.
        public var trustProxy = false
    }

    /// `[usage]`: the usage warnings delivered into a mailbox (`mailbox usage`, each reconcile pass).
    public struct Usage: Sendable {
        /// The percentages (of the volume, as df counts it) at which the user is warned once per crossing,
        /// ascending; [] = no warnings.
        public var warnPercent = [80, 95]
        /// Seconds between the usage checks `reconcile --watch` makes between its passes (0 = only in passes).
        public var interval = 300
        /// The From: of the warnings ("" = postmaster@ the managed zone, [dns] zone).
        public var from = ""
    }
    /// `[metrics]`: Prometheus metrics served by `reconcile --watch`.
    public struct Metrics: Sendable {
        /// IPv4:port or [IPv6]:port; "" (the default) serves none.
        public var listen = ""
        /// Allow a listen address that is not loopback (the metrics name every uid).
        public var allowRemote = false
    }

    public var ldap = LDAP()
    public var state = State()
    public var storage = Storage()
    public var containers = Containers()
    public var dns = DNS()
    public var smtp = SMTP()
    public var policy = Policy()
    public var web = Web()
    public var usage = Usage()
    public var metrics = Metrics()
    /// The file this was read from (nil: built-in defaults).
    public var path: String?
    /// The sections the file has (`config check` tests those services).
    public var sections: Set<String> = []

    public init() {}

    /// Where the configuration is read from: `--config`, then
    /// `SEMAIL_CONFIG`, then `/etc/semail/semail.toml`.
    public static func resolvePath(_ explicit: String?) -> String {
        if let explicit, !explicit.isEmpty { return explicit }
        if let env = ProcessInfo.processInfo.environment["SEMAIL_CONFIG"], !env.isEmpty { return env }
        return "/etc/semail/semail.toml"
    }

    /// A problem found while loading: unknown key or wrong type, with its line.
    public struct Problem: Sendable, CustomStringConvertible, Codable {
        public var line: Int
        public var key: String
        public var message: String
        public var fatal: Bool
        public var description: String { "line \(line): \(key): \(message)" }
    }

    enum Kind { case string, integer, boolean, integers }
    struct Key {
        let kind: Kind
        let apply: @Sendable (inout Config, TOMLValue) -> Void
    }

    static func s(_ kp: WritableKeyPath<Config, String> & Sendable) -> Key {
        Key(kind: .string) { c, v in if case let .string(x) = v { c[keyPath: kp] = x } }
    }
    static func i(_ kp: WritableKeyPath<Config, Int> & Sendable) -> Key {
        Key(kind: .integer) { c, v in if case let .integer(x) = v { c[keyPath: kp] = x } }
    }
    static func b(_ kp: WritableKeyPath<Config, Bool> & Sendable) -> Key {
        Key(kind: .boolean) { c, v in if case let .boolean(x) = v { c[keyPath: kp] = x } }
    }
    static func ints(_ kp: WritableKeyPath<Config, [Int]> & Sendable) -> Key {
        Key(kind: .integers) { c, v in
            if case let .array(xs) = v {
                c[keyPath: kp] = xs.compactMap { if case let .integer(x) = $0 { x } else { nil } }
            }
        }
    }

    static let schema: [String: Key] = [
        "ldap.uri": s(\.ldap.uri), "ldap.base": s(\.ldap.base), "ldap.people": s(\.ldap.people),
        "ldap.bind_dn": s(\.ldap.bindDN), "ldap.bind_password_file": s(\.ldap.bindPasswordFile),
        "ldap.starttls": b(\.ldap.startTLS), "ldap.ca_file": s(\.ldap.caFile),
        "ldap.uid_number_min": i(\.ldap.uidNumberMin), "ldap.timeout": i(\.ldap.timeout),
        "ldap.allow_cleartext": b(\.ldap.allowCleartext),
        "state.dir": s(\.state.dir), "state.quarantine_days": i(\.state.quarantineDays),
        "state.guard_percent": i(\.state.guardPercent), "state.guard_min": i(\.state.guardMin),
        "storage.backend": s(\.storage.backend), "storage.volume_group": s(\.storage.volumeGroup),
        "storage.image_dir": s(\.storage.imageDir), "storage.mail_root": s(\.storage.mailRoot),
        "storage.default_size": s(\.storage.defaultSize), "storage.mount_options": s(\.storage.mountOptions),
        "storage.owner": s(\.storage.owner), "storage.fstab": s(\.storage.fstab),
        "storage.max_size": s(\.storage.maxSize), "storage.overcommit_percent": i(\.storage.overcommitPercent),
        "containers.socket": s(\.containers.socket), "containers.template_dir": s(\.containers.templateDir),
        "containers.dockerfile_dir": s(\.containers.dockerfileDir), "containers.base_image": s(\.containers.baseImage),
        "containers.network": s(\.containers.network), "containers.memory": s(\.containers.memory),
        "containers.pids": i(\.containers.pids), "containers.ssh_host": s(\.containers.sshHost),
        "containers.packages": s(\.containers.packages), "containers.cpus": s(\.containers.cpus),
        "containers.egress": s(\.containers.egress), "containers.subnet": s(\.containers.subnet),
        "dns.zone": s(\.dns.zone), "dns.zone_file": s(\.dns.zoneFile), "dns.mx_host": s(\.dns.mxHost),
        "dns.mx_priority": i(\.dns.mxPriority), "dns.ttl": i(\.dns.ttl), "dns.rndc": s(\.dns.rndc),
        "dns.rndc_server": s(\.dns.rndcServer), "dns.rndc_port": i(\.dns.rndcPort), "dns.rndc_key": s(\.dns.rndcKey),
        "dns.checkzone": s(\.dns.checkzone), "dns.dynamic": b(\.dns.dynamic), "dns.resolver": s(\.dns.resolver),
        "dns.directory": s(\.dns.directory),
        "smtp.address_map": s(\.smtp.addressMap),
        "smtp.postfix_virtual_mailbox_maps": s(\.smtp.postfixVirtualMailboxMaps),
        "smtp.postfix_virtual_uid_maps": s(\.smtp.postfixVirtualUIDMaps),
        "smtp.postfix_virtual_gid_maps": s(\.smtp.postfixVirtualGIDMaps),
        "smtp.postfix_virtual_mailbox_domains": s(\.smtp.postfixVirtualMailboxDomains),
        "policy.role_local_parts": s(\.policy.roleLocalParts), "policy.share_subdomains": b(\.policy.shareSubdomains),
        "policy.secret_file": s(\.policy.secretFile),
        "web.listen": s(\.web.listen), "web.user": s(\.web.user), "web.semailctl": s(\.web.semailctl),
        "web.sudo": s(\.web.sudo), "web.secure_cookies": b(\.web.secureCookies), "web.origin": s(\.web.origin),
        "web.session_minutes": i(\.web.sessionMinutes), "web.login_attempts": i(\.web.loginAttempts),
        "web.login_window": i(\.web.loginWindow), "web.trust_proxy": b(\.web.trustProxy),
        "usage.warn_percent": ints(\.usage.warnPercent), "usage.from": s(\.usage.from),
        "usage.interval": i(\.usage.interval),
        "metrics.listen": s(\.metrics.listen), "metrics.allow_remote": b(\.metrics.allowRemote)
    ]

    /// Parses configuration text. Unknown keys are reported (not fatal);
    /// wrong types and invalid values are fatal problems.
    public static func parse(_ text: String, path: String? = nil) throws -> (Config, [Problem]) {
        var config = Config()
        config.path = path
        var problems: [Problem] = []
        let entries: [TOMLEntry]
        do { entries = try TOML.parse(text) } catch let e as TOMLError {
            throw SemailError(
                "cannot read configuration \(path ?? "")", why: e.description,
                hint: "fix the TOML syntax on that line", status: .config)
        }
        config.sections = Set(entries.map(\.table))
        for e in entries {
            guard let key = schema[e.path] else {
                let known = schema.keys.filter { $0.hasPrefix(e.table + ".") }.sorted().map {
                    $0.split(separator: ".").last!
                }
                let hint =
                    known.isEmpty
                    ? "unknown section [\(e.table)]" : "known keys in [\(e.table)]: \(known.joined(separator: ", "))"
                problems.append(Problem(line: e.line, key: e.path, message: "unknown key (\(hint))", fatal: false))
                continue
            }
            let ok: Bool =
                switch (key.kind, e.value) {
                case (.string, .string), (.integer, .integer), (.boolean, .boolean): true
                case (.integers, .array(let xs)): xs.allSatisfy { if case .integer = $0 { true } else { false } }
                default: false
                }
            guard ok else {
                problems.append(
                    Problem(
                        line: e.line, key: e.path,
                        message:
                            "expected \(key.kind == .integers ? "an array of integers" : "a \(key.kind)"), found a \(e.value.typeName)",
                        fatal: true))
                continue
            }
            key.apply(&config, e.value)
        }
        problems += config.validate(
            lines: Dictionary(entries.map { ($0.path, $0.line) }, uniquingKeysWith: { a, _ in a }))
        return (config, problems)
    }

    func validate(lines: [String: Int]) -> [Problem] {
        var p: [Problem] = []
        func bad(_ key: String, _ m: String) {
            p.append(Problem(line: lines[key] ?? 0, key: key, message: m, fatal: true))
        }
        let scheme = ldap.uri.lowercased()
        if !(scheme.hasPrefix("ldap://") || scheme.hasPrefix("ldaps://") || scheme.hasPrefix("ldapi://")) {
            bad("ldap.uri", "must start with ldap://, ldaps:// or ldapi://")
        }
        if ldap.startTLS && !scheme.hasPrefix("ldap://") {
            bad("ldap.starttls", "StartTLS only applies to ldap:// URIs")
        }
        if (try? DN(ldap.base)) == nil { bad("ldap.base", "not a valid DN") }
        if (try? DN(ldap.people)) == nil { bad("ldap.people", "not a valid DN") }
        if !state.dir.hasPrefix("/") { bad("state.dir", "must be an absolute path") }
        if !["image", "lvm"].contains(storage.backend) { bad("storage.backend", "must be \"image\" or \"lvm\"") }
        if ldap.timeout <= 0 { bad("ldap.timeout", "must be a positive number of seconds") }
        if (try? ByteSize.parse(storage.maxSize)) == nil { bad("storage.max_size", "must be a size such as \"50G\"") }
        if storage.overcommitPercent <= 0 { bad("storage.overcommit_percent", "must be a positive percentage") }
        if !policy.secretFile.isEmpty && !policy.secretFile.hasPrefix("/") {
            bad("policy.secret_file", "must be an absolute path")
        }
        var smtpPaths: [String: String] = ["smtp.address_map": smtp.addressMap]
        let postfix = [
            "smtp.postfix_virtual_mailbox_maps": smtp.postfixVirtualMailboxMaps,
            "smtp.postfix_virtual_uid_maps": smtp.postfixVirtualUIDMaps,
            "smtp.postfix_virtual_gid_maps": smtp.postfixVirtualGIDMaps,
            "smtp.postfix_virtual_mailbox_domains": smtp.postfixVirtualMailboxDomains
        ]
        for (key, path) in postfix.filter({ !$0.value.isEmpty }).sorted(by: { $0.key < $1.key }) {
            if !path.hasPrefix("/") { bad(key, "must be an absolute path (or \"\" to not write it)"); continue }
            if let other = smtpPaths.first(where: { $0.value == path })?.key {
                bad(key, "is the same file as \(other)")
            }
            smtpPaths[key] = path
        }
        if Containers.nanoCPUs(containers.cpus) == nil {
            bad("containers.cpus", "must be a decimal number of CPUs between 0.01 and 256, e.g. \"1.0\"")
        }
        if !containers.subnet.isEmpty && IPv4Subnet(containers.subnet) == nil {
            bad("containers.subnet", "must be an IPv4 subnet /8 to /29 with its host bits zero, e.g. \"172.30.0.0/24\"")
        }
        if !containers.sshHost.isEmpty && !Validate.isJumpHost(containers.sshHost) {
            bad("containers.ssh_host", "must be [user@]host[:port]: letters, digits and . - _ @ : [ ] only")
        }
        if Web.listenAddress(web.listen) == nil {
            bad("web.listen", "must be IPv4:port or [IPv6]:port, e.g. \"127.0.0.1:8080\"")
        }
        for (key, path) in [("web.semailctl", web.semailctl), ("web.sudo", web.sudo)]
        where !path.isEmpty && !path.hasPrefix("/") {
            bad(key, "must be an absolute path")
        }
        if (try? Validate.uid(web.user)) == nil { bad("web.user", "must be a user name (a-z 0-9 . _ -)") }
        if !web.origin.isEmpty && Web.origin(web.origin) == nil {
            bad("web.origin", "must be http(s)://host[:port] without a path, e.g. \"https://mail.example.org\"")
        }
        for (key, n) in [
            ("web.session_minutes", web.sessionMinutes), ("web.login_attempts", web.loginAttempts),
            ("web.login_window", web.loginWindow)
        ] where n <= 0 { bad(key, "must be a positive number") }
        validateUsage(bad)
        do { _ = try Egress.parse(containers.egress) } catch let e as SemailError {
            bad("containers.egress", "\(e.what): \(e.why)")
        } catch {}
        return p
    }

    /// Loads the file at `resolvePath(explicit)`; fatal problems throw.
    public static func load(_ explicit: String?, warn: (String) -> Void = { _ in }) throws -> Config {
        let path = resolvePath(explicit)
        let (config, problems) = try loadWithProblems(path)
        for p in problems where !p.fatal { warn("\(path): \(p)") }
        let fatal = problems.filter(\.fatal)
        if !fatal.isEmpty {
            throw SemailError(
                "invalid configuration \(path)", why: fatal.map(\.description).joined(separator: "; "),
                hint: "run `semailctl config check` for details", status: .config)
        }
        return config
    }

    public static func loadWithProblems(_ path: String) throws -> (Config, [Problem]) {
        guard FileManager.default.fileExists(atPath: path) else {
            throw SemailError(
                "cannot read configuration \(path)", why: "no such file",
                hint: "create it (see README: Configuration), or pass --config PATH / set SEMAIL_CONFIG",
                status: .config)
        }
        // It names programs root runs (checkzone, rndc) and paths root
        // writes: only a file nobody else can change is believed.
        let data = Data(try Trust.read(path, what: "configuration"))
        guard let text = String(data: data, encoding: .utf8) else {
            throw SemailError("cannot read configuration \(path)", why: "not UTF-8 text", status: .config)
        }
        return try parse(text, path: path)
    }

    /// DN of the people OU.
    public var peopleDN: String { "\(ldap.people),\(ldap.base)" }

    /// The host secret of the address policy's external-domain proofs.
    public var policySecretFile: String { policy.secretFile.isEmpty ? "\(state.dir)/policy.secret" : policy.secretFile }

    /// The built-in `containers.template_dir`: the templates installed with
    /// this binary (`<dir of the executable>/../share/semail/templates`, so
    /// `make install PREFIX=/usr/local` and the Debian package each find
    /// their own), else the distribution path `/usr/share/semail/templates`.
    public static let defaultTemplateDir: String = templateDir(executable: executablePath())

    static let distributionTemplateDir = "/usr/share/semail/templates"

    public static func executablePath() -> String? {
        var buf = [CChar](repeating: 0, count: Int(PATH_MAX) + 1)
        let n = readlink("/proc/self/exe", &buf, buf.count - 1)
        guard n > 0 else { return nil }
        buf[n] = 0
        return String(decoding: buf.prefix { $0 != 0 }.map(UInt8.init(bitPattern:)), as: UTF8.self)
    }

    /// `<dir of executable>/../share/semail/templates` when that directory
    /// exists, else `/usr/share/semail/templates`.
    static func templateDir(executable: String?, exists: (String) -> Bool = Config.isDirectory) -> String {
        guard let exe = executable, exe.hasPrefix("/") else { return distributionTemplateDir }
        let prefix = URL(fileURLWithPath: exe).deletingLastPathComponent().deletingLastPathComponent().path
        let dir = (prefix == "/" ? "" : prefix) + "/share/semail/templates"
        return exists(dir) ? dir : distributionTemplateDir
    }

    static func isDirectory(_ path: String) -> Bool {
        var isDir: ObjCBool = false
        return FileManager.default.fileExists(atPath: path, isDirectory: &isDir) && isDir.boolValue
    }
}

extension Config.Containers {
    /// "1.5" -> 1_500_000_000 (NanoCpus); nil unless 1-3 digits, an optional
    /// fraction of up to 2 digits, between 0.01 and 256.
    public static func nanoCPUs(_ s: String) -> Int? {
        let parts = s.split(separator: ".", omittingEmptySubsequences: false)
        guard (1...2).contains(parts.count),
            parts.allSatisfy({ !$0.isEmpty && $0.allSatisfy { $0.isASCII && $0.isNumber } }),
            parts[0].count <= 3, parts.count == 1 || parts[1].count <= 2
        else { return nil }
        let whole = Int(parts[0])!,
            frac = parts.count == 2 ? Int(parts[1].padding(toLength: 2, withPad: "0", startingAt: 0))! : 0
        let n = whole * 1_000_000_000 + frac * 10_000_000
        return (10_000_000...256_000_000_000).contains(n) ? n : nil
    }
}

extension Config.Web {
    /// `listen` split into host and port: "127.0.0.1:8080", "[::1]:8080".
    public static func listenAddress(_ s: String) -> (host: String, port: Int)? {
        let host: Substring, rest: Substring
        if s.hasPrefix("[") {
            guard let close = s.firstIndex(of: "]") else { return nil }
            host = s[s.index(after: s.startIndex)..<close]
            rest = s[s.index(after: close)...]
            guard host.contains(":"), host.allSatisfy({ $0.isHexDigit || $0 == ":" || $0 == "." }) else { return nil }
        } else {
            guard let colon = s.lastIndex(of: ":") else { return nil }
            host = s[..<colon]; rest = s[colon...]
            guard IPv4Subnet.parse(String(host)) != nil else { return nil }
        }
        guard rest.hasPrefix(":"), let port = Int(rest.dropFirst()), (1...65535).contains(port) else { return nil }
        return (String(host), port)
    }

    /// An origin as browsers send it (scheme://host[:port], lowercase), or nil.
    public static func origin(_ s: String) -> String? {
        let l = s.lowercased()
        guard l.hasPrefix("https://") || l.hasPrefix("http://") else { return nil }
        let rest = l.drop(while: { $0 != "/" }).dropFirst(2)
        let ok = Set("abcdefghijklmnopqrstuvwxyz0123456789.-:[]")
        guard !rest.isEmpty, rest.allSatisfy({ ok.contains($0) }) else { return nil }
        return l
    }
}

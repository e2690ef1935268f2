import Core
import Foundation

/// What a mailbox container is made from: everything comes from the
/// directory and the volume, validated before use.
public struct ContainerInput: Sendable, Equatable {
    public var uid: String
    public var address: String
    public var owner: MailOwner
    public var sshKeys: [String]
    /// The host directory bound at /Maildir.
    public var maildir: String
    /// The Debian packages the user chose (`semailPackage`), installed after `[containers] packages`;
    /// values that are not package names are left out.
    public var packages: [String]
    /// The mailbox is suspended (`semailState`): its container is never started (`ensure` refuses).
    public var suspended = false
    public init(
        uid: String, address: String, owner: MailOwner, sshKeys: [String], maildir: String, packages: [String] = []
    ) {
        self.uid = uid; self.address = address; self.owner = owner; self.sshKeys = sshKeys; self.maildir = maildir
        self.packages = packages
    }
}

/// A mailbox container as `container list/show` prints it.
public struct ContainerState: Sendable, Codable, Equatable {
    public var uid: String
    public var name: String
    public var id: String
    public var address: String
    public var state: String
    public var status: String
    public var image: String
    public var templateHash: String
    public var specHash: String
    public var ipAddress: String?
    public var ssh: String?
    /// The address the container was made with (kept across rebuilds and restarts).
    public var fixedAddress: String? = nil
    /// false when the container runs while its mailbox volume is not
    /// mounted (`VolumeState.mounted`); nil when not known or not running.
    public var volumeMounted: Bool? = nil

    /// Whether the engine runs it (or keeps restarting it).
    public var isUp: Bool { state == "running" || state == "restarting" }
    /// The state as shown: the engine's, and when the container runs
    /// without its volume, "running, VOLUME NOT MOUNTED".
    public var shownState: String { volumeMounted == false ? "\(state), VOLUME NOT MOUNTED" : state }

}

/// What `container create/rebuild` did.
public struct ContainerResult: Sendable, Codable {
    public enum Action: String, Sendable, Codable { case created, rebuilt, upToDate = "up-to-date", started }
    public var uid: String
    public var action: Action
    public var container: ContainerState
    public var dockerfile: String
    public var removedOld: String?
}

/// Labels the tool puts on what it makes; nothing without `semail.uid` is
/// ever touched.
public enum SemailLabel {
    public static let uid = "semail.uid"
    public static let address = "semail.address"
    public static let template = "semail.template"
    public static let spec = "semail.spec"
}

/// One persistent container per mailbox: `semail-<uid>`, built from the
/// per-user Dockerfile rendered from `templates/`.
public struct ContainerManager: Sendable {
    public let config: Config.Containers
    public let client: DockerClient
    public let runner: ProcessRunner
    public let reporter: Reporter
    /// `[state] dir`: where the fixed addresses are kept.
    public let stateDir: String

    public init(
        config: Config.Containers, stateDir: String, runner: ProcessRunner = ProcessRunner(),
        reporter: Reporter = .silent
    ) {
        self.config = config; self.stateDir = stateDir; self.runner = runner; self.reporter = reporter
        client = DockerClient(socket: config.socket)
    }

    /// The fixed container addresses (`<state>/addresses`).
    public var addresses: ContainerAddresses { ContainerAddresses(stateDir: stateDir) }

    /// UID's address on the network: kept, or the lowest free one. The
    /// addresses the engine gave to other containers count as taken.
    func assignAddress(_ uid: String, network n: DockerClient.Network) throws -> String {
        guard let pool = n.ipv4, let subnet = IPv4Subnet(pool.subnet) else {
            throw SemailError(
                "the network \(config.network) has no usable IPv4 subnet",
                why: "its IPAM configuration says \(n.ipv4?.subnet ?? "nothing")",
                hint: "set [containers] subnet to a /8-/29 IPv4 subnet", status: .failure)
        }
        let mine: Set<String> = [Self.name(uid), Self.nextName(uid), Self.oldName(uid)]
        let inUse = Set(
            (n.Containers ?? [:]).values.filter { !mine.contains($0.Name ?? "") }
                .compactMap { $0.IPv4Address?.split(separator: "/").first.map(String.init) })
        return try addresses.assign(uid, subnet: subnet, gateway: pool.gateway, inUse: inUse)
    }

    /// The fixed address a container was made with on the mailbox network.
    func fixedAddress(_ c: DockerClient.ContainerInspect) -> String? {
        c.NetworkSettings?.Networks?[config.network]?.IPAMConfig?.IPv4Address.flatMap { $0.isEmpty ? nil : $0 }
    }

    public static func name(_ uid: String) -> String { "semail-\(uid)" }
    /// `semail/mailbox:<uid>-<first 12 hex digits of the template hash>`.
    static func imageTag(_ uid: String, hash: String) -> String { "\(imageRepo):\(uid)-\(hash.prefix(12))" }
    static func isImageTag(_ tag: String, of uid: String) -> Bool {
        let prefix = "\(imageRepo):\(uid)-"
        guard tag.hasPrefix(prefix) else { return false }
        let rest = tag.dropFirst(prefix.count)
        return rest.count == 12 && rest.allSatisfy { $0.isHexDigit }
    }
    /// The replacement made by a rebuild before it takes over the name.
    /// No uid container can have this name: they all start with `semail-`.
    static func nextName(_ uid: String) -> String { "semailnext-\(uid)" }
    /// The old container, set aside for a moment while the new one takes its name.
    static func oldName(_ uid: String) -> String { "semailold-\(uid)" }
    static let imageRepo = "semail/mailbox"
    /// Capabilities sshd needs: privilege separation (setuid, setgid,
    /// chroot), pty ownership, port 22, audit records, killing its children.
    public static let sshdCaps = [
        "AUDIT_WRITE", "CHOWN", "DAC_OVERRIDE", "FOWNER", "KILL", "NET_BIND_SERVICE", "SETGID", "SETUID", "SYS_CHROOT"
    ]

    public func dockerfileDir(_ uid: String) -> String { "\(config.dockerfileDir)/\(uid)" }

    /// The uids with a directory (never a link) under dockerfile_dir: one
    /// readdir. Names that are not valid uids are not ours.
    public func dockerfileDirs() -> [String] {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: config.dockerfileDir)) ?? []
        return names.filter { n in
            var st = stat()
            return (try? Validate.uid(n)) == n && lstat("\(config.dockerfileDir)/\(n)", &st) == 0
                && (st.st_mode & S_IFMT) == S_IFDIR
        }
    }

    // MARK: Rendering

    public struct Rendered: Sendable {
        public var dockerfile: String
        public var files: [(String, Data, Int)]
        /// SHA-256 over every file of the build context (the `semail.template` label).
        public var hash: String
        /// SHA-256 of what the context is rendered from (part of the spec hash).
        public var inputsHash: String
    }

    /// Renders the Dockerfile and the files it copies (authorized_keys, the
    /// container's own SSH host key, made once and kept in
    /// `<dockerfile_dir>/<uid>/`).
    public func render(_ input: ContainerInput) throws -> Rendered { try render(input, makeKey: true)! }

    /// The spec hash UID's container should carry, computed without writing
    /// or rendering anything; nil when the container has no host key yet
    /// (it needs a build).
    public func expectedSpecHash(_ input: ContainerInput, baseImageID: String, template: DockerfileTemplate? = nil)
        throws -> String?
    {
        let uid = try Validate.uid(input.uid)
        let hostKey = "\(dockerfileDir(uid))/ssh_host_ed25519_key"
        guard let keyData = FileManager.default.contents(atPath: hostKey) else { return nil }
        let template = try template ?? DockerfileTemplate(directory: config.templateDir)
        let values = try self.values(input, uid: uid).validated()
        let inputs = Self.inputsHash(
            template: template, values: values, authorized: authorizedKeys(input, uid: uid, warn: false),
            hostKey: keyData)
        return specHash(inputs: inputs, base: baseImageID, input: input, memory: Int(try ByteSize.parse(config.memory)))
    }

    func values(_ input: ContainerInput, uid: String) -> DockerfileValues {
        DockerfileValues(
            baseImage: config.baseImage, uid: uid, address: input.address, uidNumber: Int(input.owner.uid),
            gidNumber: Int(input.owner.gid),
            packages: Self.packages(global: config.packages, user: input.packages))
    }

    /// The container's package list: the admin's `[containers] packages`,
    /// then the user's own choices that are valid package names, each once.
    static func packages(global: String, user: [String]) -> [String] {
        var seen = Set<String>()
        let mine = user.filter { (try? Validate.debianPackage($0)) != nil }
        return (global.split(separator: " ").map(String.init) + mine).filter { seen.insert($0).inserted }
    }

    func authorizedKeys(_ input: ContainerInput, uid: String, warn: Bool) -> Data {
        var keys: [String] = []
        for k in input.sshKeys {
            guard let ok = Validate.sshPublicKey(k) else {
                if warn {
                    reporter.warn("\(uid): skipping an sshPublicKey that is not a single OpenSSH public key line")
                }
                continue
            }
            keys.append(ok)
        }
        return Data(keys.map { $0 + "\n" }.joined().utf8)
    }

    /// What the build context is made from: the template text, the values,
    /// the keys. The same inputs render the same context, so this stands
    /// for it in the spec hash without rendering.
    static func inputsHash(template: DockerfileTemplate, values v: DockerfileValues, authorized: Data, hostKey: Data)
        -> String
    {
        var b = Array(template.text.utf8)
        for f in [v.baseImage, v.uid, v.address, "\(v.uidNumber)", "\(v.gidNumber)", v.packages.joined(separator: " ")]
        { b += [0] + Array(f.utf8) }
        b += [0] + Array(authorized) + [0] + Array(hostKey)
        return SHA256.hex(b)
    }

    func render(
        _ input: ContainerInput, makeKey: Bool, template given: DockerfileTemplate? = nil,
        base: String? = nil
    ) throws -> Rendered? {
        let uid = try Validate.uid(input.uid)
        let template = try given ?? DockerfileTemplate(directory: config.templateDir)
        let values = try values(input, uid: uid).validated()
        let (dockerfile, _) = try template.render(values)
        let dir = dockerfileDir(uid)
        let hostKey = "\(dir)/ssh_host_ed25519_key"
        if !makeKey && !FileManager.default.fileExists(atPath: hostKey) { return nil }
        try FileManager.default.createDirectory(
            atPath: dir, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        if !FileManager.default.fileExists(atPath: hostKey) {
            let tmp = "\(dir)/.hostkey-\(getpid())"
            try? FileManager.default.removeItem(atPath: tmp); try? FileManager.default.removeItem(atPath: tmp + ".pub")
            do {
                try runner.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "semail-\(uid)", "-f", tmp])
            } catch let e as ProcessError {
                throw SemailError(
                    "cannot make an SSH host key for \(uid)", why: e.description,
                    hint: "install openssh-client (ssh-keygen)", status: .cantCreate)
            }
            rename(tmp + ".pub", hostKey + ".pub")
            rename(tmp, hostKey)
            AtomicFile.syncDirectory(dir)
        }
        let keyData = try Data(contentsOf: URL(fileURLWithPath: hostKey))
        let authorized = authorizedKeys(input, uid: uid, warn: true)
        // The day the key was made stands for the day useradd ran (shadow's
        // last change): the same inputs give the same archive on any day.
        var st = stat()
        let day = stat(hostKey, &st) == 0 ? Int(st.st_mtim.tv_sec) / 86_400 : 0
        let baseFiles = try BaseFiles.of(imageID: try base ?? baseImageID(), client: client, stateDir: stateDir)
        let user = try UserFiles.tar(
            base: baseFiles, values: values, authorized: authorized, hostKey: keyData,
            day: day)
        let files: [(String, Data, Int)] = [
            ("Dockerfile", Data(dockerfile.utf8), 0o644), ("authorized_keys", authorized, 0o644),
            ("user.tar", user, 0o600)
        ]
        var all: [UInt8] = []
        for (n, d, _) in files { all += Array("\(n)\0\(d.count)\0".utf8) + Array(d) }
        return Rendered(
            dockerfile: dockerfile, files: files, hash: SHA256.hex(all),
            inputsHash: Self.inputsHash(template: template, values: values, authorized: authorized, hostKey: keyData))
    }

    /// The build context: the Dockerfile and user.tar (authorized_keys is
    /// inside it, kept beside the Dockerfile for the admin to read).
    static func context(_ r: Rendered) -> Data {
        var ctx = TarArchive()
        for (n, d, m) in r.files where n != "authorized_keys" { ctx.add(n, d, mode: m) }
        return ctx.finished
    }

    /// Keeps the files the running container was built from in
    /// `<dockerfile_dir>/<uid>/` (written atomically, once it runs).
    func writeRendered(_ r: Rendered, uid: String) throws {
        let dir = dockerfileDir(uid)
        do {
            for (n, d, m) in r.files { try AtomicFile.write("\(dir)/\(n)", Array(d), mode: mode_t(m)) }
        } catch {
            throw SemailError(
                "cannot write \(dir)/Dockerfile", why: "\(error)", hint: "check [containers] dockerfile_dir",
                status: .cantCreate)
        }
    }

    /// The base image, or the error that says how to make it.
    public func baseImageID() throws -> String {
        guard let i = try client.image(config.baseImage) else {
            throw SemailError(
                "the base image \(config.baseImage) is missing", why: "nothing can be pulled; it is built locally",
                hint: "run `semailctl image bootstrap`", status: .failure)
        }
        return i.Id
    }

    /// The base image a build starts from: its command must be sshd's as
    /// `image bootstrap` sets it (the per-user Dockerfile has none), unless
    /// the template gives its own CMD.
    func buildBase() throws -> String {
        guard let i = try client.image(config.baseImage) else { _ = try baseImageID(); return "" }
        if i.Config?.Cmd != ContainerManager.sshdCommand {
            let t = try DockerfileTemplate(directory: config.templateDir)
            if !t.text.split(separator: "\n").contains(where: { $0.hasPrefix("CMD ") || $0.hasPrefix("ENTRYPOINT ") }) {
                throw SemailError(
                    "the base image \(config.baseImage) does not start sshd as semailctl sets it up",
                    why: "its command is \((i.Config?.Cmd ?? []).joined(separator: " ")); "
                        + "the per-user Dockerfile has no CMD",
                    hint: "run `semailctl image bootstrap`: it sets the command (and EXPOSE 22) "
                        + "on the existing image",
                    status: .failure)
            }
        }
        return i.Id
    }

    /// The hash the `semail.spec` label records: the build context, the base
    /// image, and every setting of the container (the whole HostConfig and
    /// the hostname, so a new setting rebuilds the containers made without it).
    func specHash(inputs: String, base: String, input: ContainerInput, memory: Int) -> String {
        let enc = JSONEncoder()
        enc.outputFormatting = .sortedKeys
        let host =
            (try? enc.encode(hostConfig(input, memory: memory))).map { String(decoding: $0, as: UTF8.self) } ?? ""
        let resolv = (try? resolvConf()) ?? ""
        return SHA256.hex(Array("\(inputs)\n\(base)\n\(input.address)\n\(Self.hostname)\n\(host)\n\(resolv)".utf8))
    }

    /// The container's /etc/resolv.conf: the DNS servers of `[containers]
    /// egress` (udp, port 53), not Docker's embedded resolver, which answers
    /// with the container names of the network (`semail-<uid>`: chosen by users).
    func resolvConf() throws -> String {
        let servers = try Egress.parse(config.egress).filter { $0.proto == .udp && $0.port == 53 }.map(\.address)
        return "# Written by semailctl: the udp:IP:53 destinations of [containers] egress.\n"
            + "# Not Docker's resolver, which answers with the names of the other containers.\n"
            + servers.map { "nameserver \($0)\n" }.joined()
    }

    func resolvPath(_ uid: String) -> String { "\(dockerfileDir(uid))/resolv.conf" }

    /// Every container's hostname. Never derived from the uid: a uid such as
    /// `mx.example.org` would become that name for the other containers.
    public static let hostname = "mailbox"
    /// Writable places outside /Maildir: small, in memory, counted in the
    /// container's memory limit. The rest of the root filesystem is read-only.
    public static let tmpfs = [
        "/tmp": "rw,nosuid,nodev,size=64m,mode=1777", "/var/tmp": "rw,nosuid,nodev,size=16m,mode=1777"
    ]
    static let shmSize = 16 << 20

    func hostConfig(_ input: ContainerInput, memory: Int) -> DockerClient.ContainerSpec.Host {
        var resolv = DockerClient.ContainerSpec.Mount(Source: resolvPath(input.uid), Target: "/etc/resolv.conf")
        resolv.ReadOnly = true
        var h = DockerClient.ContainerSpec.Host(
            Mounts: [.init(Source: input.maildir, Target: "/Maildir"), resolv], CapAdd: Self.sshdCaps,
            Memory: memory, PidsLimit: config.pids, NetworkMode: config.network)
        h.NanoCpus = Config.Containers.nanoCPUs(config.cpus)
        h.ReadonlyRootfs = true
        h.Tmpfs = Self.tmpfs
        h.ShmSize = Self.shmSize
        h.SecurityOpt = ["no-new-privileges:true"]
        h.CgroupnsMode = "private"
        h.Sysctls = ["net.ipv6.conf.all.disable_ipv6": "1"]
        return h
    }

    func spec(_ input: ContainerInput, image: String, r: Rendered, specHash: String, memory: Int)
        -> DockerClient.ContainerSpec
    {
        DockerClient.ContainerSpec(
            Image: image, Cmd: nil, Hostname: Self.hostname,
            Labels: [
                SemailLabel.uid: input.uid, SemailLabel.address: input.address, SemailLabel.template: r.hash,
                SemailLabel.spec: specHash
            ],
            HostConfig: hostConfig(input, memory: memory))
    }

    /// Refuses a volume whose layout lets its owner choose what is bound:
    /// `<root>` = the Maildir's parent must be a real directory (no symlink
    /// anywhere on the path) owned by root and writable by root only, and
    /// `<root>/Maildir` a real directory owned by the mailbox owner.
    /// Nothing is changed here: a volume in another shape needs a person.
    func checkVolume(_ input: ContainerInput, uid: String) throws {
        let maildir = input.maildir
        let root = (maildir as NSString).deletingLastPathComponent
        var st = stat()
        guard lstat(maildir, &st) == 0 || errno != ENOENT else {
            throw SemailError(
                "no Maildir for \(uid) at \(maildir)", why: "the container binds it at /Maildir",
                hint: "create the volume first: `semailctl volume create \(uid)`", status: .failure)
        }
        func refuse(_ why: String) -> SemailError {
            SemailError(
                "refusing to bind \(maildir) into the container of \(uid)", why: why,
                hint: """
                    an admin must look at \(root) before anything is bound: it should be a directory owned by \
                    root, mode 0711, holding Maildir owned by \(uid) (uid \(input.owner.uid)), no symlinks; the \
                    mailbox owner may have changed it. Nothing was changed. A volume made by an older semailctl \
                    has a root owned by the user: once its Maildir is checked to be a real directory, \
                    `semailctl volume create \(uid)` gives the root back to root
                    """,
                status: .failure)
        }
        var rt = stat()
        guard (maildir as NSString).lastPathComponent == "Maildir", lstat(root, &rt) == 0,
            (rt.st_mode & S_IFMT) == S_IFDIR
        else {
            throw refuse("\(root) is not a directory")
        }
        guard rt.st_uid == 0, rt.st_mode & 0o022 == 0 else {
            throw refuse(
                """
                the volume root \(root) belongs to uid \(rt.st_uid) with mode \
                \(String(rt.st_mode & 0o7777, radix: 8)); \
                its owner could replace Maildir with a link to anything on the host
                """)
        }
        guard lstat(maildir, &st) == 0, (st.st_mode & S_IFMT) == S_IFDIR else {
            throw refuse("\(maildir) is not a directory (a symlink?)")
        }
        guard st.st_uid == input.owner.uid else {
            throw refuse("\(maildir) belongs to uid \(st.st_uid), not to \(uid) (uid \(input.owner.uid))")
        }
        // Links above the volume root are the admin's (/home -> /srv/home); below it there are none.
        guard let real = realpath(maildir, nil), let realRoot = realpath(root, nil) else {
            throw refuse("cannot resolve \(maildir)")
        }
        defer { free(real); free(realRoot) }
        guard String(cString: real) == String(cString: realRoot) + "/Maildir" else {
            throw refuse("\(maildir) leads to \(String(cString: real)) (a symlink on the path)")
        }
    }

    // MARK: Create / rebuild

    /// Makes UID's container exist, run and match the rendered template.
    /// Creates it when missing; when it exists and its spec hash matches
    /// (and not `force`), only starts it if stopped. Otherwise builds a new
    /// image, starts a replacement, and removes the old container only once
    /// the new one runs: if anything fails the old one keeps serving.
    public func ensure(_ input: ContainerInput, force: Bool = false, progress: ((String) -> Void)? = nil) throws
        -> ContainerResult
    {
        let uid = try Validate.uid(input.uid)
        if input.suspended {
            throw SemailError(
                "the mailbox of \(uid) is suspended", why: "its container stays stopped until it is resumed",
                hint: "resume it first: `semailctl mailbox resume \(uid)`", status: .failure)
        }
        do { return try ensureUnchecked(input, uid: uid, force: force, progress: progress) } catch let e as DockerError
        {
            throw SemailError(
                "cannot make the container for \(uid)", why: e.description,
                hint: "the old container, if any, is unchanged; see `semailctl container show \(uid)`", status: .failure
            )
        }
    }

    func ensureUnchecked(_ input: ContainerInput, uid: String, force: Bool, progress: ((String) -> Void)?) throws
        -> ContainerResult
    {
        let name = Self.name(uid)
        try checkVolume(input, uid: uid)
        let memory = Int(try ByteSize.parse(config.memory))
        let old = try client.inspect(container: name)
        if let old, old.Config.Labels?[SemailLabel.uid] != uid {
            throw SemailError(
                "a container named \(name) exists but semailctl did not make it",
                why: "it has no semail.uid=\(uid) label",
                hint:
                    "rename or remove it yourself (`docker rm \(name)`); semailctl never touches unlabeled containers",
                status: .failure)
        }
        // What an interrupted rebuild left is cleaned up first: a replacement
        // that never took over is removed; an old one set aside while the
        // name is free is put back.
        for n in [Self.nextName(uid), Self.oldName(uid)] {
            guard let stale = try client.inspect(container: n) else { continue }
            guard stale.Config.Labels?[SemailLabel.uid] == uid else {
                throw SemailError(
                    "a container named \(n) exists but semailctl did not make it", why: "it has no semail.uid label",
                    hint: "remove it yourself", status: .failure)
            }
            if n == Self.oldName(uid), old == nil {
                try client.rename(container: stale.Id, to: name)
                return try ensureUnchecked(input, uid: uid, force: force, progress: progress)
            }
            try client.remove(container: stale.Id)
        }
        // Every pass puts the network's rules back (they do not survive a reboot).
        let net = try CallTrace.timed("container: network") { try network().ensure() }
        let ip = try assignAddress(uid, network: net)
        let base = try buildBase()
        try Fault.check("container.render")
        let r = try CallTrace.timed("container: render") { try render(input, makeKey: true, base: base)! }
        do { try AtomicFile.write(resolvPath(uid), Array(resolvConf().utf8)) } catch let e as SemailError {
            throw e
        } catch {
            throw SemailError(
                "cannot write \(resolvPath(uid))", why: "\(error)", hint: "check [containers] dockerfile_dir",
                status: .cantCreate)
        }
        let want = specHash(inputs: r.inputsHash, base: base, input: input, memory: memory)
        let dockerfile = "\(dockerfileDir(uid))/Dockerfile"
        if let old, old.Config.Labels?[SemailLabel.spec] == want, !force, fixedAddress(old) == ip {
            try writeRendered(r, uid: uid)
            // A rebuild interrupted while the old container was off the network left it there.
            if old.NetworkSettings?.Networks?[config.network] == nil {
                try client.connect(container: old.Id, network: config.network, ipv4: ip)
            }
            if old.State.Running && old.State.Restarting != true {
                return ContainerResult(uid: uid, action: .upToDate, container: try state(old), dockerfile: dockerfile)
            }
            // A container kept stopped while its mailbox was suspended gets its policy back first.
            if old.HostConfig.RestartPolicy?.Name != "unless-stopped" {
                try client.setRestartPolicy(container: old.Id, "unless-stopped")
            }
            try client.start(container: old.Id)
            try waitRunning(old.Id, uid: uid)
            return ContainerResult(
                uid: uid, action: .started, container: try state(client.inspect(container: old.Id)!),
                dockerfile: dockerfile)
        }
        try Fault.check("container.build")
        let tag = Self.imageTag(uid, hash: r.hash)
        // No build labels: on the legacy builder each one costs an extra layer commit.
        let hadImage = try client.image(tag)?.Id
        let built = try CallTrace.timed("container: build") {
            try client.build(context: Self.context(r), tag: tag, noCache: force, progress: progress)
        }
        let undo = UndoStack()
        // An image this run built is removed again if the container does not take over.
        if hadImage != built.imageID && built.imageID != old?.Image {
            undo.push("remove image \(tag)") { [client] in try client.removeImage(built.imageID, force: true) }
        }
        let target = old == nil ? name : Self.nextName(uid)
        try Fault.check("container.create")
        // A replacement is created without a restart policy, so a command
        // that exits shows as exited (not restarting) while it is watched;
        // the policy is set once it has stayed up. A first container has
        // nothing to keep serving: it is checked once, like `docker run -d`.
        var sp = spec(input, image: tag, r: r, specHash: want, memory: memory)
        sp.NetworkingConfig = .init(network: config.network, ipv4: ip)
        if old != nil { sp.HostConfig.RestartPolicy = ["Name": "no"] }
        // The replacement needs the old container's address, which the engine
        // gives to one container at a time: the old one leaves the network
        // (it keeps running) just before the new one is made and started, and
        // comes back with its address if the new one does not stay up.
        let net0 = config.network
        if let old, old.NetworkSettings?.Networks?[net0] != nil {
            try Fault.check("container.disconnect")
            try client.disconnect(container: old.Id, network: net0)
            let back = fixedAddress(old) ?? ip
            undo.push("put the old container back on \(net0)") {
                try client.connect(container: old.Id, network: net0, ipv4: back)
            }
        }
        let id: String
        do {
            id = try CallTrace.timed("container: create") { try client.createContainer(name: target, spec: sp) }
        } catch {
            undo.unwind()
            throw error
        }
        undo.push("remove container \(target)") { try client.remove(container: id) }
        do {
            try Fault.check("container.start")
            try CallTrace.timed("container: start") { try client.start(container: id) }
            try CallTrace.timed("container: wait") { try waitRunning(id, uid: uid, settle: old == nil ? 0 : 1.0) }
            if old != nil { try client.setRestartPolicy(container: id, "unless-stopped") }
            if let old {
                // Swap names: old aside, new in, then the old one goes.
                try Fault.check("container.swap")
                try client.rename(container: old.Id, to: Self.oldName(uid))
                undo.push("give \(name) back to the old container") { try client.rename(container: old.Id, to: name) }
                try Fault.check("container.swapped")
                try client.rename(container: id, to: name)
                try client.remove(container: old.Id)
                if old.Image != built.imageID { try? client.removeImage(old.Image) }
            }
            try writeRendered(r, uid: uid)
        } catch {
            undo.unwind()
            throw error
        }
        undo.commit()
        let now = try state(client.inspect(container: id)!)
        return ContainerResult(
            uid: uid, action: old == nil ? .created : .rebuilt, container: now, dockerfile: dockerfile,
            removedOld: old.map { String($0.Id.prefix(12)) })
    }

    /// Waits until the container has stayed up for a moment; a container
    /// whose command exits at once fails here with its logs.
    func waitRunning(_ id: String, uid: String, settle: TimeInterval = 1.0) throws {
        let deadline = Date().addingTimeInterval(settle)
        repeat {
            guard let c = try client.inspect(container: id) else {
                throw SemailError(
                    "the container for \(uid) vanished while starting", why: "removed by someone else", status: .failure
                )
            }
            if !c.State.Running || c.State.Restarting == true || (c.RestartCount ?? 0) > 0 {
                let logs = ((try? client.logs(container: id, tail: 10)) ?? "").trimmingCharacters(
                    in: .whitespacesAndNewlines)
                throw SemailError(
                    "the container for \(uid) did not stay up",
                    why: "it exited with status \(c.State.ExitCode)" + (logs.isEmpty ? "" : ": \(logs)"),
                    hint: "check the template in [containers] template_dir and `semailctl container show \(uid)`",
                    status: .failure)
            }
            if Date() >= deadline { return }
            usleep(100_000)
        } while true
    }

    // MARK: Observe / remove

    public func remove(uid: String, releaseAddress: Bool = false) throws -> [String] {
        let uid = try Validate.uid(uid)
        var removed: [String] = []
        for n in [Self.nextName(uid), Self.oldName(uid), Self.name(uid)] {
            guard let c = try client.inspect(container: n) else { continue }
            guard c.Config.Labels?[SemailLabel.uid] == uid else {
                throw SemailError(
                    "refusing to remove \(n)", why: "it has no semail.uid=\(uid) label, so semailctl did not make it",
                    hint: "remove it yourself if it is yours to remove", status: .failure)
            }
            try client.remove(container: c.Id)
            removed.append("container \(n)")
        }
        // Its images too, also one built by a run that never made a container.
        // The filter is a glob ("bob-*" also matches bob-x's tags): keep only
        // tags that are exactly <uid>-<12 hex digits>.
        for i in try client.images(reference: "\(Self.imageRepo):\(uid)-*")
        where (i.RepoTags ?? []).contains(where: { Self.isImageTag($0, of: uid) }) {
            try client.removeImage(i.Id, force: true)
            removed.append("image \((i.RepoTags ?? []).first ?? i.Id)")
        }
        // The mailbox keeps its address while it exists (a `container remove`,
        // a delete rolled back): only a mailbox that is gone gives it back.
        if releaseAddress, let had = try addresses.entries()[uid] {
            try addresses.release(uid)
            removed.append("address \(had)")
        }
        return removed
    }

    /// Every semail container, in one API call.
    public func list() throws -> [ContainerState] {
        try client.containers(label: SemailLabel.uid).compactMap { c in
            guard let uid = c.Labels?[SemailLabel.uid], let n = c.Names.first, n == "/\(Self.name(uid))" else {
                return nil
            }
            let ep = c.NetworkSettings?.Networks?[config.network]
            let ip = ep?.IPAddress.flatMap { $0.isEmpty ? nil : $0 }
            var s = ContainerState(
                uid: uid, name: Self.name(uid), id: String(c.Id.prefix(12)),
                address: c.Labels?[SemailLabel.address] ?? "",
                state: c.State, status: c.Status, image: c.Image, templateHash: c.Labels?[SemailLabel.template] ?? "",
                specHash: c.Labels?[SemailLabel.spec] ?? "", ipAddress: ip, ssh: nil)
            s.fixedAddress = ep?.IPAMConfig?.IPv4Address.flatMap { $0.isEmpty ? nil : $0 }
            return s
        }.sorted { $0.uid < $1.uid }
    }

    public func show(uid: String) throws -> ContainerState? {
        let uid = try Validate.uid(uid)
        guard let c = try client.inspect(container: Self.name(uid)), c.Config.Labels?[SemailLabel.uid] == uid else {
            return nil
        }
        return try state(c)
    }

    func state(_ c: DockerClient.ContainerInspect) throws -> ContainerState {
        let uid = c.Config.Labels?[SemailLabel.uid] ?? ""
        let ip = c.NetworkSettings?.Networks?[config.network]?.IPAddress.flatMap { $0.isEmpty ? nil : $0 }
        var s = ContainerState(
            uid: uid, name: Self.name(uid), id: String(c.Id.prefix(12)),
            address: c.Config.Labels?[SemailLabel.address] ?? "",
            state: c.State.Status, status: c.State.Running ? "running" : "exited (\(c.State.ExitCode))",
            image: c.Config.Image,
            templateHash: c.Config.Labels?[SemailLabel.template] ?? "",
            specHash: c.Config.Labels?[SemailLabel.spec] ?? "",
            ipAddress: ip, ssh: ip.map { SSHAccess.command(uid: uid, address: $0, jump: SSHAccess.jumpHost(config)) })
        s.fixedAddress = fixedAddress(c)
        return s
    }
}

extension ContainerManager {
    /// The mailbox containers' command, set on the base image by `image
    /// bootstrap` (the per-user Dockerfile adds files only).
    public static let sshdCommand = [
        "/usr/sbin/sshd", "-D", "-e", "-o", "PidFile=none",
        "-o", "HostKey=/etc/ssh/ssh_host_ed25519_key",
        "-o", "PasswordAuthentication=no", "-o", "KbdInteractiveAuthentication=no"
    ]
}

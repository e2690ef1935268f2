import Containers
import Core
import Foundation

/// `image bootstrap`: the base image, built here because nothing can be
/// pulled. A Debian root filesystem from debootstrap (minbase +
/// openssh-server), without SSH host keys (each container gets its own)
/// or apt lists, imported through the API as `[containers] base_image`.
public struct ImageBootstrap: Sendable {
    public struct Result: Sendable, Codable {
        public var image: String
        public var id: String
        /// "present" (nothing done), "updated" (the command set), "debootstrap" or "cache".
        public var source: String
        public var rootfsBytes: Int?
        public var seconds: Double
    }

    public var suite = "bookworm"
    public var mirror = "http://deb.debian.org/debian"
    /// A root filesystem tarball: imported when it exists, written after a
    /// debootstrap run when it does not.
    public var cache: String?
    public var force = false
    public init() {}

    /// The mailbox containers' command, set on the base image (the
    /// per-user Dockerfile adds files only).
    public static let command = ContainerManager.sshdCommand
    static var changes: [String] {
        let cmd = String(decoding: (try? JSONEncoder().encode(command)) ?? Data(), as: UTF8.self)
            .replacingOccurrences(of: "\\/", with: "/")
        return ["CMD \(cmd)", "EXPOSE 22"]
    }

    static let suitePattern = Pattern(#"^[a-z]+$"#)
    static let mirrorPattern = Pattern(#"^(https?|file)://[A-Za-z0-9._~:/+-]+$"#)

    static func split(_ ref: String) -> (repo: String, tag: String) {
        if let colon = ref.lastIndex(of: ":"), !ref[colon...].contains("/") {
            return (String(ref[..<colon]), String(ref[ref.index(after: colon)...]))
        }
        return (ref, "latest")
    }

    public func run(_ host: Host) throws -> Result {
        let t0 = Date()
        let c = host.config.containers
        try DockerfileValues.checkImage(c.baseImage)
        guard Self.suitePattern.matches(suite) else {
            throw SemailError(
                "invalid suite \(Validate.quoted(suite))", why: "expected a Debian code name such as bookworm",
                status: .usage)
        }
        guard Self.mirrorPattern.matches(mirror) else {
            throw SemailError(
                "invalid mirror \(Validate.quoted(mirror))", why: "expected an http(s):// or file:// URL",
                status: .usage)
        }
        let client = host.containers().client
        if !force, let i = try client.image(c.baseImage) {
            if i.Config?.Cmd == Self.command {
                return Result(
                    image: c.baseImage, id: i.Id, source: "present", rootfsBytes: nil,
                    seconds: Date().timeIntervalSince(t0))
            }
            // Made by an older version (sshd's options were the Dockerfile's): the command goes onto the image.
            host.reporter.info("setting sshd's command and EXPOSE 22 on \(c.baseImage)")
            var ctx = TarArchive()
            ctx.add("Dockerfile", Data((["FROM \(i.Id)"] + Self.changes).map { $0 + "\n" }.joined().utf8))
            _ = try client.build(context: ctx.finished, tag: c.baseImage)
            guard let n = try client.image(c.baseImage) else {
                throw SemailError(
                    "the update of \(c.baseImage) did not leave an image",
                    why: "the engine reported no error", status: .failure)
            }
            return Result(
                image: c.baseImage, id: n.Id, source: "updated", rootfsBytes: nil,
                seconds: Date().timeIntervalSince(t0))
        }
        var source = "cache"
        let tarPath: String
        var cleanup: [String] = []
        defer { for p in cleanup { Self.removeTree(p) } }
        if let cache, FileManager.default.fileExists(atPath: cache) {
            tarPath = cache
        } else {
            source = "debootstrap"
            let work = "\(host.config.state.dir)/bootstrap.\(getpid())"
            try FileManager.default.createDirectory(
                atPath: work, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
            cleanup.append(work)
            let root = "\(work)/root"
            host.reporter.info("debootstrap --variant=minbase --include=openssh-server \(suite) (about a minute)")
            do {
                try host.runner.run([
                    "debootstrap", "--variant=minbase", "--include=openssh-server", suite, root, mirror
                ])
            } catch let e as ProcessError {
                throw SemailError(
                    "debootstrap failed", why: e.stderr.split(separator: "\n").suffix(5).joined(separator: "\n"),
                    hint:
                        "check that \(mirror) is reachable and debootstrap is installed (apt-get install debootstrap)",
                    status: .failure)
            }
            // Host keys are per container; apt lists are stale by the next build.
            for f in (try? FileManager.default.contentsOfDirectory(atPath: "\(root)/etc/ssh")) ?? []
            where f.hasPrefix("ssh_host_") {
                try? FileManager.default.removeItem(atPath: "\(root)/etc/ssh/\(f)")
            }
            for d in ["var/lib/apt/lists", "var/cache/apt/archives"] {
                for f in (try? FileManager.default.contentsOfDirectory(atPath: "\(root)/\(d)")) ?? []
                where f != "partial" && f != "lock" {
                    try? FileManager.default.removeItem(atPath: "\(root)/\(d)/\(f)")
                }
            }
            let out = cache ?? "\(work)/rootfs.tar"
            let tmp = "\(out).tmp-\(getpid())"
            do {
                try host.runner.run(["tar", "--numeric-owner", "--xattrs", "-C", root, "-cf", tmp, "."])
            } catch let e as ProcessError {
                try? FileManager.default.removeItem(atPath: tmp)
                throw SemailError("cannot pack the root filesystem", why: e.description, status: .ioError)
            }
            guard rename(tmp, out) == 0 else {
                let e = String(cString: strerror(errno)); try? FileManager.default.removeItem(atPath: tmp)
                throw SemailError("cannot write \(out)", why: e, status: .ioError)
            }
            tarPath = out
        }
        let data = try Data(contentsOf: URL(fileURLWithPath: tarPath), options: .alwaysMapped)
        let (repo, tag) = Self.split(c.baseImage)
        host.reporter.info("importing \(data.count >> 20) MiB as \(c.baseImage)")
        try client.importImage(
            rootfs: data, repo: repo, tag: tag,
            changes: Self.changes + ["LABEL semail.base=\(suite)"])
        guard let i = try client.image(c.baseImage) else {
            throw SemailError(
                "the import of \(c.baseImage) did not leave an image", why: "the engine reported no error",
                status: .failure)
        }
        return Result(
            image: c.baseImage, id: i.Id, source: source, rootfsBytes: data.count, seconds: Date().timeIntervalSince(t0)
        )
    }

    /// Removes a work tree, unmounting first whatever an interrupted
    /// debootstrap left mounted inside it (proc, sys).
    static func removeTree(_ dir: String) {
        let mounts = SystemState.mounts().map(\.mountPoint).filter { $0.hasPrefix(dir + "/") }.sorted(by: >)
        for m in mounts { _ = umount2(m, Int32(MNT_DETACH)) }
        // never recurse into a mount
        if SystemState.mounts().contains(where: { $0.mountPoint.hasPrefix(dir + "/") }) { return }
        try? FileManager.default.removeItem(atPath: dir)
    }
}

import Foundation
import Synchronization
import Core

/// The account files of a base image (`/etc/passwd`, group, shadow,
/// gshadow, subuid, subgid) and `/etc/skel`, with their owners and modes:
/// what `useradd -m` reads. Read once per base image id through the
/// engine's archive API on a container created and never started, kept in
/// `<state>/base-files/<id>.tar`.
struct BaseFiles: Sendable {
    static let accountFiles = ["passwd", "group", "shadow", "gshadow", "subuid", "subgid"]
    /// "etc/passwd" ... and "etc/skel/..." (the folder's members).
    var entries: [TarArchive.Entry]

    func file(_ name: String) -> TarArchive.Entry? { entries.first { $0.name == "etc/\(name)" } }
    var skel: [TarArchive.Entry] { entries.filter { $0.name.hasPrefix("etc/skel/") } }

    private static let memory = LockedCache()

    /// The files of `imageID`, from memory, the state dir, or the engine.
    static func of(imageID: String, client: DockerClient, stateDir: String) throws -> BaseFiles {
        if let e = memory.get(imageID) { return BaseFiles(entries: e) }
        let hex = imageID.split(separator: ":").last.map(String.init) ?? imageID
        guard hex.count == 64, hex.allSatisfy(\.isHexDigit) else {
            throw SemailError(
                "unexpected image id \(Validate.quoted(imageID)) from the engine",
                why: "expected sha256:<64 hex digits>", status: .failure)
        }
        let path = "\(stateDir)/base-files/\(hex).tar"
        // The cache becomes every container's /etc/passwd and /etc/shadow: read
        // only a file root wrote (Trust refuses links, other owners, group/world write).
        if FileManager.default.fileExists(atPath: "\(stateDir)/base-files") {
            try Trust.stateDirectory("\(stateDir)/base-files")
        }
        if FileManager.default.fileExists(atPath: path) {
            let d = Data(try Trust.read(path, what: "the base image's account files", secret: true))
            let e = TarArchive.entries(d)
            if e.contains(where: { $0.name == "etc/passwd" }) { memory.set(imageID, e); return BaseFiles(entries: e) }
        }
        let entries = try read(imageID: imageID, client: client)
        var tar = TarArchive()
        for e in entries { tar.add(e) }
        do {
            try FileManager.default.createDirectory(
                atPath: "\(stateDir)/base-files", withIntermediateDirectories: true,
                attributes: [.posixPermissions: 0o700])
            try AtomicFile.write(path, Array(tar.finished), mode: 0o600)
        } catch {
            throw SemailError("cannot write \(path)", why: "\(error)", hint: "check [state] dir", status: .cantCreate)
        }
        memory.set(imageID, entries)
        return BaseFiles(entries: entries)
    }

    static func read(imageID: String, client: DockerClient) throws -> [TarArchive.Entry] {
        let host = DockerClient.ContainerSpec.Host(
            CapAdd: [], Memory: 0, PidsLimit: 0, NetworkMode: "none",
            restart: "no")
        let spec = DockerClient.ContainerSpec(
            Image: imageID, Cmd: ["/bin/true"], Hostname: nil, Labels: [:],
            HostConfig: host)
        let name = "semailbase-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        let id = try client.createContainer(name: name, spec: spec)
        defer { try? client.remove(container: id) }
        var out: [TarArchive.Entry] = []
        for f in accountFiles {
            guard let tar = try client.archive(container: id, path: "/etc/\(f)") else { continue }
            out += TarArchive.entries(tar).filter { $0.name == f && $0.kind == .file }
                .map {
                    var e = $0; e.name = "etc/\(f)"; return e
                }
        }
        if let tar = try client.archive(container: id, path: "/etc/skel") {
            out += TarArchive.entries(tar).filter { $0.name.hasPrefix("skel/") }
                .map {
                    var e = $0; e.name = "etc/\(e.name)"; return e
                }
        }
        guard out.contains(where: { $0.name == "etc/passwd" }), out.contains(where: { $0.name == "etc/group" }) else {
            throw SemailError(
                "the base image \(imageID.prefix(19)) has no /etc/passwd or /etc/group",
                why: "the user is added to them",
                hint: "make it with `semailctl image bootstrap`", status: .failure)
        }
        return out
    }
}

/// The one archive a mailbox image adds to its base (`ADD user.tar /`):
/// what `groupadd` + `useradd -m` + the copies and links of a classic
/// Dockerfile would leave, written by the tool with the owners and modes in
/// its headers, so the build runs no command.
enum UserFiles {
    static func tar(
        base: BaseFiles, values v: DockerfileValues, authorized: Data, hostKey: Data,
        day: Int
    ) throws -> Data {
        let u = v.uid, uid = v.uidNumber, gid = v.gidNumber
        var t = TarArchive()
        // The account files: the base's lines, the user's appended (as useradd does).
        func taken(_ file: String, name: String, number: Int) -> Bool {
            guard let e = base.file(file) else { return false }
            return String(decoding: e.data, as: UTF8.self).split(separator: "\n").contains { line in
                let f = line.split(separator: ":", omittingEmptySubsequences: false)
                return f.first.map(String.init) == name || (f.count > 2 && Int(f[2]) == number)
            }
        }
        if taken("passwd", name: u, number: uid) || taken("group", name: u, number: gid) {
            throw SemailError(
                "\(u) (\(uid):\(gid)) clashes with an account of the base image \(v.baseImage)",
                why: "its /etc/passwd or /etc/group already has that name or number "
                    + "(useradd would refuse it too)",
                hint: "give the user other uidNumber/gidNumber values", status: .failure)
        }
        func appended(_ file: String, _ line: String, mode: Int = 0o644) {
            var e = base.file(file) ?? TarArchive.Entry("etc/\(file)", mode: mode)
            if !e.data.isEmpty && e.data.last != 0x0A { e.data.append(0x0A) }
            e.data.append(Data((line + "\n").utf8))
            t.add(e)
        }
        appended("passwd", "\(u):x:\(uid):\(gid)::/home/\(u):/bin/bash")
        appended("group", "\(u):x:\(gid):")
        appended("shadow", "\(u):*:\(day):0:99999:7:::", mode: 0o640)
        appended("gshadow", "\(u):!::", mode: 0o640)
        for f in ["subuid", "subgid"] {
            // The first range of 65536 ids from 100000 after those taken.
            let text = base.file(f).map { String(decoding: $0.data, as: UTF8.self) } ?? ""
            let ends = text.split(separator: "\n").compactMap { line -> Int? in
                let p = line.split(separator: ":")
                guard p.count == 3, let s = Int(p[1]), let n = Int(p[2]) else { return nil }
                return s + n
            }
            appended(f, "\(u):\(max(100_000, ends.max() ?? 0)):65536")
        }
        t.add(.init("etc/ssh/ssh_host_ed25519_key", mode: 0o600, data: hostKey))
        t.add(.init("run/sshd", kind: .directory, mode: 0o755))
        t.add(.init("home/\(u)", kind: .directory, mode: 0o755, uid: uid, gid: gid))
        for s in base.skel {
            var e = s
            e.name = "home/\(u)/" + s.name.dropFirst("etc/skel/".count)
            e.uid = uid; e.gid = gid
            t.add(e)
        }
        t.add(.init("home/\(u)/.ssh", kind: .directory, mode: 0o700, uid: uid, gid: gid))
        t.add(.init("home/\(u)/.ssh/authorized_keys", mode: 0o600, uid: uid, gid: gid, data: authorized))
        t.add(.init("home/\(u)/Maildir", kind: .symlink, mode: 0o777, link: "/Maildir"))
        return t.finished
    }
}

/// Values by key, shared between threads.
final class LockedCache: Sendable {
    private let items = Mutex<[String: [TarArchive.Entry]]>([:])
    func get(_ k: String) -> [TarArchive.Entry]? { items.withLock { $0[k] } }
    func set(_ k: String, _ v: [TarArchive.Entry]) { items.withLock { $0[k] = v } }
}

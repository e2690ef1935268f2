import Foundation
import Testing
@testable import Containers
import Core

@Suite struct UserFilesTests {
    @Test func tarMembersRoundTrip() {
        var t = TarArchive()
        t.add(.init("etc/shadow", mode: 0o640, gid: 42, data: Data("root:*:1::::::\n".utf8)))
        t.add(.init("home/a", kind: .directory, mode: 0o755, uid: 10001, gid: 10002))
        t.add(.init("home/a/Maildir", kind: .symlink, mode: 0o777, link: "/Maildir"))
        let e = TarArchive.entries(t.finished)
        #expect(e.map(\.name) == ["etc/shadow", "home/a", "home/a/Maildir"])
        #expect(e[0].mode == 0o640 && e[0].gid == 42 && e[0].data == Data("root:*:1::::::\n".utf8))
        #expect(e[1].kind == .directory && e[1].uid == 10001 && e[1].gid == 10002)
        #expect(e[2].kind == .symlink && e[2].link == "/Maildir")
    }

    var base: BaseFiles {
        BaseFiles(entries: [
            .init(
                "etc/passwd", mode: 0o644,
                data: Data(
                    ("root:x:0:0:root:/root:/bin/bash\n"
                        + "nobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n").utf8)),
            .init("etc/group", mode: 0o644, data: Data("root:x:0:\nnogroup:x:65534:\n".utf8)),
            .init("etc/shadow", mode: 0o640, gid: 42, data: Data("root:*:20000:0:99999:7:::".utf8)),
            .init("etc/skel/.bashrc", mode: 0o644, data: Data("# bashrc\n".utf8))
        ])
    }

    func values(_ uid: Int = 10001) -> DockerfileValues {
        DockerfileValues(
            baseImage: "semail/base:latest", uid: "ssow", address: "ssow@semail.email", uidNumber: uid,
            gidNumber: uid)
    }

    /// What groupadd + useradd -m + the classic Dockerfile's copies left, as members.
    @Test func userArchiveHoldsWhatUseraddWouldLeave() throws {
        let keys = Data("ssh-ed25519 AAAA k\n".utf8), hostKey = Data("KEY".utf8)
        let tar = try UserFiles.tar(base: base, values: values(), authorized: keys, hostKey: hostKey, day: 20792)
        let e = Dictionary(uniqueKeysWithValues: TarArchive.entries(tar).map { ($0.name, $0) })
        func text(_ n: String) -> String { e[n].map { String(decoding: $0.data, as: UTF8.self) } ?? "" }
        #expect(text("etc/passwd").hasSuffix("/usr/sbin/nologin\nssow:x:10001:10001::/home/ssow:/bin/bash\n"))
        #expect(text("etc/group").hasSuffix("nogroup:x:65534:\nssow:x:10001:\n"))
        // The base's owner and mode kept; a missing final newline added.
        #expect(text("etc/shadow") == "root:*:20000:0:99999:7:::\nssow:*:20792:0:99999:7:::\n")
        #expect(e["etc/shadow"]?.mode == 0o640 && e["etc/shadow"]?.gid == 42)
        #expect(text("etc/gshadow") == "ssow:!::\n" && text("etc/subuid") == "ssow:100000:65536\n")
        #expect(e["etc/ssh/ssh_host_ed25519_key"]?.mode == 0o600 && e["etc/ssh/ssh_host_ed25519_key"]?.uid == 0)
        #expect(e["run/sshd"]?.kind == .directory && e["run/sshd"]?.uid == 0)
        let home = try #require(e["home/ssow"])
        #expect(home.kind == .directory && home.mode == 0o755 && home.uid == 10001 && home.gid == 10001)
        #expect(e["home/ssow/.bashrc"]?.uid == 10001 && text("home/ssow/.bashrc") == "# bashrc\n")
        #expect(e["home/ssow/.ssh"]?.mode == 0o700 && e["home/ssow/.ssh"]?.uid == 10001)
        #expect(e["home/ssow/.ssh/authorized_keys"]?.mode == 0o600)
        #expect(text("home/ssow/.ssh/authorized_keys") == "ssh-ed25519 AAAA k\n")
        let link = try #require(e["home/ssow/Maildir"])
        #expect(link.kind == .symlink && link.link == "/Maildir" && link.uid == 0)
        // Same inputs, same bytes (the image tag is a hash of them).
        #expect(try UserFiles.tar(base: base, values: values(), authorized: keys, hostKey: hostKey, day: 20792) == tar)
    }

    /// useradd refuses a number the base already uses (nobody, nogroup): so does the archive.
    @Test func aClashWithTheBaseAccountsIsRefused() {
        #expect(throws: SemailError.self) {
            _ = try UserFiles.tar(base: base, values: values(65534), authorized: Data(), hostKey: Data(), day: 1)
        }
        var root = values()
        root.uid = "nobody"
        #expect(throws: SemailError.self) {
            _ = try UserFiles.tar(base: base, values: root, authorized: Data(), hostKey: Data(), day: 1)
        }
    }
}

/// The base-files cache becomes every container's /etc/passwd and /etc/shadow:
/// a planted cache (another owner's file, a link) is refused, never used.
@Suite struct BaseFilesCacheTrustTests {
    func plant(_ body: (String, String) throws -> Void) throws -> String {
        let state = NSTemporaryDirectory() + "semail-bf-\(UUID().uuidString)"
        try FileManager.default.createDirectory(
            atPath: "\(state)/base-files", withIntermediateDirectories: true,
            attributes: [.posixPermissions: 0o700])
        let id = String(repeating: "ab", count: 32)
        try body(state, "\(state)/base-files/\(id).tar")
        return state
    }

    func refused(_ state: String) -> Bool {
        defer { try? FileManager.default.removeItem(atPath: state) }
        let client = DockerClient(socket: "\(state)/no-engine.sock")
        do {
            _ = try BaseFiles.of(
                imageID: "sha256:" + String(repeating: "ab", count: 32), client: client, stateDir: state)
        } catch let e as SemailError { return !e.description.contains("no-engine") } catch { return false }
        return false
    }

    @Test func anotherOwnersCacheIsRefused() throws {
        let state = try plant { _, path in
            var tar = TarArchive()
            tar.add("etc/passwd", Data("evil::0:0::/:/bin/sh\n".utf8))
            #expect(FileManager.default.createFile(atPath: path, contents: Data(tar.finished)))
            #expect(chown(path, 65534, 65534) == 0)
        }
        #expect(refused(state))
    }

    @Test func aLinkedCacheIsRefused() throws {
        let state = try plant { state, path in
            var tar = TarArchive()
            tar.add("etc/passwd", Data("evil::0:0::/:/bin/sh\n".utf8))
            #expect(FileManager.default.createFile(atPath: "\(state)/elsewhere.tar", contents: Data(tar.finished)))
            try FileManager.default.createSymbolicLink(atPath: path, withDestinationPath: "\(state)/elsewhere.tar")
        }
        #expect(refused(state))
    }
}

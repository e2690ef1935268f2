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
            .init("etc/passwd", mode: 0o644, data: Data(("root:x:0:0:root:/root:/bin/bash\n"
                + "nobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n").utf8)),
            .init("etc/group", mode: 0o644, data: Data("root:x:0:\nnogroup:x:65534:\n".utf8)),
            .init("etc/shadow", mode: 0o640, gid: 42, data: Data("root:*:20000:0:99999:7:::".utf8)),
            .init("etc/skel/.bashrc", mode: 0o644, data: Data("# bashrc\n".utf8)),
        ])
    }

    func values(_ uid: Int = 10001) -> DockerfileValues {
        DockerfileValues(baseImage: "semail/base:latest", uid: "ssow", address: "ssow@semail.email", uidNumber: uid,
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

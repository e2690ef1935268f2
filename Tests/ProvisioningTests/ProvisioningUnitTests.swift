@testable import Containers
@testable import Core
@testable import Directory
import Foundation
@testable import Provisioning
@testable import Storage
import Testing

@Suite struct TemplateTests {
    let repoTemplates: String = {
        var url = URL(fileURLWithPath: #filePath)
        for _ in 0..<3 { url.deleteLastPathComponent() }
        return url.appendingPathComponent("templates").path
    }()

    var good: DockerfileValues {
        DockerfileValues(
            baseImage: "semail/base:latest", uid: "ssow", address: "ssow@semail.email", uidNumber: 10001,
            gidNumber: 10001,
            packages: ["mutt", "neomutt"])
    }

    @Test func rendersTheRepositoryTemplate() throws {
        let t = try DockerfileTemplate(directory: repoTemplates)
        let (df, hash) = try t.render(good)
        #expect(df.contains("FROM semail/base:latest\n"))
        #expect(df.contains("useradd -m -u 10001 -g 10001 -p '*' -s /bin/bash ssow"))
        #expect(df.contains("--no-install-recommends mutt neomutt"))
        // The user's files come in one archive; the command is the base image's.
        #expect(df.contains("\nADD user.tar /\n"))
        #expect(!df.contains("\nCMD ") && !df.contains("\nCOPY "))
        #expect(
            ImageBootstrap.changes.first == "CMD [\"/usr/sbin/sshd\",\"-D\",\"-e\",\"-o\",\"PidFile=none\",\"-o\","
                + "\"HostKey=/etc/ssh/ssh_host_ed25519_key\",\"-o\",\"PasswordAuthentication=no\","
                + "\"-o\",\"KbdInteractiveAuthentication=no\"]")
        #expect(hash.count == 64)
        // Same values, same hash; other values, other hash.
        #expect(try t.render(good).hash == hash)
        var other = good
        other.packages = []
        let (df2, hash2) = try t.render(other)
        #expect(hash2 != hash)
        #expect(!df2.contains("apt-get"))
    }

    @Test(arguments: [
        ("image", "semail/base:latest\nRUN rm -rf /"), ("image", "Semail/Base"), ("image", "base latest"),
        ("image", ""),
        ("uid", "ssow\nUSER root"), ("uid", "Root"), ("address", "a@b.c\nRUN x"), ("address", "nobody"),
        ("package", "mutt && curl evil"), ("package", "mutt\nRUN id"), ("package", "-y"), ("package", "$(id)"),
        ("ids", "0"), ("ids", "999")
    ])
    func injectionIsRefusedNotRendered(field: String, value: String) {
        var v = good
        switch field {
        case "image": v.baseImage = value
        case "uid": v.uid = value
        case "address": v.address = value
        case "package": v.packages = [value]
        default: v.uidNumber = Int(value)!
        }
        let t = DockerfileTemplate(text: "FROM {{{base_image}}}\n")
        #expect(throws: SemailError.self) { _ = try t.render(v) }
    }

    @Test func sha256KnownAnswers() {
        #expect(SHA256.hex([]) == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
        #expect(SHA256.hex(Array("abc".utf8)) == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
        #expect(
            SHA256.hex(Array("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq".utf8))
                == "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1")
        #expect(
            SHA256.hex([UInt8](repeating: 0x61, count: 1000))
                == "41edece42d63e8d9bf515a9ba6932e1c20cbc9f5a5d134645adb5db1b9737ea3")
    }
}

@Suite struct StoragePureTests {
    @Test(arguments: [
        ("5G", UInt64(5) << 30), ("512M", 512 << 20), ("10737418240", 10_737_418_240), ("1T", 1 << 40),
        ("64m", 64 << 20),
        ("2GiB", 2 << 30), ("4096", 4096)
    ])
    func sizesParse(text: String, bytes: UInt64) throws {
        #expect(try ByteSize.parse(text) == bytes)
    }

    @Test(arguments: ["0", "-1", "5X", "G", "", "1.5G", "5 G", "99999999999T", "0x10"])
    func badSizesAreRefused(text: String) {
        #expect(throws: SemailError.self) { try ByteSize.parse(text) }
    }

    @Test func mountOptions() throws {
        let o = try MountOptions("nodev,nosuid,noexec,noatime,data=ordered")
        #expect(o.flags != 0 && o.data == "data=ordered")
        #expect(throws: SemailError.self) { try MountOptions("nodev,x;rm -rf /") }
    }

    @Test func fstabBlockKeepsEveryOtherLine() throws {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("fstab-\(UUID().uuidString)").path
        defer { try? FileManager.default.removeItem(atPath: path) }
        let original = "# /etc/fstab\nUUID=abc / ext4 errors=remount-ro 0 1\n/dev/sdb1 /srv xfs defaults 0 2\n"
        try original.write(toFile: path, atomically: true, encoding: .utf8)
        let f = FstabBlock(path: path, mailRoot: "/home/Personnes")
        try f.set(
            mountPoint: "/home/Personnes/a b",
            to: .init(source: "/img/a.img", mountPoint: "/home/Personnes/a b", fsType: "ext4", options: "loop,nodev"))
        try f.set(
            mountPoint: "/home/Personnes/c",
            to: .init(source: "/dev/mvg/Volc", mountPoint: "/home/Personnes/c", fsType: "ext4", options: "nodev"))
        let text = try String(contentsOfFile: path, encoding: .utf8)
        #expect(text.hasPrefix(original))
        #expect(text.contains("/img/a.img /home/Personnes/a\\040b ext4 loop,nodev 0 2"))
        #expect(try f.read().map(\.mountPoint) == ["/home/Personnes/a b", "/home/Personnes/c"])
        try f.set(mountPoint: "/home/Personnes/a b", to: nil)
        try f.set(mountPoint: "/home/Personnes/c", to: nil)
        #expect(try String(contentsOfFile: path, encoding: .utf8) == original)
    }

    /// Two configurations (two mail roots) on one fstab: one block each,
    /// labelled with the mail root; neither write touches the other's
    /// entries; an old unlabelled block's entries move to their owner's block.
    @Test func fstabOneBlockPerMailRoot() throws {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("fstab-\(UUID().uuidString)").path
        defer { try? FileManager.default.removeItem(atPath: path) }
        let head = "UUID=abc / ext4 errors=remount-ro 0 1\n"
        // What an older semailctl wrote: one unlabelled block holding both roots' entries.
        try
            (head + FstabBlock.legacyBegin
            + "\n/img/a.img /home/A/a ext4 loop,nodev 0 2\n/img/b.img /home/B/b ext4 loop,nodev 0 2\n"
            + FstabBlock.legacyEnd + "\n").write(toFile: path, atomically: true, encoding: .utf8)
        let a = FstabBlock(path: path, mailRoot: "/home/A"), b = FstabBlock(path: path, mailRoot: "/home/B/")
        #expect(try a.read().map(\.mountPoint) == ["/home/A/a"])
        #expect(try b.read().map(\.mountPoint) == ["/home/B/b"])
        try a.set(
            mountPoint: "/home/A/c",
            to: .init(source: "/img/c.img", mountPoint: "/home/A/c", fsType: "ext4", options: "loop"))
        var text = try String(contentsOfFile: path, encoding: .utf8)
        #expect(
            text.contains(
                """
                # semailctl:begin /home/A\n/img/a.img /home/A/a ext4 loop,nodev 0 2\n/img/c.img /home/A/c ext4 \
                loop 0 2\n# semailctl:end /home/A\n
                """
            ), "\(text)")
        #expect(
            text.contains(
                FstabBlock.legacyBegin + "\n/img/b.img /home/B/b ext4 loop,nodev 0 2\n" + FstabBlock.legacyEnd),
            "\(text)")
        try b.set(
            mountPoint: "/home/B/d",
            to: .init(source: "/img/d.img", mountPoint: "/home/B/d", fsType: "ext4", options: "loop"))
        text = try String(contentsOfFile: path, encoding: .utf8)
        #expect(!text.contains(FstabBlock.legacyBegin), "the old block is empty: gone\n\(text)")
        #expect(try a.read().map(\.mountPoint) == ["/home/A/a", "/home/A/c"])
        #expect(try b.read().map(\.mountPoint) == ["/home/B/b", "/home/B/d"])
        // Removing all of A's leaves B's block whole.
        try a.set(mountPoint: "/home/A/a", to: nil); try a.set(mountPoint: "/home/A/c", to: nil)
        text = try String(contentsOfFile: path, encoding: .utf8)
        #expect(
            text == head + """
                # semailctl:begin /home/B
                /img/b.img /home/B/b ext4 loop,nodev 0 2
                /img/d.img /home/B/d ext4 loop 0 2
                # semailctl:end /home/B

                """,
            "\(text)")
    }

    /// /proc/self/mountinfo is read whole, past Foundation's 4 KiB procfs
    /// cut: bind mounts are added until the file is over 8 KiB.
    @Test func mountTableIsReadWholePast4KiB() throws {
        let base = FileManager.default.temporaryDirectory.appendingPathComponent("mi-\(UUID().uuidString.prefix(6))")
            .path
        try FileManager.default.createDirectory(atPath: base, withIntermediateDirectories: true)
        var made: [String] = []
        defer { for m in made.reversed() { umount2(m, 0) }; try? FileManager.default.removeItem(atPath: base) }
        var i = 0
        while (SystemState.readKernelFile("/proc/self/mountinfo") ?? "").utf8.count < 8192 && i < 200 {
            let d = "\(base)/m\(i)"
            try FileManager.default.createDirectory(atPath: d, withIntermediateDirectories: true)
            guard mount(base, d, "", UInt(MS_BIND), nil) == 0 else { break }
            made.append(d); i += 1
        }
        let mine = SystemState.mounts().filter { $0.mountPoint.hasPrefix(base + "/") }
        #expect(mine.count == made.count && made.count > 0)
        let cat = try ProcessRunner().run(["cat", "/proc/self/mountinfo"]).text
        #expect(SystemState.mounts().count == cat.split(separator: "\n").count)
    }

    /// `container remove bob` must not take bob-x's images: the engine's
    /// reference filter is a glob, the tag check is exact.
    @Test func imageTagsBelongToExactlyOneUser() {
        let t = ContainerManager.imageTag("bob", hash: "0123456789abcdef0123")
        #expect(t == "semail/mailbox:bob-0123456789ab")
        #expect(ContainerManager.isImageTag(t, of: "bob"))
        #expect(!ContainerManager.isImageTag("semail/mailbox:bob-x-0123456789ab", of: "bob"))
        #expect(ContainerManager.isImageTag("semail/mailbox:bob-x-0123456789ab", of: "bob-x"))
        #expect(!ContainerManager.isImageTag("semail/mailbox:bob-0123", of: "bob"))
        #expect(!ContainerManager.isImageTag("other/mailbox:bob-0123456789ab", of: "bob"))
    }
}

/// The address map's choice of entries, the proof token's MAC, and the
/// cleartext check's idea of loopback: pure functions.
@Suite struct DirectoryTrustTests {
    func box(_ uid: String, _ address: String, created: String? = nil) -> MailboxRecord {
        MailboxRecord(uid: uid, dn: "uid=\(uid),ou=p,dc=x", address: address, size: nil, created: created)
    }

    @Test func theMapListsValidValuesWithOneOwnerPerAddress() {
        let boxes = [
            box("alice", "a@a.example.org", created: "20260102000000Z"),
            box("bob", "a@a.example.org", created: "20260101000000Z"),
            box("carol", "c@c.example.org\nuid: carol mail: postmaster@example.org"),
            box("dave", "D@d.example.org"), box("Eve", "e@e.example.org"),
            box("fred", "f@f.example.org"), box("fred", "g@g.example.org")
        ]
        // Nobody listed yet: the earliest entry wins.
        var d = MapDecision.decide(boxes, current: [:])
        #expect(d.accepted.map(\.uid) == ["bob"])
        #expect(d.refused["alice"]?.contains("claimed by bob") == true)
        #expect(d.refused["carol"]?.hasPrefix("invalid") == true)
        #expect(d.refused["dave"]?.hasPrefix("invalid") == true)
        #expect(d.refused["\"Eve\""]?.hasPrefix("invalid") == true)  // an invalid uid is shown quoted
        #expect(d.refused["fred"]?.contains("ambiguous") == true)
        // The uid the map already lists keeps its address.
        d = MapDecision.decide(boxes, current: ["alice": "a@a.example.org"])
        #expect(d.accepted.map(\.uid) == ["alice"])
        #expect(AddressMap.render(boxes, current: ["alice": "a@a.example.org"]) == "uid: alice mail: a@a.example.org\n")
        // Same time: the smaller uid.
        d = MapDecision.decide(
            [box("zed", "x@x.example.org", created: "1Z"), box("amy", "x@x.example.org", created: "1Z")], current: [:])
        #expect(d.accepted.map(\.uid) == ["amy"])
    }

    @Test func hmacSHA256KnownAnswer() {
        // RFC 4231 test case 2.
        let mac = HMAC.sha256(key: Array("Jefe".utf8), message: Array("what do ya want for nothing?".utf8))
        #expect(
            mac.map { String(format: "%02x", $0) }.joined()
                == "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843")
    }

    @Test(arguments: [
        ("ldap://127.0.0.1:389", true), ("ldap://localhost/", true), ("ldap://[::1]:389", true), ("ldap:///", true),
        ("ldap://127.0.0.2", true), ("ldap://192.0.2.2:389", false), ("ldap://ldap.example.org", false),
        ("ldap://127.0.0.1.evil.org", false), ("ldap://[2001:db8::1]:389", false)
    ])
    func loopback(_ uri: String, _ loop: Bool) {
        #expect(LDAPURI.isLoopback(LDAPURI.host(uri)) == loop, "\(uri) -> \(LDAPURI.host(uri))")
    }
}

@Suite struct ContainerIsolationPureTests {
    @Test func egressIsParsedStrictly() throws {
        let e = try Egress.parse("tcp:192.0.2.10:25  udp:192.0.2.1:53")
        #expect(
            e == [
                Egress(proto: .tcp, address: "192.0.2.10", port: 25),
                Egress(proto: .udp, address: "192.0.2.1", port: 53)
            ])
        #expect(try Egress.parse("").isEmpty)
        for bad in [
            "tcp:192.0.2.10", "icmp:192.0.2.1:0", "tcp:192.0.2.256:25", "tcp:192.0.2.1:0", "tcp:192.0.2.1:65536",
            "tcp:01.2.3.4:25",
            "tcp:example.org:25", "tcp:192.0.2.1:25 -j ACCEPT", "tcp:192.0.2.0/24:25", "tcp:192.0.2.1:025",
            "TCP:192.0.2.1:25"
        ] {
            #expect(throws: SemailError.self, "\(bad)") { try Egress.parse(bad) }
        }
    }

    @Test func cpusBecomeNanoCPUs() {
        #expect(Config.Containers.nanoCPUs("1.0") == 1_000_000_000)
        #expect(Config.Containers.nanoCPUs("0.5") == 500_000_000)
        #expect(Config.Containers.nanoCPUs("2") == 2_000_000_000)
        #expect(Config.Containers.nanoCPUs("0.25") == 250_000_000)
        for bad in ["", "0", "0.0", "-1", "1.", ".5", "1e9", "1.234", "257", "one"] {
            #expect(Config.Containers.nanoCPUs(bad) == nil, "\(bad)")
        }
    }

    @Test func theConfigRefusesBadIsolationKeys() throws {
        let (_, p) = try Config.parse("[containers]\negress = \"tcp:1.2.3.4:25;reboot\"\ncpus = \"lots\"\n")
        #expect(Set(p.filter(\.fatal).map(\.key)) == ["containers.egress", "containers.cpus"])
    }

    @Test func rulesDropAllButRepliesAndEgress() {
        let text = MailboxNetwork.rules(
            bridge: "br-0123456789ab", id: "0123456789abcdef",
            egress: [Egress(proto: .tcp, address: "192.0.2.10", port: 25)],
            hooks: ["-I INPUT 1 -i br-0123456789ab -j SEMAIL-I-0123456789ab"])
        #expect(
            text == """
                *filter
                :SEMAIL-F-0123456789ab - [0:0]
                :SEMAIL-I-0123456789ab - [0:0]
                -A SEMAIL-F-0123456789ab -m conntrack --ctstate RELATED,ESTABLISHED -j RETURN
                -A SEMAIL-F-0123456789ab -i br-0123456789ab -p tcp -d 192.0.2.10/32 --dport 25 -j RETURN
                -A SEMAIL-F-0123456789ab -j DROP
                -A SEMAIL-I-0123456789ab -m conntrack --ctstate RELATED,ESTABLISHED -j RETURN
                -A SEMAIL-I-0123456789ab -p tcp -d 192.0.2.10/32 --dport 25 -j RETURN
                -A SEMAIL-I-0123456789ab -j DROP
                -I INPUT 1 -i br-0123456789ab -j SEMAIL-I-0123456789ab
                COMMIT

                """)
    }
}

@Suite struct InstallLayoutTests {
    @Test func templateDirFollowsTheInstallPrefix() {
        let have: Set<String> = [
            "/usr/local/share/semail/templates", "/opt/semail/share/semail/templates", "/share/semail/templates"
        ]
        let exists = { have.contains($0) }
        #expect(
            Config.templateDir(executable: "/usr/local/sbin/semailctl", exists: exists)
                == "/usr/local/share/semail/templates")
        #expect(
            Config.templateDir(executable: "/opt/semail/sbin/semailctl", exists: exists)
                == "/opt/semail/share/semail/templates")
        #expect(Config.templateDir(executable: "/sbin/semailctl", exists: exists) == "/share/semail/templates")
        // Not installed (a checkout's .build), or no /proc: the distribution path.
        #expect(
            Config.templateDir(executable: "/src/semail/.build/debug/semailctl", exists: exists)
                == "/usr/share/semail/templates")
        #expect(Config.templateDir(executable: nil, exists: exists) == "/usr/share/semail/templates")
        #expect(
            Config.templateDir(executable: "relative/sbin/semailctl", exists: exists) == "/usr/share/semail/templates")
    }

    var repo: URL {
        var url = URL(fileURLWithPath: #filePath)
        for _ in 0..<3 { url.deleteLastPathComponent() }
        return url
    }

    /// `section.key = value` for each assignment of a TOML text, comments dropped.
    func assignments(_ text: Substring) -> Set<String> {
        var section = "", out: Set<String> = []
        for raw in text.split(separator: "\n") {
            let line = raw.trimmingCharacters(in: .whitespaces)
            if line.hasPrefix("[") { section = String(line.dropFirst().prefix { $0 != "]" }); continue }
            guard !line.hasPrefix("#"), let eq = line.firstIndex(of: "=") else { continue }
            let key = line[..<eq].trimmingCharacters(in: .whitespaces)
            var value = String(line[line.index(after: eq)...]).trimmingCharacters(in: .whitespaces)
            if value.hasPrefix("\"") {
                value = String(value.prefix(through: value.dropFirst().firstIndex(of: "\"") ?? value.startIndex))
            } else {
                value = String(value.prefix { $0 != "#" && $0 != " " })
            }
            out.insert("\(section).\(key) = \(value)")
        }
        return out
    }

    @Test func theExampleConfigurationHasNoProblems() throws {
        let text = try String(contentsOf: repo.appendingPathComponent("packaging/semail.toml"), encoding: .utf8)
        let (_, problems) = try Config.parse(text)
        #expect(problems.isEmpty, "\(problems)")
    }

    /// The installed example and the README's configuration block set the
    /// same keys to the same values (template_dir: commented out in the
    /// example, its default follows the prefix).
    @Test func theExampleConfigurationIsTheREADMEs() throws {
        let example = try String(contentsOf: repo.appendingPathComponent("packaging/semail.toml"), encoding: .utf8)
        let readme = try String(contentsOf: repo.appendingPathComponent("README.md"), encoding: .utf8)
        let block = try #require(
            readme.components(separatedBy: "```toml\n").dropFirst().first?.components(separatedBy: "```").first)
        let fromReadme = assignments(Substring(block)).filter { !$0.hasPrefix("containers.template_dir ") }
        let fromExample = assignments(Substring(example))
        #expect(fromReadme.count > 40)
        #expect(
            fromReadme.subtracting(fromExample).sorted() == [], "in README.md's block, not in packaging/semail.toml")
        #expect(
            fromExample.subtracting(fromReadme).sorted() == [], "in packaging/semail.toml, not in README.md's block")
    }
}

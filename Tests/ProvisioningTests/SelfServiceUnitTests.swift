@testable import Containers
@testable import Core
import Foundation
@testable import Provisioning
import Testing

/// The decisions of self-service: package lists, key fingerprints, the
/// `[web]` keys.
@Suite struct SelfServiceUnitTests {
    @Test func packageListsAreEditedInOrderEachOnce() throws {
        #expect(try Software.edit(["mutt"], add: ["neomutt", "mutt"], remove: []) == ["mutt", "neomutt"])
        #expect(try Software.edit(["mutt", "vim"], add: [], remove: ["mutt"]) == ["vim"])
        #expect(try Software.edit([], add: ["g++", "libc6.1-dev"], remove: []) == ["g++", "libc6.1-dev"])
        for bad in [
            "Mutt", "a", "mutt;id", "mutt vim", "-o", "../x", "mutt\nRUN id", String(repeating: "a", count: 101)
        ] {
            #expect(throws: SemailError.self, "\(bad)") { try Software.edit([], add: [bad], remove: []) }
            #expect(throws: SemailError.self, "\(bad)") { try Software.edit([], add: [], remove: [bad]) }
        }
    }

    /// A failed build says what apt said, not the whole log.
    @Test func aptsReasonIsPickedOut() {
        let log =
            "cannot make the container for alice: POST /build: HTTP 500: build failed: ... Reading package lists... "
            + "\u{1B}[91mW: Failed to fetch http://deb.debian.org/x \u{1B}[0mBuilding dependency tree... "
            + "\u{1B}[91mE: Unable to locate package mutt\n\u{1B}[0mRemoving intermediate container 8692bd96fd50"
        #expect(Software.aptReason(log) == "apt: Unable to locate package mutt")
        #expect(Software.aptReason("short") == "short")
        #expect(Software.aptReason(String(repeating: "x", count: 400)).count == 301)
    }

    /// The container's list: the admin's first, then the user's valid names
    /// (a value written on the entry by hand that is not one is left out, never rendered).
    @Test func theContainerGetsTheGlobalThenTheUsersPackages() {
        #expect(ContainerManager.packages(global: "less vim", user: ["mutt", "vim"]) == ["less", "vim", "mutt"])
        #expect(ContainerManager.packages(global: "", user: ["mutt\nRUN id", "ok-pkg", "X"]) == ["ok-pkg"])
    }

    /// The fingerprint is the one `ssh-keygen -l -E sha256` prints.
    @Test func keyFingerprints() throws {
        let line =
            "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl me@laptop"
        let info = try #require(SSHKeys.info(line))
        #expect(info.type == "ssh-ed25519" && info.comment == "me@laptop")
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("fp-\(UUID().uuidString.prefix(6))")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        try (line + "\n").write(to: dir.appendingPathComponent("k.pub"), atomically: true, encoding: .utf8)
        let out = try ProcessRunner().run(["ssh-keygen", "-l", "-E", "sha256", "-f", dir.path + "/k.pub"]).text
        #expect(out.split(separator: " ")[1] == info.fingerprint[...], "\(out) vs \(info.fingerprint)")
        #expect(SSHKeys.info("command=\"id\" " + line) == nil)
        #expect(SSHKeys.info("ssh-ed25519 not-base64!") == nil)
    }

    @Test func webKeys() throws {
        let (c, problems) = try Config.parse(
            """
            [web]
            listen = "[::1]:8443"
            secure_cookies = false
            origin = "https://mail.example.org"
            login_attempts = 3
            """, path: "t.toml")
        #expect(problems.isEmpty, "\(problems)")
        #expect(c.web.listen == "[::1]:8443" && !c.web.secureCookies && c.web.loginAttempts == 3)
        #expect(Config.Web.listenAddress("127.0.0.1:8080")! == ("127.0.0.1", 8080))
        #expect(Config.Web.listenAddress("[::1]:8443")! == ("::1", 8443))
        for bad in ["8080", "localhost:8080", "127.0.0.1:0", "127.0.0.1:99999", "[::1]", "1.2.3:80"] {
            #expect(Config.Web.listenAddress(bad) == nil, "\(bad)")
        }
        let (_, bad) = try Config.parse(
            """
            [web]
            listen = "0.0.0.0"
            semailctl = "semailctl"
            origin = "https://x.org/path"
            user = "Root!"
            login_window = 0
            """, path: "t.toml")
        #expect(
            Set(bad.filter(\.fatal).map(\.key))
                == ["web.listen", "web.semailctl", "web.origin", "web.user", "web.login_window"], "\(bad)")
    }

    /// The shipped example declares every [web] key and parses without a problem.
    @Test func theExampleHasEveryWebKey() throws {
        var url = URL(fileURLWithPath: #filePath)
        for _ in 0..<3 { url.deleteLastPathComponent() }
        let text = try String(contentsOfFile: url.path + "/packaging/semail.toml", encoding: .utf8)
        let (c, problems) = try Config.parse(text, path: "semail.toml")
        #expect(problems.isEmpty, "\(problems)")
        #expect(c.web.listen == "127.0.0.1:8080" && c.web.user == "semail-web" && c.web.secureCookies)
        for key in Config.schema.keys where key.hasPrefix("web.") {
            #expect(text.contains("\n\(key.dropFirst(4)) = "), "\(key) is not in the example")
        }
    }

    /// `config check` says when the portal cannot run: no such user, a program missing.
    @Test func configCheckLooksAtTheWebSection() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("wc-\(UUID().uuidString.prefix(6))")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        func web(_ section: String) throws -> ConfigReport.Component? {
            let f = dir.appendingPathComponent("semail.toml").path
            try "[ldap]\nuri = \"ldap://127.0.0.1:9\"\ntimeout = 1\n\(section)".write(
                toFile: f, atomically: true, encoding: .utf8)
            chmod(f, 0o644)
            return try ConfigChecker.check(path: f).components.first { $0.name == "web" }
        }
        #expect(try web("") == nil)
        let ok = try #require(try web("[web]\nuser = \"root\"\nsemailctl = \"/bin/true\"\nsudo = \"/bin/true\"\n"))
        #expect(ok.ok, "\(ok)")
        let bad = try #require(
            try web("[web]\nuser = \"no-such-user-x\"\nsemailctl = \"/nonexistent/semailctl\"\n"))
        #expect(!bad.ok && bad.message.contains("no system user") && bad.message.contains("/nonexistent/semailctl"))
    }
}

import Foundation
import Provisioning
import Testing

/// The repository's root, found from this file's path.
public let repoRoot: String = {
    var url = URL(fileURLWithPath: #filePath)
    for _ in 0..<3 { url.deleteLastPathComponent() }
    return url.path
}()

/// A private slapd started by `scripts/slapd.sh` for one suite, stopped and
/// removed afterwards (also when the suite fails).
public final class Slapd: Sendable {
    public let dir: String
    public let env: [String: String]

    @TaskLocal public static var current: Slapd?

    /// The running server of the enclosing `.slapd` suite; fails the test
    /// loudly when the suite did not ask for one.
    public static var shared: Slapd {
        guard let current else { fatalError("this test needs the .slapd trait on its suite") }
        return current
    }

    public static func start() throws -> Slapd {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("semail-test-slapd-\(UUID().uuidString.prefix(8))").path
        try ProcessRunner().run(["\(repoRoot)/scripts/slapd.sh", "start", dir])
        let text = try String(contentsOfFile: "\(dir)/env", encoding: .utf8)
        var env: [String: String] = [:]
        for line in text.split(separator: "\n") {
            let kv = line.split(separator: "=", maxSplits: 1).map(String.init)
            if kv.count == 2 { env[kv[0]] = kv[1] }
        }
        return Slapd(dir: dir, env: env)
    }

    init(dir: String, env: [String: String]) { self.dir = dir; self.env = env }

    public func stop() { _ = try? ProcessRunner().run(["\(repoRoot)/scripts/slapd.sh", "stop", dir]) }

    public var uri: String { env["LDAP_URI"]! }
    public var ldapiURI: String { env["LDAPI_URI"]! }
    public var adminDN: String { env["LDAP_ADMIN_DN"]! }
    public var secretFile: String { env["LDAP_SECRET"]! }
    public var caFile: String { env["LDAP_CA"]! }
    public var adminPassword: [UInt8] { Array(FileManager.default.contents(atPath: secretFile)!) }
    public var pid: Int32 { Int32(((try? String(contentsOfFile: "\(dir)/slapd.pid", encoding: .utf8)) ?? "").trimmingCharacters(in: .whitespacesAndNewlines)) ?? 0 }

    /// A configuration pointing at this server, written to `<dir>/semail.toml`.
    public func config(extra: String = "") throws -> (config: Config, path: String) {
        let path = "\(dir)/semail.toml"
        let text = """
        [ldap]
        uri = "\(uri)"
        base = "dc=semail,dc=email"
        people = "ou=Personnes"
        bind_dn = "\(adminDN)"
        bind_password_file = "\(secretFile)"

        [state]
        dir = "\(dir)/state"
        \(extra)
        """
        try text.write(toFile: path, atomically: true, encoding: .utf8)
        let (c, problems) = try Config.parse(text, path: path)
        precondition(problems.isEmpty, "\(problems)")
        return (c, path)
    }
}

/// Suite trait: one private slapd for the whole suite.
public struct SlapdTrait: SuiteTrait, TestScoping {
    public var isRecursive: Bool { false }
    public func provideScope(for test: Test, testCase: Test.Case?,
                             performing function: @Sendable () async throws -> Void) async throws {
        if Slapd.current != nil { try await function(); return }
        let s = try Slapd.start()
        defer { s.stop() }
        try await Slapd.$current.withValue(s) { try await function() }
    }
}

extension Trait where Self == SlapdTrait {
    public static var slapd: SlapdTrait { SlapdTrait() }
}

/// A unique, valid uid prefix per test so tests sharing a server never collide.
public func uniqueUID(_ prefix: String = "t") -> String {
    "\(prefix)\(UUID().uuidString.prefix(8).lowercased().filter { $0.isLetter || $0.isNumber })"
}

/// Runs the built semailctl binary with arguments (never through a shell).
public func semailctl(_ args: [String], stdin: String? = nil, env: [String: String] = [:]) throws -> ProcessOutput {
    let bin = ProcessInfo.processInfo.environment["SEMAILCTL"] ?? "\(repoRoot)/.build/debug/semailctl"
    var e = ProcessInfo.processInfo.environment
    e.removeValue(forKey: "SEMAIL_CONFIG")
    for (k, v) in env { e[k] = v }
    return try ProcessRunner(environment: e).run([bin] + args, stdin: stdin.map { Data($0.utf8) }, check: false)
}

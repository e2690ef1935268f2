import Core
import Foundation
import Provisioning
import Testing

/// The repository's root, found from this file's path.
public let repoRoot: String = {
    var url = URL(fileURLWithPath: #filePath)
    for _ in 0..<3 { url.deleteLastPathComponent() }
    return url.path
}()

/// A private service run by `scripts/<script>.sh start|stop DIR` (which
/// writes `DIR/env`), one per suite, stopped and removed afterwards even
/// when the suite fails. Each service keeps its own task-local `current`.
public protocol ScriptedService: Sendable {
    static var script: String { get }
    /// Where its directory goes (dockerd wants a short path: socket names are limited).
    static var dirPrefix: String { get }
    static var current: Self? { get }
    static func withCurrent(_ s: Self, _ body: () async throws -> Void) async throws
    var dir: String { get }
    var env: [String: String] { get }
    init(dir: String, env: [String: String])
    /// Runs after the script started it (e.g. importing an image).
    func prepare() throws
}

extension ScriptedService {
    public static var dirPrefix: String {
        FileManager.default.temporaryDirectory.appendingPathComponent("semail-test-\(script)-").path
    }
    public func prepare() throws {}

    /// `environment`: extra variables for the script (e.g. SLAPD_SYNCPROV=no).
    public static func start(environment: [String: String] = [:]) throws -> Self {
        let dir = "\(dirPrefix)\(UUID().uuidString.prefix(8))"
        let env = ProcessInfo.processInfo.environment.merging(environment) { $1 }
        do { try ProcessRunner(environment: env).run(["\(repoRoot)/scripts/\(script).sh", "start", dir]) } catch {
            _ = try? ProcessRunner().run(["\(repoRoot)/scripts/\(script).sh", "stop", dir])
            throw error
        }
        let s = Self(dir: dir, env: (try? readEnv("\(dir)/env")) ?? [:])
        do {
            guard !s.env.isEmpty else {
                throw SemailError("\(script) did not write its env", why: "\(dir)/env is missing")
            }
            try s.prepare()
        } catch { s.stop(); throw error }
        return s
    }

    public func stop() { _ = try? ProcessRunner().run(["\(repoRoot)/scripts/\(Self.script).sh", "stop", dir]) }

    /// The running service of the enclosing suite; fails loudly when the
    /// suite did not ask for one.
    public static var shared: Self {
        guard let current else { fatalError("this test needs the .\(script) trait on its suite") }
        return current
    }
}

/// Suite trait: one private `S` for the whole suite.
public struct ServiceTrait<S: ScriptedService>: SuiteTrait, TestScoping {
    public var isRecursive: Bool { false }
    public func provideScope(
        for test: Test, testCase: Test.Case?, performing function: @Sendable () async throws -> Void
    ) async throws {
        if S.current != nil { try await function(); return }
        let s = try S.start()
        defer { s.stop() }
        try await S.withCurrent(s) { try await function() }
    }
}

extension Trait where Self == ServiceTrait<Slapd> { public static var slapd: Self { Self() } }
extension Trait where Self == ServiceTrait<Named> { public static var named: Self { Self() } }
extension Trait where Self == ServiceTrait<Dockerd> { public static var dockerd: Self { Self() } }

/// Reads a `KEY=value` file written by the service scripts.
public func readEnv(_ path: String) throws -> [String: String] {
    var env: [String: String] = [:]
    for line in try String(contentsOfFile: path, encoding: .utf8).split(separator: "\n") {
        let kv = line.split(separator: "=", maxSplits: 1).map(String.init)
        if kv.count == 2 { env[kv[0]] = kv[1] }
    }
    return env
}

import Foundation
import Provisioning
import Testing

/// A private dockerd started by `scripts/dockerd.sh` for one suite, with a
/// tiny busybox image imported (nothing can be pulled), stopped and removed
/// afterwards together with every container it ran.
public final class Dockerd: Sendable {
    public let dir: String
    public let env: [String: String]
    public static let busyboxImage = "semail/busybox-test:latest"

    @TaskLocal public static var current: Dockerd?
    public static var shared: Dockerd {
        guard let current else { fatalError("this test needs the .dockerd trait on its suite") }
        return current
    }

    public static func start() throws -> Dockerd {
        let dir = "/tmp/sd-\(UUID().uuidString.prefix(8))"  // short: socket paths are limited
        try ProcessRunner().run(["\(repoRoot)/scripts/dockerd.sh", "start", dir])
        let d = Dockerd(dir: dir, env: (try? readEnv("\(dir)/env")) ?? [:])
        do {
            guard d.env["DOCKER_SOCK"] != nil else { throw SemailError("dockerd did not write its env", why: dir) }
            try d.client.importImage(rootfs: busyboxRootfs(), repo: "semail/busybox-test", tag: "latest", changes: ["CMD [\"sh\"]"])
        } catch { d.stop(); throw error }
        return d
    }

    init(dir: String, env: [String: String]) { self.dir = dir; self.env = env }
    public func stop() { _ = try? ProcessRunner().run(["\(repoRoot)/scripts/dockerd.sh", "stop", dir]) }

    public var socket: String { env["DOCKER_SOCK"]! }
    public var client: DockerClient { DockerClient(socket: socket) }

    /// A root filesystem with busybox-static and its applets.
    public static func busyboxRootfs() throws -> Data {
        var tar = TarArchive()
        let bb = try Data(contentsOf: URL(fileURLWithPath: "/bin/busybox"))
        tar.add("bin/busybox", bb, mode: 0o755)
        let applets = ["ls", "cat", "echo", "sleep", "touch", "id", "false", "true", "mkdir", "grep", "wc", "test"]
        // Applets as copies would be large; a tiny shell wrapper per applet is enough.
        for a in applets { tar.add("bin/\(a)", Data("#!/bin/busybox sh\nexec /bin/busybox \(a) \"$@\"\n".utf8), mode: 0o755) }
        tar.add("bin/sh", bb, mode: 0o755)
        tar.add("tmp/.keep", Data())
        return tar.finished
    }
}

public struct DockerdTrait: SuiteTrait, TestScoping {
    public var isRecursive: Bool { false }
    public func provideScope(for test: Test, testCase: Test.Case?, performing function: @Sendable () async throws -> Void) async throws {
        if Dockerd.current != nil { try await function(); return }
        let d = try Dockerd.start()
        defer { d.stop() }
        try await Dockerd.$current.withValue(d) { try await function() }
    }
}

extension Trait where Self == DockerdTrait {
    public static var dockerd: DockerdTrait { DockerdTrait() }
}

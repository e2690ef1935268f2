import Containers
import Foundation
import Provisioning
import Testing

/// A private dockerd started by `scripts/dockerd.sh` for one suite, with a
/// tiny busybox image imported (nothing can be pulled), stopped and removed
/// afterwards together with every container it ran.
public final class Dockerd: ScriptedService {
    public let dir: String
    public let env: [String: String]
    public static let busyboxImage = "semail/busybox-test:latest"

    @TaskLocal public static var current: Dockerd?
    public static let script = "dockerd"
    public static var dirPrefix: String { "/tmp/sd-" }  // short: socket paths are limited
    public static func withCurrent(_ s: Dockerd, _ body: () async throws -> Void) async throws {
        try await $current.withValue(s) { try await body() }
    }
    public init(dir: String, env: [String: String]) { self.dir = dir; self.env = env }

    public func prepare() throws {
        try client.importImage(
            rootfs: Self.busyboxRootfs(), repo: "semail/busybox-test", tag: "latest", changes: ["CMD [\"sh\"]"])
    }

    public var socket: String { env["DOCKER_SOCK"]! }
    public var client: DockerClient { DockerClient(socket: socket) }

    /// A root filesystem with busybox-static and its applets.
    public static func busyboxRootfs() throws -> Data {
        var tar = TarArchive()
        let bb = try Data(contentsOf: URL(fileURLWithPath: "/bin/busybox"))
        tar.add("bin/busybox", bb, mode: 0o755)
        let applets = ["ls", "cat", "echo", "sleep", "touch", "id", "false", "true", "mkdir", "grep", "wc", "test"]
        // Applets as copies would be large; a tiny shell wrapper per applet is enough.
        for a in applets {
            tar.add("bin/\(a)", Data("#!/bin/busybox sh\nexec /bin/busybox \(a) \"$@\"\n".utf8), mode: 0o755)
        }
        tar.add("bin/sh", bb, mode: 0o755)
        tar.add("tmp/.keep", Data())
        return tar.finished
    }
}

import Containers
import Core
import Foundation
import Provisioning
import TestSupport
import Testing

/// The Docker Engine API client against a real dockerd (Debian's docker.io).
@Suite(.dockerd) struct DockerClientIntegrationTests {
    var d: Dockerd { Dockerd.shared }

    @Test func pingVersionInfo() throws {
        let c = d.client
        #expect(try c.ping())
        let v = try c.version()
        #expect(!v.Version.isEmpty)
        #expect(try c.apiVersion().hasPrefix("1."))
        #expect(try c.info().ServerVersion == v.Version)
    }

    @Test func unreachableSocketSaysHowToStartDocker() {
        let c = DockerClient(socket: "/nonexistent/docker.sock")
        let e = #expect(throws: SemailError.self) { _ = try c.ping() }
        #expect(e?.status == .unavailable)
        #expect(e?.hint?.contains("dockerd") == true)
    }

    @Test func buildCreateStartInspectListLogsRemove() throws {
        let c = d.client
        let tag = "semail/test-\(uniqueUID("b")):latest"
        var ctx = TarArchive()
        ctx.add(
            "Dockerfile", Data("FROM \(Dockerd.busyboxImage)\nCOPY greeting /greeting\nRUN echo built > /built\n".utf8))
        ctx.add("greeting", Data("hello from the build context\n".utf8))
        var lines = 0
        let built = try c.build(context: ctx.finished, tag: tag, labels: ["semail.test": "1"]) { _ in lines += 1 }
        #expect(built.imageID.hasPrefix("sha256:"))
        #expect(lines > 0)
        #expect(try c.image(tag) != nil)
        #expect(try c.images(label: "semail.test=1").contains { $0.RepoTags?.contains(tag) == true })
        defer { try? c.removeImage(tag, force: true) }

        let net = "semail-t-\(uniqueUID("n"))"
        try c.ensureNetwork(net)
        try c.ensureNetwork(net)  // idempotent
        defer { try? c.removeNetwork(net) }

        let mail = FileManager.default.temporaryDirectory.appendingPathComponent("dk-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: mail, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: mail) }
        try "a letter\n".write(toFile: "\(mail)/in", atomically: true, encoding: .utf8)

        let uid = uniqueUID("c")
        let name = "semail-\(uid)"
        let spec = DockerClient.ContainerSpec(
            Image: tag, Cmd: ["sh", "-c", "cat /greeting /built /Maildir/in; echo written > /Maildir/out; sleep 60"],
            Hostname: uid,
            Labels: ["semail.uid": uid, "semail.address": "\(uid)@semail.email"],
            HostConfig: .init(
                Mounts: [.init(Source: mail, Target: "/Maildir")], CapAdd: ["CHOWN", "SETUID", "SETGID"],
                Memory: 64 << 20, PidsLimit: 64, NetworkMode: net))
        let id = try c.createContainer(name: name, spec: spec)
        defer { try? c.remove(container: id) }
        try c.start(container: id)
        // The bind mount works both ways.
        for _ in 0..<100 where !FileManager.default.fileExists(atPath: "\(mail)/out") { usleep(50_000) }
        #expect(try String(contentsOfFile: "\(mail)/out", encoding: .utf8) == "written\n")
        let logs = try c.logs(container: id)
        #expect(logs.contains("hello from the build context") && logs.contains("built") && logs.contains("a letter"))

        let i = try #require(try c.inspect(container: name))
        #expect(i.State.Running)
        #expect(i.HostConfig.Memory == 64 << 20 && i.HostConfig.PidsLimit == 64 && i.HostConfig.Privileged == false)
        #expect(i.HostConfig.CapDrop == ["ALL"] && i.HostConfig.RestartPolicy?.Name == "unless-stopped")
        #expect(i.Config.Labels?["semail.uid"] == uid)
        #expect(i.NetworkSettings?.Networks?[net] != nil)

        let listed = try c.containers(label: "semail.uid=\(uid)")
        #expect(listed.map(\.Id) == [id])
        try c.stop(container: id, timeout: 1)
        #expect(try c.inspect(container: id)?.State.Running == false)
        try c.remove(container: id)
        try c.remove(container: id)  // idempotent
        #expect(try c.containers(label: "semail.uid=\(uid)").isEmpty)
        #expect(try c.inspect(container: id) == nil)
    }

    @Test func aFailingBuildSurfacesTheEngineError() throws {
        var ctx = TarArchive()
        ctx.add("Dockerfile", Data("FROM \(Dockerd.busyboxImage)\nRUN echo about to fail && false\n".utf8))
        let e = #expect(throws: DockerError.self) {
            _ = try d.client.build(context: ctx.finished, tag: "semail/fail-\(uniqueUID("f"))")
        }
        #expect(e?.message.contains("non-zero code") == true, "\(String(describing: e))")
        #expect(e?.message.contains("about to fail") == true)
    }

    @Test func errorsCarryStatusAndMessage() throws {
        let spec = DockerClient.ContainerSpec(
            Image: "semail/no-such-image:latest", Cmd: nil, Hostname: nil, Labels: [:],
            HostConfig: .init(CapAdd: [], Memory: 0, PidsLimit: 0, NetworkMode: "none"))
        let e = #expect(throws: DockerError.self) {
            _ = try d.client.createContainer(name: "semail-\(uniqueUID("x"))", spec: spec)
        }
        #expect(e?.status == 404)
        #expect(e?.message.contains("No such image") == true, "\(String(describing: e))")
    }
}

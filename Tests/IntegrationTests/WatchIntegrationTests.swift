import Containers
import Foundation
import Provisioning
import TestSupport
import Testing

/// `reconcile --watch` as a service runs it: a first pass before any
/// change, a clean exit (78) when the directory cannot serve the watch,
/// passes on template and base image changes, stamped logs off a terminal.
@Suite(.slapd, .named, .dockerd, .serialized) struct WatchIntegrationTests {
    /// A mailbox whose container is stopped and whose address map line is
    /// gone: drift from before the watch starts.
    func driftedMailbox(_ w: World) throws -> String {
        let uid = uniqueUID("wd")
        try w.addUser(uid)
        let r = try w.run(["mailbox", "create", uid, "--address", "\(uid)@\(uid).\(w.zone)", "-q"])
        #expect(r.status == 0, "\(r.stderr)")
        try Dockerd.shared.client.stop(container: "semail-\(uid)", timeout: 1)
        let map = w.mapText.split(separator: "\n", omittingEmptySubsequences: false).filter {
            !$0.contains("uid: \(uid) ")
        }
        try map.joined(separator: "\n").write(toFile: "\(w.dir)/state/mailbox.txt", atomically: true, encoding: .utf8)
        #expect(try w.missing(uid, domain: "\(uid).\(w.zone)").sorted() == ["address map line", "running container"])
        return uid
    }

    func waitFor(_ seconds: Double, _ what: () throws -> Bool) rethrows -> Bool {
        let until = Date().addingTimeInterval(seconds)
        while Date() < until { if try what() { return true }; usleep(200_000) }
        return try what()
    }

    /// Debian's slapd has no syncprov: the watch still repairs what it finds
    /// at start, then stops at once with 78 (which the unit does not
    /// restart) and says what to do, instead of reconnecting forever.
    @Test func withoutSyncprovTheWatchRepairsOnceThenExits78() throws {
        let plain = try Slapd.start(environment: ["SLAPD_SYNCPROV": "no"])
        defer { plain.stop() }
        let w = try World(slapd: plain, named: .shared, dockerd: .shared)
        defer { w.cleanup() }
        try w.bootstrap()
        let uid = try driftedMailbox(w)
        let p = try WatchProcess(w, ["reconcile", "--watch"])
        defer { p.stop() }
        let exited = p.wait(seconds: 60)
        #expect(exited, "the watch kept running against a server without syncprov: \(p.stderr)")
        #expect(p.status == 78, "\(p.stderr)")
        #expect(p.stderr.contains("syncprov") && p.stderr.contains("semailctl directory setup"), "\(p.stderr)")
        #expect(!p.stderr.contains("reconnecting"), "\(p.stderr)")
        #expect(
            try w.missing(uid, domain: "\(uid).\(w.zone)").isEmpty,
            "the first pass did not repair the drift: \(p.stderr)")
    }

    /// A people OU that does not exist is no reason to retry either.
    @Test func aMissingPeopleOUExits78() throws {
        let w = try World(slapd: .shared, named: .shared, dockerd: .shared)
        defer { w.cleanup() }
        let text = try String(contentsOfFile: w.config, encoding: .utf8).replacingOccurrences(
            of: "people = \"\(w.ou)\"", with: "people = \"ou=Nowhere\(w.ou.dropFirst(3))\"")
        try text.write(toFile: w.config, atomically: true, encoding: .utf8)
        let p = try WatchProcess(w, ["reconcile", "--watch"])
        defer { p.stop() }
        #expect(p.wait(seconds: 60), "\(p.stderr)")
        #expect(p.status == 78 && p.stderr.contains("does not exist"), "\(p.stderr)")
    }

    /// With syncprov: drift from before the start is repaired with no
    /// directory change; a template edit and a base image re-tag each run
    /// a pass that rebuilds the container; logs and JSON lines are stamped.
    @Test func firstPassTemplateAndBaseImageChanges() throws {
        let w = try World.ready()
        defer { w.cleanup() }
        // This world's own template directory and base image name, so the
        // changes below touch no other test.
        let templates = "\(w.dir)/templates", base = "semail/base-\(w.zone.prefix(9)):latest"
        try FileManager.default.createDirectory(atPath: templates, withIntermediateDirectories: true)
        try FileManager.default.copyItem(
            atPath: "\(repoRoot)/templates/Dockerfile.template", toPath: "\(templates)/Dockerfile.template")
        var cfg = try String(contentsOfFile: w.config, encoding: .utf8)
        cfg = cfg.replacingOccurrences(
            of: "template_dir = \"\(repoRoot)/templates\"",
            with: "template_dir = \"\(templates)\"\nbase_image = \"\(base)\"")
        try cfg.write(toFile: w.config, atomically: true, encoding: .utf8)
        let docker = Dockerd.shared.client
        try tag(docker, "semail/base:latest", as: base)
        defer { try? docker.removeImage(base, force: true) }

        let uid = try driftedMailbox(w)
        let p = try WatchProcess(w, ["--config", w.config, "reconcile", "--watch", "--json"], config: false)
        defer { p.stop() }
        let domain = "\(uid).\(w.zone)"
        #expect(try waitFor(90) { try w.missing(uid, domain: domain).isEmpty }, "no first pass: \(p.stderr)")
        let first = try #require(try docker.inspect(container: "semail-\(uid)")).Id

        // The template changes: its containers are rebuilt.
        let t = try FileHandle(forWritingTo: URL(fileURLWithPath: "\(templates)/Dockerfile.template"))
        try t.seekToEnd(); try t.write(contentsOf: Data("# watch test \(UUID())\n".utf8)); try t.close()
        var second = first
        #expect(
            try waitFor(90) {
                second = try docker.inspect(container: "semail-\(uid)")?.Id ?? first
                let running = try docker.inspect(container: second)?.State.Running ?? false
                return second != first && running
            }, "the template change did not rebuild the container: \(p.stderr)")

        // The base image's tag moves to a new image: rebuilt again.
        var ctx = TarArchive()
        ctx.add("Dockerfile", Data("FROM semail/base:latest\nLABEL semail.test=\"\(UUID())\"\n".utf8))
        _ = try docker.build(context: ctx.finished, tag: base)
        var third = second
        #expect(
            try waitFor(90) {
                third = try docker.inspect(container: "semail-\(uid)")?.Id ?? second
                let running = try docker.inspect(container: third)?.State.Running ?? false
                return third != second && running
            }, "the base image re-tag did not rebuild the container: \(p.stderr)")
        // The new container runs before the pass's transaction ends (its
        // journal goes at the commit): wait for the pass to finish.
        var missing: [String] = []
        #expect(
            try waitFor(30) {
                missing = try w.missing(uid, domain: domain); return missing.isEmpty
            }, "after the rebuild: missing \(missing)")

        p.stop()
        // Off a terminal: "<priority>ISO-8601-time message" on every stderr line.
        let stamped = #/^<[0-7]>\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z /#
        let logs = p.stderr.split(separator: "\n")
        #expect(!logs.isEmpty && logs.allSatisfy { $0.firstMatch(of: stamped) != nil }, "\(p.stderr)")
        #expect(logs.contains { $0.hasPrefix("<6>") && $0.contains("changed: template") }, "\(p.stderr)")
        #expect(logs.contains { $0.contains("changed: base image") }, "\(p.stderr)")
        // --json: one document a line, one a pass, each with its time.
        let docs = p.stdout.split(separator: "\n").compactMap {
            try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any]
        }
        #expect(docs.count >= 3, "\(p.stdout)")
        #expect(
            docs.allSatisfy {
                ($0["time"] as? String)?.firstMatch(of: #/^\d{4}-\d\d-\d\dT.*Z$/#) != nil && $0["items"] != nil
            }, "\(p.stdout)")
    }

    func tag(_ docker: DockerClient, _ image: String, as name: String) throws {
        let colon = name.lastIndex(of: ":")!
        let path = image.addingPercentEncoding(
            withAllowedCharacters: .alphanumerics.union(CharacterSet(charactersIn: "-._~")))!
        try docker.call(
            "POST", "/images/\(path)/tag",
            query: [("repo", String(name[..<colon])), ("tag", String(name[name.index(after: colon)...]))], expect: [201]
        )
    }
}

/// `--config` before the subcommand, and stamped error lines, as run.
@Suite(.slapd) struct CommandLineIntegrationTests {
    @Test func configBeforeTheSubcommandAndStampedErrors() throws {
        let cfg = try Slapd.shared.config().path
        var r = try semailctl(["--config", cfg, "user", "list", "--json"])
        #expect(r.status == 0, "\(r.stderr)")
        r = try semailctl(["--config=\(cfg)", "user", "show", "nosuch\(uniqueUID())"])
        #expect(r.status == 1, "\(r.stderr)")
        let first = try #require(r.stderr.split(separator: "\n").first)
        #expect(first.firstMatch(of: #/^<3>\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z error: /#) != nil, "\(r.stderr)")
    }
}

/// The built binary run with stdout and stderr into files (not a terminal),
/// stopped with SIGTERM by its own pid.
final class WatchProcess: Sendable {
    let process = Process()
    let out: String, err: String

    init(_ w: World, _ args: [String], config: Bool = true) throws {
        out = "\(w.dir)/watch.out"; err = "\(w.dir)/watch.err"
        _ = FileManager.default.createFile(atPath: out, contents: nil)
        _ = FileManager.default.createFile(atPath: err, contents: nil)
        process.executableURL = URL(
            fileURLWithPath: ProcessInfo.processInfo.environment["SEMAILCTL"] ?? "\(repoRoot)/.build/debug/semailctl")
        process.arguments = config ? args + ["--config", w.config] : args
        var env = ProcessInfo.processInfo.environment
        env.removeValue(forKey: "SEMAIL_CONFIG")
        process.environment = env
        process.standardInput = FileHandle.nullDevice
        process.standardOutput = try FileHandle(forWritingTo: URL(fileURLWithPath: out))
        process.standardError = try FileHandle(forWritingTo: URL(fileURLWithPath: err))
        try process.run()
    }

    var stdout: String { (try? String(contentsOfFile: out, encoding: .utf8)) ?? "" }
    var stderr: String { (try? String(contentsOfFile: err, encoding: .utf8)) ?? "" }
    var status: Int32 { process.isRunning ? -1 : process.terminationStatus }

    /// True when it exited within `seconds`.
    func wait(seconds: Double) -> Bool {
        let until = Date().addingTimeInterval(seconds)
        while process.isRunning && Date() < until { usleep(100_000) }
        return !process.isRunning
    }

    func stop() {
        if process.isRunning { process.terminate() }
        if !wait(seconds: 30) { kill(process.processIdentifier, SIGKILL); process.waitUntilExit() }
    }
}

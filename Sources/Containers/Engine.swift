import Core
import Foundation
import Synchronization

/// What the tool needs of the engine: images, networks, containers.
extension DockerClient {
    public struct ImageSummary: Codable, Sendable {
        public var Id: String; public var RepoTags: [String]?; public var Labels: [String: String]?
    }
    public struct ImageInspect: Codable, Sendable {
        public var Id: String; public var RepoTags: [String]?; public var Config: ImageConfig?
        public struct ImageConfig: Codable, Sendable { public var Cmd: [String]? }
    }

    /// The image, or nil when the engine has none by that name.
    public func image(_ name: String) throws -> ImageInspect? {
        do { return try decode(call("GET", "/images/\(DockerClient.escape(name))/json")) } catch let e as DockerError
            where e.status == 404
        { return nil }
    }

    public func images(label: String? = nil, reference: String? = nil) throws -> [ImageSummary] {
        var f: [String: [String]] = [:]
        if let label { f["label"] = [label] }
        if let reference { f["reference"] = [reference] }
        let q = f.isEmpty ? [] : [("filters", Self.filters(f))]
        return try decode(call("GET", "/images/json", query: q))
    }

    public func removeImage(_ name: String, force: Bool = false) throws {
        do {
            try call("DELETE", "/images/\(DockerClient.escape(name))", query: [("force", force ? "1" : "0")])
        } catch let e as DockerError where e.status == 404 {}
    }

    /// Imports a root filesystem tarball as `repo:tag` (nothing is pulled).
    public func importImage(rootfs: Data, repo: String, tag: String, changes: [String] = []) throws {
        let q = [("fromSrc", "-"), ("repo", repo), ("tag", tag)] + changes.map { ("changes", $0) }
        let r = try call(
            "POST", "/images/create", query: q, body: rootfs, contentType: "application/x-tar", timeout: 600)
        if let err = Self.streamError(r.body) {
            throw DockerError(status: 500, message: err, request: "POST /images/create")
        }
    }

    public struct BuildResult: Sendable { public var imageID: String; public var log: String }

    /// Builds `tag` from a tar context, reading the JSON progress stream;
    /// a failed build throws with the engine's error text and the log tail.
    public func build(
        context: Data, tag: String, labels: [String: String] = [:], noCache: Bool = false,
        progress: ((String) -> Void)? = nil
    ) throws -> BuildResult {
        var log = "", imageID = "", failure: String?
        struct Msg: Decodable {
            var stream: String?; var error: String?; var aux: Aux?; struct Aux: Decodable { var ID: String? }
        }
        let lbl = String(decoding: try JSONEncoder().encode(labels), as: UTF8.self)
        try call(
            "POST", "/build",
            query: [("t", tag), ("labels", lbl), ("rm", "1"), ("forcerm", "1"), ("nocache", noCache ? "1" : "0")],
            body: context, contentType: "application/x-tar", timeout: 1800
        ) { line in
            guard let m = try? JSONDecoder().decode(Msg.self, from: line) else { return }
            if let s = m.stream { log += s; progress?(s) }
            if let e = m.error { failure = e }
            if let id = m.aux?.ID { imageID = id }
        }
        if let failure {
            let tail = log.split(separator: "\n").suffix(8).joined(separator: "\n")
            throw DockerError(
                status: 500,
                message: "build failed: \(failure.trimmingCharacters(in: .whitespacesAndNewlines))\n\(tail)",
                request: "POST /build")
        }
        if imageID.isEmpty, let i = try image(tag) { imageID = i.Id }
        return BuildResult(imageID: imageID, log: log)
    }

    static func streamError(_ body: Data) -> String? {
        for line in body.split(separator: 0x0A) {
            if let o = try? JSONSerialization.jsonObject(with: line) as? [String: Any], let e = o["error"] as? String {
                return e
            }
        }
        return nil
    }

    static func filters(_ f: [String: [String]]) -> String {
        String(decoding: (try? JSONEncoder().encode(f)) ?? Data("{}".utf8), as: UTF8.self)
    }

    // MARK: Networks

    public struct Network: Codable, Sendable {
        public var Id: String; public var Name: String; public var Driver: String; public var Labels: [String: String]?
        public var Options: [String: String]?
        public var IPAM: IPAM?
        public var Containers: [String: Endpoint]?
        public struct IPAM: Codable, Sendable { public var Config: [Pool]? }
        public struct Pool: Codable, Sendable { public var Subnet: String?; public var Gateway: String? }
        /// `IPv4Address` is a CIDR ("172.18.0.2/24").
        public struct Endpoint: Codable, Sendable { public var Name: String?; public var IPv4Address: String? }
        /// The first IPv4 pool: (subnet, gateway).
        public var ipv4: (subnet: String, gateway: String?)? {
            guard let p = self.IPAM?.Config?.first(where: { ($0.Subnet ?? "").contains(".") }), let sn = p.Subnet else {
                return nil
            }
            return (sn, p.Gateway)
        }
    }

    public func network(_ name: String) throws -> Network? {
        do { return try decode(call("GET", "/networks/\(DockerClient.escape(name))")) } catch let e as DockerError
            where e.status == 404
        { return nil }
    }

    /// Serialises network creation between threads: the engine does not
    /// refuse a second network of the same name created at the same moment,
    /// and two make the name ambiguous.
    static let networkLock = Mutex(())

    /// Creates a user-defined bridge network if missing (an existing one is
    /// returned as it is, whatever its options). With `subnet`, the IPv4
    /// pool is configured (fixed container addresses need one).
    @discardableResult
    public func ensureNetwork(
        _ name: String, labels: [String: String] = [:], options: [String: String] = [:], subnet: String? = nil,
        gateway: String? = nil
    ) throws -> Network {
        try Self.networkLock.withLock { _ in
            try ensureNetworkLocked(name, labels: labels, options: options, subnet: subnet, gateway: gateway)
        }
    }

    private func ensureNetworkLocked(
        _ name: String, labels: [String: String], options: [String: String],
        subnet: String?, gateway: String?
    ) throws -> Network {
        if let n = try network(name) { return n }
        struct Pool: Encodable { var Subnet: String; var Gateway: String? }
        struct IPAM: Encodable { var Driver = "default"; var Config: [Pool] }
        struct Req: Encodable {
            var Name: String; var Driver = "bridge"; var CheckDuplicate = true; var Labels: [String: String];
            var Options: [String: String]
            var IPAM: IPAM?
        }
        let req = Req(
            Name: name, Labels: labels, Options: options,
            IPAM: subnet.map { IPAM(Config: [Pool(Subnet: $0, Gateway: gateway)]) })
        do { try call("POST", "/networks/create", body: JSONEncoder().encode(req)) } catch let e as DockerError
            where e.status == 409
        {}
        guard let n = try network(name) else {
            throw DockerError(status: 404, message: "network \(name) vanished", request: "GET /networks")
        }
        return n
    }

    public func removeNetwork(_ name: String) throws {
        do { try call("DELETE", "/networks/\(DockerClient.escape(name))") } catch let e as DockerError
            where e.status == 404
        {}
    }

    /// Connects a container to a network, with a fixed IPv4 address when given.
    public func connect(container: String, network: String, ipv4: String?) throws {
        var body: [String: Any] = ["Container": container]
        if let ipv4 { body["EndpointConfig"] = ["IPAMConfig": ["IPv4Address": ipv4]] }
        try call(
            "POST", "/networks/\(DockerClient.escape(network))/connect",
            body: JSONSerialization.data(withJSONObject: body))
    }

    /// Disconnects a container from a network (running or not).
    public func disconnect(container: String, network: String) throws {
        let body = try JSONSerialization.data(withJSONObject: ["Container": container, "Force": true])
        try call("POST", "/networks/\(DockerClient.escape(network))/disconnect", body: body)
    }

    // MARK: Containers

    public struct ContainerSummary: Codable, Sendable, Equatable {
        public var Id: String
        public var Names: [String]
        public var Image: String
        public var State: String
        public var Status: String
        public var Labels: [String: String]?
        public var NetworkSettings: Networks?
        public struct Networks: Codable, Sendable, Equatable { public var Networks: [String: Endpoint]? }
        public struct Endpoint: Codable, Sendable, Equatable {
            public var IPAddress: String?
            public var IPAMConfig: IPAM?
        }
        public struct IPAM: Codable, Sendable, Equatable { public var IPv4Address: String? }
    }

    /// Every container carrying `label` (all states), in one call.
    public func containers(label: String) throws -> [ContainerSummary] {
        try decode(
            call("GET", "/containers/json", query: [("all", "1"), ("filters", Self.filters(["label": [label]]))]))
    }

    public struct ContainerInspect: Codable, Sendable {
        public struct State: Codable, Sendable {
            public var Status: String; public var Running: Bool; public var ExitCode: Int; public var Restarting: Bool?
        }
        public struct Config: Codable, Sendable {
            public var Image: String; public var Labels: [String: String]?; public var Hostname: String?
        }
        public struct HostConfig: Codable, Sendable {
            public var Memory: Int?; public var PidsLimit: Int?; public var Privileged: Bool?
            public var CapDrop: [String]?; public var CapAdd: [String]?; public var Binds: [String]?
            public var RestartPolicy: RestartPolicy?
            public var ReadonlyRootfs: Bool?; public var NanoCpus: Int?; public var SecurityOpt: [String]?
            public var CgroupnsMode: String?; public var Tmpfs: [String: String]?; public var Sysctls: [String: String]?
        }
        /// A mount as the engine made it (`Source` is the host path).
        public struct MountPoint: Codable, Sendable {
            public var `Type`: String?; public var Source: String?; public var Destination: String?
        }
        public struct RestartPolicy: Codable, Sendable { public var Name: String }
        public struct NetworkSettings: Codable, Sendable { public var Networks: [String: Endpoint]? }
        public struct Endpoint: Codable, Sendable {
            public var IPAddress: String?
            /// The address asked for at creation (a fixed address), if any.
            public var IPAMConfig: IPAMSettings?
        }
        public struct IPAMSettings: Codable, Sendable { public var IPv4Address: String? }
        public var Id: String
        public var Name: String
        public var Image: String
        public var RestartCount: Int?
        public var State: State
        public var Config: Config
        public var HostConfig: HostConfig
        public var NetworkSettings: NetworkSettings?
        public var Mounts: [MountPoint]?
    }

    public func inspect(container: String) throws -> ContainerInspect? {
        do { return try decode(call("GET", "/containers/\(DockerClient.escape(container))/json")) } catch let e
            as DockerError where e.status == 404
        { return nil }
    }

    /// The create request: the fields the tool sets.
    public struct ContainerSpec: Encodable, Sendable {
        public var Image: String
        public var Cmd: [String]?
        public var Hostname: String?
        public var Labels: [String: String]
        public var HostConfig: Host
        public var NetworkingConfig: Networking?
        public init(
            Image: String, Cmd: [String]?, Hostname: String?, Labels: [String: String], HostConfig: Host,
            NetworkingConfig: Networking? = nil
        ) {
            self.Image = Image; self.Cmd = Cmd; self.Hostname = Hostname; self.Labels = Labels;
            self.HostConfig = HostConfig
            self.NetworkingConfig = NetworkingConfig
        }
        public struct Host: Encodable, Sendable {
            /// Bind mounts only: unlike `Binds`, the engine refuses a missing source instead of creating it.
            public var Mounts: [Mount]
            public var RestartPolicy: [String: String]
            public var Privileged = false
            public var CapDrop = ["ALL"]
            public var CapAdd: [String]
            public var Memory: Int
            public var PidsLimit: Int
            public var NetworkMode: String
            public var NanoCpus: Int?
            public var ReadonlyRootfs: Bool?
            /// Path -> mount options (`size=64m,nosuid,nodev`).
            public var Tmpfs: [String: String]?
            public var ShmSize: Int?
            public var SecurityOpt: [String]?
            public var CgroupnsMode: String?
            public var Sysctls: [String: String]?
            public init(
                Mounts: [Mount] = [], CapAdd: [String], Memory: Int, PidsLimit: Int, NetworkMode: String,
                restart: String = "unless-stopped"
            ) {
                self.RestartPolicy = ["Name": restart]
                self.Mounts = Mounts; self.CapAdd = CapAdd; self.Memory = Memory; self.PidsLimit = PidsLimit;
                self.NetworkMode = NetworkMode
            }
        }
        public struct Mount: Encodable, Sendable {
            public var `Type` = "bind"
            public var Source: String
            public var Target: String
            public var ReadOnly = false
            public var BindOptions = ["Propagation": "rprivate"]
            public init(Source: String, Target: String) { self.Source = Source; self.Target = Target }
        }
        /// Per network: the fixed IPv4 address (`IPAMConfig.IPv4Address`).
        public struct Networking: Encodable, Sendable {
            public var EndpointsConfig: [String: Endpoint]
            public struct Endpoint: Encodable, Sendable {
                public var IPAMConfig: [String: String]
                public init(ipv4: String) { IPAMConfig = ["IPv4Address": ipv4] }
            }
            public init(network: String, ipv4: String) { EndpointsConfig = [network: Endpoint(ipv4: ipv4)] }
        }
    }

    public func createContainer(name: String, spec: ContainerSpec) throws -> String {
        struct Created: Decodable { var Id: String }
        let r = try call("POST", "/containers/create", query: [("name", name)], body: JSONEncoder().encode(spec))
        return try (decode(r) as Created).Id
    }

    /// A file or folder of a container (one created and never started
    /// too) as the engine's tar archive; nil when the path does not exist.
    public func archive(container: String, path: String) throws -> Data? {
        let p = "/containers/\(DockerClient.escape(container))/archive"
        do { return try call("GET", p, query: [("path", path)]).body } catch let e as DockerError where e.status == 404
        { return nil }
    }

    public func start(container: String) throws {
        try call("POST", "/containers/\(DockerClient.escape(container))/start", expect: [204, 304])
    }
    public func stop(container: String, timeout: Int = 10) throws {
        try call(
            "POST", "/containers/\(DockerClient.escape(container))/stop", query: [("t", "\(timeout)")],
            expect: [204, 304])
    }
    /// Changes the restart policy of an existing container.
    public func setRestartPolicy(container: String, _ policy: String) throws {
        let body = try JSONSerialization.data(withJSONObject: ["RestartPolicy": ["Name": policy]])
        try call("POST", "/containers/\(DockerClient.escape(container))/update", body: body)
    }
    public func restart(container: String) throws {
        try call("POST", "/containers/\(DockerClient.escape(container))/restart", expect: [204])
    }
    public func remove(container: String, force: Bool = true) throws {
        do {
            try call(
                "DELETE", "/containers/\(DockerClient.escape(container))",
                query: [("force", force ? "1" : "0"), ("v", "0")])
        } catch let e as DockerError where e.status == 404 {}
    }
    public func rename(container: String, to name: String) throws {
        try call("POST", "/containers/\(DockerClient.escape(container))/rename", query: [("name", name)], expect: [204])
    }

    /// stdout and stderr of a container (the multiplexed stream decoded).
    public func logs(container: String, tail: Int = 100) throws -> String {
        let r = try call(
            "GET", "/containers/\(DockerClient.escape(container))/logs",
            query: [("stdout", "1"), ("stderr", "1"), ("tail", "\(tail)")])
        var out = Data(), b = r.body[...]
        while b.count >= 8 {
            let h = Array(b.prefix(8))
            // a TTY stream: raw
            guard h[0] <= 2, h[1] == 0, h[2] == 0, h[3] == 0 else { return String(decoding: r.body, as: UTF8.self) }
            let n = Int(h[4]) << 24 | Int(h[5]) << 16 | Int(h[6]) << 8 | Int(h[7])
            b = b.dropFirst(8)
            out.append(b.prefix(n)); b = b.dropFirst(n)
        }
        return String(decoding: out, as: UTF8.self)
    }

    /// Waits for a container to stop; returns its exit code.
    public func wait(container: String) throws -> Int {
        struct W: Decodable { var StatusCode: Int }
        return try (decode(call("POST", "/containers/\(DockerClient.escape(container))/wait", timeout: 300)) as W)
            .StatusCode
    }
}

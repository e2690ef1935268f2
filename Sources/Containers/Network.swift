import Core
import Foundation
import Synchronization

/// The mailbox network: a bridge without inter-container traffic, and the
/// host's own firewall rules for it, in two chains named after the
/// network's id. `SEMAIL-F-<id12>` (hooked first in DOCKER-USER, for what
/// the host forwards to and from the bridge) and `SEMAIL-I-<id12>` (hooked
/// first in INPUT, for what containers send to the host itself) let through
/// replies and the `[containers] egress` destinations, and drop the rest.
/// The host reaches the containers (its own connections are not forwarded).
public struct MailboxNetwork: Sendable {
    public let name: String
    public let egress: [Egress]
    public let client: DockerClient
    public let runner: ProcessRunner
    /// `[containers] subnet`: "" = the one the engine picks at creation, then kept.
    public var subnet: String = ""

    public static let label = "semail.network"
    /// The subnet the network was made with, configured (fixed addresses need one).
    public static let subnetLabel = "semail.subnet"
    /// The option that turns inter-container traffic off on a bridge.
    static let iccOption = "com.docker.network.bridge.enable_icc"
    /// One ensure at a time in this process (bulk runs create mailboxes in parallel).
    /// When this process last wrote each network's rules, by network id.
    static let lock = Mutex<[String: Date]>([:])
    /// Rules written this long ago are written again by the next `ensure`
    /// (a firewall reload may have dropped them; a long `reconcile --watch`).
    static let reapplyAfter: TimeInterval = 30

    public init(name: String, egress: [Egress], client: DockerClient, runner: ProcessRunner) {
        self.name = name; self.egress = egress; self.client = client; self.runner = runner
    }

    static func chains(_ id: String) -> (forward: String, input: String) {
        ("SEMAIL-F-\(id.prefix(12))", "SEMAIL-I-\(id.prefix(12))")
    }
    static func bridge(_ n: DockerClient.Network) -> String {
        n.Options?["com.docker.network.bridge.name"] ?? "br-\(n.Id.prefix(12))"
    }

    /// Why an existing network must be made again (nil: it is right):
    /// inter-container traffic on, or no configured subnet (or another one
    /// than `[containers] subnet`).
    func mismatch(_ n: DockerClient.Network) -> (what: String, why: String)? {
        if n.Driver != "bridge" || n.Options?[Self.iccOption] != "false" {
            return (
                "the network \(name) lets containers reach each other",
                "an older semailctl made it with inter-container traffic on"
            )
        }
        guard let made = n.Labels?[Self.subnetLabel], n.ipv4?.subnet == made else {
            return (
                "the network \(name) has no fixed subnet",
                "an older semailctl made it without one, so containers cannot keep their addresses"
            )
        }
        if !subnet.isEmpty && made != subnet {
            return ("the network \(name) has the subnet \(made)", "[containers] subnet is \(subnet)")
        }
        return nil
    }

    /// Makes the network exist with inter-container traffic off, a
    /// configured subnet (`[containers] subnet`, or the one the engine's
    /// pools give, fixed at creation) and its rules in place (idempotent;
    /// rules are rewritten each time, in one iptables-restore transaction).
    /// A network of that name made without those settings is recreated when
    /// nothing uses it, refused otherwise.
    @discardableResult
    public func ensure() throws -> DockerClient.Network {
        try Self.lock.withLock { applied in try ensureLocked(&applied) }
    }

    private func ensureLocked(_ applied: inout [String: Date]) throws -> DockerClient.Network {
        if let n = try client.network(name) {
            guard n.Labels?[Self.label] != nil else {
                throw SemailError(
                    "a network named \(name) exists but semailctl did not make it",
                    why: "it has no \(Self.label) label",
                    hint: "choose another [containers] network, or remove it yourself (`docker network rm \(name)`)",
                    status: .failure)
            }
            if let (what, why) = mismatch(n) {
                let users = (n.Containers ?? [:]).values.compactMap(\.Name).sorted()
                guard users.isEmpty else {
                    throw SemailError(
                        what,
                        why:
                            """
                            \(why); \(users.count) container(s) still use it: \
                            \(users.prefix(5).joined(separator: ", "))
                            """,
                        hint:
                            """
                            remove its containers (`semailctl container remove UID` for each; the mail stays), \
                            then run \
                            `semailctl reconcile`: the network is made again and the containers are recreated
                            """,
                        status: .failure)
                }
                try client.removeNetwork(n.Id)
            } else {
                // Written by this process moments ago (an import's workers, one pass): not again.
                if let t = applied[n.Id], Date().timeIntervalSince(t) < Self.reapplyAfter { return n }
                try applyRules(n)
                applied[n.Id] = Date()
                return n
            }
        }
        var want = subnet, gateway: String?
        if want.isEmpty {
            // The engine picks a free subnet from its pools; it is then made again with that subnet configured.
            let probe = try client.ensureNetwork(name, labels: [Self.label: "1"], options: [Self.iccOption: "false"])
            guard let sn = probe.ipv4?.subnet else {
                throw SemailError(
                    "the engine gave the network \(name) no IPv4 subnet", why: "its IPAM configuration is empty",
                    hint: "set [containers] subnet (e.g. \"172.30.0.0/24\")", status: .failure)
            }
            try client.removeNetwork(probe.Id)
            want = sn
            gateway = probe.ipv4?.gateway
        }
        // The gateway is named (the engine's choice, the first address), so the network's inspect shows it.
        if gateway == nil, let s = IPv4Subnet(want) { gateway = IPv4Subnet.text(s.network + 1) }
        let n = try client.ensureNetwork(
            name, labels: [Self.label: "1", Self.subnetLabel: want], options: [Self.iccOption: "false"],
            subnet: want, gateway: gateway)
        try applyRules(n)
        applied[n.Id] = Date()
        return n
    }

    /// The rules of both chains, in order, as argv tails (chain first).
    static func chainRules(bridge br: String, id: String, egress: [Egress]) -> [[String]] {
        let (f, i) = chains(id)
        let established = ["-m", "conntrack", "--ctstate", "RELATED,ESTABLISHED", "-j", "RETURN"]
        func allow(_ e: Egress) -> [String] {
            ["-p", e.proto.rawValue, "-d", "\(e.address)/32", "--dport", "\(e.port)", "-j", "RETURN"]
        }
        return [[f] + established] + egress.map { [f, "-i", br] + allow($0) } + [[f, "-j", "DROP"]]
            + [[i] + established] + egress.map { [i] + allow($0) } + [[i, "-j", "DROP"]]
    }

    /// The iptables-restore input that (re)writes both chains, plus the
    /// hooks that are missing.
    static func rules(bridge br: String, id: String, egress: [Egress], hooks: [String]) -> String {
        let (f, i) = chains(id)
        let lines =
            ["*filter", ":\(f) - [0:0]", ":\(i) - [0:0]"]
            + chainRules(bridge: br, id: id, egress: egress).map { "-A " + $0.joined(separator: " ") }
            + hooks + ["COMMIT"]
        return lines.joined(separator: "\n") + "\n"
    }

    /// The hooks and the chains' rules as `iptables -S` prints them: its
    /// own order (-d, -i, -p, the protocol's match, the target), not ours.
    static func listed(bridge br: String, id: String, egress: [Egress]) -> (hooks: [String], rules: [String]) {
        let (f, i) = chains(id)
        let established = "-m conntrack --ctstate RELATED,ESTABLISHED -j RETURN"
        func allow(_ e: Egress, _ iface: String) -> String {
            "-d \(e.address)/32\(iface) -p \(e.proto.rawValue) -m \(e.proto.rawValue) --dport \(e.port) -j RETURN"
        }
        let rules =
            ["-A \(f) \(established)"] + egress.map { "-A \(f) \(allow($0, " -i \(br)"))" } + ["-A \(f) -j DROP"]
            + ["-A \(i) \(established)"] + egress.map { "-A \(i) \(allow($0, ""))" } + ["-A \(i) -j DROP"]
        return (hooks(bridge: br, id: id).map { "-A " + $0.joined(separator: " ") }, rules)
    }

    /// Why the network is not as `ensure` leaves it, nil when it is: its
    /// options, every hook and every rule (after a reboot the rules are gone
    /// while dockerd restarts the containers). One `iptables -S` reads them
    /// all (a no-op reconcile waits for it).
    public func drift() throws -> String? {
        guard let n = try client.network(name) else { return nil }  // made with the first container
        if let (what, why) = mismatch(n) { return "\(what) (\(why))" }
        let (hooks, want) = Self.listed(bridge: Self.bridge(n), id: n.Id, egress: egress)
        let (f, i) = Self.chains(n.Id)
        let listing: [Substring]
        do {
            listing = try runner.run(["iptables", "-w", "-S"]).text.split(separator: "\n")
        } catch let e as ProcessError {
            return "its firewall rules cannot be read: \(e.description)"
        }
        let lines = Set(listing.map(String.init))
        if !hooks.allSatisfy(lines.contains) || !lines.contains("-N \(f)") || !lines.contains("-N \(i)") {
            return "its firewall rules are missing (after a reboot, or removed by hand)"
        }
        let have = listing.filter { $0.hasPrefix("-A \(f) ") || $0.hasPrefix("-A \(i) ") }.map(String.init)
        if !want.allSatisfy(have.contains) { return "its firewall rules differ from [containers] egress" }
        if have.count != want.count { return "its firewall chains hold rules semailctl did not write" }
        return nil
    }

    /// The rules that send the bridge's traffic into the chains, as argv tails.
    static func hooks(bridge br: String, id: String) -> [[String]] {
        let (f, i) = chains(id)
        return [["DOCKER-USER", "-i", br, "-j", f], ["DOCKER-USER", "-o", br, "-j", f], ["INPUT", "-i", br, "-j", i]]
    }

    func applyRules(_ n: DockerClient.Network) throws {
        let br = Self.bridge(n)
        do {
            // DOCKER-USER is made by dockerd; it is missing only when dockerd runs with --iptables=false.
            if try runner.run(["iptables", "-w", "-S", "DOCKER-USER"], check: false).status != 0 {
                throw SemailError(
                    "cannot isolate the containers of \(name)",
                    why: "the DOCKER-USER chain is missing (is dockerd running with --iptables=false?)",
                    hint: "let dockerd manage iptables (the default), then run the command again", status: .unavailable)
            }
            var missing: [String] = []
            for h in Self.hooks(bridge: br, id: n.Id)
            where try runner.run(["iptables", "-w", "-C"] + h, check: false).status != 0 {
                missing.append((["-I", h[0], "1"] + h.dropFirst()).joined(separator: " "))
            }
            try runner.run(
                ["iptables-restore", "-w", "--noflush"],
                stdin: Data(Self.rules(bridge: br, id: n.Id, egress: egress, hooks: missing).utf8))
        } catch let e as ProcessError {
            throw SemailError(
                "cannot install the firewall rules of the network \(name)", why: e.description,
                hint: "install iptables and run as root; the containers are not started without them",
                status: .unavailable)
        }
    }

    /// Removes the network (it must be unused) and its hooks and chains.
    public func remove() throws {
        guard let n = try client.network(name) else { return }
        guard n.Labels?[Self.label] != nil else {
            throw SemailError(
                "refusing to remove the network \(name)",
                why: "it has no \(Self.label) label, so semailctl did not make it", status: .failure)
        }
        do { try client.removeNetwork(n.Id) } catch let e as DockerError {
            throw SemailError(
                "cannot remove the network \(name)", why: e.description,
                hint: "remove the containers that use it first (`semailctl container remove UID`)", status: .failure)
        }
        try removeRules(n)
    }

    func removeRules(_ n: DockerClient.Network) throws {
        let (f, i) = Self.chains(n.Id)
        do {
            for h in Self.hooks(bridge: Self.bridge(n), id: n.Id) {
                while try runner.run(["iptables", "-w", "-C"] + h, check: false).status == 0 {
                    try runner.run(["iptables", "-w", "-D"] + h)
                }
            }
            for c in [f, i] where try runner.run(["iptables", "-w", "-S", c], check: false).status == 0 {
                try runner.run(["iptables", "-w", "-F", c])
                try runner.run(["iptables", "-w", "-X", c])
            }
        } catch let e as ProcessError {
            throw SemailError(
                "the network \(name) is removed but not all of its firewall rules", why: e.description,
                hint: "remove the chains \(f) and \(i) and the rules jumping to them (`iptables -S | grep SEMAIL-`)",
                status: .failure)
        }
    }
}

extension ContainerManager {
    /// The mailbox network of `[containers] network`, with its firewall rules.
    public func network() throws -> MailboxNetwork {
        var n = MailboxNetwork(
            name: config.network, egress: try Egress.parse(config.egress), client: client, runner: runner)
        n.subnet = config.subnet
        return n
    }
}

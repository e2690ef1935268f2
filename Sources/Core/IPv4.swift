import Foundation

/// One destination a mailbox container may open connections to
/// (`[containers] egress`): `tcp:192.0.2.10:25`, `udp:192.0.2.1:53`.
public struct Egress: Sendable, Equatable, CustomStringConvertible {
    public enum Proto: String, Sendable { case tcp, udp }
    public var proto: Proto
    public var address: String
    public var port: Int
    public var description: String { "\(proto.rawValue):\(address):\(port)" }

    /// Parses the space-separated list; anything that is not exactly
    /// `tcp|udp:IPv4:port` is refused with the offending item.
    public static func parse(_ text: String) throws -> [Egress] {
        try text.split(whereSeparator: { $0 == " " || $0 == "\t" }).map { item in
            let f = item.split(separator: ":", omittingEmptySubsequences: false).map(String.init)
            guard f.count == 3, let proto = Proto(rawValue: f[0]), isIPv4(f[1]),
                let port = Int(f[2]), f[2].allSatisfy(\.isASCII), f[2].first != "0", (1...65535).contains(port)
            else {
                throw SemailError(
                    "invalid egress destination \"\(item)\"",
                    why: "each item is tcp|udp:IPv4-address:port, e.g. tcp:192.0.2.10:25",
                    hint: "fix [containers] egress", status: .config)
            }
            return Egress(proto: proto, address: f[1], port: port)
        }
    }

    static func isIPv4(_ s: String) -> Bool {
        let parts = s.split(separator: ".", omittingEmptySubsequences: false)
        return parts.count == 4
            && parts.allSatisfy { p in
                !p.isEmpty && p.count <= 3 && p.allSatisfy { $0.isASCII && $0.isNumber } && (p == "0" || p.first != "0")
                    && Int(p)! <= 255
            }
    }
}

/// An IPv4 subnet in CIDR form ("172.30.0.0/24").
public struct IPv4Subnet: Sendable, Equatable, CustomStringConvertible {
    public var network: UInt32
    public var prefix: Int
    public var description: String { "\(Self.text(network))/\(prefix)" }
    var mask: UInt32 { prefix == 0 ? 0 : ~UInt32(0) << (32 - prefix) }
    var broadcast: UInt32 { network | ~mask }

    /// Parses `a.b.c.d/n`; the host bits must be zero, and the subnet must
    /// hold a few containers (/8 to /29).
    public init?(_ s: String) {
        let parts = s.split(separator: "/", omittingEmptySubsequences: false)
        guard parts.count == 2, let ip = Self.parse(String(parts[0])),
            parts[1].allSatisfy({ $0.isASCII && $0.isNumber }), let n = Int(parts[1]), (8...29).contains(n)
        else { return nil }
        network = ip; prefix = n
        guard ip & ~mask == 0 else { return nil }
    }

    public static func parse(_ s: String) -> UInt32? {
        guard Egress.isIPv4(s) else { return nil }
        return s.split(separator: ".").reduce(UInt32(0)) { $0 << 8 | UInt32($1)! }
    }
    public static func text(_ v: UInt32) -> String { "\(v >> 24).\(v >> 16 & 255).\(v >> 8 & 255).\(v & 255)" }
    public func contains(_ ip: UInt32) -> Bool { ip & mask == network }
    /// Addresses a container may have: not the network, not the broadcast.
    public func isHost(_ ip: UInt32) -> Bool { contains(ip) && ip != network && ip != broadcast }
}

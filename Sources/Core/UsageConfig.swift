import Foundation

extension Config {
    /// `[usage]` and `[metrics]`: thresholds ascending within 1...100, a valid From, a listen address that is
    /// loopback unless `allow_remote`.
    func validateUsage(_ bad: (String, String) -> Void) {
        let w = usage.warnPercent
        if !w.allSatisfy({ (1...100).contains($0) }) || zip(w, w.dropFirst()).contains(where: { $0 >= $1 }) {
            bad(
                "usage.warn_percent",
                "must be ascending percentages between 1 and 100, e.g. [80, 95] ([] = no warnings)")
        }
        if !usage.from.isEmpty && (try? Validate.address(usage.from)) == nil {
            bad(
                "usage.from",
                "must be an address such as \"postmaster@example.org\" (or \"\" for postmaster@[dns] zone)")
        }
        if usage.interval < 0 { bad("usage.interval", "must be a number of seconds (0: only in reconcile passes)") }
        if !metrics.listen.isEmpty {
            if let a = Web.listenAddress(metrics.listen) {
                if !Metrics.isLoopback(a.host) && !metrics.allowRemote {
                    bad(
                        "metrics.listen",
                        "\(a.host) is not a loopback address: the metrics name every mailbox; put a proxy with "
                            + "authentication in front, or set allow_remote = true")
                }
            } else {
                bad("metrics.listen", "must be IPv4:port or [IPv6]:port, e.g. \"127.0.0.1:9468\" (or \"\" for none)")
            }
        }
    }

    /// The From: address of usage warnings.
    public var usageFrom: String { usage.from.isEmpty ? "postmaster@\(dns.zone)" : usage.from }
}

extension Config.Metrics {
    /// 127.0.0.0/8 or ::1.
    public static func isLoopback(_ host: String) -> Bool {
        if host.contains(":") {
            var a = in6_addr()
            return inet_pton(AF_INET6, host, &a) == 1
                && withUnsafeBytes(of: &a) { b in
                    b.prefix(15).allSatisfy { $0 == 0 } && b[15] == 1
                }
        }
        return host.split(separator: ".").first == "127"
    }
}

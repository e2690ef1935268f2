import Core
import Foundation

/// Each mailbox's fixed container address: `<state>/addresses`, one
/// `uid address` line each, root's (0600), rewritten atomically under
/// `<state>/addresses.lock`. An address is handed out once (the lowest free
/// one after the gateway) and kept across rebuilds, restarts and engine
/// restarts; it is freed only when the mailbox's container is removed
/// (`mailbox delete`, `container remove`, `reconcile --prune`).
public struct ContainerAddresses: Sendable {
    public let stateDir: String
    public init(stateDir: String) { self.stateDir = stateDir }
    public var path: String { "\(stateDir)/addresses" }

    /// uid -> address, as the file says (read with the state files' trust checks).
    public func entries() throws -> [String: String] {
        guard FileManager.default.fileExists(atPath: path) else { return [:] }
        let text = String(decoding: try Trust.read(path, what: "the container address file"), as: UTF8.self)
        var d: [String: String] = [:]
        for l in text.split(separator: "\n") {
            let f = l.split(separator: " ")
            guard f.count == 2, (try? Validate.uid(String(f[0]))) != nil, IPv4Subnet.parse(String(f[1])) != nil else {
                continue
            }
            d[String(f[0])] = String(f[1])
        }
        return d
    }

    func locked<T>(_ body: () throws -> T) throws -> T {
        try Trust.stateDirectory(stateDir)
        let lock: FileLock
        do { lock = try FileLock(path: "\(path).lock") } catch let e as FileError {
            throw SemailError("cannot lock \(path)", why: e.description, status: .ioError)
        }
        defer { lock.release() }
        return try body()
    }

    func write(_ d: [String: String]) throws {
        let text = d.sorted { $0.key < $1.key }.map { "\($0.key) \($0.value)\n" }.joined()
        do { try AtomicFile.write(path, Array(text.utf8), mode: 0o600) } catch let e as FileError {
            throw SemailError("cannot write \(path)", why: e.description, hint: "check [state] dir", status: .ioError)
        }
    }

    /// UID's address in `subnet`: the one it has, or the lowest free one
    /// after `gateway` (also skipping `inUse`: addresses the engine has
    /// given to containers that are not UID's).
    public func assign(_ uid: String, subnet: IPv4Subnet, gateway: String?, inUse: Set<String> = []) throws -> String {
        try locked {
            var d = try entries()
            if let have = d[uid], let v = IPv4Subnet.parse(have), subnet.isHost(v), have != gateway { return have }
            let gw = gateway.flatMap(IPv4Subnet.parse) ?? subnet.network + 1
            let taken = Set(d.filter { $0.key != uid }.values).union(inUse)
            var ip = max(gw, subnet.network) + 1
            while subnet.isHost(ip) && taken.contains(IPv4Subnet.text(ip)) { ip += 1 }
            guard subnet.isHost(ip) else {
                throw SemailError(
                    "no free container address in \(subnet)", why: "\(taken.count) addresses are taken",
                    hint: "choose a larger [containers] subnet (the network is made again once no container uses it)",
                    status: .failure)
            }
            d[uid] = IPv4Subnet.text(ip)
            try write(d)
            return d[uid]!
        }
    }

    /// Frees UID's address (nothing to do when it has none).
    public func release(_ uid: String) throws {
        guard FileManager.default.fileExists(atPath: path) else { return }
        try locked {
            var d = try entries()
            guard d.removeValue(forKey: uid) != nil else { return }
            try write(d)
        }
    }
}

import Core
import Foundation

/// Why a directory request (an entry's semailMailbox, from `import` or
/// written by hand) last failed to provision: the request stays on the
/// entry, reconcile retries it, a success clears this.
public struct ProvisioningFailure: Sendable, Codable, Equatable {
    public var uid: String
    public var address: String
    /// The size the request asked for (nil: the default).
    public var size: UInt64?
    /// Who asked: an admin's request keeps the admin's rules on retry.
    public var by: Requester
    public var step: String?
    public var reason: String
    /// ISO 8601, UTC.
    public var at: String
}

/// `<state>/failures/<uid>.json`, one per uid, root's, written atomically:
/// trusted like the journal (never read from the user-writable entry).
public struct ProvisioningFailures: Sendable {
    public let dir: String
    public init(stateDir: String) { dir = "\(stateDir)/failures" }

    func path(_ uid: String) -> String { "\(dir)/\(uid).json" }

    public func record(_ f: ProvisioningFailure) throws {
        let uid = try Validate.uid(f.uid)
        try Trust.stateDirectory((dir as NSString).deletingLastPathComponent)
        try Trust.stateDirectory(dir)
        let enc = JSONEncoder(); enc.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        try AtomicFile.write(path(uid), Array(try enc.encode(f)), mode: 0o600)
    }

    public func clear(_ uid: String) {
        guard let uid = try? Validate.uid(uid), unlink(path(uid)) == 0 else { return }
        AtomicFile.syncDirectory(dir)
    }

    public func get(_ uid: String) -> ProvisioningFailure? {
        guard let uid = try? Validate.uid(uid), FileManager.default.fileExists(atPath: path(uid)),
            let bytes = try? Trust.read(path(uid), what: "the provisioning failure record", secret: true)
        else { return nil }
        return try? JSONDecoder().decode(ProvisioningFailure.self, from: Data(bytes))
    }

    /// Every record, by uid (a file whose name is not its uid is ignored).
    public func all() -> [String: ProvisioningFailure] {
        guard let names = try? FileManager.default.contentsOfDirectory(atPath: dir) else { return [:] }
        var out: [String: ProvisioningFailure] = [:]
        for n in names where n.hasSuffix(".json") {
            let uid = String(n.dropLast(5))
            if let f = get(uid), f.uid == uid { out[uid] = f }
        }
        return out
    }

    public static func now() -> String {
        let f = ISO8601DateFormatter(); f.formatOptions = [.withInternetDateTime]
        return f.string(from: Date())
    }
}

extension ProvisioningFailure {
    /// "last failed: <reason> at <time>".
    public var summary: String {
        "last failed: \(reason.replacingOccurrences(of: "\n", with: " "))\(step.map { " (step \($0))" } ?? "") at \(at)"
    }
}

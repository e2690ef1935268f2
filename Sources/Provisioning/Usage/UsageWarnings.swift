import Core
import Foundation
import Storage

/// When to warn: once per crossing of a threshold, as Dovecot's quota
/// warnings do. The state is the highest threshold already warned about;
/// it falls with the usage, which re-arms the thresholds above.
public enum UsageThresholds {
    /// THRESHOLDS ascending; WARNED the highest already warned (nil: none).
    /// Returns the threshold to warn about now (the highest one reached, if
    /// not warned yet: a jump from 50 % to 97 % sends one warning, at 95 %)
    /// and the state to remember.
    public static func step(_ thresholds: [Int], warned: Int?, percent: Int) -> (warn: Int?, warned: Int?) {
        guard let reached = thresholds.last(where: { percent >= $0 }) else { return (nil, nil) }
        if let w = warned, w >= reached { return (nil, reached) }
        return (reached, reached)
    }
}

/// `<state>/usage-warnings.json`: uid -> the highest threshold warned.
/// Root's, mode 0600, written atomically; read through `Trust` and checked
/// entry by entry (an invalid uid or value is dropped, never acted on).
public struct UsageWarningState: Sendable {
    public let path: String
    let lockPath: String
    public init(stateDir: String) {
        path = "\(stateDir)/usage-warnings.json"
        lockPath = "\(stateDir)/usage-warnings.lock"
    }

    struct File: Codable { var version = 1; var warned: [String: Int] }

    /// The remembered state; a file that is not valid JSON of this shape counts as empty.
    public func read() throws -> [String: Int] {
        guard FileManager.default.fileExists(atPath: path) else { return [:] }
        let bytes = try Trust.read(path, what: "the usage warning state", secret: true)
        return Self.decode(bytes)
    }

    static func decode(_ bytes: [UInt8]) -> [String: Int] {
        guard let f = try? JSONDecoder().decode(File.self, from: Data(bytes)), f.version == 1 else { return [:] }
        return f.warned.filter { (try? Validate.uid($0.key)) != nil && (1...100).contains($0.value) }
    }

    public func write(_ warned: [String: Int]) throws {
        try Trust.stateDirectory((path as NSString).deletingLastPathComponent)
        let enc = JSONEncoder()
        enc.outputFormatting = [.sortedKeys]
        try AtomicFile.write(path, Array(try enc.encode(File(warned: warned))), mode: 0o600)
    }

    /// Runs BODY holding this state's own lock (not the state lock: `mailbox usage` changes nothing else).
    func locked<T>(_ body: () throws -> T) throws -> T {
        try Trust.stateDirectory((path as NSString).deletingLastPathComponent)
        let lock: FileLock
        do { lock = try FileLock(path: lockPath) } catch {
            throw SemailError("cannot lock \(lockPath)", why: "\(error)", status: .ioError)
        }
        defer { lock.release() }
        return try body()
    }
}

/// The warning delivered into a mailbox: an RFC 5322 message from the
/// postmaster to the user, saying how full the mailbox is and what to do.
public enum UsageWarningMessage {
    public static func render(
        to address: String, from: String, threshold: Int, usage: VolumeUsage, date: Date = Date(),
        id: String = UUID().uuidString.lowercased()
    ) -> String {
        let f = DateFormatter()
        f.locale = Locale(identifier: "en_US_POSIX")
        f.timeZone = TimeZone(identifier: "UTC")
        f.dateFormat = "EEE, dd MMM yyyy HH:mm:ss Z"
        let domain = from.split(separator: "@").last.map(String.init) ?? "localhost"
        let pct = usage.percent
        return """
            From: Postmaster <\(from)>
            To: <\(address)>
            Subject: Your mailbox is \(pct)% full
            Date: \(f.string(from: date))
            Message-ID: <usage-\(threshold)-\(id)@\(domain)>
            MIME-Version: 1.0
            Content-Type: text/plain; charset=utf-8
            Content-Transfer-Encoding: 8bit
            Auto-Submitted: auto-generated

            Your mailbox \(address) has passed \(threshold)% of its space: \(ByteSize.format(usage.used)) of \
            \(ByteSize.format(usage.used + usage.available)) are used (\(pct)%).

            When it is full, new mail can no longer be delivered: senders get it back.

            What to do:
            - delete messages you no longer need, large attachments first, and empty the Trash folder;
            - or ask your administrator for a larger mailbox.

            You get this message once each time the mailbox passes \(threshold)%.

            -- \nThe postmaster of \(domain)

            """
    }
}

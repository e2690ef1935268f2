import Containers
import Core
import Directory
import Foundation

/// The programs a user chose for their own container (`semailPackage` on
/// the entry, `user packages`): added after `[containers] packages` to the
/// container's package list; the container is rebuilt with its mail kept
/// (the volume stays mounted; only the image and the container change).
public struct Software: Sendable {
    public let host: Host
    public init(host: Host) { self.host = host }

    public struct Result: Sendable, Codable {
        public var uid: String
        /// The user's own list, as the entry now holds it.
        public var packages: [String]
        /// The admin's packages every container has (`[containers] packages`).
        public var global: [String]
        /// The rebuild of the container, when the user has one and the list changed.
        public var container: ContainerResult?
    }

    /// The list after adding ADD and removing REMOVE (each a Debian package
    /// name); the order kept, each once.
    public static func edit(_ current: [String], add: [String], remove: [String]) throws -> [String] {
        let adding = try add.map { try Validate.debianPackage($0) }
        let removing = Set(try remove.map { try Validate.debianPackage($0) })
        var seen = Set<String>()
        return (current + adding).filter { !removing.contains($0) && seen.insert($0).inserted }
    }

    /// What apt said in a failed build (its `E:` lines, without terminal
    /// colours), else the start of the error.
    static func aptReason(_ text: String) -> String {
        let plain = text.replacingOccurrences(of: "\u{1B}\\[[0-9;]*m", with: "", options: .regularExpression)
        var errors: [String] = []
        var rest = plain[...]
        while let r = rest.range(of: "E: ") {
            let line = rest[r.upperBound...].prefix { $0 != "\n" }
            let cut = line.range(of: "Removing intermediate container").map { line[..<$0.lowerBound] } ?? line
            errors.append(String(cut).trimmingCharacters(in: .whitespaces))
            rest = rest[r.upperBound...]
        }
        if !errors.isEmpty { return "apt: " + errors.joined(separator: "; ") }
        return plain.count > 300 ? String(plain.prefix(300)) + "…" : plain
    }

    /// Shows (no change given) or changes UID's list; a change rebuilds the
    /// container when there is one. The caller holds the state lock for a change.
    public func apply(_ uid: String, add: [String], remove: [String]) throws -> Result {
        let dir = try host.directory()
        let before = try dir.user(uid).packages
        let after = try Self.edit(before, add: add, remove: remove)
        let global = host.config.containers.packages.split(separator: " ").map(String.init)
        guard after != before else { return Result(uid: uid, packages: before, global: global) }
        let u = try dir.setPackages(uid, after)
        do {
            return Result(
                uid: uid, packages: u.packages, global: global,
                container: try SelfServiceContainer(host: host).refresh(uid))
        } catch {
            // The old container still serves (a rebuild swaps only once the new one runs): the list goes back
            // to what that container has, so the entry never asks for what could not be built.
            _ = try? dir.setPackages(uid, before)
            _ = try? SelfServiceContainer(host: host).refresh(uid)
            host.reporter.warn(
                "\(uid): rebuild with \(after.joined(separator: " ")) failed: \(SemailError.text(error))")
            throw SemailError(
                "the container of \(uid) could not be rebuilt with \(after.joined(separator: " "))",
                why: Self.aptReason(SemailError.text(error)),
                hint: "the list is back to what it was and the old container still serves; check the package names "
                    + "(apt must know them) and try again", status: .failure)
        }
    }
}

/// What a self-service change of the entry does to the container.
public struct SelfServiceContainer: Sendable {
    public let host: Host
    public init(host: Host) { self.host = host }

    /// Renders UID's container again from the entry (keys, packages) and
    /// rebuilds it when that changed, when UID has a mailbox with a
    /// container; nil otherwise. The old container serves until the new one
    /// runs; the mail volume is not touched.
    public func refresh(_ uid: String) throws -> ContainerResult? {
        // A suspended mailbox's container stays stopped: its resume builds it from the entry as it is then.
        guard let m = try host.directory().mailbox(uid), m.suspension == nil else { return nil }
        let cm = host.containers()
        guard try cm.list().contains(where: { $0.uid == uid }) else { return nil }
        return try cm.ensure(host.containerInput(uid, address: m.address), force: false)
    }
}

import Core
import Foundation
import LDAPClient

/// A mailbox's suspension as its entry records it (`semailState`,
/// `semailStateReason`; semail.schema). The values are directory data, so
/// untrusted: a state other than "active" (or none) counts as suspended
/// (a typo never gives access back), and the reason is cut and made
/// printable before anything shows it.
public struct Suspension: Sendable, Codable, Equatable {
    /// The state value as stored, made printable ("suspended" when set by semailctl).
    public var state: String
    /// Why, as stored (printable, at most `Suspension.maxReason` characters); nil when none.
    public var reason: String?

    public static let attribute = "semailState"
    public static let reasonAttribute = "semailStateReason"
    public static let suspended = "suspended"
    public static let active = "active"
    /// The longest reason semailctl writes or shows (characters).
    public static let maxReason = 200

    public init(state: String = Suspension.suspended, reason: String? = nil) {
        self.state = state
        self.reason = reason
    }

    /// What STATE and REASON on an entry mean: nil when active.
    public static func from(state: String?, reason: String?) -> Suspension? {
        guard let state else { return nil }
        let s = state.trimmingCharacters(in: .whitespaces)
        if s.lowercased() == active { return nil }
        return Suspension(state: shown(s.isEmpty ? suspended : s, limit: 32), reason: reason.map { shown($0) })
    }

    public static func from(_ e: LDAPEntry) -> Suspension? {
        from(state: e.first(attribute), reason: e.first(reasonAttribute))
    }

    /// A stored value made safe to show: control characters escaped, cut to LIMIT characters.
    static func shown(_ s: String, limit: Int = maxReason) -> String {
        let cut = s.count > limit ? String(s.prefix(limit)) + "…" : s
        return Validate.printable(cut).replacingOccurrences(of: "\n", with: "\\n").replacingOccurrences(
            of: "\t", with: "\\t")
    }

    /// A reason given on the command line: 1-200 printable characters on one line.
    public static func validReason(_ s: String) throws -> String {
        let t = s.trimmingCharacters(in: .whitespaces)
        guard !t.isEmpty, t.count <= maxReason, !t.contains("\n"), !t.contains("\t"), Validate.printable(t) == t
        else {
            throw SemailError(
                "invalid reason \(Validate.quoted(s))",
                why: "a reason is 1-\(maxReason) printable characters on one line (no control characters)",
                hint: "shorten it, or leave --reason out", status: .usage)
        }
        return t
    }

    /// The one-line form: `suspended (reason)`.
    public var summary: String { reason.map { "\(state) (\($0))" } ?? state }
}

extension Directory {
    /// Records (SUSPENSION) or clears (nil) the state on UID's entry, in one
    /// modify; the reason goes with the state. Unchanged values are not written.
    public func setSuspension(_ uid: String, _ s: Suspension?) throws {
        guard let e = try find(uid) else { throw noUser(uid) }
        let (sa, ra) = (Suspension.attribute, Suspension.reasonAttribute)
        var mods: [LDAPModification] = []
        if let s {
            if !e.strings("objectClass").contains(where: { $0.lowercased() == "semailuser" }) {
                mods.append(.add("objectClass", ["semailUser"]))
            }
            if e.strings(sa) != [s.state] { mods.append(.replace(sa, [s.state])) }
            if let r = s.reason {
                if e.strings(ra) != [r] { mods.append(.replace(ra, [r])) }
            } else if e.first(ra) != nil {
                mods.append(.delete(ra))
            }
        } else {
            if e.first(sa) != nil { mods.append(.delete(sa)) }
            if e.first(ra) != nil { mods.append(.delete(ra)) }
        }
        if !mods.isEmpty { try wrap { try connection.modify(e.dn, mods) } }
    }

    /// The state and reason exactly as stored (for undo), nil when absent.
    public func storedState(_ uid: String) throws -> (state: String?, reason: String?) {
        guard let e = try find(uid) else { return (nil, nil) }
        return (e.first(Suspension.attribute), e.first(Suspension.reasonAttribute))
    }

    /// Puts back the state and reason as `storedState` read them.
    public func restoreState(_ uid: String, state: String?, reason: String?) throws {
        guard let e = try find(uid) else { throw noUser(uid) }
        var mods: [LDAPModification] = []
        for (a, v) in [(Suspension.attribute, state), (Suspension.reasonAttribute, reason)] {
            if let v {
                if e.strings(a) != [v] { mods.append(.replace(a, [v])) }
            } else if e.first(a) != nil {
                mods.append(.delete(a))
            }
        }
        if !mods.isEmpty { try wrap { try connection.modify(e.dn, mods) } }
    }
}

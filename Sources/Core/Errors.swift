/// Exit codes, documented in `semailctl --help` (sysexits.h where one fits).
public enum ExitStatus: Int32, Sendable, CaseIterable {
    case success = 0
    case failure = 1
    /// `reconcile --detailed-exitcode`: changes pending.
    case changes = 2
    case usage = 64
    case dataError = 65
    case unavailable = 69
    case software = 70
    case cantCreate = 73
    case ioError = 74
    case tempFailure = 75
    case noPermission = 77
    case config = 78

    public var meaning: String {
        switch self {
        case .success: "success"
        case .failure: "the operation failed (partly applied work was rolled back; see the message)"
        case .changes: "reconcile --detailed-exitcode: changes are pending"
        case .usage: "bad command line or invalid argument (nothing was changed)"
        case .dataError: "malformed input data, e.g. an LDIF or zone file line"
        case .unavailable: "a service is unreachable (LDAP server, Docker, named)"
        case .software: "internal error"
        case .cantCreate: "a resource could not be created"
        case .ioError: "an I/O error on a local file or device"
        case .tempFailure: "busy: another semailctl holds the lock (retry)"
        case .noPermission: "permission denied (e.g. secret file readable by others, bad credentials)"
        case .config:
            """
            configuration error, of semailctl or of a server it needs (e.g. reconcile --watch on a directory \
            without syncprov); restarting does not help
            """
        }
    }
}

/// Every error the tool reports: what failed, why, and what to do next.
public struct SemailError: Error, Sendable, CustomStringConvertible {
    public var what: String
    public var why: String
    public var hint: String?
    public var status: ExitStatus

    public init(_ what: String, why: String, hint: String? = nil, status: ExitStatus = .failure) {
        self.what = what; self.why = why; self.hint = hint; self.status = status
    }

    public var description: String {
        var s = "\(what): \(why)"
        if let hint { s += "\n  hint: \(hint)" }
        return s
    }
}

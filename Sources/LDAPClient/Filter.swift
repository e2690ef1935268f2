/// LDAP search filters (RFC 4515) built from values, never from strings a
/// user typed: every value is escaped on rendering.
public indirect enum LDAPFilter: Sendable, CustomStringConvertible, Equatable {
    case equal(String, String)
    case present(String)
    case greaterOrEqual(String, String)
    case lessOrEqual(String, String)
    /// `attr=initial*any*final`; each part is escaped.
    case substring(String, initial: String?, any: [String], final: String?)
    case and([LDAPFilter])
    case or([LDAPFilter])
    case not(LDAPFilter)

    public var description: String {
        switch self {
        case let .equal(a, v): return "(\(a)=\(Self.escape(v)))"
        case let .present(a): return "(\(a)=*)"
        case let .greaterOrEqual(a, v): return "(\(a)>=\(Self.escape(v)))"
        case let .lessOrEqual(a, v): return "(\(a)<=\(Self.escape(v)))"
        case let .substring(a, initial, any, final):
            let parts = [initial.map(Self.escape) ?? ""] + any.map(Self.escape) + [final.map(Self.escape) ?? ""]
            return "(\(a)=\(parts.joined(separator: "*")))"
        case let .and(fs): return "(&\(fs.map(\.description).joined()))"
        case let .or(fs): return "(|\(fs.map(\.description).joined()))"
        case let .not(f): return "(!\(f))"
        }
    }

    /// RFC 4515 §3: `*`, `(`, `)`, `\` and NUL become `\2a`, `\28`, `\29`,
    /// `\5c`, `\00`.
    public static func escape(_ value: String) -> String {
        var out = ""
        out.reserveCapacity(value.utf8.count)
        for c in value.unicodeScalars {
            switch c {
            case "*": out += "\\2a"
            case "(": out += "\\28"
            case ")": out += "\\29"
            case "\\": out += "\\5c"
            case "\0": out += "\\00"
            default: out.unicodeScalars.append(c)
            }
        }
        return out
    }
}

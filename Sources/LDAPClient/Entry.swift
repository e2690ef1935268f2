/// One attribute: a description (type plus options) and its values as bytes.
public struct LDAPAttribute: Sendable, Hashable {
    public var name: String
    public var values: [[UInt8]]
    public init(_ name: String, _ values: [[UInt8]]) { self.name = name; self.values = values }
    public init(_ name: String, strings: [String]) { self.init(name, strings.map { Array($0.utf8) }) }
    public var strings: [String] { values.map { String(decoding: $0, as: UTF8.self) } }
}

/// A directory entry: its DN and its attributes in server order.
public struct LDAPEntry: Sendable, Hashable {
    public var dn: String
    public var attributes: [LDAPAttribute]
    public init(dn: String, attributes: [LDAPAttribute]) { self.dn = dn; self.attributes = attributes }

    /// Values of an attribute, matched case-insensitively.
    public func values(_ name: String) -> [[UInt8]] {
        attributes.filter { $0.name.caseInsensitiveCompare(name) }.flatMap(\.values)
    }
    public func strings(_ name: String) -> [String] { values(name).map { String(decoding: $0, as: UTF8.self) } }
    public func first(_ name: String) -> String? { strings(name).first }

    /// Attribute name (lowercased) to the set of its values: the form two
    /// entries are compared in.
    public var valueSets: [String: Set<[UInt8]>] {
        var d: [String: Set<[UInt8]>] = [:]
        for a in attributes { d[a.name.lowercased(), default: []].formUnion(a.values) }
        return d
    }
}

extension String {
    func caseInsensitiveCompare(_ other: String) -> Bool { lowercased() == other.lowercased() }
}

public enum LDAPModOp: String, Sendable, Hashable, Codable {
    case add, delete, replace
    /// RFC 4525 modify-increment (`increment:` in LDIF).
    case increment
}

public struct LDAPModification: Sendable, Hashable {
    public var op: LDAPModOp
    public var attribute: LDAPAttribute
    public init(_ op: LDAPModOp, _ attribute: LDAPAttribute) { self.op = op; self.attribute = attribute }
    public static func replace(_ name: String, _ values: [String]) -> Self {
        .init(.replace, .init(name, strings: values))
    }
    public static func add(_ name: String, _ values: [String]) -> Self { .init(.add, .init(name, strings: values)) }
    public static func delete(_ name: String, _ values: [String] = []) -> Self {
        .init(.delete, .init(name, strings: values))
    }
}

public enum LDAPScope: Int32, Sendable {
    case base = 0, oneLevel = 1, subtree = 2
}

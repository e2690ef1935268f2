import CLDAP

/// LDAP result codes the project matches on (RFC 4511 §4.1.9 plus libldap's
/// client-side codes). Errors are matched by code, never by text.
public struct LDAPResultCode: RawRepresentable, Hashable, Sendable, CustomStringConvertible {
    public let rawValue: Int32
    public init(rawValue: Int32) { self.rawValue = rawValue }

    public static let success = Self(rawValue: 0)
    public static let operationsError = Self(rawValue: 1)
    public static let protocolError = Self(rawValue: 2)
    public static let timeLimitExceeded = Self(rawValue: 3)
    public static let sizeLimitExceeded = Self(rawValue: 4)
    public static let unavailableCriticalExtension = Self(rawValue: 12)
    public static let noSuchAttribute = Self(rawValue: 16)
    public static let undefinedAttributeType = Self(rawValue: 17)
    public static let constraintViolation = Self(rawValue: 19)
    public static let attributeOrValueExists = Self(rawValue: 20)
    public static let invalidAttributeSyntax = Self(rawValue: 21)
    public static let noSuchObject = Self(rawValue: 32)
    public static let invalidDNSyntax = Self(rawValue: 34)
    public static let inappropriateAuthentication = Self(rawValue: 48)
    public static let invalidCredentials = Self(rawValue: 49)
    public static let insufficientAccessRights = Self(rawValue: 50)
    public static let busy = Self(rawValue: 51)
    public static let unavailable = Self(rawValue: 52)
    public static let unwillingToPerform = Self(rawValue: 53)
    public static let namingViolation = Self(rawValue: 64)
    public static let objectClassViolation = Self(rawValue: 65)
    public static let notAllowedOnNonLeaf = Self(rawValue: 66)
    public static let alreadyExists = Self(rawValue: 68)
    public static let other = Self(rawValue: 80)
    /// The LDAP No-Op control's result (draft-zeilenga-ldap-noop, OpenLDAP's
    /// 0x410e): the operation would have succeeded, nothing was changed.
    public static let noOperation = Self(rawValue: 0x410e)
    // libldap client-side codes (negative).
    public static let serverDown = Self(rawValue: -1)
    public static let localError = Self(rawValue: -2)
    public static let timeout = Self(rawValue: -5)
    public static let connectError = Self(rawValue: -11)

    /// The library's own name for the code (`ldap_err2string`).
    public var description: String { String(cString: ldap_err2string(rawValue)) }

    /// True when the server could not be reached or the connection dropped.
    public var isConnectionFailure: Bool {
        self == .serverDown || self == .connectError || self == .timeout || self == .unavailable || self == .busy
    }
}

/// A failed LDAP operation: the result code, the server's diagnostic message
/// and the DN involved.
public struct LDAPError: Error, Sendable, CustomStringConvertible {
    public let code: LDAPResultCode
    public let operation: String
    public let dn: String?
    public let diagnostic: String?

    public init(code: LDAPResultCode, operation: String, dn: String? = nil, diagnostic: String? = nil) {
        self.code = code
        self.operation = operation
        self.dn = dn
        self.diagnostic = (diagnostic?.isEmpty ?? true) ? nil : diagnostic
    }

    public var description: String {
        var s = "LDAP \(operation)"
        if let dn { s += " of \"\(dn)\"" }
        s += " failed: \(code) (\(code.rawValue))"
        if let diagnostic { s += ": \(diagnostic)" }
        return s
    }
}

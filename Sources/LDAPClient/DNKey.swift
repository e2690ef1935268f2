import CLDAP

/// A DN as the server parses it, for telling whether two DNs name the same
/// entry or one is above the other. Parsed by libldap's `ldap_str2dn` (the
/// parser slapd itself uses): RFC 4514 first, then LDAPv2 forms (spaces
/// around `=`, quoted values, `;` separators, `OID.` types). Types are
/// folded to one name per attribute, values to lowercase, AVAs sorted: two
/// spellings of one DN get one key. Folding more than the server does only
/// makes the importer wait more, never less.
public struct DNKey: Hashable, Sendable {
    /// One string per RDN, from the leaf to the root.
    public let rdns: [String]
    /// Each RDN's AVAs (type as written, value as parsed), leaf first.
    public let avas: [[(type: String, value: [UInt8])]]

    public static func == (a: Self, b: Self) -> Bool { a.rdns == b.rdns }
    public func hash(into h: inout Hasher) { h.combine(rdns) }

    /// Nil when libldap cannot parse `string` in either syntax.
    public init?(_ string: String) {
        var parsed: [[(String, [UInt8])]]?
        for flags in [UInt32(LDAP_DN_FORMAT_LDAP), UInt32(LDAP_DN_FORMAT_LDAPV2)] {
            var dn: LDAPDN?
            guard ldap_str2dn(string, &dn, flags) == LDAP_SUCCESS else { continue }
            defer { ldap_dnfree(dn) }
            var out: [[(String, [UInt8])]] = []
            var r = 0
            while let dn, let rdn = dn[r] {
                var avas: [(String, [UInt8])] = []
                var a = 0
                while let ava = rdn[a] {
                    let t = ava.pointee.la_attr, v = ava.pointee.la_value
                    let type = String(
                        decoding: UnsafeRawBufferPointer(start: t.bv_val, count: Int(t.bv_len)), as: UTF8.self)
                    let value =
                        v.bv_len == 0 ? [] : [UInt8](UnsafeRawBufferPointer(start: v.bv_val, count: Int(v.bv_len)))
                    avas.append((type, value))
                    a += 1
                }
                out.append(avas)
                r += 1
            }
            parsed = out
            break
        }
        guard let parsed else { return nil }
        self.init(avas: parsed)
    }

    init(avas: [[(String, [UInt8])]]) {
        self.avas = avas.map { $0.map { (type: $0.0, value: $0.1) } }
        rdns = avas.map { rdn in
            rdn.map { DNKey.fold(type: $0.0) + "\u{1}" + String(decoding: $0.1, as: UTF8.self).lowercased() }
                .sorted().joined(separator: "\u{2}")
        }
    }

    public var parent: DNKey? {
        rdns.isEmpty ? nil : DNKey(avas: avas.dropFirst().map { $0.map { ($0.type, $0.value) } })
    }

    /// Every proper ancestor's RDN list, nearest first.
    public var ancestors: [ArraySlice<String>] { rdns.indices.dropFirst().map { rdns[$0...] } }

    /// True when `self` is `other` or lies below it.
    public func isWithin(_ other: DNKey) -> Bool {
        rdns.count >= other.rdns.count && rdns.suffix(other.rdns.count).elementsEqual(other.rdns)
    }

    /// The DN `newRDN` under `parent` (a rename's new name).
    public static func renamed(newRDN: String, under parent: DNKey?) -> DNKey? {
        guard let r = DNKey(newRDN) else { return nil }
        return DNKey(avas: (r.avas + (parent?.avas ?? [])).map { $0.map { ($0.type, $0.value) } })
    }

    /// Names of the attribute types that can name an entry, one per attribute.
    static let typeNames: [String: String] = [
        "2.5.4.3": "cn", "commonname": "cn", "2.5.4.11": "ou", "organizationalunitname": "ou",
        "2.5.4.10": "o", "organizationname": "o", "0.9.2342.19200300.100.1.1": "uid", "userid": "uid",
        "0.9.2342.19200300.100.1.25": "dc", "domaincomponent": "dc", "2.5.4.6": "c", "countryname": "c",
        "2.5.4.7": "l", "localityname": "l", "2.5.4.4": "sn", "surname": "sn", "2.5.4.8": "st",
        "stateorprovincename": "st", "2.5.4.9": "street", "streetaddress": "street", "2.5.4.12": "title",
        "0.9.2342.19200300.100.1.3": "mail", "rfc822mailbox": "mail"
    ]

    static func fold(type: String) -> String {
        var t = type.lowercased()
        if t.hasPrefix("oid.") { t.removeFirst(4) }
        return typeNames[t] ?? t
    }

    /// The RDN values of one attribute type (any of its names).
    public func rdnValues(of type: String) -> [[UInt8]] {
        let t = DNKey.fold(type: type)
        return (avas.first ?? []).filter { DNKey.fold(type: $0.type) == t }.map(\.value)
    }
}

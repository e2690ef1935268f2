import CLDAP
import Foundation

/// C memory for one request (strings, bervals, LDAPMod arrays), owned by one
/// object and freed together once libldap has encoded the request.
final class CArena {
    private var allocations: [UnsafeMutableRawPointer] = []

    func string(_ s: String) -> UnsafeMutablePointer<CChar> {
        let p = strdup(s)!
        allocations.append(UnsafeMutableRawPointer(p))
        return p
    }

    func bytes(_ b: [UInt8]) -> UnsafeMutablePointer<CChar> {
        let p = malloc(max(b.count, 1))!.assumingMemoryBound(to: CChar.self)
        b.withUnsafeBytes { raw in
            if let base = raw.baseAddress { memcpy(p, base, b.count) }
        }
        allocations.append(UnsafeMutableRawPointer(p))
        return p
    }

    func berval(_ b: [UInt8]) -> UnsafeMutablePointer<CLDAP.berval> {
        let p = UnsafeMutablePointer<CLDAP.berval>.allocate(capacity: 1)
        p.initialize(to: CLDAP.berval(bv_len: ber_len_t(b.count), bv_val: bytes(b)))
        allocations.append(UnsafeMutableRawPointer(p))
        return p
    }

    /// A NULL-terminated array of pointers.
    func array<T>(_ items: [UnsafeMutablePointer<T>]) -> UnsafeMutablePointer<UnsafeMutablePointer<T>?> {
        let p = UnsafeMutablePointer<UnsafeMutablePointer<T>?>.allocate(capacity: items.count + 1)
        for (i, item) in items.enumerated() { (p + i).initialize(to: item) }
        (p + items.count).initialize(to: nil)
        allocations.append(UnsafeMutableRawPointer(p))
        return p
    }

    func strings(_ items: [String]) -> UnsafeMutablePointer<UnsafeMutablePointer<CChar>?> {
        array(items.map { string($0) })
    }

    func mods(_ mods: [LDAPModification]) -> UnsafeMutablePointer<UnsafeMutablePointer<LDAPMod>?> {
        array(
            mods.map { m in
                let p = UnsafeMutablePointer<LDAPMod>.allocate(capacity: 1)
                p.initialize(to: LDAPMod())
                let op: Int32 =
                    switch m.op {
                    case .add: LDAP_MOD_ADD
                    case .delete: LDAP_MOD_DELETE
                    case .replace: LDAP_MOD_REPLACE
                    case .increment: LDAP_MOD_INCREMENT
                    }
                p.pointee.mod_op = op | LDAP_MOD_BVALUES
                p.pointee.mod_type = string(m.attribute.name)
                semail_ldapmod_set_bvalues(
                    p, m.attribute.values.isEmpty && m.op != .add ? nil : array(m.attribute.values.map { berval($0) }))
                allocations.append(UnsafeMutableRawPointer(p))
                return p
            })
    }

    /// A NULL-terminated array of server controls, or nil for none.
    func controls(_ cs: [LDIFRecord.Control]) -> UnsafeMutablePointer<UnsafeMutablePointer<LDAPControl>?>? {
        guard !cs.isEmpty else { return nil }
        return array(
            cs.map { c in
                let p = UnsafeMutablePointer<LDAPControl>.allocate(capacity: 1)
                let value =
                    c.value.map { CLDAP.berval(bv_len: ber_len_t($0.count), bv_val: bytes($0)) }
                    ?? CLDAP.berval(bv_len: 0, bv_val: nil)
                p.initialize(
                    to: LDAPControl(ldctl_oid: string(c.oid), ldctl_value: value, ldctl_iscritical: c.critical ? 1 : 0))
                allocations.append(UnsafeMutableRawPointer(p))
                return p
            })
    }

    deinit { for p in allocations { free(p) } }
}

extension Array where Element == [UInt8] {
    init(bervals: UnsafeMutablePointer<UnsafeMutablePointer<berval>?>?) {
        self = []
        guard var p = bervals else { return }
        while let bv = p.pointee {
            let len = Int(bv.pointee.bv_len)
            if len == 0 || bv.pointee.bv_val == nil {
                append([])
            } else {
                append([UInt8](UnsafeRawBufferPointer(start: bv.pointee.bv_val, count: len)))
            }
            p += 1
        }
    }
}

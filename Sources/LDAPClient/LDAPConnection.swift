import CLDAP
import Foundation
import Synchronization

/// How to reach and trust a directory server.
public struct LDAPConnectionOptions: Sendable {
    public var uri: String
    public var startTLS: Bool = false
    /// CA bundle for ldaps:// and StartTLS; empty means the system default.
    public var caFile: String = ""
    /// Seconds to wait for a connection and for each operation.
    public var timeout: Int = 30
    public init(uri: String, startTLS: Bool = false, caFile: String = "", timeout: Int = 30) {
        self.uri = uri; self.startTLS = startTLS; self.caFile = caFile; self.timeout = timeout
    }
}

/// Outcome of one asynchronous operation, keyed by its message id.
public struct LDAPCompletion: Sendable {
    public let messageID: Int32
    public let error: LDAPError?
}

/// One connection to a directory server, owning the libldap handle. Every
/// libldap return code becomes an `LDAPError` in one place (`check`). Calls
/// are serialised on an internal lock, so the object may be shared.
/// `@unchecked`: it owns a C handle (`LDAP *`), which the compiler cannot
/// check; every use is under the recursive lock (a `Mutex` is not
/// recursive, and one locked call makes others: `perform` sends, then waits).
public final class LDAPConnection: @unchecked Sendable {
    private let ld: OpaquePointer
    private let lock = NSRecursiveLock()
    public let options: LDAPConnectionOptions
    private var closed = false

    public init(_ options: LDAPConnectionOptions) throws {
        self.options = options
        var handle: OpaquePointer?
        let rc = ldap_initialize(&handle, options.uri)
        guard rc == LDAP_SUCCESS, let handle else {
            throw LDAPError(code: .init(rawValue: rc), operation: "initialize", diagnostic: "URI \(options.uri)")
        }
        ld = handle
        var version: Int32 = LDAP_VERSION3
        _ = ldap_set_option(ld, LDAP_OPT_PROTOCOL_VERSION, &version)
        var off: Int32 = 0
        _ = ldap_set_option(ld, LDAP_OPT_REFERRALS, &off)
        var tv = timeval(tv_sec: options.timeout, tv_usec: 0)
        _ = ldap_set_option(ld, LDAP_OPT_NETWORK_TIMEOUT, &tv)
        _ = ldap_set_option(ld, LDAP_OPT_TIMEOUT, &tv)
        var on: Int32 = 1
        _ = ldap_set_option(ld, LDAP_OPT_RESTART, &on)
        if options.uri.lowercased().hasPrefix("ldaps://") || options.startTLS {
            try configureTLS()
        }
        if options.startTLS {
            try check(ldap_start_tls_s(ld, nil, nil), "StartTLS")
        }
    }

    deinit { close() }

    public func close() {
        lock.lock(); defer { lock.unlock() }
        if !closed { closed = true; ldap_unbind_ext(ld, nil, nil) }
    }

    private func configureTLS() throws {
        var demand: Int32 = LDAP_OPT_X_TLS_DEMAND
        try check(ldap_set_option(ld, LDAP_OPT_X_TLS_REQUIRE_CERT, &demand), "TLS setup (require certificate)")
        if !options.caFile.isEmpty {
            try check(
                options.caFile.withCString { ldap_set_option(ld, LDAP_OPT_X_TLS_CACERTFILE, $0) },
                "TLS setup (CA file \(options.caFile))")
        }
        var zero: Int32 = 0
        try check(ldap_set_option(ld, LDAP_OPT_X_TLS_NEWCTX, &zero), "TLS setup (new context)")
    }

    /// The last diagnostic message libldap kept for this handle.
    private func diagnostic() -> String? {
        var msg: UnsafeMutablePointer<CChar>?
        guard ldap_get_option(ld, LDAP_OPT_DIAGNOSTIC_MESSAGE, &msg) == LDAP_SUCCESS, let msg else { return nil }
        defer { ldap_memfree(msg) }
        return String(cString: msg)
    }

    private func check(_ rc: Int32, _ operation: String, dn: String? = nil) throws {
        guard rc != LDAP_SUCCESS else { return }
        throw LDAPError(code: .init(rawValue: rc), operation: operation, dn: dn, diagnostic: diagnostic())
    }

    // MARK: Binding

    /// Simple bind (RFC 4513 §5.1.3). The password is not kept. An empty
    /// password is refused before anything is sent: with a DN it is an
    /// unauthenticated bind (§5.1.2), which servers may accept unchecked.
    public func bind(dn: String, password: [UInt8]) throws {
        guard !password.isEmpty else {
            throw LDAPError(
                code: .inappropriateAuthentication, operation: "bind", dn: dn,
                diagnostic: "empty password refused before sending (an unauthenticated bind, RFC 4513 §5.1.2)")
        }
        lock.lock(); defer { lock.unlock() }
        let arena = CArena()
        try check(ldap_sasl_bind_s(ld, dn, nil, arena.berval(password), nil, nil, nil), "bind", dn: dn)
    }

    /// SASL EXTERNAL: over ldapi:// the server maps the peer's uid/gid.
    public func bindExternal() throws {
        lock.lock(); defer { lock.unlock() }
        let arena = CArena()
        try check(ldap_sasl_bind_s(ld, nil, "EXTERNAL", arena.berval([]), nil, nil, nil), "SASL EXTERNAL bind")
    }

    /// The authorization identity of this connection (RFC 4532 "Who am I?").
    public func whoAmI() throws -> String {
        lock.lock(); defer { lock.unlock() }
        var authzid: UnsafeMutablePointer<berval>?
        try check(ldap_whoami_s(ld, &authzid, nil, nil), "Who am I")
        defer { if let authzid { ber_bvfree(authzid) } }
        guard let bv = authzid?.pointee, bv.bv_len > 0 else { return "" }
        return String(decoding: UnsafeRawBufferPointer(start: bv.bv_val, count: Int(bv.bv_len)), as: UTF8.self)
    }

    // MARK: Search

    /// Search requests sent by this process, every connection (SEMAIL_TRACE_CALLS).
    public static let searches = Mutex(0)

    /// Subtree/one-level/base search with the simple paged results control
    /// (RFC 2696); `each` sees entries as they arrive, so memory stays flat.
    public func search(
        base: String, scope: LDAPScope = .subtree, filter: LDAPFilter? = nil,
        attributes: [String]? = nil, pageSize: Int32 = 500,
        each: (LDAPEntry) throws -> Void
    ) throws {
        lock.lock(); defer { lock.unlock() }
        let filterString = filter?.description ?? "(objectClass=*)"
        var cookie: [UInt8] = []
        repeat {
            let arena = CArena()
            var control: UnsafeMutablePointer<LDAPControl>?
            let cookiePtr: UnsafeMutablePointer<berval>? = cookie.isEmpty ? nil : arena.berval(cookie)
            try check(ldap_create_page_control(ld, pageSize, cookiePtr, 0, &control), "paged results control")
            defer { ldap_control_free(control) }
            let sctrls = arena.array([control!])
            let attrs: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>? = attributes.map { arena.strings($0) }
            var msgid: Int32 = 0
            Self.searches.withLock { $0 += 1 }
            try check(
                ldap_search_ext(ld, base, scope.rawValue, filterString, attrs, 0, sctrls, nil, nil, 0, &msgid),
                "search", dn: base)
            cookie = try collectSearch(msgid: msgid, base: base, each: each)
        } while !cookie.isEmpty
    }

    /// Reads one search's messages; returns the paging cookie (empty at the end).
    private func collectSearch(msgid: Int32, base: String, each: (LDAPEntry) throws -> Void) throws -> [UInt8] {
        while true {
            var msg: OpaquePointer?
            var tv = timeval(tv_sec: options.timeout, tv_usec: 0)
            let type = ldap_result(ld, msgid, LDAP_MSG_ONE, &tv, &msg)
            if type == 0 {
                _ = ldap_abandon_ext(ld, msgid, nil, nil)
                throw LDAPError(code: .timeout, operation: "search", dn: base)
            }
            guard type > 0, let msg else { try check(lastError(), "search", dn: base); continue }
            defer { ldap_msgfree(msg) }
            switch ber_tag_t(type) {
            case LDAP_RES_SEARCH_ENTRY:
                try each(entry(from: msg))
            case LDAP_RES_SEARCH_REFERENCE:
                continue
            case LDAP_RES_SEARCH_RESULT:
                var rc: Int32 = 0
                var errmsg: UnsafeMutablePointer<CChar>?
                var ctrls: UnsafeMutablePointer<UnsafeMutablePointer<LDAPControl>?>?
                try check(ldap_parse_result(ld, msg, &rc, nil, &errmsg, nil, &ctrls, 0), "search", dn: base)
                defer { if let errmsg { ldap_memfree(errmsg) }; if let ctrls { ldap_controls_free(ctrls) } }
                guard rc == LDAP_SUCCESS else {
                    throw LDAPError(
                        code: .init(rawValue: rc), operation: "search", dn: base,
                        diagnostic: errmsg.map { String(cString: $0) })
                }
                guard let found = ldap_control_find("1.2.840.113556.1.4.319", ctrls, nil) else { return [] }
                var count: ber_int_t = 0
                var bv = berval(bv_len: 0, bv_val: nil)
                try check(ldap_parse_pageresponse_control(ld, found, &count, &bv), "paged results response")
                defer { if bv.bv_val != nil { ber_memfree(bv.bv_val) } }
                guard bv.bv_len > 0, let p = bv.bv_val else { return [] }
                return Array(UnsafeRawBufferPointer(start: p, count: Int(bv.bv_len)))
            default:
                continue
            }
        }
    }

    private func lastError() -> Int32 {
        var rc: Int32 = 0
        _ = ldap_get_option(ld, LDAP_OPT_RESULT_CODE, &rc)
        return rc == LDAP_SUCCESS ? LDAP_OTHER : rc
    }

    private func entry(from msg: OpaquePointer) throws -> LDAPEntry {
        guard let dnp = ldap_get_dn(ld, msg) else {
            throw LDAPError(code: .init(rawValue: lastError()), operation: "read entry DN")
        }
        let dn = String(cString: dnp)
        ldap_memfree(dnp)
        var attrs: [LDAPAttribute] = []
        var ber: OpaquePointer?
        var name = ldap_first_attribute(ld, msg, &ber)
        while let n = name {
            let values = ldap_get_values_len(ld, msg, n)
            attrs.append(LDAPAttribute(String(cString: n), [[UInt8]](bervals: values)))
            if let values { ldap_value_free_len(values) }
            ldap_memfree(n)
            name = ldap_next_attribute(ld, msg, ber)
        }
        if let ber { ber_free(ber, 0) }
        return LDAPEntry(dn: dn, attributes: attrs)
    }

    /// The entry at `dn`, or nil when there is none.
    public func read(_ dn: String, attributes: [String]? = nil) throws -> LDAPEntry? {
        var found: LDAPEntry?
        do {
            try search(base: dn, scope: .base, attributes: attributes) { found = $0 }
        } catch let e as LDAPError where e.code == .noSuchObject {
            return nil
        }
        return found
    }

    // MARK: Updates (synchronous forms over the asynchronous API)

    public func add(_ entry: LDAPEntry) throws { try perform(.add(entry)) }
    public func modify(_ dn: String, _ mods: [LDAPModification]) throws { try perform(.modify(dn: dn, mods)) }
    public func delete(_ dn: String) throws { try perform(.delete(dn: dn)) }
    public func rename(_ dn: String, newRDN: String, deleteOldRDN: Bool = true, newSuperior: String? = nil) throws {
        try perform(.rename(dn: dn, newRDN: newRDN, deleteOldRDN: deleteOldRDN, newSuperior: newSuperior))
    }
    /// Password Modify extended operation (RFC 3062): the server hashes and
    /// stores the password.
    public func setPassword(_ dn: String, _ password: [UInt8]) throws {
        try perform(.passwordModify(dn: dn, newPassword: password))
    }

    /// Password Modify (RFC 3062) as the user this connection is bound as:
    /// the old password proves it again, the server checks it against its
    /// own policy, hashes and stores the new one. Neither may be empty.
    public func changePassword(_ dn: String, old: [UInt8], new: [UInt8]) throws {
        guard !old.isEmpty, !new.isEmpty else {
            throw LDAPError(
                code: .unwillingToPerform, operation: "password modify", dn: dn,
                diagnostic: "an empty password is refused before sending")
        }
        lock.lock(); defer { lock.unlock() }
        let arena = CArena()
        var generated = berval(bv_len: 0, bv_val: nil)
        try check(
            ldap_passwd_s(
                ld, arena.berval(Array(dn.utf8)), arena.berval(old), arena.berval(new), &generated, nil, nil),
            "password modify", dn: dn)
        if generated.bv_val != nil { ber_memfree(generated.bv_val) }
    }

    private func perform(_ request: LDAPRequest) throws {
        lock.lock(); defer { lock.unlock() }
        let id = try send(request)
        // Only this request's result: others sent with `send` stay queued for `next`.
        if let e = try next(id).error { throw e }
    }

    // MARK: Asynchronous message-id API

    /// Sends one request without waiting; returns its message id.
    /// `controls` go with it as server controls (an LDIF record's
    /// `control:` lines); the server fails the request when it does not
    /// support a critical one (unavailableCriticalExtension).
    public func send(_ request: LDAPRequest, controls: [LDIFRecord.Control] = []) throws -> Int32 {
        lock.lock(); defer { lock.unlock() }
        let arena = CArena()
        let sctrls = arena.controls(controls)
        var msgid: Int32 = 0
        switch request {
        case let .add(entry):
            let mods = entry.attributes.map { LDAPModification(.add, $0) }
            try check(ldap_add_ext(ld, entry.dn, arena.mods(mods), sctrls, nil, &msgid), "add", dn: entry.dn)
        case let .modify(dn, mods):
            try check(ldap_modify_ext(ld, dn, arena.mods(mods), sctrls, nil, &msgid), "modify", dn: dn)
        case let .delete(dn):
            try check(ldap_delete_ext(ld, dn, sctrls, nil, &msgid), "delete", dn: dn)
        case let .rename(dn, newRDN, deleteOld, newSuperior):
            try check(
                ldap_rename(ld, dn, newRDN, newSuperior, deleteOld ? 1 : 0, sctrls, nil, &msgid), "rename", dn: dn)
        case let .passwordModify(dn, newPassword):
            try check(
                ldap_passwd(ld, arena.berval(Array(dn.utf8)), nil, arena.berval(newPassword), sctrls, nil, &msgid),
                "password modify", dn: dn)
        }
        pending[msgid] = (request.operationName, request.dn)
        return msgid
    }

    private var pending: [Int32: (String, String)] = [:]

    /// Compare (RFC 4511 §4.10): whether the entry holds `value` as the
    /// server's equality matching rule for `attribute` sees it. Throws
    /// (e.g. inappropriateMatching) when the server cannot tell.
    public func compare(_ dn: String, attribute: String, value: [UInt8]) throws -> Bool {
        lock.lock(); defer { lock.unlock() }
        let arena = CArena()
        let rc = ldap_compare_ext_s(ld, dn, attribute, arena.berval(value), nil, nil)
        if rc == LDAP_COMPARE_TRUE { return true }
        if rc == LDAP_COMPARE_FALSE { return false }
        try check(rc, "compare \(attribute)", dn: dn)
        return false
    }

    /// Waits for the next completed request sent with `send`.
    public func next() throws -> LDAPCompletion { try next(semail_ldap_msgid_any()) }

    private func next(_ msgid: Int32) throws -> LDAPCompletion {
        lock.lock(); defer { lock.unlock() }
        var msg: OpaquePointer?
        var tv = timeval(tv_sec: options.timeout, tv_usec: 0)
        let type = ldap_result(ld, msgid, LDAP_MSG_ALL, &tv, &msg)
        if type == 0 { throw LDAPError(code: .timeout, operation: "waiting for results (\(pending.count) pending)") }
        guard type > 0, let msg else {
            try check(lastError(), "waiting for results")
            throw LDAPError(code: .other, operation: "waiting for results")
        }
        defer { ldap_msgfree(msg) }
        let id = ldap_msgid(msg)
        let (op, dn) = pending.removeValue(forKey: id) ?? ("operation", "")
        var rc: Int32 = 0
        var errmsg: UnsafeMutablePointer<CChar>?
        let prc = ldap_parse_result(ld, msg, &rc, nil, &errmsg, nil, nil, 0)
        defer { if let errmsg { ldap_memfree(errmsg) } }
        if prc != LDAP_SUCCESS { rc = prc }
        if rc == LDAP_SUCCESS { return LDAPCompletion(messageID: id, error: nil) }
        return LDAPCompletion(
            messageID: id,
            error: LDAPError(
                code: .init(rawValue: rc), operation: op, dn: dn,
                diagnostic: errmsg.map { String(cString: $0) }))
    }

    public var pendingCount: Int { lock.lock(); defer { lock.unlock() }; return pending.count }
}

/// A request for the asynchronous API.
public enum LDAPRequest: Sendable, Hashable {
    case add(LDAPEntry)
    case modify(dn: String, [LDAPModification])
    case delete(dn: String)
    case rename(dn: String, newRDN: String, deleteOldRDN: Bool, newSuperior: String?)
    case passwordModify(dn: String, newPassword: [UInt8])

    public var dn: String {
        switch self {
        case let .add(e): e.dn
        case let .modify(dn, _), let .delete(dn), let .rename(dn, _, _, _), let .passwordModify(dn, _): dn
        }
    }

    var operationName: String {
        switch self {
        case .add: "add"
        case .modify: "modify"
        case .delete: "delete"
        case .rename: "rename"
        case .passwordModify: "password modify"
        }
    }
}

// MARK: Content Synchronization (RFC 4533)

/// What a refreshAndPersist search reports.
public enum LDAPSyncEvent: Sendable, Equatable {
    /// The search was sent: whatever changes from now on will be reported
    /// (the server's answer, entries or a refusal, is still to be read).
    case started
    /// An entry was added, changed or deleted (or sent during the refresh).
    case entry(dn: String)
    /// The initial refresh is over; from now on only changes arrive.
    case refreshDone
    /// Nothing arrived for a second.
    case idle
}

extension LDAPConnection {
    /// A critical RFC 4533 sync request control; the caller frees it.
    /// syncRequestValue ::= SEQUENCE { mode ENUMERATED { refreshOnly (1), refreshAndPersist (3) } }
    private func syncRequestControl(mode: CChar) throws -> UnsafeMutablePointer<LDAPControl> {
        var value: [CChar] = [0x30, 0x03, 0x0A, 0x01, mode]
        var control: UnsafeMutablePointer<LDAPControl>?
        let rc = value.withUnsafeMutableBufferPointer { buf -> Int32 in
            var bv = berval(bv_len: ber_len_t(buf.count), bv_val: buf.baseAddress)
            return ldap_control_create("1.3.6.1.4.1.4203.1.9.1.1", 1, &bv, 1, &control)
        }
        try check(rc, "sync request control")
        return control!
    }

    /// Runs an RFC 4533 refreshAndPersist search (the syncprov overlay on
    /// OpenLDAP) and reports each message to `event`, which returns false to
    /// stop. Returns when stopped; throws when the server goes away or ends
    /// the search, so the caller can reconnect.
    public func syncWatch(base: String, filter: LDAPFilter, attributes: [String], event: (LDAPSyncEvent) throws -> Bool)
        throws
    {
        lock.lock(); defer { lock.unlock() }
        let arena = CArena()
        let control = try syncRequestControl(mode: 3)  // refreshAndPersist
        defer { ldap_control_free(control) }
        let sctrls = arena.array([control])
        let attrs = arena.strings(attributes)
        var msgid: Int32 = 0
        try check(
            ldap_search_ext(
                ld, base, LDAPScope.subtree.rawValue, filter.description, attrs, 0, sctrls, nil, nil, 0, &msgid),
            "sync search", dn: base)
        defer { _ = ldap_abandon_ext(ld, msgid, nil, nil) }
        if try !event(.started) { return }
        while true {
            var msg: OpaquePointer?
            var tv = timeval(tv_sec: 1, tv_usec: 0)
            let type = ldap_result(ld, msgid, LDAP_MSG_ONE, &tv, &msg)
            if type == 0 { if try !event(.idle) { return }; continue }
            guard type > 0, let msg else {
                throw LDAPError(code: .init(rawValue: lastError()), operation: "sync search", dn: base)
            }
            defer { ldap_msgfree(msg) }
            switch ber_tag_t(type) {
            case LDAP_RES_SEARCH_ENTRY:
                let dn =
                    ldap_get_dn(ld, msg).map { p in
                        defer { ldap_memfree(p) }; return String(cString: p)
                    } ?? ""
                if try !event(.entry(dn: dn)) { return }
            case LDAP_RES_INTERMEDIATE:
                if try !event(.refreshDone) { return }
            case LDAP_RES_SEARCH_RESULT:
                var code: Int32 = 0
                _ = ldap_parse_result(ld, msg, &code, nil, nil, nil, nil, 0)
                throw LDAPError(
                    code: .init(rawValue: code == LDAP_SUCCESS ? LDAP_SERVER_DOWN : code),
                    operation: "sync search ended", dn: base)
            default:
                continue
            }
        }
    }

    /// Runs an RFC 4533 refreshOnly search (scope base, no attributes) with
    /// a critical sync request control and returns when the server ends it
    /// with success: the server can serve `syncWatch` on `base`. Throws the
    /// server's result otherwise (unavailableCriticalExtension without the
    /// syncprov overlay).
    public func syncRefresh(base: String) throws {
        lock.lock(); defer { lock.unlock() }
        let arena = CArena()
        let control = try syncRequestControl(mode: 1)  // refreshOnly
        defer { ldap_control_free(control) }
        let sctrls = arena.array([control])
        let attrs = arena.strings(["1.1"])
        var msgid: Int32 = 0
        try check(
            ldap_search_ext(
                ld, base, LDAPScope.base.rawValue, "(objectClass=*)", attrs, 0, sctrls, nil, nil, 0, &msgid),
            "sync refresh", dn: base)
        while true {
            var msg: OpaquePointer?
            var tv = timeval(tv_sec: options.timeout, tv_usec: 0)
            let type = ldap_result(ld, msgid, LDAP_MSG_ONE, &tv, &msg)
            if type == 0 {
                _ = ldap_abandon_ext(ld, msgid, nil, nil)
                throw LDAPError(code: .timeout, operation: "sync refresh", dn: base)
            }
            guard type > 0, let msg else {
                throw LDAPError(code: .init(rawValue: lastError()), operation: "sync refresh", dn: base)
            }
            defer { ldap_msgfree(msg) }
            guard ber_tag_t(type) == LDAP_RES_SEARCH_RESULT else { continue }
            var code: Int32 = 0
            var errmsg: UnsafeMutablePointer<CChar>?
            _ = ldap_parse_result(ld, msg, &code, nil, &errmsg, nil, nil, 0)
            defer { if let errmsg { ldap_memfree(errmsg) } }
            if code == LDAP_SUCCESS { return }
            throw LDAPError(
                code: .init(rawValue: code), operation: "sync refresh", dn: base,
                diagnostic: errmsg.map { String(cString: $0) })
        }
    }
}

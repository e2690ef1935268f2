import Core
import Foundation
import LDAPClient

/// The admin connection to the directory server: connect, bind, explain failures.
public enum DirectoryServer {
    /// Opens a connection (no bind). Failures become a SemailError that says
    /// how to fix them.
    public static func connect(_ l: Config.LDAP) throws -> LDAPConnection {
        try refuseCleartext(l)
        do {
            let c = try LDAPConnection(
                LDAPConnectionOptions(uri: l.uri, startTLS: l.startTLS, caFile: l.caFile, timeout: l.timeout))
            return c
        } catch let e as LDAPError {
            throw explain(e, uri: l.uri)
        }
    }

    /// A simple bind over ldap:// sends the password in clear: refused
    /// before connecting unless the server is on loopback, StartTLS is on,
    /// or `[ldap] allow_cleartext` says so.
    public static func refuseCleartext(_ l: Config.LDAP) throws {
        guard !l.startTLS, !l.allowCleartext else { return }
        for uri in l.uri.split(whereSeparator: { $0 == " " || $0 == "," }).map(String.init)
        where uri.lowercased().hasPrefix("ldap://") {
            let host = LDAPURI.host(uri)
            guard !LDAPURI.isLoopback(host) else { continue }
            throw SemailError(
                "refusing to send the LDAP password in clear to \(uri)",
                why: "ldap:// without StartTLS to \(host), which is not this machine's loopback",
                hint: "set [ldap] starttls = true (with ca_file), or use an ldaps:// URI; "
                    + "if the network path is trusted, set [ldap] allow_cleartext = true", status: .config)
        }
    }

    /// Binds with `bind_dn` and the password file, or SASL EXTERNAL over
    /// ldapi:// when `bind_dn` is empty.
    public static func bindAdmin(_ c: LDAPConnection, _ l: Config.LDAP) throws {
        do {
            if l.bindDN.isEmpty {
                guard l.uri.lowercased().hasPrefix("ldapi://") else {
                    throw SemailError(
                        "no LDAP bind configured", why: "[ldap] bind_dn is empty and the URI is not ldapi://",
                        hint: "set bind_dn and bind_password_file, or use an ldapi:// URI for SASL EXTERNAL",
                        status: .config)
                }
                try c.bindExternal()
            } else {
                let pw = try Secrets.readFile(l.bindPasswordFile)
                try c.bind(dn: l.bindDN, password: pw.bytes)
            }
        } catch let e as LDAPError {
            throw explain(e, uri: l.uri)
        }
    }

    /// Turns an LDAP failure into what failed, why, and what to do.
    public static func explain(_ e: LDAPError, uri: String) -> SemailError {
        // TLS first: a failed handshake also reports a connect error.
        if e.operation.hasPrefix("StartTLS") || e.operation.hasPrefix("TLS setup") || (e.code == .localError) {
            return SemailError(
                "LDAP TLS setup failed", why: e.description,
                hint:
                    """
                    check [ldap] ca_file (the CA that signed the server's certificate) and that the certificate \
                    matches the host name in [ldap] uri
                    """,
                status: .unavailable)
        }
        if uri.lowercased().hasPrefix("ldaps://"), e.code == .serverDown || e.code == .connectError {
            return SemailError(
                "cannot reach the LDAP server at \(uri)", why: e.description,
                hint:
                    """
                    a failed TLS handshake looks the same: check [ldap] ca_file (the CA of the server's \
                    certificate) and the host name \
                    in [ldap] uri, and that the server is up and listens for ldaps:// there
                    """,
                status: .unavailable)
        }
        switch e.code {
        case .serverDown, .connectError, .timeout:
            return SemailError(
                "cannot reach the LDAP server at \(uri)", why: e.description,
                hint: "check that slapd is running and [ldap] uri is right (`semailctl config check`)",
                status: .unavailable)
        case .invalidCredentials, .inappropriateAuthentication:
            return SemailError(
                "LDAP bind refused", why: e.description,
                hint: "check [ldap] bind_dn and the password in bind_password_file", status: .noPermission)
        case .insufficientAccessRights:
            return SemailError(
                "LDAP access denied", why: e.description,
                hint: "the bind DN needs write access to the people OU", status: .noPermission)
        default:
            return SemailError("LDAP \(e.operation) failed", why: e.description, status: .failure)
        }
    }
}

/// The host part of an LDAP URI, and whether it is this machine's loopback.
enum LDAPURI {
    static func host(_ uri: String) -> String {
        var rest = Substring(uri)
        if let r = rest.range(of: "://") { rest = rest[r.upperBound...] }
        rest = rest.prefix { $0 != "/" && $0 != "?" }
        if rest.hasPrefix("["), let close = rest.firstIndex(of: "]") {
            return String(rest[rest.index(after: rest.startIndex)..<close])
        }
        return String(rest.prefix { $0 != ":" }).removingPercentEncoding ?? String(rest)
    }

    /// An empty host is libldap's default (localhost).
    static func isLoopback(_ host: String) -> Bool {
        let h = host.lowercased()
        if h.isEmpty || h == "localhost" || h == "::1" || h.hasSuffix(".localhost") { return true }
        let octets = h.split(separator: ".", omittingEmptySubsequences: false)
        return octets.count == 4 && octets[0] == "127" && octets.allSatisfy { UInt8($0) != nil }
    }
}

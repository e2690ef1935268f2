import LDAPClient

enum LDAPClientShim {
    static func checkDN(_ s: String) throws { _ = try DN(s) }
}

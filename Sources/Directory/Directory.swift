import Core
import Foundation
import LDAPClient

/// A user as the tool shows it.
public struct UserRecord: Sendable, Codable, Equatable {
    public var uid: String
    public var dn: String
    public var cn: String
    public var sn: String
    public var givenName: String?
    public var mail: [String]
    public var uidNumber: Int?
    public var gidNumber: Int?
    public var homeDirectory: String?
    public var hasPassword: Bool
    public var sshPublicKeys: [String]
    /// The Debian packages the user chose for their container (`semailPackage`);
    /// a stored value that is not a package name is left out here, so no
    /// consumer (Dockerfile, output, the portal) ever sees it.
    public var packages: [String]
    /// `semailState`/`semailStateReason` (nil: active).
    public var suspension: Suspension? = nil

    init(_ e: LDAPEntry) {
        uid = e.first("uid") ?? ""
        dn = e.dn
        cn = e.first("cn") ?? ""
        sn = e.first("sn") ?? ""
        givenName = e.first("givenName")
        mail = e.strings("mail")
        uidNumber = e.first("uidNumber").flatMap { Int($0) }
        gidNumber = e.first("gidNumber").flatMap { Int($0) }
        homeDirectory = e.first("homeDirectory")
        hasPassword = !e.values("userPassword").isEmpty
        sshPublicKeys = e.strings("sshPublicKey")
        packages = e.strings("semailPackage").filter { (try? Validate.debianPackage($0)) != nil }
        suspension = Suspension.from(e)
    }
}

public struct NewUser: Sendable {
    public var uid: String
    public var cn: String
    public var sn: String
    public var givenName: String?
    public var mail: String?
    public var posix: Bool
    public init(uid: String, cn: String, sn: String, givenName: String? = nil, mail: String? = nil, posix: Bool = false)
    {
        self.uid = uid; self.cn = cn; self.sn = sn; self.givenName = givenName; self.mail = mail; self.posix = posix
    }
}

/// What `user modify` changes; nil leaves a field alone.
public struct UserChange: Sendable {
    public var cn: String?
    public var sn: String?
    public var givenName: String?
    public var mail: String?
    public var posix: Bool
    public init(
        cn: String? = nil, sn: String? = nil, givenName: String? = nil, mail: String? = nil, posix: Bool = false
    ) {
        self.cn = cn; self.sn = sn; self.givenName = givenName; self.mail = mail; self.posix = posix
    }
}

/// Users under the people OU. Every uid is validated and every DN and
/// filter is built by escaping, so input never becomes LDAP syntax.
public struct Directory: Sendable {
    public let connection: LDAPConnection
    public let config: Config

    public init(connection: LDAPConnection, config: Config) { self.connection = connection; self.config = config }

    static let userAttributes = [
        "uid", "cn", "sn", "givenName", "mail", "uidNumber", "gidNumber",
        "homeDirectory", "userPassword", "sshPublicKey", "objectClass",
        "semailMailbox", "semailVolumeSize", "semailPackage", Suspension.attribute, Suspension.reasonAttribute
    ]

    public var peopleDN: DN { (try? DN(config.peopleDN)) ?? DN(rdns: []) }

    public func userDN(_ uid: String) -> DN { DN("uid", uid, under: peopleDN) }

    public func find(_ uid: String) throws -> LDAPEntry? {
        let uid = try Validate.uid(uid)
        var found: [LDAPEntry] = []
        try wrap {
            try connection.search(
                base: config.peopleDN, filter: .and([.equal("objectClass", "inetOrgPerson"), .equal("uid", uid)]),
                attributes: Self.userAttributes
            ) { found.append($0) }
        }
        guard found.count <= 1 else {
            throw SemailError(
                "ambiguous uid \"\(uid)\"",
                why:
                    """
                    \(found.count) entries under \(config.peopleDN) have it: \
                    \(found.map(\.dn).joined(separator: "; "))
                    """,
                hint: "remove the duplicates", status: .dataError)
        }
        return found.first
    }

    public func user(_ uid: String) throws -> UserRecord {
        guard let e = try find(uid) else { throw noUser(uid) }
        return UserRecord(e)
    }

    public func noUser(_ uid: String) -> SemailError {
        SemailError(
            "no user \"\(uid)\"", why: "no inetOrgPerson with that uid under \(config.peopleDN)",
            hint: "see `semailctl user list`", status: .failure)
    }

    public func list(each: (UserRecord) throws -> Void) throws {
        try wrap {
            try connection.search(
                base: config.peopleDN, filter: .equal("objectClass", "inetOrgPerson"),
                attributes: Self.userAttributes
            ) { try each(UserRecord($0)) }
        }
    }

    /// The next free uidNumber: one more than the largest in use, at least
    /// `uid_number_min`.
    public func nextUIDNumber() throws -> Int {
        var highest = config.ldap.uidNumberMin - 1
        try wrap {
            try connection.search(base: config.ldap.base, filter: .present("uidNumber"), attributes: ["uidNumber"]) {
                e in
                if let n = e.first("uidNumber").flatMap({ Int($0) }) { highest = max(highest, n) }
            }
        }
        return highest + 1
    }

    /// Adds the user; sets the password with Password Modify so the server
    /// hashes it. If setting the password fails the entry is removed again.
    public func add(_ u: NewUser, password: Secret?) throws -> UserRecord {
        let uid = try Validate.uid(u.uid)
        let cn = try Validate.text(u.cn, field: "cn")
        let sn = try Validate.text(u.sn, field: "sn")
        let given = try u.givenName.map { try Validate.text($0, field: "given name") }
        let mail: String? = try u.mail.map { m in
            let a = try Validate.address(m); return "\(a.local)@\(a.domain)"
        }
        if let existing = try find(uid) {
            throw SemailError(
                "user \"\(uid)\" already exists", why: "entry \(existing.dn)", hint: "see `semailctl user show \(uid)`",
                status: .failure)
        }
        let dn = userDN(uid).description
        var classes = ["top", "inetOrgPerson"]
        var attrs: [LDAPAttribute] = [
            .init("uid", strings: [uid]), .init("cn", strings: [cn]), .init("sn", strings: [sn])
        ]
        if let given { attrs.append(.init("givenName", strings: [given])) }
        if let mail { attrs.append(.init("mail", strings: [mail])) }
        if u.posix {
            let n = try nextUIDNumber()
            classes.append("posixAccount")
            attrs += [
                .init("uidNumber", strings: ["\(n)"]), .init("gidNumber", strings: ["\(n)"]),
                .init("homeDirectory", strings: ["\(config.storage.mailRoot)/\(uid)"])
            ]
        }
        attrs.insert(.init("objectClass", strings: classes), at: 0)
        let undo = UndoStack()
        try wrap { try connection.add(LDAPEntry(dn: dn, attributes: attrs)) }
        undo.push("remove entry \(dn)") { try connection.delete(dn) }
        if let password {
            do { try wrap { try connection.setPassword(dn, password.bytes) } } catch {
                undo.unwind()
                throw error
            }
        }
        undo.commit()
        return try user(uid)
    }

    /// `user modify`: replaces the given attributes (a nil field is left
    /// alone; an empty given name removes it), validated as `user add` does,
    /// and with `posix` makes the entry a posixAccount with the next free
    /// uidNumber (refused when it already is one). One modify: all or none.
    public func modify(_ uid: String, _ change: UserChange) throws -> UserRecord {
        let uid = try Validate.uid(uid)
        let cn = try change.cn.map { try Validate.text($0, field: "cn") }
        let sn = try change.sn.map { try Validate.text($0, field: "sn") }
        let given = try change.givenName.map { $0.isEmpty ? "" : try Validate.text($0, field: "given name") }
        let mail: String? = try change.mail.map { m in
            let a = try Validate.address(m); return "\(a.local)@\(a.domain)"
        }
        guard let e = try find(uid) else { throw noUser(uid) }
        var mods: [LDAPModification] = []
        if let cn { mods.append(.replace("cn", [cn])) }
        if let sn { mods.append(.replace("sn", [sn])) }
        if let given {
            if !given.isEmpty {
                mods.append(.replace("givenName", [given]))
            } else if e.first("givenName") != nil {
                mods.append(.delete("givenName"))
            }
        }
        if let mail {
            // The mailbox's own value stays: `mail` holds it beside the one given here.
            let box = e.first("semailMailbox")?.lowercased()
            var want = e.strings("mail").filter { $0.lowercased() == box }
            if !want.contains(where: { $0.lowercased() == mail }) { want.append(mail) }
            if Set(want.map { $0.lowercased() }) != Set(e.strings("mail").map { $0.lowercased() }) {
                mods.append(.replace("mail", want))
            }
        }
        if change.posix {
            if e.strings("objectClass").contains(where: { $0.lowercased() == "posixaccount" }) {
                throw SemailError(
                    "\(uid) is already a posixAccount", why: "uidNumber \(e.first("uidNumber") ?? "?")",
                    hint: "see `semailctl user show \(uid)`",
                    status: .failure)
            }
            let n = try nextUIDNumber()
            mods += [
                .add("objectClass", ["posixAccount"]), .replace("uidNumber", ["\(n)"]), .replace("gidNumber", ["\(n)"]),
                .replace("homeDirectory", ["\(config.storage.mailRoot)/\(uid)"])
            ]
        }
        guard !mods.isEmpty else { return UserRecord(e) }
        try wrap { try connection.modify(e.dn, mods) }
        return try user(uid)
    }

    public func setPassword(_ uid: String, _ password: Secret) throws {
        let u = try user(uid)
        try wrap { try connection.setPassword(u.dn, password.bytes) }
    }

    /// Replaces UID's SSH public keys (openssh-lpk `sshPublicKey`), adding
    /// the `ldapPublicKey` class when missing. Each key must be one OpenSSH
    /// public key line without options.
    public func setSSHKeys(_ uid: String, _ keys: [String]) throws -> UserRecord {
        // The refusal never quotes the line: the file may be one the caller
        // could not read themselves (self-service runs as root).
        let checked = try keys.enumerated().map { i, k in
            guard let ok = Validate.sshPublicKey(k) else {
                throw SemailError(
                    "key \(i + 1) of \(keys.count) is not a valid SSH public key",
                    why:
                        """
                        expected one line \"TYPE BASE64 [comment]\" (ssh-ed25519, ssh-rsa, ecdsa-sha2-*), without \
                        options
                        """,
                    status: .usage)
            }
            return ok
        }
        guard let e = try find(uid) else { throw noUser(uid) }
        var mods: [LDAPModification] = []
        if !e.strings("objectClass").contains(where: { $0.lowercased() == "ldappublickey" }) {
            mods.append(.add("objectClass", ["ldapPublicKey"]))
        }
        mods.append(checked.isEmpty ? .delete("sshPublicKey") : .replace("sshPublicKey", checked))
        if checked.isEmpty && e.strings("sshPublicKey").isEmpty { return UserRecord(e) }
        try wrap { try connection.modify(e.dn, mods) }
        return try user(uid)
    }

    /// The most packages one user may choose.
    public static let maxPackages = 50

    /// Replaces UID's chosen Debian packages (`semailPackage`, the
    /// `semailSoftware` class added when missing; an empty list removes
    /// them). Each must be a Debian package name; duplicates are dropped.
    public func setPackages(_ uid: String, _ packages: [String]) throws -> UserRecord {
        var seen = Set<String>()
        let checked = try packages.map { try Validate.debianPackage($0) }.filter { seen.insert($0).inserted }
        guard checked.count <= Self.maxPackages else {
            throw SemailError(
                "too many packages for \(uid)", why: "\(checked.count) given, at most \(Self.maxPackages)",
                hint: "remove some first", status: .usage)
        }
        guard let e = try find(uid) else { throw noUser(uid) }
        if checked.isEmpty && e.strings("semailPackage").isEmpty { return UserRecord(e) }
        var mods: [LDAPModification] = []
        if !e.strings("objectClass").contains(where: { $0.lowercased() == "semailsoftware" }) {
            mods.append(.add("objectClass", ["semailSoftware"]))
        }
        mods.append(checked.isEmpty ? .delete("semailPackage") : .replace("semailPackage", checked))
        try wrap { try connection.modify(e.dn, mods) }
        return try user(uid)
    }

    /// Reads SSH public keys from a file: one per line, blank lines and
    /// comments skipped.
    /// A regular file of at most 1 MiB: never a FIFO or a device root
    /// would read forever.
    public static func readKeyFile(_ path: String) throws -> [String] {
        let fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK)
        guard fd >= 0 else { throw SemailError("cannot read \(path)", why: SystemState.errnoText(), status: .usage) }
        defer { close(fd) }
        var st = stat()
        guard fstat(fd, &st) == 0, (st.st_mode & S_IFMT) == S_IFREG, st.st_size <= 1 << 20 else {
            throw SemailError(
                "cannot use \(path) as a key file", why: "it is not a regular file of at most 1 MiB", status: .usage)
        }
        let d = FileHandle(fileDescriptor: fd, closeOnDealloc: false).readDataToEndOfFile()
        return String(decoding: d, as: UTF8.self).split(whereSeparator: \.isNewline).map(String.init)
            .filter { !$0.trimmingCharacters(in: .whitespaces).isEmpty && !$0.hasPrefix("#") }
    }

    public func delete(_ uid: String) throws -> UserRecord {
        let u = try user(uid)
        try wrap { try connection.delete(u.dn) }
        return u
    }

    /// Checks a user's own password by binding as that user on a separate
    /// connection.
    public func checkPassword(_ uid: String, _ password: Secret) throws {
        guard !password.isEmpty else {
            throw SemailError(
                "empty password for \"\(uid)\"",
                why: "an empty password is never sent (it would be an unauthenticated bind, RFC 4513 §5.1.2)",
                status: .usage)
        }
        let u = try user(uid)
        let c = try DirectoryServer.connect(config.ldap)
        defer { c.close() }
        do { try c.bind(dn: u.dn, password: password.bytes) } catch let e as LDAPError
            where e.code == .invalidCredentials
        {
            throw SemailError(
                "wrong password for \"\(uid)\"", why: "the directory refused the bind as \(u.dn)", status: .noPermission
            )
        }
    }

    /// A user changes their own password: bound as themself with the
    /// current one, a Password Modify (RFC 3062) carrying both, on a
    /// connection of its own (the admin's is not used). Empty passwords are
    /// refused before anything is sent.
    public func changeOwnPassword(_ uid: String, old: Secret, new: Secret) throws {
        guard !new.isEmpty else {
            throw SemailError(
                "empty new password for \"\(uid)\"", why: "an empty password is never set", status: .usage)
        }
        try checkPassword(uid, old)
        let u = try user(uid)
        let c = try DirectoryServer.connect(config.ldap)
        defer { c.close() }
        do {
            try c.bind(dn: u.dn, password: old.bytes)
            try c.changePassword(u.dn, old: old.bytes, new: new.bytes)
        } catch let e as LDAPError {
            let d = DirectoryServer.explain(e, uri: config.ldap.uri)
            throw SemailError(
                "the directory refused the new password of \"\(uid)\"", why: d.why.isEmpty ? d.what : d.why,
                hint: "choose another password (the server's password policy may ask for a longer one)",
                status: e.code == .invalidCredentials ? .noPermission : .failure)
        }
    }

    public func wrap<T>(_ body: () throws -> T) throws -> T {
        do { return try body() } catch let e as LDAPError { throw DirectoryServer.explain(e, uri: config.ldap.uri) }
    }
}

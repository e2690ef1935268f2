import Core
import Foundation
import LDAPClient

/// One change `directory setup` makes (or, with --dry-run, would make).
public struct DirectoryChange: Sendable, Codable, Equatable {
    /// What kind: schema, module, index, overlay, access, entry.
    public var kind: String
    /// The entry it changes or adds.
    public var dn: String
    public var description: String
}

public struct DirectorySetupReport: Sendable, Codable {
    public var uri: String
    /// The cn=config entry of the database holding [ldap] base.
    public var database: String
    public var dryRun: Bool
    public var changes: [DirectoryChange]
    /// What setup found and will not change on its own (e.g. a schema of
    /// the same name with another definition).
    public var conflicts: [String]
}

/// `directory setup`: brings a cn=config slapd (Debian's default install)
/// to what semailctl needs, idempotently: the schemas, the syncprov and
/// unique modules and overlays, equality indexes, write access for the
/// configured identity on the people OU, and the people OU itself. Works as
/// root over ldapi:// with SASL EXTERNAL, the one identity Debian's package
/// lets manage cn=config.
public struct DirectorySetup {
    public let config: Config
    public let uri: String
    public let reporter: Reporter

    /// The DN slapd gives root over ldapi:// with SASL EXTERNAL.
    public static let rootPeercred = "gidNumber=0+uidNumber=0,cn=peercred,cn=external,cn=auth"
    /// Attributes semailctl's filters search (Directory, Mailboxes, Watch) and the index types they use.
    public static let indexes: [(attribute: String, types: [String])] = [
        ("objectClass", ["eq"]), ("uid", ["eq"]), ("mail", ["eq"]),
        ("semailMailbox", ["eq", "pres", "sub"]), ("uidNumber", ["eq", "pres"])
    ]
    /// Debian's olcModulePath.
    public static let modulePath = "/usr/lib/ldap"

    public init(config: Config, uri: String?, reporter: Reporter = .silent) {
        self.config = config
        self.uri = DirectorySetup.resolveURI(config: config, option: uri)
        self.reporter = reporter
    }

    /// `--uri` when given, else [ldap] uri when it is ldapi://, else Debian's socket.
    public static func resolveURI(config: Config, option: String?) -> String {
        if let option, !option.isEmpty { return option }
        if config.ldap.uri.lowercased().hasPrefix("ldapi://") { return config.ldap.uri }
        return "ldapi:///"
    }

    /// The identity that must write the people OU: [ldap] bind_dn, or root's
    /// peercred DN when bind_dn is empty (SASL EXTERNAL over ldapi).
    public static func identity(_ config: Config) -> String {
        config.ldap.bindDN.isEmpty ? rootPeercred : config.ldap.bindDN
    }

    /// The olcAccess rule giving `identity` write access to the people OU.
    public static func accessRule(peopleDN: String, identity: String) -> String {
        "to dn.subtree=\"\(peopleDN)\" by dn.exact=\"\(identity)\" write by * break"
    }

    // MARK: Running

    public func run(dryRun: Bool) throws -> DirectorySetupReport {
        let c = try DirectorySetup.connectAsRoot(uri)
        defer { c.close() }
        let db = try database(c)
        var conflicts: [String] = []
        var plan: [(DirectoryChange, () throws -> Void)] = []
        plan += try schemaChanges(c, conflicts: &conflicts)
        plan += try moduleChanges(c)
        plan += indexChanges(c, db)
        plan += try overlayChanges(c, db)
        plan += try accessChanges(c, db)
        plan += try peopleChanges(c, db)
        var done: [DirectoryChange] = []
        for (change, apply) in plan {
            if !dryRun {
                do { try apply() } catch let e as LDAPError {
                    throw SemailError(
                        "directory setup failed: \(change.description)", why: e.description,
                        hint:
                            """
                            \(done.count) change(s) before it were applied; fix the cause and run `semailctl \
                            directory setup` again (it skips what is done)
                            """,
                        status: .failure)
                }
                reporter.info("\(change.description)")
            }
            done.append(change)
        }
        return DirectorySetupReport(uri: uri, database: db.dn, dryRun: dryRun, changes: done, conflicts: conflicts)
    }

    /// Connects over ldapi:// as root with SASL EXTERNAL and makes sure the
    /// server keeps its configuration in cn=config and lets root manage it.
    static func connectAsRoot(_ uri: String) throws -> LDAPConnection {
        guard uri.lowercased().hasPrefix("ldapi://") else {
            throw SemailError(
                "directory setup works over ldapi:// only",
                why:
                    """
                    \(uri) is not an ldapi:// URI; only root over the local socket may change cn=config on a \
                    Debian slapd
                    """,
                hint: "run it on the LDAP server with --uri ldapi:/// (or set [ldap] uri to the ldapi:// socket)",
                status: .usage)
        }
        guard getuid() == 0 else {
            throw SemailError(
                "directory setup must run as root",
                why: "slapd maps only uid 0 over ldapi:// to the identity that manages cn=config",
                hint: "sudo semailctl directory setup", status: .noPermission)
        }
        let c: LDAPConnection
        do {
            c = try LDAPConnection(LDAPConnectionOptions(uri: uri))
            try c.bindExternal()
        } catch let e as LDAPError {
            throw SemailError(
                "cannot reach slapd over \(uri) as root", why: e.description,
                hint:
                    """
                    run this on the LDAP server; check that slapd runs and listens on ldapi:/// (SLAPD_SERVICES in \
                    /etc/default/slapd), or pass --uri ldapi://SOCKET
                    """,
                status: .unavailable)
        }
        do {
            var hasConfig = false
            try c.search(base: "", scope: .base, attributes: ["configContext"]) { e in
                hasConfig = !e.strings("configContext").isEmpty
            }
            guard hasConfig else {
                c.close()
                throw SemailError(
                    "the server at \(uri) does not keep its configuration in cn=config",
                    why: "its root DSE has no configContext (a slapd.conf set-up)",
                    hint:
                        """
                        with slapd.conf, include schema/openssh-lpk.schema and schema/semail.schema, load syncprov \
                        and unique, and add the access rule by hand (see README, `directory setup`); or convert to \
                        slapd.d with slaptest -f slapd.conf -F slapd.d
                        """,
                    status: .config)
            }
            var readable = false
            try? c.search(base: "cn=config", scope: .base, attributes: ["1.1"]) { _ in readable = true }
            guard readable else {
                let who = (try? c.whoAmI()) ?? "?"
                c.close()
                throw SemailError(
                    "root may not manage cn=config on \(uri)", why: "cn=config is not readable as \(who)",
                    hint: """
                        on a slapd.d (cn=config) server, give \(rootPeercred) manage access to \
                        olcDatabase={0}config as Debian's package does; a slapd run from slapd.conf (-f) does not \
                        keep changes to cn=config: there include schema/openssh-lpk.schema and \
                        schema/semail.schema, load syncprov and unique, and add the access rule by hand (see \
                        README, `directory setup`)
                        """,
                    status: .noPermission)
            }
        } catch let e as LDAPError {
            c.close()
            throw SemailError("cannot read the configuration of \(uri)", why: e.description, status: .unavailable)
        }
        return c
    }

    struct Database { var dn: String; var entry: LDAPEntry }

    /// The database whose olcSuffix holds [ldap] base (the longest such suffix).
    func database(_ c: LDAPConnection) throws -> Database {
        let base = try DN(config.ldap.base)
        var best: (Database, Int)?
        try c.search(
            base: "cn=config", scope: .oneLevel, filter: .present("olcSuffix"),
            attributes: ["olcSuffix", "olcAccess", "olcDbIndex", "olcRootDN"]
        ) { e in
            for s in e.strings("olcSuffix") {
                guard let d = try? DN(s), base.normalized == d.normalized || base.isDescendant(of: d) else { continue }
                if best == nil || d.rdns.count > best!.1 { best = (Database(dn: e.dn, entry: e), d.rdns.count) }
            }
        }
        guard let best else {
            throw SemailError(
                "no database holds \(config.ldap.base)",
                why: "no olcSuffix in cn=config is \(config.ldap.base) or above it",
                hint:
                    """
                    fix [ldap] base, or create the database (on Debian: dpkg-reconfigure slapd, domain \
                    \(config.ldap.base))
                    """,
                status: .config)
        }
        return best.0
    }

    // MARK: Schema

    /// Strips a leading {N} ordering prefix and folds blanks.
    static func canonical(_ v: String) -> String {
        var s = Substring(v)
        if s.hasPrefix("{"), let close = s.firstIndex(of: "}") { s = s[s.index(after: close)...] }
        return s.split(whereSeparator: { $0 == " " || $0 == "\t" || $0 == "\n" }).joined(separator: " ")
    }

    /// The NAMEs a schema definition declares.
    public static func names(_ definition: String) -> [String] {
        guard let r = definition.range(of: " NAME ") else { return [] }
        let rest = definition[r.upperBound...].drop(while: { $0 == " " })
        let part: Substring
        if rest.hasPrefix("("), let close = rest.firstIndex(of: ")") {
            part = rest[rest.startIndex...close]
        } else {
            part = rest.prefix(while: { $0 != " " })
        }
        return part.split(separator: "'", omittingEmptySubsequences: false).enumerated().filter { $0.offset % 2 == 1 }
            .map { String($0.element).lowercased() }
    }

    func schemaChanges(_ c: LDAPConnection, conflicts: inout [String]) throws -> [(DirectoryChange, () throws -> Void)]
    {
        let defAttrs = ["olcAttributeTypes", "olcObjectClasses"]
        var loaded: [String: LDAPEntry] = [:]
        var byName: [String: (schema: String, def: String)] = [:]
        try c.search(base: "cn=schema,cn=config", scope: .oneLevel, attributes: ["cn"] + defAttrs) { e in
            let cn = DirectorySetup.canonical(e.first("cn") ?? "").lowercased()
            loaded[cn] = e
            for a in defAttrs {
                for v in e.strings(a) {
                    let d = DirectorySetup.canonical(v)
                    for n in DirectorySetup.names(d) { byName[n] = (cn, d) }
                }
            }
        }
        var out: [(DirectoryChange, () throws -> Void)] = []
        for schema in DirectorySchema.all {
            let ours = schema.entry
            let want = Set(defAttrs.flatMap { ours.strings($0).map(DirectorySetup.canonical) })
            if let have = loaded[schema.name] {
                let got = Set(defAttrs.flatMap { have.strings($0).map(DirectorySetup.canonical) })
                if got != want, let upgrade = DirectorySetup.schemaUpgrade(have: have, ours: ours) {
                    // An older semailctl's version of it: the new definitions are added in place.
                    out.append(
                        (
                            DirectoryChange(
                                kind: "schema", dn: have.dn,
                                description: "upgrade the \(schema.name) schema (\(have.dn)): \(upgrade.what)"),
                            { try c.modify(have.dn, upgrade.mods) }
                        ))
                } else if got != want {
                    conflicts.append(
                        "schema \(schema.name) is loaded (\(have.dn)) with another definition than semailctl's: "
                            + """
                            \(want.subtracting(got).count) definition(s) differ; compare it with \
                            schema/\(schema.name).ldif
                            """
                    )
                }
                continue
            }
            // Defined under another name (e.g. a distribution's openssh-lpk)?
            var elsewhere: [String] = []
            var differing: [String] = []
            for d in want {
                for n in DirectorySetup.names(d) {
                    if let other = byName[n] {
                        elsewhere.append(n); if other.def != d { differing.append("\(n) (in \(other.schema))") }
                    }
                }
            }
            if !differing.isEmpty {
                conflicts.append(
                    "schema \(schema.name) not loaded: \(differing.joined(separator: ", ")) already defined otherwise")
                continue
            }
            if !elsewhere.isEmpty {
                if elsewhere.count < want.flatMap(DirectorySetup.names).count {
                    conflicts.append(
                        """
                        schema \(schema.name) not loaded: part of it (\(elsewhere.joined(separator: ", "))) is \
                        defined by another schema
                        """
                    )
                }
                continue
            }
            out.append(
                (
                    DirectoryChange(
                        kind: "schema", dn: ours.dn, description: "load the \(schema.name) schema (\(ours.dn))"),
                    { try c.add(ours) }
                ))
        }
        return out
    }

    // MARK: Modules

    static func moduleName(_ v: String) -> String {
        var n = canonical(v)
        if let slash = n.lastIndex(of: "/") { n = String(n[n.index(after: slash)...]) }
        for ext in [".la", ".so"] where n.hasSuffix(ext) { n.removeLast(ext.count) }
        return n.lowercased()
    }

    func moduleChanges(_ c: LDAPConnection) throws -> [(DirectoryChange, () throws -> Void)] {
        var lists: [LDAPEntry] = []
        try c.search(
            base: "cn=config", scope: .oneLevel, filter: .equal("objectClass", "olcModuleList"),
            attributes: ["olcModuleLoad", "olcModulePath"]
        ) { lists.append($0) }
        let loaded = Set(lists.flatMap { $0.strings("olcModuleLoad").map(DirectorySetup.moduleName) })
        let missing = ["syncprov", "unique"].filter { !loaded.contains($0) }
        guard !missing.isEmpty else { return [] }
        if let list = lists.first {
            return [
                (
                    DirectoryChange(
                        kind: "module", dn: list.dn,
                        description: "load the module(s) \(missing.joined(separator: ", ")) (\(list.dn))"),
                    { try c.modify(list.dn, [.add("olcModuleLoad", missing)]) }
                )
            ]
        }
        let entry = LDAPEntry(
            dn: "cn=module,cn=config",
            attributes: [
                .init("objectClass", strings: ["olcModuleList"]), .init("cn", strings: ["module"]),
                .init("olcModulePath", strings: [DirectorySetup.modulePath]), .init("olcModuleLoad", strings: missing)
            ])
        return [
            (
                DirectoryChange(
                    kind: "module", dn: entry.dn,
                    description: "load the module(s) \(missing.joined(separator: ", ")) (new \(entry.dn))"),
                { try c.add(entry) }
            )
        ]
    }

    // MARK: Indexes

    static func indexType(_ t: String) -> String {
        switch t.lowercased() {
        case "eq", "equality": "eq"
        case "pres", "present": "pres"
        case "sub", "substr", "substring": "sub"
        default: t.lowercased()
        }
    }

    /// An olcDbIndex value: attributes and index types ("default" types when none).
    static func parseIndex(_ v: String) -> (attrs: [String], types: [String]) {
        let parts = canonical(v).split(separator: " ", maxSplits: 1).map(String.init)
        let attrs = parts.first.map { $0.split(separator: ",").map(String.init) } ?? []
        let types =
            parts.count > 1
            ? parts[1].split(separator: ",").map { indexType($0.trimmingCharacters(in: .whitespaces)) } : []
        return (attrs, types)
    }

    func indexChanges(_ c: LDAPConnection, _ db: Database) -> [(DirectoryChange, () throws -> Void)] {
        let values = db.entry.strings("olcDbIndex")
        var mods: [LDAPModification] = []
        var added: [String] = []
        var handledValues = Set<String>()
        for (attr, types) in DirectorySetup.indexes {
            guard
                let value = values.first(where: {
                    DirectorySetup.parseIndex($0).attrs.contains { $0.caseInsensitiveCompare(attr) == .orderedSame }
                })
            else {
                mods.append(.add("olcDbIndex", ["\(attr) \(types.joined(separator: ","))"]))
                added.append("\(attr) \(types.joined(separator: ","))")
                continue
            }
            let (attrs, have) = DirectorySetup.parseIndex(value)
            let lacking = types.filter { !have.contains($0) }
            guard !lacking.isEmpty, !have.isEmpty, !handledValues.contains(value) else { continue }
            // slapd refuses a second olcDbIndex value for one attribute: split the value.
            handledValues.insert(value)
            mods.append(.delete("olcDbIndex", [value]))
            let others = attrs.filter { $0.caseInsensitiveCompare(attr) != .orderedSame }
            if !others.isEmpty {
                mods.append(.add("olcDbIndex", ["\(others.joined(separator: ",")) \(have.joined(separator: ","))"]))
            }
            let merged = have + lacking
            mods.append(.add("olcDbIndex", ["\(attr) \(merged.joined(separator: ","))"]))
            added.append("\(attr) \(merged.joined(separator: ",")) (was \"\(value)\")")
        }
        guard !mods.isEmpty else { return [] }
        return [
            (
                DirectoryChange(
                    kind: "index", dn: db.dn,
                    description: "add the index(es) \(added.joined(separator: "; ")) to \(db.dn)"),
                { try c.modify(db.dn, mods) }
            )
        ]
    }

    // MARK: Overlays

    /// The slapo-unique URI: no two entries under the people OU with one semailMailbox value.
    var uniqueURI: String {
        let allowed = CharacterSet.alphanumerics.union(CharacterSet(charactersIn: "=,-._~+"))
        let base = config.peopleDN.addingPercentEncoding(withAllowedCharacters: allowed) ?? config.peopleDN
        return "ldap:///\(base)?semailMailbox?sub"
    }

    func overlayChanges(_ c: LDAPConnection, _ db: Database) throws -> [(DirectoryChange, () throws -> Void)] {
        var overlays: [String: LDAPEntry] = [:]
        try c.search(
            base: db.dn, scope: .oneLevel, filter: .equal("objectClass", "olcOverlayConfig"),
            attributes: ["olcOverlay", "olcUniqueURI"]
        ) { e in
            overlays[DirectorySetup.canonical(e.first("olcOverlay") ?? "").lowercased()] = e
        }
        var out: [(DirectoryChange, () throws -> Void)] = []
        if overlays["syncprov"] == nil {
            let e = LDAPEntry(
                dn: "olcOverlay=syncprov,\(db.dn)",
                attributes: [
                    .init("objectClass", strings: ["olcOverlayConfig", "olcSyncProvConfig"]),
                    .init("olcOverlay", strings: ["syncprov"]), .init("olcSpCheckpoint", strings: ["100 10"])
                ])
            out.append(
                (
                    DirectoryChange(
                        kind: "overlay", dn: e.dn,
                        description: "add the syncprov overlay (RFC 4533, for reconcile --watch) to \(db.dn)"),
                    { try c.add(e) }
                ))
        }
        let uri = uniqueURI
        if let u = overlays["unique"] {
            if !u.strings("olcUniqueURI").map(DirectorySetup.canonical).contains(uri) {
                out.append(
                    (
                        DirectoryChange(
                            kind: "overlay", dn: u.dn, description: "add the uniqueness constraint \(uri) to \(u.dn)"),
                        { try c.modify(u.dn, [.add("olcUniqueURI", [uri])]) }
                    ))
            }
        } else {
            let e = LDAPEntry(
                dn: "olcOverlay=unique,\(db.dn)",
                attributes: [
                    .init("objectClass", strings: ["olcOverlayConfig", "olcUniqueConfig"]),
                    .init("olcOverlay", strings: ["unique"]), .init("olcUniqueURI", strings: [uri])
                ])
            out.append(
                (
                    DirectoryChange(
                        kind: "overlay", dn: e.dn,
                        description: "add the unique overlay (\(uri): one mailbox address per entry) to \(db.dn)"),
                    { try c.add(e) }
                ))
        }
        return out
    }

    // MARK: Access and the people OU

    func checkedDN(_ s: String, what: String) throws -> String {
        guard !s.contains("\""), (try? DN(s)) != nil else {
            throw SemailError(
                "\(what) \"\(s)\" cannot go into an access rule", why: "it is not a DN without double quotes",
                hint: "fix [ldap] in the configuration", status: .config)
        }
        return s
    }

    func accessChanges(_ c: LDAPConnection, _ db: Database) throws -> [(DirectoryChange, () throws -> Void)] {
        let who = try checkedDN(DirectorySetup.identity(config), what: "the bind identity")
        if let root = db.entry.first("olcRootDN"), let r = try? DN(root), let w = try? DN(who),
            r.normalized == w.normalized
        {
            return []  // the rootdn bypasses access rules
        }
        let rule = DirectorySetup.accessRule(
            peopleDN: try checkedDN(config.peopleDN, what: "the people OU"), identity: who)
        let have = db.entry.strings("olcAccess").map { DirectorySetup.canonical($0).lowercased() }
        guard !have.contains(DirectorySetup.canonical(rule).lowercased()) else { return [] }
        return [
            (
                DirectoryChange(
                    kind: "access", dn: db.dn,
                    description: "give \(who) write access to \(config.peopleDN) (first olcAccess rule of \(db.dn))"),
                { try c.modify(db.dn, [.add("olcAccess", ["{0}\(rule)"])]) }
            )
        ]
    }

    func peopleChanges(_ c: LDAPConnection, _ db: Database) throws -> [(DirectoryChange, () throws -> Void)] {
        let people = config.peopleDN
        if try c.read(people, attributes: ["1.1"]) != nil { return [] }
        guard try c.read(config.ldap.base, attributes: ["1.1"]) != nil else {
            throw SemailError(
                "the base entry \(config.ldap.base) does not exist",
                why: "\(db.dn) holds it, but the entry itself is missing",
                hint:
                    """
                    create it (Debian's debconf does: dpkg-reconfigure slapd), then run `semailctl directory \
                    setup` again
                    """,
                status: .config)
        }
        let rdn = try DN(config.ldap.people).rdn
        guard rdn.count == 1, rdn[0].type.lowercased() == "ou" else {
            throw SemailError(
                "cannot create the people entry \(people)", why: "its RDN is not ou=NAME",
                hint: "create the entry yourself, then run `semailctl directory setup` again", status: .config)
        }
        let entry = LDAPEntry(
            dn: people,
            attributes: [.init("objectClass", strings: ["organizationalUnit"]), .init("ou", strings: [rdn[0].value])])
        let base = try checkedDN(config.ldap.base, what: "[ldap] base")
        let root = DirectorySetup.rootPeercred
        // Root only reads the database on Debian: two temporary rules let it add this one entry.
        let temporary = [
            "to dn.base=\"\(base)\" attrs=children by dn.exact=\"\(root)\" write by * break",
            "to dn.base=\"\(try checkedDN(people, what: "the people OU"))\" by dn.exact=\"\(root)\" write by * break"
        ]
        return [
            (
                DirectoryChange(kind: "entry", dn: people, description: "create \(people) (organizationalUnit)"),
                {
                    try c.modify(db.dn, [.add("olcAccess", ["{0}\(temporary[0])", "{1}\(temporary[1])"])])
                    defer { try? c.modify(db.dn, temporary.map { .delete("olcAccess", [$0]) }) }
                    try c.add(entry)
                }
            )
        ]
    }
}

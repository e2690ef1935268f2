import Core
import Directory
import Foundation
import LDAPClient

/// `config check`'s directory lines: what `directory setup` puts in place,
/// tested live with the configured bind identity, without changing anything.
extension ConfigChecker {
    static let setupHint =
        "run `semailctl directory setup` as root on the LDAP server (`--dry-run` shows what it changes)"

    /// The schema, the identity's write access to the people OU, and
    /// syncprov. Empty when the server cannot be reached or bound (the
    /// "ldap" line says why).
    static func checkDirectory(_ config: Config) -> [ConfigReport.Component] {
        guard let c = try? DirectoryServer.connect(config.ldap) else { return [] }
        defer { c.close() }
        guard (try? DirectoryServer.bindAdmin(c, config.ldap)) != nil else { return [] }
        return [checkDirectorySchema(c), checkDirectoryWrite(c, config), checkDirectorySync(c, config)]
    }

    /// What semailctl writes: its own schema and openssh-lpk's.
    static let requiredSchema: [(kind: String, names: [String])] = [
        ("objectClasses", ["semailUser", "ldapPublicKey"]),
        ("attributeTypes", ["semailMailbox", "semailVolumeSize", "sshPublicKey"])
    ]

    static func checkDirectorySchema(_ c: LDAPConnection) -> ConfigReport.Component {
        let name = "directory schema"
        do {
            let root = try c.read("", attributes: ["subschemaSubentry"])
            let sub = root?.first("subschemaSubentry") ?? "cn=Subschema"
            let schema = try c.read(sub, attributes: requiredSchema.map(\.kind))
            var missing: [String] = []
            for (kind, names) in requiredSchema {
                let have = Set((schema?.strings(kind) ?? []).flatMap(DirectorySetup.names))
                missing += names.filter { !have.contains($0.lowercased()) }
            }
            guard missing.isEmpty else {
                return .init(
                    name: name, ok: false,
                    message:
                        "the server's schema lacks \(missing.joined(separator: ", ")) (semail and openssh-lpk schemas)",
                    hint: setupHint + ", or load schema/semail.ldif and schema/openssh-lpk.ldif")
            }
            return .init(name: name, ok: true, message: "semail and openssh-lpk schemas loaded")
        } catch {
            return .init(name: name, ok: false, message: "cannot read the subschema: \(error)")
        }
    }

    /// Whether the bind identity may add entries under the people OU: an add
    /// sent with the LDAP No-Op control, which slapd checks fully (access
    /// rules included) and then does not apply. OpenLDAP 2.5 answers to the
    /// draft's experimental OID (LDAP_CONTROL_NOOP, 1.3.6.1.4.1.4203.666.5.2),
    /// not to 1.3.6.1.4.1.4203.1.10.2.
    static let noOpControl = "1.3.6.1.4.1.4203.666.5.2"

    /// What slapd adds to every new entry (olcLastMod on).
    static let operationalOnAdd = [
        "structuralObjectClass", "entryUUID", "creatorsName", "createTimestamp",
        "entryCSN", "modifiersName", "modifyTimestamp"
    ]

    static func checkDirectoryWrite(_ c: LDAPConnection, _ config: Config) -> ConfigReport.Component {
        let name = "directory access"
        let who = ((try? c.whoAmI()) ?? "").replacingOccurrences(of: "dn:", with: "")
        let identity = who.isEmpty ? DirectorySetup.identity(config) : who
        // The probe is an organizationalUnit like the people OU itself and
        // only sent when that entry already has every attribute the probe
        // would carry: slapd 2.5's back-mdb registers an attribute it has
        // never stored inside the add's transaction and does not take it
        // back when the No-Op control cancels the add, which corrupts the
        // database (mdb_entry_decode errors on every later search).
        let ou: LDAPEntry?
        do { ou = try c.read(config.peopleDN, attributes: ["objectClass", "ou", "+"]) } catch {
            return .init(name: name, ok: false, message: "cannot read \(config.peopleDN) as \(identity): \(error)")
        }
        guard let ou else {
            return .init(
                name: name, ok: false, message: "the people OU \(config.peopleDN) does not exist",
                hint: setupHint + ", or fix [ldap] base / people")
        }
        let stored = Set(ou.attributes.map { $0.name.lowercased() })
        guard (["objectClass", "ou"] + operationalOnAdd).allSatisfy({ stored.contains($0.lowercased()) }),
            ou.strings("objectClass").contains(where: {
                $0.caseInsensitiveCompare("organizationalUnit") == .orderedSame
            })
        else {
            return .init(
                name: name, ok: true,
                message:
                    """
                    not tested (\(config.peopleDN) is not an organizationalUnit with operational attributes); \
                    \(identity) must be able to write it
                    """
            )
        }
        let probe = LDAPEntry(
            dn: DN(
                "ou", "semail-probe-\(UUID().uuidString.prefix(8).lowercased())",
                under: (try? DN(config.peopleDN)) ?? DN(rdns: [])
            ).description,
            attributes: [.init("objectClass", strings: ["organizationalUnit"]), .init("ou", strings: ["semail-probe"])])
        do {
            _ = try c.send(.add(probe), controls: [.init(oid: noOpControl, critical: true)])
            let result = try c.next().error?.code ?? .success
            switch result {
            case .noOperation:
                return .init(
                    name: name, ok: true,
                    message: "\(identity) may add entries under \(config.peopleDN) (tested with the No-Op control)")
            case .success:
                // The server applied it anyway: take it back.
                try? c.delete(probe.dn)
                return .init(name: name, ok: true, message: "\(identity) may add entries under \(config.peopleDN)")
            case .unavailableCriticalExtension:
                return .init(
                    name: name, ok: true,
                    message:
                        """
                        not tested: the server does not support the No-Op control; \(identity) must be able to \
                        write \(config.peopleDN)
                        """
                )
            case .insufficientAccessRights:
                return .init(
                    name: name, ok: false,
                    message: "\(identity) may not write \(config.peopleDN) (user add and mailbox create would fail)",
                    hint: setupHint + ", or give \(identity) write access to \(config.peopleDN)")
            case .noSuchObject:
                return .init(
                    name: name, ok: false, message: "the people OU \(config.peopleDN) does not exist",
                    hint: setupHint + ", or fix [ldap] base / people")
            default:
                return .init(
                    name: name, ok: false,
                    message:
                        """
                        a test add under \(config.peopleDN) (No-Op, nothing written) failed: \(result) \
                        (\(result.rawValue))
                        """
                )
            }
        } catch {
            return .init(name: name, ok: false, message: "cannot test write access to \(config.peopleDN): \(error)")
        }
    }

    /// Whether the database serves RFC 4533 sync searches (syncprov), which
    /// `reconcile --watch` needs: a refreshOnly search on the people OU.
    static func checkDirectorySync(_ c: LDAPConnection, _ config: Config) -> ConfigReport.Component {
        let name = "directory sync"
        do {
            try c.syncRefresh(base: config.peopleDN)
            return .init(
                name: name, ok: true,
                message: "sync searches (syncprov) work on \(config.peopleDN): reconcile --watch can run")
        } catch let e as LDAPError where e.code == .unavailableCriticalExtension {
            return .init(
                name: name, ok: false,
                message:
                    "the database holding \(config.peopleDN) has no syncprov overlay: reconcile --watch cannot run",
                hint: setupHint)
        } catch let e as LDAPError where e.code == .noSuchObject {
            return .init(
                name: name, ok: false, message: "the people OU \(config.peopleDN) does not exist", hint: setupHint)
        } catch {
            return .init(
                name: name, ok: false, message: "a sync search on \(config.peopleDN) failed: \(error)", hint: setupHint)
        }
    }
}

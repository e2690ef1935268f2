import Core
import Foundation
import Provisioning
import Storage
import TestSupport
import Testing

/// Issue 14's loose ends, against real slapd, named, dockerd and loop
/// devices: a failed import request kept and retried, `user modify`, full
/// clean-up on delete and prune.
@Suite(.slapd, .named, .dockerd, .serialized) struct LeftoversIntegrationTests {
    func json(_ r: ProcessOutput) throws -> [String: Any] {
        try #require(
            JSONSerialization.jsonObject(with: r.stdout) as? [String: Any], "stdout: \(r.text)\nstderr: \(r.stderr)")
    }

    func ldap(_ w: World, _ uid: String, _ attrs: [String]) throws -> [String] {
        try ProcessRunner().run(
            [
                "ldapsearch", "-x", "-LLL", "-o", "ldif-wrap=no", "-H", w.slapd.uri, "-D", w.slapd.adminDN, "-y",
                w.slapd.secretFile,
                "-b", "uid=\(uid),\(w.ou),dc=semail,dc=email", "-s", "base"
            ] + attrs
        ).text
            .split(separator: "\n").map(String.init).filter { !$0.hasPrefix("dn:") && !$0.isEmpty }
    }

    /// An import whose mailbox fails past its checks keeps the request on
    /// the entry with the reason (list, reconcile); reconcile provisions it
    /// under the admin's rules (a role address a user could not have) and
    /// clears the reason.
    @Test func failedImportRequestIsKeptShownAndRetried() throws {
        let w = try World.ready()
        defer { w.cleanup() }
        let u = uniqueUID("f")
        let domain = "\(u).\(w.zone)", address = "postmaster@\(u).\(w.zone)"
        let ldif =
            "dn: uid=\(u),\(w.ou),dc=semail,dc=email\nobjectClass: inetOrgPerson\nobjectClass: posixAccount\n"
            + "uid: \(u)\ncn: \(u)\nsn: \(u)\nuidNumber: 46000\ngidNumber: 46000\nhomeDirectory: /home/\(u)\n"
            + "semailMailbox: \(address)\nsemailVolumeSize: 33554432\n"
        let file = "\(w.dir)/one.ldif"
        try ldif.write(toFile: file, atomically: true, encoding: .utf8)
        var r = try w.run(["import", file, "--json"], env: ["SEMAIL_FAULT": "mailbox.create.container"])
        #expect(r.status == 1, "\(r.text)\(r.stderr)")
        // The request stays (with its size), nothing else half-made.
        #expect(try w.ldapMailbox(u) == address)
        #expect(try ldap(w, u, ["semailVolumeSize"]) == ["semailVolumeSize: 33554432"])
        #expect(try ldap(w, u, ["mail"]).isEmpty, "the mail value is the mailbox's: not there before it exists")
        #expect(!FileManager.default.fileExists(atPath: "\(w.dir)/images/\(u).img"))
        #expect(w.journalFiles.isEmpty)
        let record = "\(w.dir)/state/failures/\(u).json"
        var st = stat()
        #expect(lstat(record, &st) == 0 && st.st_mode & 0o077 == 0 && st.st_uid == 0, "the reason is root's state")
        // mailbox list and show say why.
        r = try w.run(["mailbox", "list", "--json"])
        let list = try #require(JSONSerialization.jsonObject(with: r.stdout) as? [[String: Any]])
        let me = try #require(list.first { $0["uid"] as? String == u }, "\(r.text)")
        let failure = try #require(me["lastFailure"] as? [String: Any], "\(me)")
        #expect((failure["reason"] as? String ?? "").contains("injected failure"), "\(failure)")
        #expect(failure["step"] as? String == "container" && failure["by"] as? String == "admin")
        #expect(me["refused"] == nil, "an admin's request is not put to the self-service rules: \(me)")
        r = try w.run(["mailbox", "show", u])
        #expect(r.text.contains("FAILED") && r.text.contains("last failed: injected failure"), "\(r.text)")
        // reconcile plans the retry, with the reason.
        r = try w.run(["reconcile", "--dry-run", "--json"])
        let items = try #require(try json(r)["items"] as? [[String: Any]])
        let retry = try #require(
            items.first { $0["uid"] as? String == u && $0["component"] as? String == "mailbox" }, "\(items)")
        #expect(
            (retry["action"] as? String ?? "").hasPrefix("retry")
                && (retry["reason"] as? String ?? "").contains("last failed: injected failure"), "\(retry)")
        r = try w.run(["reconcile", "--dry-run"])
        #expect(r.text.contains("last failed: injected failure"), "\(r.text)")
        // A later reconcile provisions it and clears the reason.
        r = try w.run(["reconcile", "--json"])
        #expect(r.status == 0, "\(r.text)\(r.stderr)")
        #expect(try w.missing(u, domain: domain).filter { $0 != "address map line" }.isEmpty)
        #expect(w.mapText.contains("uid: \(u) mail: \(address)"), "\(w.mapText)")
        #expect(!FileManager.default.fileExists(atPath: record))
        r = try w.run(["mailbox", "list", "--json"])
        let after = try #require(JSONSerialization.jsonObject(with: r.stdout) as? [[String: Any]])
        #expect(after.first { $0["uid"] as? String == u }?["lastFailure"] == nil)
    }

    /// An admin's `mailbox create` that is not a directory request still
    /// leaves nothing when it fails.
    @Test func failedAdminCreateLeavesNothing() throws {
        let w = try World.ready()
        defer { w.cleanup() }
        let u = uniqueUID("n")
        try w.addUser(u)
        let r = try w.run(
            ["mailbox", "create", u, "--address", "\(u)@\(u).\(w.zone)"],
            env: ["SEMAIL_FAULT": "mailbox.create.container"])
        #expect(r.status == 1)
        #expect(try w.traces(u, domain: "\(u).\(w.zone)").isEmpty)
        #expect(!FileManager.default.fileExists(atPath: "\(w.dir)/state/failures/\(u).json"))
    }

    @Test func userModify() throws {
        let w = try World.ready()
        defer { w.cleanup() }
        let u = uniqueUID("um")
        var r = try w.run(["user", "add", u, "--cn", "Old", "--sn", "Old"])
        #expect(r.status == 0, "\(r.stderr)")
        // Not a posixAccount: the mailbox's hint names `user modify --posix`.
        r = try w.run(["mailbox", "create", u, "--address", "\(u)@\(u).\(w.zone)"])
        #expect(r.status == 1 && r.text.contains("user modify \(u) --posix"), "\(r.text)")
        r = try w.run([
            "user", "modify", u, "--cn", "Ada Lovelace", "--sn", "Lovelace", "--given-name", "Ada", "--mail",
            "Ada@Example.NET", "--json"
        ])
        #expect(r.status == 0, "\(r.stderr)")
        var doc = try json(r)
        #expect(
            doc["cn"] as? String == "Ada Lovelace" && doc["sn"] as? String == "Lovelace"
                && doc["givenName"] as? String == "Ada")
        #expect(doc["mail"] as? [String] == ["ada@example.net"])
        // A bad value changes nothing (one modify: all or none).
        r = try w.run(["user", "modify", u, "--cn", "New", "--mail", "not an address"])
        #expect(r.status == 64, "\(r.text)")
        r = try w.run(["user", "modify", u, "--cn", "bad\nline"])
        #expect(r.status == 64, "\(r.text)")
        #expect(try ldap(w, u, ["cn"]) == ["cn: Ada Lovelace"])
        r = try w.run(["user", "modify", u, "--given-name", ""])
        #expect(r.status == 0)
        #expect(try ldap(w, u, ["givenName"]).isEmpty)
        r = try w.run(["user", "modify", "nosuch\(u)", "--cn", "x"])
        #expect(r.status == 1)
        // --posix: the next free uidNumber, as user add gives it.
        r = try w.run(["user", "modify", u, "--posix", "--json"])
        #expect(r.status == 0, "\(r.stderr)")
        doc = try json(r)
        let n = try #require(doc["uidNumber"] as? Int)
        #expect(doc["gidNumber"] as? Int == n && doc["homeDirectory"] as? String == "\(w.dir)/mail/\(u)")
        #expect(try w.run(["user", "modify", u, "--posix"]).status == 1, "already one")
        let v = uniqueUID("um")
        try w.addUser(v)
        #expect(try w.run(["user", "show", v, "--json"]).stdout.count > 0)
        #expect(try json(try w.run(["user", "show", v, "--json"]))["uidNumber"] as? Int == n + 1)
        // Now the mailbox can be made; --mail later keeps the mailbox's own address.
        r = try w.run(["mailbox", "create", u, "--address", "\(u)@\(u).\(w.zone)", "-q"])
        #expect(r.status == 0, "\(r.text)\(r.stderr)")
        r = try w.run(["user", "modify", u, "--mail", "ada@example.org", "--json"])
        #expect(Set(try json(r)["mail"] as? [String] ?? []) == ["\(u)@\(u).\(w.zone)", "ada@example.org"])
        #expect(try w.run(["mailbox", "delete", u, "--yes", "-q"]).status == 0)
    }

    /// Delete takes off the mailbox's mail value and the semailUser class
    /// (other mail values stay); prune removes an orphan's Dockerfile
    /// directory with the container's private host key.
    @Test func deleteAndPruneCleanUpEverything() throws {
        let w = try World.ready()
        defer { w.cleanup() }
        let u = uniqueUID("cl"), o = uniqueUID("or")
        try w.addUser(u); try w.addUser(o)
        #expect(try w.run(["user", "modify", u, "--mail", "keep@example.net"]).status == 0)
        var r = try w.run(["mailbox", "create", u, "--address", "\(u)@\(u).\(w.zone)", "-q"])
        #expect(r.status == 0, "\(r.stderr)")
        #expect(Set(try ldap(w, u, ["mail"])) == ["mail: keep@example.net", "mail: \(u)@\(u).\(w.zone)"])
        #expect(try ldap(w, u, ["objectClass"]).contains("objectClass: semailUser"))
        r = try w.run(["mailbox", "delete", u, "--yes", "--json"])
        #expect(r.status == 0, "\(r.stderr)")
        #expect(try ldap(w, u, ["mail"]) == ["mail: keep@example.net"])
        #expect(!(try ldap(w, u, ["objectClass"])).contains { $0.lowercased() == "objectclass: semailuser" })
        #expect(try ldap(w, u, ["semailVolumeSize", "semailMailbox"]).isEmpty)

        // An orphan: its entry loses the mailbox behind semailctl's back.
        r = try w.run(["mailbox", "create", o, "--address", "\(o)@example.net", "-q"])
        #expect(r.status == 0, "\(r.stderr)")
        let dockerfiles = "\(w.dir)/Containers/\(o)"
        #expect(FileManager.default.fileExists(atPath: "\(dockerfiles)/ssh_host_ed25519_key"))
        let ldif = "dn: uid=\(o),\(w.ou),dc=semail,dc=email\nchangetype: modify\ndelete: semailMailbox\n-\n"
        try ProcessRunner().run(
            ["ldapmodify", "-x", "-H", w.slapd.uri, "-D", w.slapd.adminDN, "-y", w.slapd.secretFile],
            stdin: Data(ldif.utf8))
        r = try w.run(["reconcile", "--dry-run", "--json"])
        let orphans = try #require(try json(r)["items"] as? [[String: Any]]).filter {
            $0["kind"] as? String == "orphan" && $0["uid"] as? String == o
        }
        #expect(
            Set(orphans.compactMap { $0["component"] as? String }) == ["volume", "container", "dockerfile"],
            "\(orphans)")
        r = try w.run(["reconcile"])
        #expect(FileManager.default.fileExists(atPath: dockerfiles), "kept without --prune")
        r = try w.run(["reconcile", "--prune", "--json"])
        #expect(r.status == 0, "\(r.text)\(r.stderr)")
        #expect(!FileManager.default.fileExists(atPath: dockerfiles))
        #expect((try json(r)["pruned"] as? [String] ?? []).contains("directory \(dockerfiles)"))
        if let id = (try json(r)["quarantined"] as? [[String: Any]])?.first?["id"] as? String {
            _ = try w.run(["quarantine", "purge", id, "--yes"])
        }
    }
}

/// Configuration and storage without the services.
@Suite struct LeftoversStorageTests {
    /// Two configurations (two mail roots) on one fstab: each writes its
    /// own block; neither removes the other's entries.
    @Test func twoConfigurationsShareOneFstab() throws {
        let a = try StorageArea(), b = try StorageArea()
        defer { a.cleanup(); b.cleanup() }
        let text = try String(contentsOfFile: b.config, encoding: .utf8).replacingOccurrences(
            of: "\(b.dir)/fstab", with: "\(a.dir)/fstab")
        try text.write(toFile: b.config, atomically: true, encoding: .utf8)
        let ua = uniqueUID("fa"), ub = uniqueUID("fb")
        #expect(try semailctl(["volume", "create", ua, "--config", a.config, "-q"]).status == 0)
        #expect(try semailctl(["volume", "create", ub, "--config", b.config, "-q"]).status == 0)
        var fstab = a.fstab
        #expect(
            fstab.contains("# semailctl:begin \(a.dir)/mail\n") && fstab.contains("# semailctl:end \(a.dir)/mail\n"),
            "\(fstab)")
        #expect(
            fstab.contains("# semailctl:begin \(b.dir)/mail\n") && fstab.contains("# semailctl:end \(b.dir)/mail\n"),
            "\(fstab)")
        #expect(fstab.contains(" \(a.dir)/mail/\(ua) ") && fstab.contains(" \(b.dir)/mail/\(ub) "), "\(fstab)")
        // Each sees its volume as persistent; deleting one leaves the other's entry.
        let la = try #require(
            JSONSerialization.jsonObject(with: try semailctl(["volume", "list", "--config", a.config, "--json"]).stdout)
                as? [[String: Any]])
        #expect(la.first { $0["uid"] as? String == ua }?["persistent"] as? Bool == true, "\(la)")
        #expect(try semailctl(["volume", "delete", ua, "--yes", "--config", a.config, "-q"]).status == 0)
        fstab = a.fstab
        #expect(
            !fstab.contains(ua) && fstab.contains(" \(b.dir)/mail/\(ub) ")
                && fstab.contains("# semailctl:end \(b.dir)/mail"), "\(fstab)")
        #expect(try semailctl(["volume", "delete", ub, "--yes", "--config", b.config, "-q"]).status == 0)
    }

    /// LVM on a kernel without device-mapper: config check says so, with
    /// what to do (not a hint about `vgs`).
    @Test(.enabled(if: !KernelSupport.hasDeviceMapper, "this kernel has device-mapper"))
    func configCheckLVMWithoutDeviceMapper() throws {
        let a = try StorageArea(extra: "")
        defer { a.cleanup() }
        let text = try String(contentsOfFile: a.config, encoding: .utf8).replacingOccurrences(
            of: "backend = \"image\"", with: "backend = \"lvm\"\nvolume_group = \"mvg\"")
        try text.write(toFile: a.config, atomically: true, encoding: .utf8)
        let r = try semailctl(["config", "check", "--config", a.config, "--json"])
        #expect(r.status != 0)
        let doc = try #require(JSONSerialization.jsonObject(with: r.stdout) as? [String: Any], "\(r.text)\(r.stderr)")
        let storage = try #require(
            (doc["components"] as? [[String: Any]])?.first { $0["name"] as? String == "storage" }, "\(doc)")
        #expect(storage["ok"] as? Bool == false)
        #expect((storage["message"] as? String ?? "").contains("device-mapper"), "\(storage)")
        #expect(
            (storage["hint"] as? String ?? "").contains("modprobe dm_mod")
                && (storage["hint"] as? String ?? "").contains("backend = \"image\""), "\(storage)")
        // The LVM error itself names device-mapper, not `vgs`.
        let v = try semailctl(["volume", "list", "--config", a.config])
        #expect(v.status != 0 && v.stderr.contains("device-mapper") && !v.stderr.contains("vgs mvg"), "\(v.stderr)")
    }
}

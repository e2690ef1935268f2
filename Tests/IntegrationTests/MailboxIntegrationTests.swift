import Core
import Foundation
import Provisioning
import TestSupport
import Synchronization
import Testing

/// mailbox create/delete/list/show, reconcile, quarantine and recovery,
/// against real slapd, named, dockerd and loop devices, with faults
/// injected at every step.
@Suite(.slapd, .named, .dockerd, .serialized) struct MailboxIntegrationTests {
    func world(_ extra: String = "") throws -> World { try World.ready(extra) }

    func json(_ r: ProcessOutput) throws -> [String: Any] {
        try #require(
            JSONSerialization.jsonObject(with: r.stdout) as? [String: Any], "stdout: \(r.text)\nstderr: \(r.stderr)")
    }

    /// A mailbox on a managed subdomain, with a letter in it.
    func mailbox(_ w: World, _ uid: String) throws -> String {
        let domain = "\(uid).\(w.zone)"
        let r = try w.run(["mailbox", "create", uid, "--address", "\(uid)@\(domain)", "-q"])
        #expect(r.status == 0, "\(r.stderr)\(r.text)")
        try "Subject: keep me\n\nprecious\n".write(
            toFile: "\(w.mountPoint(uid))/Maildir/cur/1.precious", atomically: true, encoding: .utf8)
        return domain
    }

    @Test func createListShowDeleteWithArchive() throws {
        let w = try world()
        defer { w.cleanup() }
        // config check tests every configured service.
        let check = try w.run(["config", "check", "--json"])
        #expect(check.status == 0, "\(check.text)\(check.stderr)")
        let comps = try #require(try json(check)["components"] as? [[String: Any]])
        #expect(
            comps.compactMap { $0["name"] as? String } == [
                "ldap", "directory schema", "directory access", "directory sync", "storage", "containers", "dns",
                "smtp",
                "usage"
            ])
        #expect(comps.allSatisfy { $0["ok"] as? Bool == true }, "\(comps)")
        let uid = uniqueUID("m"), other = uniqueUID("x")
        try w.addUser(uid); try w.addUser(other)
        let domain = "\(uid).\(w.zone)"
        var r = try w.run(["mailbox", "create", uid, "--address", "\(uid)@\(domain)", "--dry-run", "--json"])
        #expect(r.status == 0)
        #expect((try json(r)["plan"] as? [[String: Any]])?.count == 7)
        #expect(try w.traces(uid, domain: domain).isEmpty, "a dry run changed something")

        r = try w.run(["mailbox", "create", uid, "--address", "\(uid)@\(domain)", "--json"])
        #expect(r.status == 0, "\(r.text)\n\(r.stderr)")
        #expect(
            try json(r)["applied"] as? [String] == [
                "directory-check", "volume", "dockerfile", "container", "dns", "directory", "address-map"
            ])
        #expect(try w.missing(uid, domain: domain).isEmpty)
        #expect(try w.mx(domain) == ["10 mx.\(w.zone)."])
        // Idempotent: the second run skips what is done.
        r = try w.run(["mailbox", "create", uid, "--address", "\(uid)@\(domain)", "--json"])
        #expect(r.status == 0)
        #expect(
            Set(try json(r)["skipped"] as? [String] ?? []).isSuperset(of: ["volume", "dns", "directory", "address-map"])
        )
        // One mailbox per user; an address belongs to one user.
        r = try w.run(["mailbox", "create", uid, "--address", "second@\(domain)"])
        #expect(r.status == 1 && r.text.contains("already has a mailbox"), "\(r.text)")
        r = try w.run(["mailbox", "create", other, "--address", "\(uid)@\(domain)"])
        #expect(r.status == 1 && r.text.contains("is taken"), "\(r.text)")
        #expect(try w.traces(other, domain: "nowhere.\(w.zone)").isEmpty)

        r = try w.run(["mailbox", "list", "--json"])
        let list = try #require(JSONSerialization.jsonObject(with: r.stdout) as? [[String: Any]])
        let me = try #require(list.first { $0["uid"] as? String == uid })
        #expect(me["dns"] as? String == "ok" && me["inAddressMap"] as? Bool == true)
        #expect((me["container"] as? [String: Any])?["state"] as? String == "running")
        #expect((me["volume"] as? [String: Any])?["mounted"] as? Bool == true)
        r = try w.run(["mailbox", "show", uid])
        #expect(r.text.contains("ssh -J"), "\(r.text)")

        // Delete: refuses without --yes off a terminal; archives first.
        try "Subject: hi\n\nbody\n".write(
            toFile: "\(w.mountPoint(uid))/Maildir/new/2.msg", atomically: true, encoding: .utf8)
        r = try w.run(["mailbox", "delete", uid])
        #expect(r.status == 64)
        let archive = "\(w.dir)/\(uid).tar.gz"
        r = try w.run(["mailbox", "delete", uid, "--archive", archive, "--yes"])
        #expect(r.status == 0, "\(r.stderr)")
        #expect(try ProcessRunner().run(["tar", "-tzf", archive]).text.contains("Maildir/new/2.msg"))
        #expect(try w.traces(uid, domain: domain).isEmpty)
        // An existing archive is never overwritten.
        _ = try mailbox(w, uid)
        r = try w.run(["mailbox", "delete", uid, "--archive", archive, "--yes"])
        #expect(r.status == 73)
        #expect(try w.missing(uid, domain: domain).isEmpty)
    }

    @Test func externalDomainPrintsTheRecordToPublish() throws {
        let w = try world()
        defer { w.cleanup() }
        let uid = uniqueUID("e")
        try w.addUser(uid)
        let r = try w.run(["mailbox", "create", uid, "--address", "\(uid)@example.org"])
        #expect(r.status == 0, "\(r.stderr)")
        #expect(r.stderr.contains("publish `example.org. IN MX 10 mx.\(w.zone).`"), "\(r.stderr)")
        #expect(w.mapText.contains("uid: \(uid) mail: \(uid)@example.org"))
        #expect(try w.run(["mailbox", "delete", uid, "--yes"]).status == 0)
        #expect(!w.mapText.contains(uid))
    }

    /// Fail, kill before and kill after every step of `mailbox create`; after
    /// `recover` nothing is half-made: either nothing is left, or (past the
    /// point of no return) the mailbox is whole.
    @Test func createFaultAtEveryStep() throws {
        let w = try world()
        defer { w.cleanup() }
        let uid = uniqueUID("cf")
        try w.addUser(uid)
        let domain = "\(uid).\(w.zone)"
        let steps = ["directory-check", "volume", "dockerfile", "container", "dns", "directory", "address-map"]
        let inner = [
            "storage.volume", "storage.mkfs", "storage.mount", "storage.maildir", "storage.fstab",
            "container.render", "container.build", "container.create", "container.start"
        ]
        var cases: [(String, Int32)] = []
        for s in steps {
            cases += [
                ("mailbox.create.\(s)", 1), ("kill:mailbox.create.\(s)", 137), ("kill:mailbox.create.\(s).after", 137)
            ]
        }
        for p in inner { cases += [(p, 1), ("kill:\(p)", 137)] }
        for (fault, status) in cases {
            let r = try w.run(["mailbox", "create", uid, "--address", "\(uid)@\(domain)"], env: ["SEMAIL_FAULT": fault])
            #expect(r.status == status, "\(fault): \(r.stderr)\(r.text)")
            let rec = try w.run(["recover"])
            #expect(rec.status == 0, "\(fault): recover: \(rec.stderr)\(rec.text)")
            // killed once the map step began: finished, not rolled back
            if fault.hasPrefix("kill:mailbox.create.address-map") {
                #expect(
                    try w.missing(uid, domain: domain).isEmpty,
                    "\(fault): past the point of no return the mailbox must be whole")
                #expect(try w.run(["mailbox", "delete", uid, "--yes"]).status == 0)
            }
            #expect(try w.traces(uid, domain: domain).isEmpty, "\(fault): left behind")
        }
        // And it still works afterwards.
        _ = try mailbox(w, uid)
        #expect(try w.missing(uid, domain: domain).isEmpty)
    }

    /// Fail, kill before and kill after every step of `mailbox delete` (with
    /// an archive): the mailbox is either whole with its mail, or gone with
    /// the mail in the archive. Never half.
    @Test func deleteFaultAtEveryStep() throws {
        let w = try world()
        defer { w.cleanup() }
        let uid = uniqueUID("df")
        try w.addUser(uid)
        var domain = try mailbox(w, uid)
        // (The final address-map step is always already done by stop-delivery, so it never runs to fail.)
        let steps = ["directory-check", "stop-delivery", "container", "archive", "volume", "dns", "directory"]
        for s in steps {
            for (fault, status) in [
                ("mailbox.delete.\(s)", Int32(1)), ("kill:mailbox.delete.\(s)", 137),
                ("kill:mailbox.delete.\(s).after", 137)
            ] {
                let archive = "\(w.dir)/a-\(UUID().uuidString.prefix(6)).tar.gz"
                let r = try w.run(
                    ["mailbox", "delete", uid, "--yes", "--archive", archive], env: ["SEMAIL_FAULT": fault])
                #expect(r.status == status, "\(fault): \(r.stderr)\(r.text)")
                let rec = try w.run(["recover"])
                #expect(rec.status == 0, "\(fault): recover: \(rec.stderr)\(rec.text)")
                let gone = try w.ldapMailbox(uid) == nil
                if gone {
                    #expect(try w.traces(uid, domain: domain).isEmpty, "\(fault): deleted but traces left")
                    #expect(
                        try ProcessRunner().run(["tar", "-tzf", archive]).text.contains("1.precious"),
                        "\(fault): mail lost")
                    domain = try mailbox(w, uid)
                } else {
                    #expect(try w.missing(uid, domain: domain).isEmpty, "\(fault): rolled back but not whole")
                    #expect(
                        FileManager.default.fileExists(atPath: "\(w.mountPoint(uid))/Maildir/cur/1.precious"),
                        "\(fault): mail lost")
                }
            }
        }
    }

    @Test func twoCreatesForOneAddressExactlyOneWins() throws {
        let w = try world()
        defer { w.cleanup() }
        let a = uniqueUID("ra"), b = uniqueUID("rb")
        try w.addUser(a); try w.addUser(b)
        let address = "shared-\(a)@\(a).\(w.zone)"
        let results = UnsafeSendableBox<[Int32]>([])
        let group = DispatchGroup()
        for u in [a, b] {
            group.enter()
            Thread {
                let r = try? w.run(["mailbox", "create", u, "--address", address, "-q"])
                results.withLock { $0.append(r?.status ?? -1) }
                group.leave()
            }.start()
        }
        group.wait()
        #expect(results.value.sorted() == [0, 1], "\(results.value)")
        let owners = [a, b].filter { (try? w.ldapMailbox($0)) != nil }
        #expect(owners.count == 1)
        let loser = [a, b].first { !owners.contains($0) }!
        #expect(try w.traces(loser, domain: "none.\(w.zone)").isEmpty)
    }

    @Test func aSecondMutatingCommandWaitsOrFailsWithNoWait() throws {
        let w = try world()
        defer { w.cleanup() }
        let uid = uniqueUID("lk")
        try w.addUser(uid)
        let faultDir = "\(w.dir)/faults"
        try FileManager.default.createDirectory(atPath: faultDir, withIntermediateDirectories: true)
        let first = UnsafeSendableBox<ProcessOutput?>(nil)
        let t = Thread {
            let r = try? w.run(
                ["mailbox", "create", uid, "--address", "\(uid)@\(uid).\(w.zone)", "-q"],
                env: ["SEMAIL_FAULT": "pause:mailbox.create.volume", "SEMAIL_FAULT_DIR": faultDir])
            first.withLock { $0 = r }
        }
        t.start()
        let marker = "\(faultDir)/mailbox.create.volume"
        for _ in 0..<600 where !FileManager.default.fileExists(atPath: marker) { usleep(50_000) }
        #expect(FileManager.default.fileExists(atPath: marker))
        let r = try w.run(["reconcile", "--no-wait"])
        #expect(r.status == 75, "\(r.stderr)")
        #expect(r.stderr.contains("another semailctl is running"))
        // Read-only commands take no lock.
        #expect(try w.run(["mailbox", "list"]).status == 0)
        try FileManager.default.removeItem(atPath: marker)
        for _ in 0..<1200 where first.value == nil { usleep(50_000) }
        #expect(first.value?.status == 0)
    }

    /// A service stopped in the middle of a create: the create fails and
    /// rolls back what it can; once the service is back, `recover` finishes
    /// the rollback. Nothing is left half-made.
    @Test(arguments: ["slapd", "dockerd", "named"]) func serviceOutageMidPipeline(_ service: String) throws {
        let w = try world()
        defer { w.cleanup() }
        let uid = uniqueUID("o")
        try w.addUser(uid)
        let domain = "\(uid).\(w.zone)"
        let point = [
            "slapd": "mailbox.create.directory", "dockerd": "mailbox.create.container", "named": "mailbox.create.dns"
        ][service]!
        let faultDir = "\(w.dir)/faults"
        try FileManager.default.createDirectory(atPath: faultDir, withIntermediateDirectories: true)
        let out = UnsafeSendableBox<ProcessOutput?>(nil)
        let t = Thread {
            let r = try? w.run(
                ["mailbox", "create", uid, "--address", "\(uid)@\(domain)"],
                env: ["SEMAIL_FAULT": "pause:\(point)", "SEMAIL_FAULT_DIR": faultDir])
            out.withLock { $0 = r }
        }
        t.start()
        let marker = "\(faultDir)/\(point)"
        for _ in 0..<600 where !FileManager.default.fileExists(atPath: marker) { usleep(50_000) }
        switch service {
        case "slapd": try halt(Slapd.shared)
        case "dockerd": try halt(Dockerd.shared)
        default: try halt(Named.shared)
        }
        try FileManager.default.removeItem(atPath: marker)
        for _ in 0..<1200 where out.value == nil { usleep(50_000) }
        let r = try #require(out.value ?? nil)
        switch service {
        case "slapd": try resume(Slapd.shared)
        case "dockerd": try resume(Dockerd.shared)
        default: try resume(Named.shared)
        }
        #expect(r.status == 1, "\(r.stderr)\(r.text)")
        #expect(r.text.contains("FAILED at step"), "\(r.text)")
        let rec = try w.run(["recover"])
        #expect(rec.status == 0, "\(rec.stderr)\(rec.text)")
        #expect(try w.traces(uid, domain: domain).isEmpty)
        // And once the service is back, the same command works.
        _ = try mailbox(w, uid)
        #expect(try w.missing(uid, domain: domain).isEmpty)
    }

    @Test func reconcileRepairsDriftAndPrunesIntoQuarantine() throws {
        let w = try world()
        defer { w.cleanup() }
        let a = uniqueUID("ka"), b = uniqueUID("kb")
        try w.addUser(a); try w.addUser(b)
        let da = try mailbox(w, a), db = try mailbox(w, b)
        var r = try w.run(["reconcile", "--dry-run", "--detailed-exitcode"])
        #expect(r.status == 0, "\(r.text)\(r.stderr)")
        #expect(r.text.contains("no drift"))

        // Break things: stop a container, delete an MX, unmount a volume, drop a Maildir dir, stale map.
        try Dockerd.shared.client.stop(container: "semail-\(a)", timeout: 1)
        #expect(try w.run(["zone", "remove-mx", db]).status == 0)
        try FileManager.default.removeItem(atPath: "\(w.mountPoint(a))/Maildir/tmp")
        try "stale\n".write(toFile: "\(w.dir)/state/mailbox.txt", atomically: true, encoding: .utf8)
        r = try w.run(["reconcile", "--dry-run", "--detailed-exitcode", "--json"])
        #expect(r.status == 2)
        let items = try #require(try json(r)["items"] as? [[String: Any]])
        let comps = Set(items.map { "\($0["uid"] as? String ?? ""):\($0["component"] as? String ?? "")" })
        #expect(comps.isSuperset(of: ["\(a):container", "\(b):dns", "\(a):maildir", "-:address-map"]), "\(comps)")
        r = try w.run(["reconcile"])
        #expect(r.status == 0, "\(r.text)\(r.stderr)")
        #expect(try w.missing(a, domain: da).isEmpty && w.missing(b, domain: db).isEmpty)
        #expect(FileManager.default.fileExists(atPath: "\(w.mountPoint(a))/Maildir/tmp"))
        #expect(FileManager.default.fileExists(atPath: "\(w.mountPoint(a))/Maildir/cur/1.precious"))
        r = try w.run(["reconcile", "--dry-run", "--detailed-exitcode"])
        #expect(r.status == 0 && r.text.contains("no drift"), "second run: \(r.text)")

        // A template change makes every container's hash stale: rebuilt by reconcile.
        // (Covered per container in ContainerIntegrationTests; here the orphan path.)
        // b disappears from the directory (as in a bad import): its things are orphans.
        let ldif = "dn: uid=\(b),\(w.ou),dc=semail,dc=email\nchangetype: modify\ndelete: semailMailbox\n-\n"
        try ProcessRunner().run(
            ["ldapmodify", "-x", "-H", Slapd.shared.uri, "-D", Slapd.shared.adminDN, "-y", Slapd.shared.secretFile],
            stdin: Data(ldif.utf8))
        r = try w.run(["reconcile", "--dry-run", "--json"])
        let orphans = try #require(try json(r)["items"] as? [[String: Any]]).filter {
            $0["kind"] as? String == "orphan"
        }
        #expect(
            Set(orphans.compactMap { $0["component"] as? String }) == ["volume", "container", "dns", "dockerfile"],
            "\(orphans)")
        // Without --prune they stay.
        r = try w.run(["reconcile"])
        #expect(FileManager.default.fileExists(atPath: "\(w.dir)/images/\(b).img"))
        r = try w.run(["reconcile", "--prune", "--json"])
        #expect(r.status == 0, "\(r.stderr)")
        let q = try #require(try json(r)["quarantined"] as? [[String: Any]])
        let id = try #require(q.first?["id"] as? String)
        #expect(try Dockerd.shared.client.inspect(container: "semail-\(b)") == nil)
        #expect(try w.mx(db).isEmpty)
        #expect(!FileManager.default.fileExists(atPath: "\(w.dir)/images/\(b).img"))
        r = try w.run(["quarantine", "list"])
        #expect(r.text.contains(id))
        // Restore brings the mail back.
        r = try w.run(["quarantine", "restore", id])
        #expect(r.status == 0, "\(r.stderr)")
        #expect(FileManager.default.fileExists(atPath: "\(w.mountPoint(b))/Maildir/cur/1.precious"))
        // Quarantine it again, by hand this time, and purge it.
        r = try w.run(["quarantine", "add", b, "--json"])
        #expect(r.status == 0, "\(r.stderr)")
        let id2 = try #require(try json(r)["id"] as? String)
        #expect(!FileManager.default.fileExists(atPath: "\(w.dir)/images/\(b).img"))
        #expect(!(SystemState.mounts().contains { $0.mountPoint == w.mountPoint(b) }))
        #expect(try w.run(["quarantine", "purge", id2]).status == 64)
        #expect(try w.run(["quarantine", "purge", id2, "--yes"]).status == 0)
        #expect(!(try w.run(["quarantine", "list"]).text.contains(id2)))
    }

    @Test func importProvisionsMailboxesInParallelPastOneFailure() throws {
        let w = try world()
        defer { w.cleanup() }
        let p = uniqueUID("i")
        var ldif = ""
        for i in 0..<4 {
            let u = "\(p)\(i)"
            // The third one asks for an address on a name with hand-kept records (refused).
            let addr = i == 2 ? "\(u)@mx.\(w.zone)" : "\(u)@\(u).\(w.zone)"
            ldif += mailboxEntryLDIF(
                dn: "uid=\(u),\(w.ou),dc=semail,dc=email", uid: u, number: 40000 + i, address: addr,
                extra: i == 0 ? ["mail: \(p)0@\(w.zone)"] : [])
        }
        let file = "\(w.dir)/users.ldif"
        try ldif.write(toFile: file, atomically: true, encoding: .utf8)
        var r = try w.run(["import", file, "--jobs", "2", "--json"])
        #expect(r.status == 1, "\(r.stderr)")
        let doc = try json(r)
        let mb = try #require(doc["mailboxes"] as? [String: Any])
        #expect(mb["created"] as? Int == 3 && mb["failed"] as? Int == 1, "\(mb)")
        for i in [0, 1, 3] { #expect(try w.missing("\(p)\(i)", domain: "\(p)\(i).\(w.zone)").isEmpty) }
        #expect(try w.traces("\(p)2", domain: "\(p)2.\(w.zone)").isEmpty, "the failed one is not half-made")
        // Again: nothing new, the same failure reported.
        r = try w.run(["import", file, "--json"])
        let again = try #require(try json(r)["mailboxes"] as? [String: Any])
        #expect(
            again["created"] as? Int == 0 && again["unchanged"] as? Int == 3 && again["failed"] as? Int == 1, "\(again)"
        )

        // Two requests for one address in one file: the first in the file gets it, whatever the order the workers run.
        let q = uniqueUID("d")
        ldif = ""
        for i in 0..<4 {
            ldif += mailboxEntryLDIF(
                dn: "uid=\(q)\(i),\(w.ou),dc=semail,dc=email", uid: "\(q)\(i)", cn: "x", home: "/home/x",
                number: 41000 + i, address: "\(q)@\(q).\(w.zone)")
        }
        try ldif.write(toFile: file, atomically: true, encoding: .utf8)
        r = try w.run(["import", file, "--jobs", "2", "--json"])
        let dup = try #require(try json(r)["mailboxes"] as? [String: Any])
        #expect(r.status == 1 && dup["created"] as? Int == 1 && dup["failed"] as? Int == 3, "\(dup)")
        #expect(w.mapText.contains("uid: \(q)0 mail: \(q)@\(q).\(w.zone)"))
        for i in 1..<4 { #expect(try w.ldapMailbox("\(q)\(i)") == nil) }
    }

    /// `reconcile --watch` provisions a mailbox as soon as the directory
    /// asks for one (RFC 4533 push, no polling), and keeps working after
    /// slapd restarts.
    @Test func watchReactsToDirectoryChangesAndSurvivesASlapdRestart() throws {
        let w = try world()
        defer { w.cleanup() }
        let out = UnsafeSendableBox<ProcessOutput?>(nil)
        let t = Thread {
            let r = try? w.run(["reconcile", "--watch", "--json"])
            out.withLock { $0 = r }
        }
        t.start()
        defer {
            _ = try? ProcessRunner().run(
                ["pkill", "-TERM", "-f", "reconcile --watch --json --config \(w.config)"], check: false)
            for _ in 0..<200 where out.value == nil { usleep(50_000) }
        }
        func ask(_ u: String, _ n: Int) throws {
            let ldif = mailboxEntryLDIF(
                dn: "uid=\(u),\(w.ou),dc=semail,dc=email", uid: u, number: n, address: "\(u)@\(u).\(w.zone)")
            try ProcessRunner().run(
                ["ldapadd", "-x", "-H", Slapd.shared.uri, "-D", Slapd.shared.adminDN, "-y", Slapd.shared.secretFile],
                stdin: Data(ldif.utf8))
        }
        func waitWhole(_ u: String) throws -> Bool {
            for _ in 0..<600 { if try w.missing(u, domain: "\(u).\(w.zone)").isEmpty { return true }; usleep(100_000) }
            return false
        }
        let a = uniqueUID("wa"), b = uniqueUID("wb")
        try ask(a, 45000)
        let missingA = try waitWhole(a) ? [] : try w.missing(a, domain: "\(a).\(w.zone)")
        #expect(missingA.isEmpty, "the watcher did not provision \(a): \(missingA)")
        try halt(Slapd.shared)
        usleep(1_500_000)
        try resume(Slapd.shared)
        try ask(b, 45001)
        #expect(try waitWhole(b), "the watcher did not come back after the slapd restart")
        _ = try ProcessRunner().run(
            ["pkill", "-TERM", "-f", "reconcile --watch --json --config \(w.config)"], check: false)
        for _ in 0..<200 where out.value == nil { usleep(50_000) }
        let r = try #require(out.value ?? nil)
        #expect(r.status == 0, "\(r.stderr)")
        #expect(r.stderr.contains("reconnecting"), "\(r.stderr)")
        // --json: one document per line, one per pass; a's pass names it.
        let lines = r.text.split(separator: "\n").filter { !$0.isEmpty }
        let docs = lines.compactMap { try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any] }
        #expect(!docs.isEmpty && docs.count == lines.count, "\(r.text)")
        #expect(docs.allSatisfy { $0["items"] != nil }, "\(r.text)")
        #expect(lines.contains { $0.contains(a) }, "\(r.text)")
    }

    @Test func massChangeGuardStopsAWipeOut() throws {
        let w = try world()
        defer { w.cleanup() }
        var uids: [String] = []
        for i in 0..<6 {
            let u = uniqueUID("g\(i)")
            try w.addUser(u)
            let r = try w.run(["mailbox", "create", u, "--address", "\(u)@example.net", "-q"])
            #expect(r.status == 0, "\(r.stderr)")
            uids.append(u)
        }
        // The directory "lies": every mailbox attribute is gone.
        for u in uids {
            let ldif = "dn: uid=\(u),\(w.ou),dc=semail,dc=email\nchangetype: modify\ndelete: semailMailbox\n-\n"
            try ProcessRunner().run(
                ["ldapmodify", "-x", "-H", Slapd.shared.uri, "-D", Slapd.shared.adminDN, "-y", Slapd.shared.secretFile],
                stdin: Data(ldif.utf8))
        }
        let r = try w.run(["reconcile", "--prune"])
        #expect(r.status == 1)
        #expect(r.stderr.contains("mass-change guard"), "\(r.stderr)")
        for u in uids { #expect(FileManager.default.fileExists(atPath: "\(w.dir)/images/\(u).img")) }
        #expect(
            try Dockerd.shared.client.containers(label: "semail.uid").filter {
                uids.contains($0.Labels?["semail.uid"] ?? "")
            }.count == 6)
    }
}

/// A value shared with a thread in a test.
final class UnsafeSendableBox<T: Sendable>: Sendable {
    private let v: Mutex<T>
    init(_ v: T) { self.v = Mutex(v) }
    var value: T { v.withLock { $0 } }
    func withLock(_ f: (inout T) -> Void) { v.withLock { f(&$0) } }
}

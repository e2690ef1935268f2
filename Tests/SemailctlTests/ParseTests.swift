import ArgumentParser
import Core
import Foundation
import Testing

@testable import Commands

/// Every subcommand, checked by parsing (nothing runs, no service is needed):
/// the right command type, its options read, bad input refused with the
/// documented exit code, and the exit codes in every command's --help.
@Suite struct ParseTests {
    func parse(_ args: [String]) throws -> ParsableCommand {
        try Semailctl.parseAsRoot(CommandLineArguments.normalized(args))
    }

    func parsed<T: ParsableCommand>(_ args: [String], as: T.Type) throws -> T {
        try #require(try parse(args) as? T, "\(args) did not parse as \(T.self)")
    }

    /// Every leaf command of the tree.
    static func leaves(_ c: ParsableCommand.Type = Semailctl.self) -> [ParsableCommand.Type] {
        c.configuration.subcommands.isEmpty ? [c] : c.configuration.subcommands.flatMap { leaves($0) }
    }

    /// One command line per leaf command: each must parse as its type.
    static let lines: [([String], ParsableCommand.Type)] = [
        (["config", "check"], ConfigCheck.self),
        (["directory", "setup", "--uri", "ldapi:///", "--dry-run"], DirectorySetupCommand.self),
        (["user", "add", "bob", "--cn", "Bob B", "--sn", "B", "--posix", "--password-stdin"], UserAdd.self),
        (["user", "modify", "bob", "--given-name", "", "--mail", "b@x.org"], UserModify.self),
        (["user", "list"], UserList.self),
        (["user", "show", "bob"], UserShow.self),
        (["user", "passwd", "bob", "--password-file", "/p"], UserPasswd.self),
        (["user", "ssh-keys", "bob", "/keys"], UserSSHKeys.self),
        (["user", "delete", "bob", "--yes"], UserDelete.self),
        (["user", "ssh-key", "add", "bob", "ssh-ed25519 AAAA x", "--as-user", "bob"], UserSSHKeyAdd.self),
        (["user", "ssh-key", "remove", "bob", "SHA256:abc", "--as-user", "bob"], UserSSHKeyRemove.self),
        (["user", "ssh-key", "list", "bob", "--as-user", "bob", "--password-stdin"], UserSSHKeyList.self),
        (["user", "packages", "bob", "--add", "mutt", "--remove", "vim", "--as-user", "bob"], UserPackages.self),
        (["import", "a.ldif", "--dry-run", "--window", "8", "--jobs", "2", "--outside-people"], ImportCommand.self),
        (["volume", "create", "bob", "--size", "1G", "--force"], VolumeCreate.self),
        (["volume", "delete", "bob", "--yes"], VolumeDelete.self),
        (["volume", "list"], VolumeList.self),
        (["volume", "resize", "bob", "2G", "--offline"], VolumeResize.self),
        (["container", "create", "bob", "--address", "b@x.org"], ContainerCreate.self),
        (["container", "rebuild", "--all", "--force"], ContainerRebuild.self),
        (["container", "remove", "bob"], ContainerRemove.self),
        (["container", "list"], ContainerList.self),
        (["container", "show", "bob"], ContainerShow.self),
        (["container", "network-remove"], ContainerNetworkRemove.self),
        (["ssh-config", "bob"], SSHConfigCommand.self),
        (["image", "bootstrap", "--suite", "trixie", "--rootfs-cache", "/r.tar"], ImageBootstrapCommand.self),
        (["zone", "add-mx", "ssow", "--a", "192.0.2.1", "--a", "192.0.2.2", "--aaaa", "2001:db8::1"], ZoneAddMX.self),
        (["zone", "remove-mx", "ssow", "--force"], ZoneRemoveMX.self),
        (["zone", "list"], ZoneList.self),
        (["zone", "check-mx", "example.org"], ZoneCheckMX.self),
        (
            ["mailbox", "create", "bob", "--address", "b@x.org", "--size", "1G", "--dry-run", "--no-wait"],
            MailboxCreate.self
        ),
        (["mailbox", "delete", "bob", "--archive", "/a.tar.gz", "--yes"], MailboxDelete.self),
        (["mailbox", "list", "--json"], MailboxList.self),
        (["mailbox", "show", "bob"], MailboxShow.self),
        (["mailbox", "status", "bob", "--as-user", "bob", "--json"], MailboxStatusCommand.self),
        (["mailbox", "check-address", "bob", "--address", "b@x.org", "--as-user", "bob"], MailboxCheckAddress.self),
        (["mailbox", "backup", "--all", "--to", "/backups", "--json"], MailboxBackup.self),
        (["mailbox", "restore", "bob", "--from", "/b.tar", "--dry-run"], MailboxRestore.self),
        (["mailbox", "usage", "bob", "carol", "--json"], MailboxUsageCommand.self),
        (["reconcile", "--dry-run", "--detailed-exitcode", "--prune"], ReconcileCommand.self),
        (["quarantine", "list"], QuarantineList.self),
        (["quarantine", "add", "bob"], QuarantineAdd.self),
        (["quarantine", "restore", "q1"], QuarantineRestore.self),
        (["quarantine", "purge", "q1", "q2", "--yes"], QuarantinePurge.self),
        (["recover", "--no-wait"], RecoverCommand.self),
        (["mailbox", "suspend", "bob", "--reason", "unpaid", "--dry-run", "--no-wait"], MailboxSuspend.self),
        (["mailbox", "resume", "bob", "--no-wait"], MailboxResume.self),
        (["audit", "--since", "2026-12-01", "--uid", "bob", "--json"], AuditCommand.self)
    ]

    @Test func everyLeafHasALine() {
        let covered = Set(Self.lines.map { ObjectIdentifier($0.1) })
        for leaf in Self.leaves() {
            #expect(covered.contains(ObjectIdentifier(leaf)), "no parse test for \(leaf)")
        }
        #expect(Self.leaves().count == Self.lines.count)
    }

    @Test(arguments: lines.indices) func parsesAsItsType(_ i: Int) throws {
        let (args, type) = Self.lines[i]
        let c = try parse(args)
        #expect(ObjectIdentifier(Swift.type(of: c)) == ObjectIdentifier(type), "\(args) parsed as \(Swift.type(of: c))")
        #expect(c is any SemailCommand)
    }

    @Test func optionsAreRead() throws {
        let add = try parsed(
            ["user", "add", "bob", "--cn", "Bob B", "--sn", "B", "--posix", "--password-stdin"], as: UserAdd.self)
        #expect(add.uid == "bob" && add.cn == "Bob B" && add.sn == "B" && add.posix && add.password.passwordStdin)
        #expect(add.givenName == nil && add.sshKey == nil && !add.global.json)
        let mod = try parsed(["user", "modify", "bob", "--given-name", "", "--mail", "b@x.org"], as: UserModify.self)
        #expect(mod.givenName == "" && mod.mail == "b@x.org" && mod.cn == nil && !mod.posix)
        let imp = try parsed(["import", "a.ldif", "--dry-run", "--window", "8", "--jobs", "2"], as: ImportCommand.self)
        #expect(
            imp.file == "a.ldif" && imp.dryRun && imp.window == 8 && imp.jobs == 2 && !imp.update && !imp.outsidePeople)
        let vol = try parsed(["volume", "resize", "bob", "2G", "--offline", "--quiet"], as: VolumeResize.self)
        #expect(vol.size == "2G" && vol.offline && vol.global.quiet)
        let rb = try parsed(["container", "rebuild", "bob"], as: ContainerRebuild.self)
        #expect(rb.uid == "bob" && !rb.all && !rb.force)
        let mx = try parsed(
            ["zone", "add-mx", "ssow", "--a", "192.0.2.1", "--a", "192.0.2.2", "--aaaa", "2001:db8::1"],
            as: ZoneAddMX.self)
        #expect(mx.name == "ssow" && mx.a == ["192.0.2.1", "192.0.2.2"] && mx.aaaa == ["2001:db8::1"])
        let mc = try parsed(
            ["mailbox", "create", "bob", "--address", "b@x.org", "--ssh-key", "/k", "--dry-run"],
            as: MailboxCreate.self)
        #expect(
            mc.address == "b@x.org" && mc.sshKey == "/k" && mc.mutation.dryRun && !mc.mutation.noWait
                && mc.asUser.uid == nil)
        let md = try parsed(
            ["mailbox", "delete", "bob", "--archive", "/a.tar.gz", "--yes", "--json"], as: MailboxDelete.self)
        #expect(md.archive == "/a.tar.gz" && md.confirmation.yes && md.global.json && !md.mutation.dryRun)
        let rc = try parsed(["reconcile", "--watch", "--no-wait", "--config", "/c.toml"], as: ReconcileCommand.self)
        #expect(rc.watch && rc.noWait && !rc.dryRun && rc.global.config == "/c.toml")
        let qp = try parsed(["quarantine", "purge", "q1", "q2"], as: QuarantinePurge.self)
        #expect(qp.ids == ["q1", "q2"] && !qp.confirmation.yes)
        let ib = try parsed(["image", "bootstrap"], as: ImageBootstrapCommand.self)
        #expect(ib.suite == "bookworm" && ib.mirror == "http://deb.debian.org/debian" && ib.rootfsCache == nil)
        let sc = try parsed(["ssh-config"], as: SSHConfigCommand.self)
        #expect(sc.uid == nil)
    }

    /// Refused by the parser: exit 64 (EX_USAGE), before anything runs.
    @Test(arguments: [
        ["user", "add", "bob", "--sn", "B"],  // --cn missing
        ["user", "passwd", "bob", "--password-stdin", "--password-file", "/p"],
        ["container", "rebuild"],  // neither a uid nor --all
        ["container", "rebuild", "bob", "--all"],
        ["reconcile", "--detailed-exitcode"],  // needs --dry-run
        ["reconcile", "--watch", "--dry-run"],
        ["mailbox", "create", "bob"],  // --address missing
        ["import", "a.ldif", "--window", "many"],
        ["volume", "resize", "bob"],  // the size missing
        ["mailbox", "frobnicate"],
        ["user", "show", "bob", "--no-such-option"],
        ["mailbox", "show", "bob", "--as-user"],  // --as-user takes the uid
        ["user", "packages", "bob", "--add"],
        ["mailbox", "backup", "--to", "/b.tar"],  // neither a uid nor --all
        ["mailbox", "backup", "bob", "--all", "--to", "/b"],
        ["mailbox", "backup", "bob"],  // --to missing
        ["mailbox", "restore", "bob"]  // --from missing
    ]) func refusedByTheParser(_ args: [String]) {
        do {
            _ = try parse(args)
            Issue.record("\(args) parsed")
        } catch {
            #expect(Semailctl.exitCode(for: error).rawValue == ExitStatus.usage.rawValue, "\(args): \(error)")
        }
    }

    /// An invalid uid is refused with exit 64 before the configuration is
    /// read (the path given does not exist) and before anything is asked.
    @Test(arguments: [
        ["user", "add", "Bad!", "--cn", "x", "--sn", "y"], ["user", "modify", "Bad!"], ["user", "show", "Bad!"],
        ["user", "passwd", "Bad!"], ["user", "ssh-keys", "Bad!", "/k"], ["user", "delete", "Bad!"],
        ["volume", "create", "Bad!"], ["volume", "delete", "Bad!"], ["volume", "resize", "Bad!", "1G"],
        ["container", "create", "Bad!"], ["container", "remove", "Bad!"], ["container", "show", "Bad!"],
        ["ssh-config", "Bad!"], ["mailbox", "create", "Bad!", "--address", "a@b.org"], ["mailbox", "delete", "Bad!"],
        ["mailbox", "show", "Bad!"], ["quarantine", "add", "Bad!"],
        ["mailbox", "create", "bob", "--address", "not-an-address"],
        ["mailbox", "backup", "Bad!", "--to", "/b.tar"], ["mailbox", "restore", "Bad!", "--from", "/b.tar"]
    ]) func invalidUidRefusedBeforeTheConfiguration(_ args: [String]) async throws {
        let c = try #require(try parse(args + ["--config", "/nonexistent/semail.toml"]) as? any SemailCommand)
        do {
            _ = try await c.execute(CommandContext(c.global))
            Issue.record("\(args) ran")
        } catch let e as SemailError {
            #expect(e.status == .usage, "\(args): \(e)")
        }
    }

    /// The golden EXIT CODES section of `semailctl --help` and `reconcile --help`.
    static let allExitCodes = """
        EXIT CODES
          0   success
          1   the operation failed (partly applied work was rolled back; see the message)
          2   reconcile --detailed-exitcode: changes are pending
          64  bad command line or invalid argument (nothing was changed)
          65  malformed input data, e.g. an LDIF or zone file line
          69  a service is unreachable (LDAP server, Docker, named)
          70  internal error
          73  a resource could not be created
          74  an I/O error on a local file or device
          75  busy: another semailctl holds the lock (retry)
          77  permission denied (e.g. secret file readable by others, bad credentials)
          78  configuration error, of semailctl or of a server it needs (e.g. reconcile --watch on a directory \
        without syncprov); restarting does not help
        """
    /// The other commands': the same without `2`.
    static let exitCodes = allExitCodes.replacingOccurrences(
        of: "  2   reconcile --detailed-exitcode: changes are pending\n", with: "")

    /// Every command's --help documents the exit codes (golden text).
    @Test func everyHelpDocumentsTheExitCodes() {
        for leaf in Self.leaves() {
            let help = Semailctl.helpMessage(for: leaf, columns: 400)
            let want = leaf == ReconcileCommand.self ? Self.allExitCodes : Self.exitCodes
            #expect(help.contains(want + "\n"), "\(leaf) --help lacks the exit codes:\n\(help)")
        }
        #expect(Semailctl.helpMessage(columns: 400).contains(Self.allExitCodes + "\n"))
    }
}

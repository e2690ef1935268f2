import ArgumentParser
import Core
import Foundation
import Provisioning

/// `--as-user UID`: the command acts for UID itself, on UID's own data
/// only, after UID's password (standard input unless --password-file, or a
/// prompt on a terminal) opened an LDAP bind as UID. What the portal runs.
struct AsUserOptions: ParsableArguments {
    @Option(
        name: .customLong("as-user"),
        help: ArgumentHelp(
            "Act as UID itself (self-service): UID's password is read from standard input and checked by binding "
                + "as UID before anything is done; only UID's own data can be reached.", valueName: "UID"))
    var uid: String?

    var selfService: Bool { uid != nil }
    var requester: Requester { uid == nil ? .admin : .user }

    /// Refuses, before any password is read or sent, a user acting on
    /// another uid's data.
    static func checkTarget(asUser: String, target: String) throws {
        let me = try Validate.uid(asUser)
        guard try Validate.uid(target) == me else {
            throw SemailError(
                "\(me) may not act on \(target)'s data", why: "--as-user \(me) reaches only \(me)'s own entry",
                hint: "name your own uid, or run it as the administrator", status: .noPermission)
        }
    }

    /// With --as-user: checks the target, reads the password and binds as
    /// the user (an empty password is refused before any bind). Returns the
    /// password (nil without --as-user). A suspended user (`mailbox
    /// suspend`) is refused unless `whileSuspended` (the read-only views).
    @discardableResult
    func authenticate(
        _ host: @autoclosure () throws -> Provisioning.Host, target: String?, password: PasswordOptions,
        whileSuspended: Bool = false
    )
        throws
        -> Secret?
    {
        guard let uid else { return nil }
        if let target { try Self.checkTarget(asUser: uid, target: target) }
        try SudoGuard.refuseFiles([("--password-file", password.passwordFile)], config: host().config)
        let pw = try password.readForUser()
        guard !pw.isEmpty else {
            throw SemailError("empty password for \"\(uid)\"", why: "an empty password is never sent", status: .usage)
        }
        try host().directory().checkPassword(uid, pw)
        if !whileSuspended, let s = try host().directory().suspension(uid) {
            throw SemailError(
                "\(uid) is suspended", why: "the mailbox is \(s.summary): nothing can be changed until it is resumed",
                hint: "ask the administrator (`semailctl mailbox resume \(uid)`)", status: .noPermission)
        }
        return pw
    }
}

extension PasswordOptions {
    /// The user's own password for --as-user: a file when named, a prompt
    /// on a terminal, else standard input.
    func readForUser() throws -> Secret {
        if let passwordFile { return try Secrets.readFile(passwordFile, emptyStatus: .usage) }
        if !passwordStdin && Terminal.isInteractive { return try Secrets.prompt("Password", confirm: false) }
        return try Secrets.readStdin()
    }
}

/// Through sudo, the portal's user ([web] user) may run nothing but
/// self-service commands: everything else is refused before any work.
enum SudoGuard {
    /// Whether this run was started through sudo by the portal's user.
    static func viaPortal(_ config: Config) -> Bool {
        getuid() == 0 && ProcessInfo.processInfo.environment["SUDO_USER"] == config.web.user
    }

    /// The portal never names a file for root to read: from it, such an option is refused.
    static func refuseFiles(_ options: [(String, String?)], config: Config) throws {
        guard viaPortal(config), let (name, _) = options.first(where: { $0.1 != nil }) else { return }
        throw SemailError(
            "refused: \(name) from \(config.web.user)", why: "the portal's user never names a file for root to read",
            status: .noPermission)
    }

    static func check(selfService: Bool, config: () throws -> Config) throws {
        guard getuid() == 0, let caller = ProcessInfo.processInfo.environment["SUDO_USER"], !selfService else {
            return
        }
        let web = try config().web.user
        guard caller == web else { return }
        throw SemailError(
            "refused: \(web) may run semailctl only with --as-user",
            why: "the portal's user ([web] user) acts for a user who proved their password, never as the admin",
            status: .noPermission)
    }
}

import Core
import Directory
import Foundation
import LDAPClient
import Logging

/// Runs blocking work (LDAP, a child process) off the server's event loops.
func offload<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
    try await withCheckedThrowingContinuation { c in
        DispatchQueue.global().async { c.resume(with: Result { try body() }) }
    }
}

/// Login: a simple bind as the user's own DN, made by this unprivileged
/// process (it holds no admin credential). An empty password is refused
/// here, before any connection.
struct UserBind: Sendable {
    let ldap: Config.LDAP
    let peopleDN: String

    enum Outcome: Sendable, Equatable { case ok, wrong, empty, invalidUID, unavailable(String) }

    func login(uid: String, password: [UInt8]) async -> Outcome {
        guard (try? Validate.uid(uid)) != nil else { return .invalidUID }
        guard !password.isEmpty else { return .empty }
        let ldap = self.ldap
        let dn = DN("uid", uid, under: (try? DN(peopleDN)) ?? DN(rdns: [])).description
        do {
            return try await offload {
                let c = try DirectoryServer.connect(ldap)
                defer { c.close() }
                do { try c.bind(dn: dn, password: password) } catch let e as LDAPError
                    where e.code == .invalidCredentials
                {
                    return .wrong
                }
                return .ok
            }
        } catch {
            return .unavailable((error as? SemailError)?.what ?? "the directory cannot be reached")
        }
    }
}

/// semailctl, run for a logged-in user: `sudo -n SEMAILCTL ARGS --as-user
/// UID --password-stdin --json --config PATH`, the password (and for a
/// password change the new one) on standard input. Never a shell; the
/// arguments are the portal's own words and validated values.
struct Semailctl: Sendable {
    let sudo: String
    let program: String
    let configPath: String?
    /// One run at a time per user, a few at once in all (see `Gate`).
    var gate = Gate(total: 2)

    struct Run: Sendable {
        var status: Int32
        var stdout: Data
        var stderr: String
        /// Set when the portal itself refused to start it (the user's queue is full).
        var busy: String?

        func decode<T: Decodable>(_ type: T.Type) -> T? { try? JSONDecoder().decode(type, from: stdout) }

        /// The refusal semailctl reported (what, why, what to do), or why nothing came back.
        var error: Docs.Failure {
            if let busy {
                return Docs.Failure(what: "refused: you have too many requests at once", why: busy, hint: nil)
            }
            return decode(Docs.ErrorDocument.self)?.error
                ?? Docs.Failure(
                    what: "the request could not be carried out",
                    why: "semailctl gave no answer (exit status \(status))", hint: "try again later or tell the admin")
        }
    }

    func argv(_ args: [String], uid: String, passwordOnStdin: Bool = true) -> [String] {
        var a = (sudo.isEmpty ? [] : [sudo, "-n"]) + [program] + args + ["--as-user", uid, "--json"]
        if passwordOnStdin { a.append("--password-stdin") }
        if let configPath { a += ["--config", configPath] }
        return a
    }

    /// Runs it; `stderrFD` receives stderr as it comes (progress).
    func run(
        _ args: [String], uid: String, stdin: [UInt8], passwordOnStdin: Bool = true, stderrFD: Int32? = nil
    ) async throws -> Run {
        let argv = argv(args, uid: uid, passwordOnStdin: passwordOnStdin)
        let out: ProcessOutput
        do {
            out = try await gate.run(uid) {
                try await offload {
                    try ProcessRunner(environment: ["PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "LANG": "C.UTF-8"]).run(
                        argv, stdin: Data(stdin), stderrFD: stderrFD, check: false)
                }
            }
        } catch is Gate.Busy {
            return Run(
                status: 75, stdout: Data(),
                stderr: "", busy: "too many requests of yours are waiting: wait for them, then reload the page")
        }
        return Run(status: out.status, stdout: out.stdout, stderr: out.stderr)
    }
}

/// What semailctl's --json documents hold that the pages show (the fields
/// read; the others are ignored).
enum Docs {
    struct Failure: Decodable, Sendable, Error {
        var what: String
        var why: String
        var hint: String?
    }
    struct ErrorDocument: Decodable { var error: Failure }

    struct Key: Decodable, Sendable {
        var type: String
        var fingerprint: String
        var comment: String
    }
    struct Volume: Decodable, Sendable {
        var mounted: Bool
        var fsSize: UInt64?
        var fsUsed: UInt64?
    }
    struct Container: Decodable, Sendable {
        var name: String
        var state: String
        var ssh: String?
    }
    struct Mailbox: Decodable, Sendable {
        var address: String
        var size: UInt64?
        var volume: Volume?
        var container: Container?
        var dns: String
        var inAddressMap: Bool
        var refused: String?
    }
    struct SSH: Decodable, Sendable {
        var host: String
        var config: String
        var knownHosts: String
    }
    struct Answer: Decodable, Sendable {
        var preference: Int
        var host: String
    }
    struct MX: Decodable, Sendable {
        var domain: String
        var ok: Bool
        var message: String
        var answers: [Answer]
    }
    struct Status: Decodable, Sendable {
        var uid: String
        var cn: String
        var sshKeys: [Key]
        var packages: [String]
        var globalPackages: [String]
        var zone: String
        var mxHost: String
        var mailbox: Mailbox?
        var ssh: SSH?
        var mx: MX?
        var publish: [String]
    }
    struct Preview: Decodable, Sendable {
        var address: String
        var allowed: Bool
        var managed: Bool
        var refusal: String?
        var why: String?
        var hint: String?
        var publish: [String]
    }
    struct Report: Decodable, Sendable {
        var ok: Bool
        var applied: [String]
        var skipped: [String]
        var failedStep: String?
        var reason: String?
        var rolledBack: [String]
    }
}

import Core
import Foundation
import Hummingbird
import HummingbirdAuth

/// SSH keys, the programs of the container, the password.
extension Portal {
    // MARK: Keys, software, password

    func keysPage(_ me: Me, _ ctx: Ctx) async throws -> Response {
        switch try await status(me) {
        case .failure(let f): return page("error", "SSH keys", me, ctx, ["message": Self.text(f)], status: .badGateway)
        case .success(let s):
            let keys = s.sshKeys.map { ["type": $0.type, "fingerprint": $0.fingerprint, "comment": $0.comment] }
            return page("keys", "SSH keys", me, ctx, ["keys": keys])
        }
    }

    func softwarePage(_ me: Me, _ ctx: Ctx) async throws -> Response {
        switch try await status(me) {
        case .failure(let f):
            return page("error", "My software", me, ctx, ["message": Self.text(f)], status: .badGateway)
        case .success(let s):
            return page(
                "software", "My software", me, ctx,
                ["packages": s.packages, "global": s.globalPackages, "hasGlobal": !s.globalPackages.isEmpty])
        }
    }

    /// A change that semailctl makes at once (keys, packages), VALUE (the
    /// user's) last: back to TO with what happened. A value that semailctl
    /// could read as an option is refused here.
    func change(_ me: Me, _ ctx: Ctx, _ args: [String], value: String, done: String, to: String) async throws
        -> Response
    {
        guard !value.isEmpty, !value.hasPrefix("-") else {
            return redirect(to, ctx, flash: "Refused: the value is empty or begins with \"-\".", error: true)
        }
        if let refusal = countChange(me) { return redirect(to, ctx, flash: refusal, error: true) }
        let r = try await run(me, args + [value])
        guard r.status == 0 else { return redirect(to, ctx, flash: Self.text(r.error), error: true) }
        return redirect(to, ctx, flash: done)
    }

    /// Counts a change of ME's (each may rebuild the container); the refusal when over the limit.
    func countChange(_ me: Me) -> String? {
        let keys = ["uid:\(me.uid)"], now = Date()
        switch changes.begin(keys, now: now) {
        case .go:
            changes.end(keys, started: now, .failed)  // counted, whatever comes of it
            return nil
        case .wait(let s): return "Too many changes in a short time: wait \(s) seconds, then try again."
        case .busy: return "Another change of yours is in progress: wait for it, then try again."
        }
    }

    func changePassword(_ me: Me, _ ctx: Ctx, _ form: Form) async throws -> Response {
        let current = Array(form["current"].utf8), new = Array(form["new"].utf8)
        guard !current.isEmpty, !new.isEmpty else {
            return redirect("/password", ctx, flash: "Fill in every field.", error: true)
        }
        guard form["new"] == form["again"] else {
            return redirect("/password", ctx, flash: "The two new passwords differ.", error: true)
        }
        guard !new.contains(0x0A), !new.contains(0x0D), new.count <= 512 else {
            return redirect("/password", ctx, flash: "A password cannot hold a line break.", error: true)
        }
        let r = try await semailctl.run(
            ["user", "passwd", me.uid], uid: me.uid, stdin: current + [0x0A] + new, passwordOnStdin: false)
        guard r.status == 0 else { return redirect("/password", ctx, flash: Self.text(r.error), error: true) }
        logger.info("password changed by \(me.uid)")
        var s = me.session
        s.password = new
        s.flash = "Your password was changed."
        s.flashIsError = false
        _ = ctx.sessions.updateSession(s)
        return Response.redirect(to: "/", type: .normal)
    }
}

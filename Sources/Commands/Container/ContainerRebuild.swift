import ArgumentParser
import Containers
import Core
import Provisioning

struct ContainerRebuild: SemailCommand {
    static let configuration = CommandConfiguration.leaf(
        commandName: "rebuild",
        abstract:
            "Re-render the Dockerfile; rebuild when it (or the base image) changed. The old container serves "
            + "until the new one runs."
    )
    @Argument(help: "The uid (or --all).") var uid: String?
    @Flag(help: "Every semail container.") var all = false
    @Flag(help: "Rebuild even when nothing changed (without the build cache).") var force = false
    @OptionGroup var global: GlobalOptions

    func validate() throws {
        if all == (uid != nil) { throw ValidationError("give a uid or --all") }
    }

    struct Outcome: Encodable {
        var uid: String
        var ok: Bool
        var result: ContainerResult?
        var error: String?
    }

    func execute(_ ctx: CommandContext) throws -> ExitStatus {
        let host = try ctx.host()
        let mgr = host.containers()
        guard all else {
            let r = try mgr.ensure(host.containerInput(try Validate.uid(uid!), address: nil), force: force)
            ctx.emit(r) { $0.text }
            return .success
        }
        let targets = try mgr.list()
        var results: [Outcome] = []
        for (i, t) in targets.enumerated() {
            do {
                let input = try host.containerInput(t.uid, address: t.address.isEmpty ? nil : t.address)
                if input.suspended {
                    host.reporter.info("\(t.uid): suspended, left stopped (`mailbox resume` rebuilds it)")
                    continue
                }
                let r = try mgr.ensure(input, force: force)
                results.append(Outcome(uid: t.uid, ok: true, result: r))
            } catch let e as SemailError {
                results.append(Outcome(uid: t.uid, ok: false, error: e.description))
            } catch {
                results.append(Outcome(uid: t.uid, ok: false, error: "\(error)"))
            }
            host.reporter.progress(i + 1, targets.count)
        }
        ctx.emit(results) { rs in
            let lines = rs.map { $0.ok ? $0.result!.text : "\($0.uid): FAILED: \($0.error ?? "")" }
            let failed = rs.filter { !$0.ok }.count
            return (lines + ["\(rs.count) containers, \(rs.count - failed) ok, \(failed) failed"]).joined(
                separator: "\n")
        }
        return results.allSatisfy(\.ok) ? .success : .failure
    }
}

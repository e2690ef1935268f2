import ArgumentParser
import Containers
import Core
import Provisioning

struct ContainerRemove: SemailCommand {
    static let configuration = CommandConfiguration.leaf(
        commandName: "remove",
        abstract:
            "Stop and remove semail-UID and its image (the Maildir stays). Unlabeled containers are never touched.")
    @Argument var uid: String
    @OptionGroup var global: GlobalOptions

    struct Removed: Encodable {
        var uid: String
        var removed: [String]
    }

    func execute(_ ctx: CommandContext) throws -> ExitStatus {
        _ = try Validate.uid(uid)
        let r = try ctx.host().containers().remove(uid: uid)
        ctx.emit(Removed(uid: uid, removed: r)) { r in
            r.removed.isEmpty ? "no container for \(r.uid)" : r.removed.map { "removed \($0)" }.joined(separator: "\n")
        }
        return .success
    }
}

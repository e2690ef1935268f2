import ArgumentParser
import Core
import Provisioning
import Storage

struct QuarantineList: SemailCommand {
    static let configuration = CommandConfiguration.leaf(commandName: "list", abstract: "Quarantined volumes.")
    @OptionGroup var global: GlobalOptions

    func execute(_ ctx: CommandContext) throws -> ExitStatus {
        let l = try ctx.host().volumes().quarantined()
        ctx.emit(l) { l in
            l.map { "\($0.id)  \($0.uid)  \(ByteSize.format($0.size))  \($0.place)  expires \($0.expiry)" }
                .joined(separator: "\n")
        }
        return .success
    }
}

import ArgumentParser
import Core
import Provisioning
import Storage

struct VolumeResize: SemailCommand {
    static let configuration = CommandConfiguration.leaf(
        commandName: "resize", abstract: "Grow UID's volume online; shrinking is refused.")
    @Argument var uid: String
    @Argument(help: "The new size, e.g. 10G.") var size: String
    @Flag(help: "Unmount, fsck and resize, then mount again (where online resizing is not allowed).")
    var offline = false
    @OptionGroup var global: GlobalOptions

    func execute(_ ctx: CommandContext) throws -> ExitStatus {
        _ = try Validate.uid(uid)
        let bytes = try ByteSize.parse(size)
        let host = try ctx.host()
        let v = try host.volumes().resize(uid: uid, to: bytes, owner: try host.mailOwner(uid), offline: offline)
        ctx.emit(v) { VolumeState.table([$0]) }
        return .success
    }
}

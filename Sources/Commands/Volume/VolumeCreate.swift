import ArgumentParser
import Core
import Provisioning
import Storage

struct VolumeCreate: SemailCommand {
    static let configuration = CommandConfiguration.leaf(
        commandName: "create",
        abstract: "Create, format (only if blank), mount and populate UID's volume; completes a half-made one.")
    @Argument(help: "The uid.") var uid: String
    @Option(help: "Size, e.g. 5G or 512M (default: [storage] default_size).") var size: String?
    @Flag(help: "Format even if the device holds another signature (destroys it).") var force = false
    @OptionGroup var global: GlobalOptions

    func execute(_ ctx: CommandContext) throws -> ExitStatus {
        _ = try Validate.uid(uid)
        let host = try ctx.host()
        let bytes = try ByteSize.parse(size ?? host.config.storage.defaultSize)
        let r = try host.volumes().create(uid: uid, size: bytes, owner: try host.mailOwner(uid), force: force)
        ctx.emit(r) { r in
            "\(r.created ? "created" : "reused") "
                + "\(r.volume.source)\(r.formatted ? ", formatted ext4" : "")\(r.mounted ? ", mounted" : "") at "
                + "\(r.volume.mountPoint)"
        }
        return .success
    }
}

import ArgumentParser
import Provisioning

struct VolumeCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "volume", abstract: "Mailbox volumes ([storage]): ext4, mounted at <mail_root>/<uid>, with a Maildir.",
        subcommands: [VolumeCreate.self, VolumeDelete.self, VolumeList.self, VolumeResize.self])
}

extension VolumeState {
    var cells: [String] {
        let usage = fsUsed.map { u in "\(ByteSize.format(u)) used of \(ByteSize.format(fsSize ?? 0))" } ?? "-"
        return [uid, ByteSize.format(size), mounted ? "mounted" : "not mounted",
                "\(usage)  \(mountPoint)" + (persistent ? "" : "  (no fstab entry)")]
    }
    static func table(_ l: [VolumeState]) -> String { TextTable.render(l.map(\.cells), minimum: [16, 7, 12]) }
}

struct VolumeCreate: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "create",
        abstract: "Create, format (only if blank), mount and populate UID's volume; completes a half-made one.")
    @Argument(help: "The uid.") var uid: String
    @Option(help: "Size, e.g. 5G or 512M (default: [storage] default_size).") var size: String?
    @Flag(help: "Format even if the device holds another signature (destroys it).") var force = false
    @OptionGroup var global: GlobalOptions

    func run() async throws {
        let out = global.output
        try await out.run {
            _ = try Validate.uid(uid)
            let host = try global.host()
            let bytes = try ByteSize.parse(size ?? host.config.storage.defaultSize)
            let r = try host.volumes().create(uid: uid, size: bytes, owner: try host.mailOwner(uid), force: force)
            out.emit(r) { r in
                "\(r.created ? "created" : "reused") \(r.volume.source)\(r.formatted ? ", formatted ext4" : "")\(r.mounted ? ", mounted" : "") at \(r.volume.mountPoint)"
            }
            return .success
        }
    }
}

struct VolumeDelete: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "delete", abstract: "Unmount, detach and remove UID's volume (its mail is gone).")
    @Argument var uid: String
    @Flag(help: "Do not ask; required when standard input is not a terminal.") var yes = false
    @OptionGroup var global: GlobalOptions

    func run() async throws {
        let out = global.output
        try await out.run {
            _ = try Validate.uid(uid)
            let host = try global.host()
            try Terminal.confirm("Delete the volume of \(uid) and all the mail on it?", yes: yes, what: "delete \(uid)'s volume")
            let r = try host.volumes().delete(uid: uid)
            out.emit(r) { r in r.removed.isEmpty ? "nothing to remove for \(r.uid)" : r.removed.map { "removed \($0)" }.joined(separator: "\n") }
            return .success
        }
    }
}

struct VolumeList: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "list", abstract: "Every mailbox volume, observed at once.")
    @OptionGroup var global: GlobalOptions

    func run() async throws {
        let out = global.output
        try await out.run {
            let l = try global.host().volumes().list()
            out.emit(l) { VolumeState.table($0) }
            return .success
        }
    }
}

struct VolumeResize: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "resize", abstract: "Grow UID's volume online; shrinking is refused.")
    @Argument var uid: String
    @Argument(help: "The new size, e.g. 10G.") var size: String
    @Flag(help: "Unmount, fsck and resize, then mount again (where online resizing is not allowed).") var offline = false
    @OptionGroup var global: GlobalOptions

    func run() async throws {
        let out = global.output
        try await out.run {
            _ = try Validate.uid(uid)
            let bytes = try ByteSize.parse(size)
            let host = try global.host()
            let v = try host.volumes().resize(uid: uid, to: bytes, owner: try host.mailOwner(uid), offline: offline)
            out.emit(v) { VolumeState.table([$0]) }
            return .success
        }
    }
}

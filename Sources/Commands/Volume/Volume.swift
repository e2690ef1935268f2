import ArgumentParser
import Provisioning

struct VolumeCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "volume",
        abstract: "Mailbox volumes ([storage]): ext4, mounted at <mail_root>/<uid>, with a Maildir.",
        subcommands: [VolumeCreate.self, VolumeDelete.self, VolumeList.self, VolumeResize.self])
}

extension VolumeState {
    var line: String {
        let usage = fsUsed.map { u in "\(ByteSize.format(u)) used of \(ByteSize.format(fsSize ?? 0))" } ?? "-"
        return
            "\(uid.padding(toLength: 16, withPad: " ", startingAt: 0)) \(ByteSize.format(size).padding(toLength: 7, withPad: " ", startingAt: 0)) "
            + "\((mounted ? "mounted" : "not mounted").padding(toLength: 12, withPad: " ", startingAt: 0)) \(usage)  \(mountPoint)"
            + (persistent ? "" : "  (no fstab entry)")
    }
}

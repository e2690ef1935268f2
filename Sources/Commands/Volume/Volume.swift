import ArgumentParser

struct VolumeCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "volume",
        abstract: "Mailbox volumes ([storage]): ext4, mounted at <mail_root>/<uid>, with a Maildir.",
        subcommands: [VolumeCreate.self, VolumeDelete.self, VolumeList.self, VolumeResize.self])
}

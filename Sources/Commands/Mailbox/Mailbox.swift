import ArgumentParser

struct MailboxCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "mailbox",
        abstract: "Mailboxes: volume, container, MX record, directory entry and address map, as one transaction.",
        subcommands: [
            MailboxCreate.self, MailboxDelete.self, MailboxList.self, MailboxShow.self, MailboxStatusCommand.self,
            MailboxCheckAddress.self, MailboxUsageCommand.self, MailboxSuspend.self, MailboxResume.self,
            MailboxBackup.self, MailboxRestore.self
        ])
}

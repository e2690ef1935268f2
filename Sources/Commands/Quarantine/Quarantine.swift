import ArgumentParser
import Core
import Foundation
import Provisioning
import Storage

struct QuarantineCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "quarantine",
        abstract: "Volumes set aside (by `reconcile --prune` or `quarantine add`), kept [state] quarantine_days "
            + "before they may be purged.",
        subcommands: [QuarantineList.self, QuarantineAdd.self, QuarantineRestore.self, QuarantinePurge.self])
}

extension QuarantineEntry {
    var expiry: String { ISO8601DateFormatter().string(from: expires) }
}

import Containers
import Core
import Foundation
import Provisioning

extension ContainerState {
    var line: String {
        "\(uid.padding(toLength: 16, withPad: " ", startingAt: 0)) \(MailboxStatus.column(shownState, 10)) "
            + "\((fixedAddress ?? ipAddress ?? "-").padding(toLength: 15, withPad: " ", startingAt: 0)) "
            + "\(address.padding(toLength: 28, withPad: " ", startingAt: 0)) \(name)  template \(templateHash.prefix(12))"
    }
}

extension ContainerResult {
    var text: String {
        let what: String =
            switch action {
            case .created: "created and started"
            case .rebuilt: "rebuilt; the new container runs" + (removedOld.map { ", old \($0) removed" } ?? "")
            case .upToDate: "up to date and running"
            case .started: "up to date; started it"
            }
        return "\(container.name): \(what)" + (container.ssh.map { "\n  \($0)" } ?? "")
    }
}

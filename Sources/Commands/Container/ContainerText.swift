import Containers
import Core
import Foundation
import Provisioning

extension ContainerState {
    var cells: [String] {
        [uid, shownState, fixedAddress ?? ipAddress ?? "-", address, "\(name)  template \(templateHash.prefix(12))"]
    }
    static func table(_ l: [ContainerState]) -> String { TextTable.render(l.map(\.cells), minimum: [16, 10, 15, 28]) }
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

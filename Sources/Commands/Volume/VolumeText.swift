import Core
import Provisioning
import Storage

extension VolumeState {
    var cells: [String] {
        let usage = fsUsed.map { u in "\(ByteSize.format(u)) used of \(ByteSize.format(fsSize ?? 0))" } ?? "-"
        return [
            uid, ByteSize.format(size), mounted ? "mounted" : "not mounted",
            "\(usage)  \(mountPoint)" + (persistent ? "" : "  (no fstab entry)")
        ]
    }
    static func table(_ l: [VolumeState]) -> String { TextTable.render(l.map(\.cells), minimum: [16, 7, 12]) }
}

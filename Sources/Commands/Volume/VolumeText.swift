import Core
import Provisioning
import Storage

extension VolumeState {
    var line: String {
        let usage = fsUsed.map { u in "\(ByteSize.format(u)) used of \(ByteSize.format(fsSize ?? 0))" } ?? "-"
        return
            "\(uid.padding(toLength: 16, withPad: " ", startingAt: 0)) \(ByteSize.format(size).padding(toLength: 7, withPad: " ", startingAt: 0)) "
            + "\((mounted ? "mounted" : "not mounted").padding(toLength: 12, withPad: " ", startingAt: 0)) \(usage)  \(mountPoint)"
            + (persistent ? "" : "  (no fstab entry)")
    }
}

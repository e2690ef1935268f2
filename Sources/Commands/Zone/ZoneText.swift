import Core
import DNS
import Provisioning

extension ZoneEditResult {
    var summary: String {
        guard changed else { return "nothing to change (serial \(oldSerial.map(String.init) ?? "?") kept)" }
        var l = added.map { "added   \($0)" } + removed.map { "removed \($0)" }
        l.append("serial \(oldSerial.map(String.init) ?? "?") -> \(newSerial.map(String.init) ?? "?"), zone reloaded")
        return l.joined(separator: "\n")
    }
}

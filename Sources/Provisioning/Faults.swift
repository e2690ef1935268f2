import Foundation

/// Test hook for fault injection: `SEMAIL_FAULT=point[,point...]` makes the
/// named point fail; `kill:point` kills the process (SIGKILL) right there.
/// Points are named `component.step`, e.g. `storage.mkfs`.
public enum Fault {
    public static func check(_ point: String) throws {
        guard let spec = ProcessInfo.processInfo.environment["SEMAIL_FAULT"], !spec.isEmpty else { return }
        for item in spec.split(separator: ",").map(String.init) {
            if item == point { throw SemailError("injected failure at \(point)", why: "SEMAIL_FAULT=\(spec) (test hook)", status: .failure) }
            if item == "kill:\(point)" { kill(getpid(), SIGKILL) }
        }
    }
}

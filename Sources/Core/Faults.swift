import Foundation

/// Test hook for fault injection: `SEMAIL_FAULT=point[,point...]` makes the
/// named point fail; `kill:point` kills the process (SIGKILL) right there;
/// `pause:point` creates `$SEMAIL_FAULT_DIR/point` and waits until the test
/// removes it (to stop a service mid-pipeline).
/// Points are named `component.step`, e.g. `storage.mkfs`.
public enum Fault {
    public static func check(_ point: String) throws {
        guard let spec = ProcessInfo.processInfo.environment["SEMAIL_FAULT"], !spec.isEmpty else { return }
        for item in spec.split(separator: ",").map(String.init) {
            if item == point {
                throw SemailError(
                    "injected failure at \(point)", why: "SEMAIL_FAULT=\(spec) (test hook)", status: .failure)
            }
            if item == "kill:\(point)" { kill(getpid(), SIGKILL) }
            if item == "pause:\(point)", let dir = ProcessInfo.processInfo.environment["SEMAIL_FAULT_DIR"] {
                let marker = "\(dir)/\(point)"
                _ = FileManager.default.createFile(atPath: marker, contents: Data("\(getpid())".utf8))
                let deadline = Date().addingTimeInterval(300)
                while FileManager.default.fileExists(atPath: marker) && Date() < deadline { usleep(50_000) }
            }
        }
    }
}

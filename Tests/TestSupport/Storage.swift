import Core
import Foundation
import Provisioning

/// A private storage area for one test: image dir, mail root, fstab and
/// state dir under one temporary directory; `cleanup()` unmounts and
/// detaches whatever is left there, even after a failed test.
public final class StorageArea: Sendable {
    public let dir: String
    public let config: String

    public init(extra: String = "") throws {
        dir =
            FileManager.default.temporaryDirectory.appendingPathComponent(
                "semail-test-vol-\(UUID().uuidString.prefix(8))"
            ).path
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        config = try writeConfig(
            dir,
            """
            [storage]
            backend = "image"
            image_dir = "\(dir)/images"
            mail_root = "\(dir)/mail"
            owner = "vmail:5000:5000"
            fstab = "\(dir)/fstab"
            default_size = "32M"
            \(extra)
            """)
    }

    public var fstab: String { (try? String(contentsOfFile: "\(dir)/fstab", encoding: .utf8)) ?? "" }
    public func image(_ uid: String) -> String { "\(dir)/images/\(uid).img" }
    public func mountPoint(_ uid: String) -> String { "\(dir)/mail/\(uid)" }

    /// Mount table lines under this area.
    public var mounts: [String] {
        (SystemState.readKernelFile("/proc/self/mountinfo") ?? "").split(separator: "\n").map(String.init).filter {
            $0.contains(dir)
        }
    }
    /// Loop devices backed by files of this area.
    public var loops: [String] {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: "/sys/block")) ?? []
        return names.filter { $0.hasPrefix("loop") }.filter { n in
            (SystemState.readKernelFile("/sys/block/\(n)/loop/backing_file") ?? "").contains(dir)
        }
    }

    public func cleanup() {
        for line in mounts.reversed() {
            let f = line.split(separator: " ")
            if f.count > 4 { _ = umount2(String(f[4]), 0) }
        }
        for l in loops { _ = try? ProcessRunner().run(["losetup", "-d", "/dev/\(l)"], check: false) }
        // Mount points are sealed (immutable) while unmounted.
        for m in (try? FileManager.default.contentsOfDirectory(atPath: "\(dir)/mail")) ?? [] {
            SystemState.unsealMountPoint("\(dir)/mail/\(m)")
        }
        try? FileManager.default.removeItem(atPath: dir)
    }
}

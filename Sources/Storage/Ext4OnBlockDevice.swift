import Core
import Foundation
#if canImport(Glibc)
    import Glibc
#endif

/// ext4 on a block device: what the image and LVM backends share once
/// their device is there. A device is formatted only when it carries no
/// signature at all (blkid), mounted with mount(2), grown with resize2fs.
public struct Ext4OnBlockDevice: Sendable {
    public static let fsType = "ext4"
    public let runner: ProcessRunner
    public init(runner: ProcessRunner = ProcessRunner()) { self.runner = runner }

    /// The ext4 label: "sm-" and the uid, cut to ext4's 16 bytes.
    public static func label(_ uid: String) -> String { String("sm-\(uid)".prefix(16)) }

    /// What to do with a device, from `blkid -p -o export`'s exit status
    /// and output.
    enum Decision: Equatable {
        /// No signature (blkid 2), or `force` and no ext4.
        case format
        /// It holds ext4: reused, never formatted twice.
        case reuse
        /// It holds something else (named).
        case refuse(String)
        /// blkid failed.
        case probeFailed
    }

    static func decide(status: Int32, export: String, force: Bool) -> Decision {
        let fields = Dictionary(
            export.split(separator: "\n").compactMap { l -> (String, String)? in
                let kv = l.split(separator: "=", maxSplits: 1);
                return kv.count == 2 ? (String(kv[0]), String(kv[1])) : nil
            }, uniquingKeysWith: { a, _ in a })
        if status == 2 || (force && fields["TYPE"] != fsType) { return .format }
        if status == 0, fields["TYPE"] != fsType {
            return .refuse(fields["TYPE"] ?? fields["PTTYPE"] ?? "an unknown signature")
        }
        return status == 0 ? .reuse : .probeFailed
    }

    /// Puts UID's ext4 on DEVICE unless it holds one; a device holding
    /// another signature is refused unless `force`. Returns whether it
    /// formatted.
    public func format(_ device: String, uid: String, force: Bool) throws -> Bool {
        let probe = try runner.run(["blkid", "-p", "-o", "export", device], check: false)
        switch Self.decide(status: probe.status, export: probe.text, force: force) {
        case .reuse: return false
        case .refuse(let what):
            throw SemailError(
                "refusing to format \(device)", why: "it already holds \(what)",
                hint: "if that data is not needed, pass --force", status: .cantCreate)
        case .probeFailed:
            throw SemailError(
                "cannot probe \(device)", why: "blkid exited with \(probe.status): \(probe.stderr)",
                status: .ioError)
        case .format:
            try Fault.check("storage.mkfs")
            do {
                try runner.run([
                    "mkfs.ext4", "-q", "-F", "-L", Self.label(uid), "-m", "0",
                    "-E", "lazy_itable_init=1,lazy_journal_init=1,nodiscard", device
                ])
            } catch let e as ProcessError {
                throw SemailError("formatting \(device) failed", why: e.description, status: .ioError)
            }
            return true
        }
    }

    public func mount(_ device: String, at mountPoint: String, options: MountOptions) throws {
        let data = options.data.isEmpty ? nil : options.data
        guard Glibc.mount(device, mountPoint, Self.fsType, options.flags, data) == 0 else {
            let e = errno
            throw SemailError(
                "cannot mount \(device) on \(mountPoint)", why: SystemState.errnoText(e),
                status: .ioError)
        }
    }

    /// 0, or the errno of the failure.
    public static func unmount(_ mountPoint: String) -> Int32 { umount2(mountPoint, 0) == 0 ? 0 : errno }

    /// Grows the mounted filesystem on DEVICE to fill it.
    public func growOnline(_ device: String) throws {
        do { try runner.run(["resize2fs", device]) } catch let e as ProcessError {
            let denied = e.stderr.contains("Permission denied")
            throw SemailError(
                "online resize2fs failed", why: e.description,
                hint: denied
                    ? "this host does not allow online resizing (CAP_SYS_RESOURCE); "
                        + "the device has grown: run again with --offline" : nil,
                status: .ioError)
        }
    }

    /// Checks, then grows the unmounted filesystem on DEVICE to fill it.
    public func growOffline(_ device: String) throws {
        do {
            _ = try runner.run(["e2fsck", "-f", "-p", device], check: false)
            try runner.run(["resize2fs", device])
        } catch let e as ProcessError {
            throw SemailError("resize2fs failed", why: e.description, status: .ioError)
        }
    }
}

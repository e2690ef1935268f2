import Core
import Foundation

/// What the running kernel offers the storage backends: LVM needs
/// device-mapper, the image backend loop devices. Read from /proc and /dev
/// only (no module is loaded, nothing is changed).
public enum KernelSupport {
    /// Whether device-mapper is there: the kernel lists it in /proc/misc
    /// (built in or dm_mod loaded), or its control node exists.
    public static var hasDeviceMapper: Bool {
        let misc = SystemState.readKernelFile("/proc/misc") ?? ""
        return misc.split(separator: "\n").contains { $0.hasSuffix(" device-mapper") }
            || FileManager.default.fileExists(atPath: "/dev/mapper/control")
    }

    public static var hasLoopControl: Bool {
        var st = stat()
        return stat("/dev/loop-control", &st) == 0 && (st.st_mode & S_IFMT) == S_IFCHR
    }

    /// The error for LVM on a kernel without device-mapper.
    public static var noDeviceMapper: SemailError {
        SemailError(
            "the kernel has no device-mapper",
            why: "/proc/misc lists no device-mapper and /dev/mapper/control is missing: LVM cannot work here",
            hint:
                """
                load it with `modprobe dm_mod`; a kernel or container without device-mapper cannot use LVM: set \
                [storage] backend = \"image\"
                """,
            status: .unavailable)
    }

    /// What the configured backend needs and the kernel lacks; nil when
    /// nothing is missing.
    public static func missing(for storage: Config.Storage) -> SemailError? {
        switch storage.backend {
        case "lvm": return hasDeviceMapper ? nil : noDeviceMapper
        case "image":
            return hasLoopControl
                ? nil
                : SemailError(
                    "the kernel offers no loop devices",
                    why: "/dev/loop-control is missing (or not a character device)",
                    hint: "load the loop module with `modprobe loop` (in a container: give it /dev/loop-control)",
                    status: .unavailable)
        default: return nil
        }
    }
}

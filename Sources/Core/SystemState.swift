import Foundation
#if canImport(Glibc)
    import Glibc
#endif

/// The kernel's view of the system; the storage module extends it with
/// mounts, loop devices and filesystems.
public enum SystemState {
    public static func errnoText(_ e: Int32 = errno) -> String { String(cString: strerror(e)) }
}

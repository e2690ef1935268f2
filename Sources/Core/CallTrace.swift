import CShims
import Foundation
import LDAPClient
import Synchronization

/// `SEMAIL_TRACE_CALLS=1`: at exit, the external calls this process made
/// (processes spawned, Docker API requests, LDAP search requests) as one
/// line on stderr, and the time spent in each pipeline step (summed over
/// the workers); the benchmarks read them.
public enum CallTrace {
    public static let docker = Mutex(0)
    static let enabled = getenv("SEMAIL_TRACE_CALLS") != nil
    static let steps = Mutex<[String: (count: Int, seconds: Double)]>([:])
    static let marks = Mutex<[(String, Double)]>([])

    static let origin = Date()

    /// Notes when the process reached LABEL, in milliseconds since its
    /// first mark (`main`), when tracing.
    public static func mark(_ label: String) {
        guard enabled else { return }
        let ms = Date().timeIntervalSince(origin) * 1000
        marks.withLock { $0.append((label, ms)) }
    }

    /// Runs `body`, adding its time to `step`'s when tracing.
    public static func timed<T>(_ step: String, _ body: () throws -> T) rethrows -> T {
        guard enabled else { return try body() }
        let t0 = Date()
        defer {
            let dt = Date().timeIntervalSince(t0)
            steps.withLock {
                $0[step, default: (0, 0)].count += 1; $0[step, default: (0, 0)].seconds += dt
            }
        }
        return try body()
    }
    /// Registers the report once, when the variable is set.
    public static let install: Void = {
        if getenv("SEMAIL_TRACE_CALLS") != nil { atexit { CallTrace.report() } }
    }()
    static func report() {
        let line =
            "semail calls: processes=\(semail_spawn_count()) docker=\(docker.withLock { $0 }) "
            + "ldap-searches=\(LDAPConnection.searches.withLock { $0 })\n"
            + marks.withLock { $0 }.map { String(format: "semail mark: %7.1f ms ", $0.1) + $0.0 + "\n" }.joined()
            + steps.withLock { $0 }.sorted { $0.value.seconds > $1.value.seconds }.map {
                "semail step: \($0.key.padding(toLength: 18, withPad: " ", startingAt: 0))"
                    + String(format: " %4d x %8.3f s\n", $0.value.count, $0.value.seconds)
            }.joined()
        FileHandle.standardError.write(Data(line.utf8))
    }
}

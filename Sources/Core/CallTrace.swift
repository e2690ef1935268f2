import CShims
import Foundation
import LDAPClient
import Synchronization

/// `SEMAIL_TRACE_CALLS=1`: at exit, the external calls this process made
/// (processes spawned, Docker API requests, LDAP search requests) as one
/// line on stderr; the benchmarks count them.
public enum CallTrace {
    public static let docker = Mutex(0)
    /// Registers the report once, when the variable is set.
    public static let install: Void = {
        if getenv("SEMAIL_TRACE_CALLS") != nil { atexit { CallTrace.report() } }
    }()
    static func report() {
        let line =
            "semail calls: processes=\(semail_spawn_count()) docker=\(docker.withLock { $0 }) "
            + "ldap-searches=\(LDAPConnection.searches.withLock { $0 })\n"
        FileHandle.standardError.write(Data(line.utf8))
    }
}

import Foundation
import Logging

/// Where progress and messages go. Messages go through a swift-log
/// `Logger` (the CLI's handler writes them to stderr); stdout stays data.
/// The CLI decides whether progress is drawn (terminal only).
public struct Reporter: Sendable {
    public var logger: Logger
    public var progress: @Sendable (_ done: Int, _ total: Int) -> Void
    public init(logger: Logger, progress: @escaping @Sendable (Int, Int) -> Void = { _, _ in }) {
        self.logger = logger; self.progress = progress
    }
    public func info(_ s: String) { logger.info("\(s)") }
    public func warn(_ s: String) { logger.warning("\(s)") }
    /// Messages go nowhere.
    public static let silent = Reporter(logger: Logger(label: "semailctl") { _ in SwiftLogNoOpLogHandler() })
}

import Foundation

/// Where progress and messages go. Logs and progress go to stderr; stdout
/// stays data. The CLI decides whether progress is drawn (terminal only).
public struct Reporter: Sendable {
    public var info: @Sendable (String) -> Void
    public var warn: @Sendable (String) -> Void
    public var progress: @Sendable (_ done: Int, _ total: Int) -> Void
    public init(info: @escaping @Sendable (String) -> Void, warn: @escaping @Sendable (String) -> Void,
                progress: @escaping @Sendable (Int, Int) -> Void) {
        self.info = info; self.warn = warn; self.progress = progress
    }
    public static let silent = Reporter(info: { _ in }, warn: { _ in }, progress: { _, _ in })
}

import Foundation
import Synchronization

/// Runs undo actions last-in-first-out: what a command made is removed if
/// a later part of it fails.
public final class UndoStack: Sendable {
    private let actions = Mutex<[(String, @Sendable () throws -> Void)]>([])
    public init() {}
    public func push(_ label: String, _ action: @escaping @Sendable () throws -> Void) {
        actions.withLock { $0.append((label, action)) }
    }
    public func commit() { actions.withLock { $0.removeAll() } }
    /// Undoes everything; returns what was undone and what failed to undo.
    @discardableResult
    public func unwind() -> (undone: [String], failed: [String]) {
        var undone: [String] = [], failed: [String] = []
        while let (label, action) = actions.withLock({ $0.popLast() }) {
            do { try action(); undone.append(label) } catch { failed.append("\(label): \(error)") }
        }
        return (undone, failed)
    }
}

import Foundation

/// Runs undo actions last-in-first-out: what a command made is removed if
/// a later part of it fails.
public final class UndoStack: @unchecked Sendable {
    private var actions: [(String, () throws -> Void)] = []
    public init() {}
    public func push(_ label: String, _ action: @escaping () throws -> Void) { actions.append((label, action)) }
    public func commit() { actions.removeAll() }
    /// Undoes everything; returns what was undone and what failed to undo.
    @discardableResult
    public func unwind() -> (undone: [String], failed: [String]) {
        var undone: [String] = [], failed: [String] = []
        while let (label, action) = actions.popLast() {
            do { try action(); undone.append(label) } catch { failed.append("\(label): \(error)") }
        }
        return (undone, failed)
    }
}

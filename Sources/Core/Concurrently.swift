import Foundation

/// Runs blocking tasks (requests, processes, file reads) at once, each on
/// a thread of its own, the first on the calling thread, and returns when
/// all are done. Not libdispatch's pool: on a small machine its few
/// workers would be taken by tasks that wait, and the rest would queue.
public enum Concurrently {
    public static func run(_ tasks: [@Sendable () -> Void]) {
        guard let first = tasks.first else { return }
        let done = DispatchGroup()
        for task in tasks.dropFirst() {
            done.enter()
            let t = Thread {
                task()
                done.leave()
            }
            t.start()
        }
        first()
        done.wait()
    }
}

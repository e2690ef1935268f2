import Containers
import Core
import Foundation
#if canImport(Glibc)
    import Glibc
#endif

/// The Dockerfile template directory, followed with inotify on a thread of
/// its own: every file written, renamed into place, removed or touched
/// there is reported by name. A directory that is replaced is watched
/// again (once it exists).
struct TemplateWatch: Sendable {
    let directory: String
    let reporter: Reporter
    static let mask = UInt32(
        IN_CLOSE_WRITE | IN_MOVED_TO | IN_MOVED_FROM | IN_CREATE | IN_DELETE | IN_ATTRIB | IN_DELETE_SELF | IN_MOVE_SELF
    )

    func start(stop: @escaping @Sendable () -> Bool, changed: @escaping @Sendable (String) -> Void) {
        let t = Thread { run(stop: stop, changed: changed) }
        t.name = "semail-template-watch"
        t.start()
    }

    private func run(stop: @Sendable () -> Bool, changed: @Sendable (String) -> Void) {
        let fd = inotify_init1(Int32(IN_CLOEXEC))
        guard fd >= 0 else {
            reporter.warn("cannot follow \(directory): inotify_init1: \(String(cString: strerror(errno)))"); return
        }
        defer { close(fd) }
        let parent = (directory as NSString).deletingLastPathComponent, leaf = (directory as NSString).lastPathComponent
        var wd: Int32 = -1, parentWD: Int32 = -1
        var buf = [UInt8](repeating: 0, count: 64 * 1024)
        while !stop() {
            if wd < 0 {
                wd = inotify_add_watch(fd, directory, Self.mask)
                if wd >= 0, parentWD >= 0 { inotify_rm_watch(fd, parentWD); parentWD = -1 }
                if wd < 0, parentWD < 0 {
                    reporter.warn(
                        "cannot follow \(directory): \(String(cString: strerror(errno))); waiting for it to appear")
                    // Its parent's events say when it is back.
                    parentWD = inotify_add_watch(fd, parent, UInt32(IN_CREATE | IN_MOVED_TO))
                    if parentWD < 0 { return }
                }
            }
            // A one-second wake-up only to notice `stop`, not to look at files.
            var p = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
            let r = poll(&p, 1, 1000)
            if r < 0 { if errno == EINTR { continue }; return }
            if r == 0 { continue }
            let n = buf.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
            if n < 0 { if errno == EINTR || errno == EAGAIN { continue }; return }
            var off = 0
            while off + MemoryLayout<inotify_event>.size <= n {
                let (ev, name) = buf.withUnsafeBytes { raw -> (inotify_event, String) in
                    let ev = raw.loadUnaligned(fromByteOffset: off, as: inotify_event.self)
                    let start = off + MemoryLayout<inotify_event>.size
                    return (
                        ev, String(decoding: raw[start..<min(start + Int(ev.len), n)].prefix { $0 != 0 }, as: UTF8.self)
                    )
                }
                off += MemoryLayout<inotify_event>.size + Int(ev.len)
                if ev.wd == parentWD {
                    if name == leaf { changed(directory) }
                    continue
                }
                if ev.wd == wd, ev.mask & UInt32(IN_IGNORED | IN_DELETE_SELF | IN_MOVE_SELF) != 0 {
                    if ev.mask & UInt32(IN_IGNORED) == 0 { inotify_rm_watch(fd, wd) }
                    wd = -1
                    changed(directory)
                    continue
                }
                if ev.wd == wd { changed(name.isEmpty ? directory : "\(directory)/\(name)") }
            }
        }
    }
}

/// The base image's tag, followed through Docker's event stream
/// (`GET /events`, image events for that name) on a connection and thread
/// of its own. A tag moved (`image bootstrap --force`, `docker tag`,
/// a pull or load) is reported; after a lost stream it reconnects with a
/// growing delay and asks for the events it missed (`since`).
struct ImageWatch: Sendable {
    let socket: String
    let image: String
    let reporter: Reporter

    func start(stop: @escaping @Sendable () -> Bool, changed: @escaping @Sendable (String) -> Void) {
        let t = Thread { run(stop: stop, changed: changed) }
        t.name = "semail-image-watch"
        t.start()
    }

    private func run(stop: @escaping @Sendable () -> Bool, changed: @Sendable (String) -> Void) {
        let client = DockerClient(socket: socket)
        var since: Int?, delay: TimeInterval = 1
        while !stop() {
            do {
                try client.events(filters: ["type": ["image"], "image": [image]], since: since, stop: stop) { ev in
                    delay = 1
                    changed("\(ev.action ?? "event") (\(ev.actor?.attributes?["name"] ?? image))")
                }
            } catch {
                if stop() { return }
                reporter.warn(
                    """
                    lost Docker's event stream (\((error as? SemailError)?.why ?? "\(error)")); following \(image) \
                    again in \(Int(delay)) s
                    """
                )
            }
            // The events missed while away are asked for again on reconnecting.
            since = Int(Date().timeIntervalSince1970) - 1
            let until = Date().addingTimeInterval(delay)
            while Date() < until && !stop() { usleep(100_000) }
            delay = min(delay * 2, 30)
        }
    }
}

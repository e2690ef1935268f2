import Core
import Foundation

extension DockerClient {
    /// One message of Docker's event stream (API 1.22+ form).
    public struct Event: Decodable, Sendable {
        public struct Actor: Decodable, Sendable {
            public var id: String?
            public var attributes: [String: String]?
            enum CodingKeys: String, CodingKey { case id = "ID", attributes = "Attributes" }
        }
        public var type: String?
        public var action: String?
        public var actor: Actor?
        public var time: Int?
        enum CodingKeys: String, CodingKey { case type = "Type", action = "Action", actor = "Actor", time }
    }

    /// Follows `GET /events` with these filters: each event as it happens,
    /// from `since` (Unix seconds) when given. Blocks this client (use one
    /// of its own); returns once `stop` says so, throws when the stream is
    /// lost.
    public func events(
        filters: [String: [String]], since: Int? = nil, stop: @escaping () -> Bool, _ body: (Event) -> Void
    ) throws {
        let enc = JSONEncoder()
        enc.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        var query = [("filters", String(decoding: try enc.encode(filters), as: UTF8.self))]
        if let since { query.append(("since", "\(since)")) }
        try withoutActuallyEscaping(body) { body in
            _ = try call(
                "GET", "/events", query: query,
                line: { line in
                    if let ev = try? JSONDecoder().decode(Event.self, from: line) { body(ev) }
                }, abort: stop)
        }
        if !stop() { throw unavailable("the event stream ended") }
    }
}

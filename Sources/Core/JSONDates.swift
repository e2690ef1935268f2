import Foundation

/// Dates in the tool's JSON: ISO-8601 strings in UTC (`--json` output with
/// milliseconds), never Foundation's default of seconds since 2001. Reading
/// takes ISO-8601 with or without fractional seconds, and also that old
/// number, so files written by an older semailctl still load.
public enum JSONDates {
    public static var encoding: JSONEncoder.DateEncodingStrategy {
        .custom { date, encoder in
            var c = encoder.singleValueContainer()
            try c.encode(string(date))
        }
    }

    public static var decoding: JSONDecoder.DateDecodingStrategy {
        .custom { decoder in
            let c = try decoder.singleValueContainer()
            if let seconds = try? c.decode(Double.self) { return Date(timeIntervalSinceReferenceDate: seconds) }
            let s = try c.decode(String.self)
            guard let d = date(s) else {
                throw DecodingError.dataCorruptedError(in: c, debugDescription: "not an ISO-8601 date: \(s)")
            }
            return d
        }
    }

    /// `2026-12-05T18:33:29.123Z`.
    public static func string(_ date: Date) -> String {
        date.formatted(Date.ISO8601FormatStyle(includingFractionalSeconds: true, timeZone: .gmt))
    }

    /// An ISO-8601 date and time, with or without fractional seconds.
    public static func date(_ s: String) -> Date? {
        (try? Date.ISO8601FormatStyle(includingFractionalSeconds: true).parse(s))
            ?? (try? Date.ISO8601FormatStyle().parse(s))
    }
}

/// A TOML value with the line it was written on.
public enum TOMLValue: Sendable, Equatable {
    case string(String)
    case integer(Int)
    case boolean(Bool)
    case array([TOMLValue])

    var typeName: String {
        switch self {
        case .string: "string"
        case .integer: "integer"
        case .boolean: "boolean"
        case .array: "array"
        }
    }
}

public struct TOMLEntry: Sendable, Equatable {
    public var table: String
    public var key: String
    public var value: TOMLValue
    public var line: Int
    public var path: String { table.isEmpty ? key : "\(table).\(key)" }
}

public struct TOMLError: Error, Sendable, CustomStringConvertible {
    public let line: Int
    public let message: String
    public var description: String { "line \(line): \(message)" }
}

/// The subset of TOML a configuration file needs: `[table]` headers,
/// `key = value` with basic/literal strings, integers, booleans and arrays of
/// those, and comments. Every entry keeps its line for error messages.
public enum TOML {
    public static func parse(_ text: String) throws -> [TOMLEntry] {
        var entries: [TOMLEntry] = []
        var table = ""
        var seen: Set<String> = []
        var tables: Set<String> = []
        for (index, raw) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            let lineNo = index + 1
            var s = Substring(raw.hasSuffix("\r") ? raw.dropLast() : raw)
            s = s.drop { $0 == " " || $0 == "\t" }
            if s.isEmpty || s.first == "#" { continue }
            if s.first == "[" {
                guard let close = s.firstIndex(of: "]") else { throw TOMLError(line: lineNo, message: "table header without ']'") }
                let name = s[s.index(after: s.startIndex)..<close].trimmingCharacters(in: .whitespaces)
                let after = s[s.index(after: close)...].trimmingCharacters(in: .whitespaces)
                guard after.isEmpty || after.hasPrefix("#") else { throw TOMLError(line: lineNo, message: "unexpected text after table header") }
                guard !name.isEmpty, name.allSatisfy({ $0.isLetter || $0.isNumber || $0 == "_" || $0 == "-" || $0 == "." }) else {
                    throw TOMLError(line: lineNo, message: "invalid table name \"\(name)\"")
                }
                guard tables.insert(name).inserted else { throw TOMLError(line: lineNo, message: "table [\(name)] defined twice") }
                table = name
                continue
            }
            guard let eq = s.firstIndex(of: "=") else { throw TOMLError(line: lineNo, message: "expected key = value") }
            let key = s[..<eq].trimmingCharacters(in: .whitespaces)
            guard !key.isEmpty, key.allSatisfy({ $0.isLetter || $0.isNumber || $0 == "_" || $0 == "-" }) else {
                throw TOMLError(line: lineNo, message: "invalid key \"\(key)\"")
            }
            var p = ValueParser(chars: Array(s[s.index(after: eq)...]), line: lineNo)
            let value = try p.value()
            try p.end()
            let path = table.isEmpty ? key : "\(table).\(key)"
            guard seen.insert(path).inserted else { throw TOMLError(line: lineNo, message: "key \(path) set twice") }
            entries.append(TOMLEntry(table: table, key: key, value: value, line: lineNo))
        }
        return entries
    }

    struct ValueParser {
        let chars: [Character]
        let line: Int
        var i = 0

        mutating func skip() { while i < chars.count, chars[i] == " " || chars[i] == "\t" { i += 1 } }
        func fail(_ m: String) -> TOMLError { TOMLError(line: line, message: m) }

        mutating func end() throws {
            skip()
            guard i == chars.count || chars[i] == "#" else { throw fail("unexpected text after the value") }
        }

        mutating func value() throws -> TOMLValue {
            skip()
            guard i < chars.count else { throw fail("missing value") }
            switch chars[i] {
            case "\"": return .string(try basicString())
            case "'":
                i += 1
                let start = i
                while i < chars.count, chars[i] != "'" { i += 1 }
                guard i < chars.count else { throw fail("unterminated string") }
                defer { i += 1 }
                return .string(String(chars[start..<i]))
            case "[":
                i += 1
                var items: [TOMLValue] = []
                while true {
                    skip()
                    guard i < chars.count else { throw fail("unterminated array") }
                    if chars[i] == "]" { i += 1; return .array(items) }
                    items.append(try value())
                    skip()
                    if i < chars.count, chars[i] == "," { i += 1 }
                }
            default:
                let start = i
                while i < chars.count, !" \t,]#".contains(chars[i]) { i += 1 }
                let word = String(chars[start..<i])
                if word == "true" { return .boolean(true) }
                if word == "false" { return .boolean(false) }
                if let n = Int(word.replacingOccurrences(of: "_", with: "")) { return .integer(n) }
                throw fail("cannot read value \"\(word)\" (strings need quotes)")
            }
        }

        mutating func basicString() throws -> String {
            i += 1
            var out = ""
            while i < chars.count {
                let c = chars[i]
                i += 1
                if c == "\"" { return out }
                if c == "\\" {
                    guard i < chars.count else { break }
                    let e = chars[i]
                    i += 1
                    switch e {
                    case "n": out.append("\n")
                    case "t": out.append("\t")
                    case "\\": out.append("\\")
                    case "\"": out.append("\"")
                    case "r": out.append("\r")
                    case "u", "U":
                        let len = e == "u" ? 4 : 8
                        guard i + len <= chars.count, let v = UInt32(String(chars[i..<i + len]), radix: 16),
                              let scalar = Unicode.Scalar(v) else { throw fail("bad \\\(e) escape") }
                        out.unicodeScalars.append(scalar)
                        i += len
                    default: throw fail("unknown escape \\\(e)")
                    }
                } else {
                    out.append(c)
                }
            }
            throw fail("unterminated string")
        }
    }
}

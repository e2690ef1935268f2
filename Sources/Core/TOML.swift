import TOMLKit

/// A configuration value read by TOMLKit, with what `Config` needs of it.
public enum TOMLValue: Sendable, Equatable {
    case string(String)
    case integer(Int)
    case boolean(Bool)
    case array([TOMLValue])
    /// A value of a type no configuration key takes (float, date, time,
    /// table inside an array), by its TOML type name.
    case other(String)

    var typeName: String {
        switch self {
        case .string: "string"
        case .integer: "integer"
        case .boolean: "boolean"
        case .array: "array"
        case .other(let name): name
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

/// A TOML document as the flat list of its `table.key = value` entries,
/// parsed by TOMLKit (TOML 1.0). TOMLKit keeps no positions for values, so
/// each entry's line (for error messages) is found by `KeyLines`.
public enum TOML {
    public static func parse(_ text: String) throws -> [TOMLEntry] {
        // TOMLKit reads a C string: what follows a NUL would be silently dropped.
        if let nul = text.utf8.firstIndex(of: 0) {
            let line = text.utf8[..<nul].filter { $0 == 0x0A }.count + 1
            throw TOMLError(line: line, message: "NUL character in the file")
        }
        let root: TOMLTable
        do { root = try TOMLTable(string: text) } catch let e as TOMLParseError {
            throw TOMLError(line: e.source.begin.line, message: e.description)
        }
        let lines = KeyLines(text)
        var entries: [TOMLEntry] = []
        func walk(_ table: TOMLTable, _ name: String) {
            for key in table.keys {
                guard let value = table[key] else { continue }
                if let sub = value.table {
                    walk(sub, name.isEmpty ? key : "\(name).\(key)")
                    continue
                }
                let path = name.isEmpty ? key : "\(name).\(key)"
                entries.append(TOMLEntry(table: name, key: key, value: convert(value), line: lines.line(of: path)))
            }
        }
        walk(root, "")
        return entries.sorted { ($0.line, $0.path) < ($1.line, $1.path) }
    }

    static func convert(_ v: any TOMLValueConvertible) -> TOMLValue {
        switch v.type {
        case .string: .string(v.string ?? "")
        case .int: .integer(v.int ?? 0)
        case .bool: .boolean(v.bool ?? false)
        case .array: .array(v.array.map { $0.map { convert($0) } } ?? [])
        case .double: .other("float")
        case .table: .other("table")
        case .date: .other("date")
        case .time: .other("time")
        case .dateTime: .other("date-time")
        }
    }
}

/// The line each `table.key` of a TOML text is set on: the last `[table]`
/// header (or `[[table]]`) before it, plus its (possibly dotted, possibly
/// quoted) key. A key set inside an inline table gets the line of the
/// nearest enclosing path found; one not found at all gets 0.
struct KeyLines {
    var lines: [String: Int] = [:]

    init(_ text: String) {
        var table: [String] = []
        var inMultiline = false
        for (index, raw) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            let s = raw.trimmingCharacters(in: .whitespaces)
            let quotes = s.components(separatedBy: "\"\"\"").count - 1 + s.components(separatedBy: "'''").count - 1
            defer { if quotes % 2 == 1 { inMultiline.toggle() } }
            if inMultiline || s.isEmpty || s.hasPrefix("#") { continue }
            if s.hasPrefix("[") {
                let inner = s.drop { $0 == "[" }.prefix { $0 != "]" }
                table = Self.parts(inner)
                record(table, index + 1)
                continue
            }
            guard let eq = Self.equals(in: s) else { continue }
            record(table + Self.parts(s[..<eq]), index + 1)
        }
    }

    mutating func record(_ path: [String], _ line: Int) {
        let key = path.joined(separator: ".")
        if lines[key] == nil { lines[key] = line }
    }

    func line(of path: String) -> Int {
        var parts = path.split(separator: ".", omittingEmptySubsequences: false).map(String.init)
        while !parts.isEmpty {
            if let l = lines[parts.joined(separator: ".")] { return l }
            parts.removeLast()
        }
        return 0
    }

    /// The `=` of `key = value`, outside quoted key parts.
    static func equals(in s: String) -> String.Index? {
        var quote: Character?
        for i in s.indices {
            let c = s[i]
            if let q = quote {
                if c == q { quote = nil }
            } else if c == "\"" || c == "'" {
                quote = c
            } else if c == "=" {
                return i
            }
        }
        return nil
    }

    /// `a. "b.c" .d` -> ["a", "b.c", "d"].
    static func parts(_ s: Substring) -> [String] {
        var out: [String] = [], cur = "", quote: Character?
        for c in s {
            if let q = quote {
                if c == q { quote = nil } else { cur.append(c) }
            } else if c == "\"" || c == "'" {
                quote = c
            } else if c == "." {
                out.append(cur.trimmingCharacters(in: .whitespaces)); cur = ""
            } else {
                cur.append(c)
            }
        }
        out.append(cur.trimmingCharacters(in: .whitespaces))
        return out
    }
}

import Foundation

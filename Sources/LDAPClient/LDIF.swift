import Foundation

/// One LDIF record (RFC 2849): a content record or a change record.
public struct LDIFRecord: Sendable, Hashable {
    public enum Change: Sendable, Hashable {
        /// A content record (no `changetype:`): an entry to add.
        case content([LDAPAttribute])
        case add([LDAPAttribute])
        case delete
        case modify([LDAPModification])
        /// `modrdn` or `moddn` (`keyword` keeps which one was written).
        case modDN(newRDN: String, deleteOldRDN: Bool, newSuperior: String?, keyword: String)
    }
    public struct Control: Sendable, Hashable {
        public var oid: String
        public var critical: Bool
        public var value: [UInt8]?
        public init(oid: String, critical: Bool = false, value: [UInt8]? = nil) {
            self.oid = oid; self.critical = critical; self.value = value
        }
    }

    public var dn: String
    public var controls: [Control]
    public var change: Change
    /// First line of the record in its file (not part of equality).
    public var line: Int

    public init(dn: String, controls: [Control] = [], change: Change, line: Int = 0) {
        self.dn = dn; self.controls = controls; self.change = change; self.line = line
    }

    public static func == (a: Self, b: Self) -> Bool {
        a.dn == b.dn && a.controls == b.controls && a.change == b.change
    }
    public func hash(into h: inout Hasher) { h.combine(dn); h.combine(controls); h.combine(change) }

    /// The entry an add or content record describes.
    public var entry: LDAPEntry? {
        switch change {
        case let .content(a), let .add(a): LDAPEntry(dn: dn, attributes: a)
        default: nil
        }
    }
}

/// A malformed LDIF line: the file, the line and what is wrong.
public struct LDIFError: Error, Sendable, CustomStringConvertible, Hashable {
    public let file: String
    public let line: Int
    public let message: String
    public var description: String { "\(file):\(line): \(message)" }
    public init(file: String, line: Int, message: String) { self.file = file; self.line = line; self.message = message }
}

/// A parsed file: records and errors in file order, so a caller can apply
/// what precedes the first error and nothing after it.
public enum LDIFItem: Sendable, Hashable {
    case record(LDIFRecord)
    case error(LDIFError)
}

public enum LDIF {
    /// Parses LDIF text. Never throws: a malformed record becomes an
    /// `.error` item and parsing resumes at the next record.
    /// `allowFileURLs` lets `attr:< file:///path` values read local files.
    public static func parse(_ data: [UInt8], file: String = "<input>", allowFileURLs: Bool = true) -> [LDIFItem] {
        var parser = LDIFParser(file: file, allowFileURLs: allowFileURLs)
        return parser.parse(data)
    }

    public static func parse(_ text: String, file: String = "<input>") -> [LDIFItem] {
        parse(Array(text.utf8), file: file)
    }

    /// Parses and throws the first error.
    public static func records(_ text: String, file: String = "<input>") throws -> [LDIFRecord] {
        try parse(Array(text.utf8), file: file).map {
            switch $0 {
            case let .record(r): return r
            case let .error(e): throw e
            }
        }
    }
}

struct LogicalLine {
    var number: Int
    var bytes: [UInt8]
}

struct LDIFParser {
    let file: String
    let allowFileURLs: Bool

    /// Physical lines → unfolded logical lines, grouped into records by blank
    /// lines. Comments (including their folded continuations) are dropped.
    func records(_ data: [UInt8]) -> [[LogicalLine]] {
        var groups: [[LogicalLine]] = []
        var current: [LogicalLine] = []
        var inComment = false
        var lineNo = 0
        var start = 0
        let n = data.count
        while start < n || (start == n && false) {
            var end = start
            while end < n, data[end] != 0x0A { end += 1 }
            var lineEnd = end
            if lineEnd > start, data[lineEnd - 1] == 0x0D { lineEnd -= 1 }
            lineNo += 1
            let line = data[start..<lineEnd]
            start = end + 1
            if line.isEmpty {
                if !current.isEmpty { groups.append(current); current = [] }
                inComment = false
                continue
            }
            if line.first == 0x20 {
                // Continuation of the previous logical line (or of a comment).
                if inComment { continue }
                if current.isEmpty {
                    current.append(LogicalLine(number: lineNo, bytes: Array(line.dropFirst())))
                } else {
                    current[current.count - 1].bytes.append(contentsOf: line.dropFirst())
                }
                continue
            }
            if line.first == UInt8(ascii: "#") { inComment = true; continue }
            inComment = false
            current.append(LogicalLine(number: lineNo, bytes: Array(line)))
        }
        if !current.isEmpty { groups.append(current) }
        return groups
    }

    mutating func parse(_ data: [UInt8]) -> [LDIFItem] {
        var items: [LDIFItem] = []
        var first = true
        for var group in records(data) {
            if first, let l = group.first, l.bytes.starts(with: Array("version:".utf8)) {
                first = false
                let v = String(decoding: l.bytes.dropFirst(8), as: UTF8.self).trimmingCharacters(in: .whitespaces)
                if v != "1" {
                    items.append(
                        .error(
                            LDIFError(file: file, line: l.number, message: "unsupported LDIF version \"\(v)\" (only 1)")
                        ))
                    return items
                }
                group.removeFirst()
                if group.isEmpty { continue }
            }
            first = false
            do {
                items.append(.record(try record(group)))
            } catch let e as LDIFError {
                items.append(.error(e))
            } catch {
                items.append(.error(LDIFError(file: file, line: group[0].number, message: "\(error)")))
            }
        }
        return items
    }

    func fail(_ l: LogicalLine, _ message: String) -> LDIFError {
        LDIFError(file: file, line: l.number, message: message)
    }

    /// Splits `name: value`, `name:: base64`, `name:< url`.
    func attrval(_ l: LogicalLine) throws -> (String, [UInt8]) {
        guard let colon = l.bytes.firstIndex(of: UInt8(ascii: ":")) else {
            throw fail(l, "expected \"attribute: value\", found \"\(preview(l.bytes))\"")
        }
        let name = String(decoding: l.bytes[..<colon], as: UTF8.self)
        guard !name.isEmpty, name.utf8.allSatisfy({ isAttrChar($0) }) else {
            throw fail(l, "invalid attribute description \"\(preview(Array(l.bytes[..<colon])))\"")
        }
        var rest = l.bytes[(colon + 1)...]
        if rest.first == UInt8(ascii: ":") {
            rest = rest.dropFirst()
            let b64 = String(decoding: rest, as: UTF8.self).trimmingCharacters(in: .whitespaces)
            guard let d = Data(base64Encoded: b64) else { throw fail(l, "value of \"\(name)\" is not valid base64") }
            return (name, Array(d))
        }
        if rest.first == UInt8(ascii: "<") {
            let url = String(decoding: rest.dropFirst(), as: UTF8.self).trimmingCharacters(in: .whitespaces)
            guard allowFileURLs else { throw fail(l, "file URLs are not allowed here (\(url))") }
            guard url.hasPrefix("file://") else { throw fail(l, "only file:// URLs are supported, not \"\(url)\"") }
            let path = String(url.dropFirst(7)).removingPercentEncoding ?? String(url.dropFirst(7))
            guard let d = FileManager.default.contents(atPath: path) else {
                throw fail(l, "cannot read \(path) named by the value of \"\(name)\"")
            }
            return (name, Array(d))
        }
        while rest.first == 0x20 { rest = rest.dropFirst() }
        return (name, Array(rest))
    }

    func string(_ l: LogicalLine, _ v: [UInt8], _ what: String) throws -> String {
        guard let s = String(validating: v, as: UTF8.self) else { throw fail(l, "\(what) is not valid UTF-8") }
        return s
    }

    func record(_ lines: [LogicalLine]) throws -> LDIFRecord {
        var i = 0
        let (dnKey, dnValue) = try attrval(lines[0])
        guard dnKey.lowercased() == "dn" else {
            throw fail(lines[0], "a record must start with \"dn:\", found \"\(dnKey):\"")
        }
        let dn = try string(lines[0], dnValue, "the DN")
        // Sent as written: the server parses it (LDAPv2 forms included).
        i = 1
        var controls: [LDIFRecord.Control] = []
        while i < lines.count {
            let (k, v) = try attrval(lines[i])
            guard k.lowercased() == "control" else { break }
            controls.append(try control(lines[i], v))
            i += 1
        }
        guard i < lines.count else {
            throw fail(lines[0], "record for \"\(dn)\" has no attributes and no changetype")
        }
        let (k, v) = try attrval(lines[i])
        guard k.lowercased() == "changetype" else {
            guard controls.isEmpty else { throw fail(lines[i], "controls are only allowed on change records") }
            return LDIFRecord(dn: dn, change: .content(try attributes(lines[i...])), line: lines[0].number)
        }
        let type = String(decoding: v, as: UTF8.self).trimmingCharacters(in: .whitespaces).lowercased()
        let body = lines[(i + 1)...]
        let change: LDIFRecord.Change
        switch type {
        case "add":
            guard !body.isEmpty else { throw fail(lines[i], "changetype add without attributes") }
            change = .add(try attributes(body))
        case "delete":
            if let extra = body.first { throw fail(extra, "changetype delete takes no further lines") }
            change = .delete
        case "modify":
            change = .modify(try modifications(body))
        case "modrdn", "moddn":
            change = try modDN(body, keyword: type, at: lines[i])
        default:
            throw fail(lines[i], "unknown changetype \"\(type)\" (add, delete, modify, modrdn, moddn)")
        }
        return LDIFRecord(dn: dn, controls: controls, change: change, line: lines[0].number)
    }

    /// `control: oid [true|false] [: value | :: base64 | :< url]` (RFC 2849).
    func control(_ l: LogicalLine, _ v: [UInt8]) throws -> LDIFRecord.Control {
        var rest = v[...]
        func skipSpaces() { while rest.first == 0x20 { rest = rest.dropFirst() } }
        skipSpaces()
        let oidEnd = rest.firstIndex { $0 == 0x20 || $0 == UInt8(ascii: ":") } ?? rest.endIndex
        let oid = String(decoding: rest[..<oidEnd], as: UTF8.self)
        guard !oid.isEmpty, oid.utf8.allSatisfy({ ($0 >= 0x30 && $0 <= 0x39) || $0 == UInt8(ascii: ".") }) else {
            throw fail(l, "control \"\(preview(Array(v)))\" does not start with a numeric OID")
        }
        rest = rest[oidEnd...]
        skipSpaces()
        var critical = false
        for word in ["true", "false"] where rest.starts(with: word.utf8) {
            critical = word == "true"
            rest = rest.dropFirst(word.utf8.count)
            skipSpaces()
        }
        guard let colon = rest.first else { return .init(oid: oid, critical: critical) }
        guard colon == UInt8(ascii: ":") else {
            throw fail(l, "control \(oid): expected true, false or \":\" before a value")
        }
        let (_, value) = try attrval(LogicalLine(number: l.number, bytes: Array("control".utf8) + Array(rest)))
        return .init(oid: oid, critical: critical, value: value)
    }

    func attributes(_ lines: ArraySlice<LogicalLine>) throws -> [LDAPAttribute] {
        var attrs: [LDAPAttribute] = []
        var index: [String: Int] = [:]
        for l in lines {
            let (name, value) = try attrval(l)
            if name == "-" || name.lowercased() == "changetype" || name.lowercased() == "dn" {
                throw fail(l, "unexpected \"\(name):\" among attributes")
            }
            let key = name.lowercased()
            if let at = index[key] {
                attrs[at].values.append(value)
            } else {
                index[key] = attrs.count
                attrs.append(LDAPAttribute(name, [value]))
            }
        }
        return attrs
    }

    func modifications(_ lines: ArraySlice<LogicalLine>) throws -> [LDAPModification] {
        var mods: [LDAPModification] = []
        var current: LDAPModification?
        for l in lines {
            if l.bytes == [UInt8(ascii: "-")] {
                guard let c = current else {
                    throw fail(l, "\"-\" without a preceding add:, delete:, replace: or increment:")
                }
                mods.append(c); current = nil
                continue
            }
            let (k, v) = try attrval(l)
            if current == nil {
                guard let op = LDAPModOp(rawValue: k.lowercased()) else {
                    throw fail(l, "expected add:, delete:, replace: or increment:, found \"\(k):\"")
                }
                let attr = try string(l, v, "the attribute name").trimmingCharacters(in: .whitespaces)
                guard !attr.isEmpty, attr.utf8.allSatisfy({ isAttrChar($0) }) else {
                    throw fail(l, "invalid attribute name \"\(attr)\" after \(k):")
                }
                current = LDAPModification(op, LDAPAttribute(attr, []))
            } else {
                guard k.lowercased() == current!.attribute.name.lowercased() else {
                    throw fail(
                        l,
                        """
                        value for \"\(k)\" inside a \(current!.op.rawValue): \(current!.attribute.name) block \
                        (missing \"-\"?)
                        """
                    )
                }
                current!.attribute.values.append(v)
            }
        }
        if let c = current { mods.append(c) }  // tolerate a missing final "-"
        return mods
    }

    func modDN(_ lines: ArraySlice<LogicalLine>, keyword: String, at: LogicalLine) throws -> LDIFRecord.Change {
        var newRDN: String?
        var deleteOld: Bool?
        var newSuperior: String?
        for l in lines {
            let (k, v) = try attrval(l)
            switch k.lowercased() {
            case "newrdn": newRDN = try string(l, v, "newrdn")
            case "deleteoldrdn":
                let s = String(decoding: v, as: UTF8.self).trimmingCharacters(in: .whitespaces)
                guard s == "0" || s == "1" else { throw fail(l, "deleteoldrdn must be 0 or 1, not \"\(s)\"") }
                deleteOld = s == "1"
            case "newsuperior": newSuperior = try string(l, v, "newsuperior")
            default: throw fail(l, "unexpected \"\(k):\" in a \(keyword) record")
            }
        }
        guard let newRDN else { throw fail(at, "\(keyword) record without newrdn:") }
        guard let deleteOld else { throw fail(at, "\(keyword) record without deleteoldrdn:") }
        return .modDN(newRDN: newRDN, deleteOldRDN: deleteOld, newSuperior: newSuperior, keyword: keyword)
    }

    func isAttrChar(_ c: UInt8) -> Bool {
        (c >= 0x30 && c <= 0x39) || (c >= 0x41 && c <= 0x5a) || (c >= 0x61 && c <= 0x7a) || c == 0x2d || c == 0x3b
            || c == 0x2e
    }

    func preview(_ b: [UInt8]) -> String {
        let s = String(decoding: b.prefix(40), as: UTF8.self)
        return b.count > 40 ? s + "…" : s
    }
}

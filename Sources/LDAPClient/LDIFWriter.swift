import Foundation

extension LDIF {
    /// Writes records as LDIF: long lines folded at `width`, values that are
    /// not SAFE-STRINGs base64-encoded, so that `parse(write(x)) == x`.
    public static func write(_ records: [LDIFRecord], version: Bool = true, width: Int = 76) -> String {
        var out = version ? "version: 1\n" : ""
        for r in records {
            if !out.isEmpty { out += "\n" }
            out += write(r, width: width)
        }
        return out
    }

    public static func write(_ r: LDIFRecord, width: Int = 76) -> String {
        var out = ""
        func line(_ name: String, _ value: [UInt8]) { out += fold(valueLine(name, value), width: width) }
        line("dn", Array(r.dn.utf8))
        for c in r.controls {
            var v = c.oid + (c.critical ? " true" : " false")
            if let value = c.value { v += ":: " + Data(value).base64EncodedString() }  // RFC 2849 value-spec
            line("control", Array(v.utf8))
        }
        switch r.change {
        case let .content(attrs):
            for a in attrs { for v in a.values { line(a.name, v) } }
        case let .add(attrs):
            line("changetype", Array("add".utf8))
            for a in attrs { for v in a.values { line(a.name, v) } }
        case .delete:
            line("changetype", Array("delete".utf8))
        case let .modify(mods):
            line("changetype", Array("modify".utf8))
            for m in mods {
                line(m.op.rawValue, Array(m.attribute.name.utf8))
                for v in m.attribute.values { line(m.attribute.name, v) }
                out += "-\n"
            }
        case let .modDN(newRDN, deleteOld, newSuperior, keyword):
            line("changetype", Array(keyword.utf8))
            line("newrdn", Array(newRDN.utf8))
            line("deleteoldrdn", Array((deleteOld ? "1" : "0").utf8))
            if let s = newSuperior { line("newsuperior", Array(s.utf8)) }
        }
        return out
    }

    /// RFC 2849 SAFE-STRING: ASCII without NUL, CR, LF; not starting with
    /// space, ':' or '<'; (by recommendation) not ending with a space.
    public static func isSafe(_ v: [UInt8]) -> Bool {
        guard let first = v.first else { return true }
        if first == 0x20 || first == UInt8(ascii: ":") || first == UInt8(ascii: "<") { return false }
        if v.last == 0x20 { return false }
        return v.allSatisfy { $0 != 0 && $0 != 0x0A && $0 != 0x0D && $0 < 0x80 }
    }

    static func valueLine(_ name: String, _ value: [UInt8]) -> String {
        if value.isEmpty { return "\(name):" }
        if isSafe(value) { return "\(name): " + String(decoding: value, as: UTF8.self) }
        return "\(name):: " + Data(value).base64EncodedString()
    }

    /// Folds one ASCII line: `width` bytes, then continuation lines of a
    /// space plus `width - 1` bytes.
    static func fold(_ line: String, width: Int) -> String {
        let b = Array(line.utf8)
        guard b.count > width else { return line + "\n" }
        var out = String(decoding: b[0..<width], as: UTF8.self) + "\n"
        var i = width
        while i < b.count {
            let j = min(i + width - 1, b.count)
            out += " " + String(decoding: b[i..<j], as: UTF8.self) + "\n"
            i = j
        }
        return out
    }
}

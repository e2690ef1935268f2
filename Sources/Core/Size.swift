/// Sizes as admins write them: `5G`, `512M`, `10737418240` (binary units).
public enum ByteSize {
    public static func parse(_ s: String) throws -> UInt64 {
        var t = Substring(s.trimmingCharacters(in: .whitespaces))
        // "5G", "5GB", "5GiB" all mean 5 * 2^30.
        if t.count > 2, t.last == "B" || t.last == "b", t.dropLast().last?.isLetter == true { t = t.dropLast() }
        if t.count > 2, t.last == "i" || t.last == "I", t.dropLast().last?.isLetter == true { t = t.dropLast() }
        var mult: UInt64 = 1
        if let last = t.last, last.isLetter {
            switch last.uppercased() {
            case "K": mult = 1 << 10
            case "M": mult = 1 << 20
            case "G": mult = 1 << 30
            case "T": mult = 1 << 40
            default: throw bad(s)
            }
            t = t.dropLast()
        }
        guard !t.isEmpty, t.allSatisfy({ $0.isASCII && $0.isNumber }), let n = UInt64(t), n > 0 else { throw bad(s) }
        let (v, overflow) = n.multipliedReportingOverflow(by: mult)
        guard !overflow, v <= (1 << 50) else { throw bad(s) }
        return v
    }

    static func bad(_ s: String) -> SemailError {
        SemailError(
            "invalid size \(Validate.quoted(s))",
            why: "a size is a positive number of bytes, or with a unit: 512M, 5G, 1T",
            status: .usage)
    }

    public static func format(_ n: UInt64) -> String {
        let units: [(UInt64, String)] = [(1 << 40, "T"), (1 << 30, "G"), (1 << 20, "M"), (1 << 10, "K")]
        for (u, name) in units where n >= u {
            if n % u == 0 { return "\(n / u)\(name)" }
            let v = Double(n) / Double(u)
            return String(format: "%.1f%@", v, name)
        }
        return "\(n)"
    }
}

import Foundation

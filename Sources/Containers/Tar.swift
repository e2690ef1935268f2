import Core
import Foundation

/// A ustar archive built in memory: the build context the tool sends to the
/// engine (a Dockerfile and a few small files).
public struct TarArchive: Sendable {
    public private(set) var data = Data()
    public init() {}

    /// Adds a regular file. Names are plain relative paths of at most 100 bytes.
    public mutating func add(_ name: String, _ contents: Data, mode: Int = 0o644) {
        precondition(name.utf8.count <= 100 && !name.hasPrefix("/") && !name.contains(".."), "tar name \(name)")
        var h = [UInt8](repeating: 0, count: 512)
        func put(_ s: String, _ at: Int, _ len: Int) { for (i, b) in s.utf8.prefix(len).enumerated() { h[at + i] = b } }
        func octal(_ v: Int, _ at: Int, _ len: Int) { put(String(repeating: "0", count: max(0, len - 1 - String(v, radix: 8).count)) + String(v, radix: 8), at, len - 1) }
        put(name, 0, 100)
        octal(mode, 100, 8); octal(0, 108, 8); octal(0, 116, 8)
        octal(contents.count, 124, 12); octal(0, 136, 12)
        for i in 148..<156 { h[i] = 0x20 }
        h[156] = UInt8(ascii: "0")
        put("ustar", 257, 6); put("00", 263, 2)
        let sum = h.reduce(0) { $0 + Int($1) }
        put(String(repeating: "0", count: 6 - String(sum, radix: 8).count) + String(sum, radix: 8), 148, 6)
        h[154] = 0; h[155] = 0x20
        data.append(contentsOf: h)
        data.append(contents)
        let pad = (512 - contents.count % 512) % 512
        data.append(Data(count: pad))
    }

    /// The archive with its two closing zero blocks.
    public var finished: Data { data + Data(count: 1024) }
}

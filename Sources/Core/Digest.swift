import Crypto

/// SHA-256 fed piece by piece (an archive's payload as it is written or read).
public struct SHA256Stream {
    private var hash = Crypto.SHA256()
    public init() {}
    public mutating func update(_ bytes: UnsafeRawBufferPointer) { hash.update(bufferPointer: bytes) }
    public mutating func update(_ bytes: [UInt8]) { bytes.withUnsafeBytes { update($0) } }
    /// The digest in lowercase hex.
    public func hex() -> String {
        hash.finalize().map { String($0, radix: 16).count == 1 ? "0" + String($0, radix: 16) : String($0, radix: 16) }
            .joined()
    }
}

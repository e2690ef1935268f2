import Crypto

/// SHA-256 through swift-crypto, for content hashes in labels and spec
/// hashes (lowercase hex; the values must not change, or every container
/// would look stale).
public enum SHA256 {
    public static func digest(_ message: [UInt8]) -> [UInt8] { Array(Crypto.SHA256.hash(data: message)) }

    public static func hex(_ message: [UInt8]) -> String { Hex.encode(digest(message)) }
}

public enum HMAC {
    /// HMAC-SHA256 (RFC 2104) through swift-crypto.
    public static func sha256(key: [UInt8], message: [UInt8]) -> [UInt8] {
        Array(Crypto.HMAC<Crypto.SHA256>.authenticationCode(for: message, using: SymmetricKey(data: key)))
    }
}

private enum Hex {
    static func encode(_ bytes: some Sequence<UInt8>) -> String {
        let digits = Array("0123456789abcdef".utf8)
        var out = [UInt8]()
        for b in bytes { out.append(digits[Int(b >> 4)]); out.append(digits[Int(b & 15)]) }
        return String(decoding: out, as: UTF8.self)
    }
}

@testable import Containers
@testable import Core
import Foundation
@testable import Provisioning
import Testing

@Suite struct ContainerAddressTests {
    func stateDir() throws -> String {
        let d = FileManager.default.temporaryDirectory.appendingPathComponent(
            "semail-addr-\(UUID().uuidString.prefix(8))"
        ).path
        try FileManager.default.createDirectory(
            atPath: d, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        return d
    }

    @Test func subnetsAreParsedStrictly() throws {
        #expect(IPv4Subnet("172.30.0.0/24")?.description == "172.30.0.0/24")
        for bad in [
            "172.30.0.1/24", "172.30.0.0", "172.30.0.0/30", "172.30.0.0/7", "300.1.0.0/16", "172.30.0.0/+8",
            "a.b.c.d/24", ""
        ] {
            #expect(IPv4Subnet(bad) == nil, "\(bad)")
        }
        #expect(!(try Config.parse("[containers]\nsubnet = \"10.1.2.3/24\"\n").1.isEmpty))
        #expect(try Config.parse("[containers]\nsubnet = \"10.1.2.0/24\"\n").1.isEmpty)
    }

    @Test func lowestFreeAfterTheGatewayKeptUntilReleased() throws {
        let dir = try stateDir()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let book = ContainerAddresses(stateDir: dir)
        let net = try #require(IPv4Subnet("10.9.0.0/29"))  // hosts .1-.6, gateway .1
        #expect(try book.assign("alice", subnet: net, gateway: "10.9.0.1") == "10.9.0.2")
        #expect(try book.assign("bob", subnet: net, gateway: "10.9.0.1", inUse: ["10.9.0.3"]) == "10.9.0.4")
        #expect(try book.assign("alice", subnet: net, gateway: "10.9.0.1") == "10.9.0.2")  // kept
        try book.release("alice")
        #expect(try book.assign("carol", subnet: net, gateway: "10.9.0.1") == "10.9.0.2")  // free again
        #expect(try book.assign("dave", subnet: net, gateway: "10.9.0.1") == "10.9.0.3")
        #expect(try book.assign("erin", subnet: net, gateway: "10.9.0.1") == "10.9.0.5")
        #expect(try book.assign("frank", subnet: net, gateway: "10.9.0.1") == "10.9.0.6")
        #expect(throws: SemailError.self) { try book.assign("gina", subnet: net, gateway: "10.9.0.1") }
        // Another subnet: the address moves into it.
        #expect(
            try book.assign("bob", subnet: try #require(IPv4Subnet("10.8.0.0/24")), gateway: "10.8.0.1") == "10.8.0.2")
        var st = stat()
        #expect(stat(book.path, &st) == 0 && st.st_mode & 0o777 == 0o600)
        // Read with the state files' trust checks: a file others may write is refused.
        chmod(book.path, 0o666)
        #expect(throws: SemailError.self) { _ = try book.entries() }
    }

    @Test func thePublicKeyComesFromThePrivateKeyFile() throws {
        let dir = try stateDir()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try ProcessRunner().run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "x", "-f", "\(dir)/k"])
        let priv = try String(contentsOfFile: "\(dir)/k", encoding: .utf8)
        let pub = try String(contentsOfFile: "\(dir)/k.pub", encoding: .utf8).split(separator: " ").prefix(2).joined(
            separator: " ")
        #expect(SSHAccess.publicKey(fromPrivate: priv) == pub)
        #expect(
            SSHAccess.publicKey(
                fromPrivate: "-----BEGIN OPENSSH PRIVATE KEY-----\nAAAA\n-----END OPENSSH PRIVATE KEY-----\n") == nil)
        #expect(SSHAccess.publicKey(fromPrivate: "garbage") == nil)
    }
}

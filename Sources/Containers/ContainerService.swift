import Core
import Foundation

// Part of the context `Host` carries (see Provisioning's `Context/Services.swift`);
// the tests give a fake that fails loudly on anything it was not told to expect.

/// The mailbox containers in the container engine.
public protocol ContainerService: Sendable {
    var config: Config.Containers { get }
    /// The engine's API, for a call of its own (a fake has none).
    var client: DockerClient { get }
    var addresses: ContainerAddresses { get }
    func dockerfileDir(_ uid: String) -> String
    func dockerfileDirs() -> [String]
    func render(_ input: ContainerInput) throws -> ContainerManager.Rendered
    func expectedSpecHash(_ input: ContainerInput, baseImageID: String, template: DockerfileTemplate?) throws -> String?
    func ensure(_ input: ContainerInput, force: Bool, progress: ((String) -> Void)?) throws -> ContainerResult
    func remove(uid: String, releaseAddress: Bool) throws -> [String]
    func list() throws -> [ContainerState]
    func show(uid: String) throws -> ContainerState?
    func network() throws -> MailboxNetwork
}

extension ContainerService {
    public func ensure(_ input: ContainerInput) throws -> ContainerResult {
        try ensure(input, force: false, progress: nil)
    }
    public func ensure(_ input: ContainerInput, force: Bool) throws -> ContainerResult {
        try ensure(input, force: force, progress: nil)
    }
    public func remove(uid: String) throws -> [String] { try remove(uid: uid, releaseAddress: false) }
    public func expectedSpecHash(_ input: ContainerInput, baseImageID: String) throws -> String? {
        try expectedSpecHash(input, baseImageID: baseImageID, template: nil)
    }
}

extension ContainerManager: ContainerService {}

import Core
import Foundation
import Mustache
import Synchronization

/// The values a per-user Dockerfile is rendered from. Every value is
/// checked before rendering: a newline, a quote or an instruction smuggled
/// into a value is refused, never rendered.
public struct DockerfileValues: Sendable, Equatable {
    public var baseImage: String
    public var uid: String
    public var address: String
    public var uidNumber: Int
    public var gidNumber: Int
    public var packages: [String]

    public init(
        baseImage: String, uid: String, address: String, uidNumber: Int, gidNumber: Int, packages: [String] = []
    ) {
        self.baseImage = baseImage; self.uid = uid; self.address = address
        self.uidNumber = uidNumber; self.gidNumber = gidNumber; self.packages = packages
    }

    static let imagePattern = Pattern(
        #"^[a-z0-9][a-z0-9._/-]*(:[0-9]+/[a-z0-9._/-]+)?(:[A-Za-z0-9_][A-Za-z0-9_.-]{0,127})?(@sha256:[a-f0-9]{64})?$"#)
    /// Image references already checked (reconcile validates every mailbox's values).
    static let checkedImages = LockedSet()

    /// An image reference: [registry/]name[:tag][@sha256:digest], lowercase path.
    public static func checkImage(_ s: String) throws {
        let ok = s.utf8.count <= 255 && !s.isEmpty && imagePattern.matches(s)
        guard ok else {
            throw SemailError(
                "invalid image name \(Validate.quoted(s))", why: "expected a reference such as semail/base:latest",
                status: .usage)
        }
    }

    /// A Debian package name (policy §5.6.1).
    static func checkPackage(_ s: String) throws { _ = try Validate.debianPackage(s) }

    public func validated() throws -> DockerfileValues {
        if !Self.checkedImages.contains(baseImage) {
            try Self.checkImage(baseImage); Self.checkedImages.insert(baseImage)
        }
        _ = try Validate.uid(uid)
        let a = try Validate.address(address)
        guard (1000...2_000_000_000).contains(uidNumber), (1000...2_000_000_000).contains(gidNumber) else {
            throw SemailError(
                "invalid numeric ids \(uidNumber):\(gidNumber) for \(uid)",
                why: "a mailbox user needs ids from 1000 up (0-999 are system accounts)",
                status: .usage)
        }
        for p in packages { try Self.checkPackage(p) }
        var v = self
        v.address = "\(a.local)@\(a.domain)"
        return v
    }

    var context: [String: Any] {
        [
            "base_image": baseImage, "uid": uid, "address": address, "uid_number": "\(uidNumber)",
            "gid_number": "\(gidNumber)",
            "packages": packages, "has_packages": !packages.isEmpty
        ]
    }
}

/// Renders `Dockerfile.template` from the template directory.
public struct DockerfileTemplate: Sendable {
    public let text: String
    public let path: String
    /// Parsed once, rendered many times (reconcile renders every mailbox's).
    private var parsed: MustacheTemplate?

    public init(directory: String) throws {
        path = "\(directory)/Dockerfile.template"
        guard let data = FileManager.default.contents(atPath: path) else {
            throw SemailError(
                "cannot read the Dockerfile template \(path)", why: "no such file",
                hint: "set [containers] template_dir to the folder holding Dockerfile.template", status: .config)
        }
        text = String(decoding: data, as: UTF8.self)
        parsed = try? MustacheTemplate(string: text)
    }

    public init(text: String) {
        self.text = text; self.path = "<template>"; parsed = try? MustacheTemplate(string: text)
    }

    /// The rendered Dockerfile and its SHA-256 (hex), which the container's
    /// `semail.template` label records.
    public func render(_ values: DockerfileValues) throws -> (dockerfile: String, hash: String) {
        let v = try values.validated()
        let template: MustacheTemplate
        do { template = try parsed ?? MustacheTemplate(string: text) } catch {
            throw SemailError("cannot parse the Dockerfile template \(path)", why: "\(error)", status: .config)
        }
        let out = template.render(v.context)
        return (out, SHA256.hex(Array(out.utf8)))
    }
}

/// A set of strings shared between threads.
final class LockedSet: Sendable {
    private let items = Mutex<Set<String>>([])
    func contains(_ s: String) -> Bool { items.withLock { $0.contains(s) } }
    func insert(_ s: String) { _ = items.withLock { $0.insert(s) } }
}

import ArgumentParser
import Core
import Foundation
import Provisioning

struct ImageBootstrapCommand: SemailCommand {
    static let configuration = CommandConfiguration.leaf(
        commandName: "bootstrap",
        abstract: "Build base_image locally: debootstrap (minbase + openssh-server), imported through the API. "
            + "Nothing is pulled.")
    @Option(help: "Debian suite.") var suite = "bookworm"
    @Option(help: "Debian mirror.") var mirror = "http://deb.debian.org/debian"
    @Option(help: "Root filesystem tarball: imported if it exists, written by debootstrap if not.")
    var rootfsCache: String?
    @Flag(help: "Build again even if the image exists.") var force = false
    @OptionGroup var global: GlobalOptions

    func execute(_ ctx: CommandContext) throws -> ExitStatus {
        var b = ImageBootstrap()
        b.suite = suite
        b.mirror = mirror
        b.cache = rootfsCache
        b.force = force
        let r = try b.run(ctx.host())
        ctx.emit(r) { r in
            r.source == "present"
                ? "\(r.image) is already present (\(r.id.prefix(19))); --force to build again"
                : "\(r.image) imported from \(r.source) (\((r.rootfsBytes ?? 0) >> 20) MiB) "
                    + "in \(String(format: "%.1f", r.seconds)) s: \(r.id.prefix(19))"
        }
        return .success
    }
}

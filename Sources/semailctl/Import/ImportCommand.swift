import ArgumentParser
import Foundation
import LDAPClient
import Provisioning

struct ImportCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "import",
        abstract: "Apply an LDIF file (RFC 2849), idempotently, with many requests in flight.",
        discussion: """
        An entry that already exists with the same attributes is skipped; one that differs is reported,
        and its differing attributes replaced only with --update. Exit code 1 when any record failed.
        """)

    @Argument(help: "The LDIF file.") var file: String
    @Flag(help: "Say what would change; change nothing.") var dryRun = false
    @Flag(help: "Go on past malformed or failing records.") var continueOnError = false
    @Flag(help: "Replace the differing attributes of entries that already exist.") var update = false
    @Option(help: "Requests kept in flight.") var window = 64
    @OptionGroup var global: GlobalOptions

    func run() async throws {
        let out = global.output
        try await out.run {
            guard let data = FileManager.default.contents(atPath: file) else {
                throw SemailError("cannot read \(file)", why: FileManager.default.fileExists(atPath: file) ? "permission denied" : "no such file",
                                  status: .dataError)
            }
            let host = try global.host()
            let items = LDIF.parse(Array(data), file: file)
            let importer = Importer(connection: try host.ldap(),
                                    options: ImportOptions(dryRun: dryRun, continueOnError: continueOnError, update: update,
                                                           window: max(1, window)),
                                    reporter: host.reporter)
            let s = try importer.run(file: file, items: items)
            out.emit(s) { s in
                var l = ["\(s.dryRun ? "dry run: would have " : "")added \(s.added), modified \(s.modified), deleted \(s.deleted), renamed \(s.renamed), skipped \(s.skipped), failed \(s.failed)"
                         + (s.notApplied > 0 ? ", not applied after the first failure \(s.notApplied)" : "")]
                l += s.differing.map { "  differs: \($0.dn ?? "") (line \($0.line)): \($0.reason)" + (update ? "" : " (use --update)") }
                l += s.failures.map { "  failed: \($0.dn.map { "\($0) " } ?? "")(line \($0.line)): \($0.reason)" }
                return l.joined(separator: "\n")
            }
            return s.ok ? .success : (s.failures.contains { $0.dn == nil } ? .dataError : .failure)
        }
    }
}

import ArgumentParser
import Core
import Foundation
import Provisioning

/// Options every command takes.
struct GlobalOptions: ParsableArguments {
    @Option(name: .long, help: "Configuration file (default: $SEMAIL_CONFIG or /etc/semail/semail.toml).")
    var config: String?

    @Flag(name: .long, help: "Print one JSON document on stdout instead of text.")
    var json = false

    @Flag(name: [.short, .long], help: "Print less on stderr.")
    var quiet = false

    var output: Output { Output(json: json, quiet: quiet) }
}

/// How a password reaches the tool: never through argv.
struct PasswordOptions: ParsableArguments {
    @Flag(name: .long, help: "Read the password from standard input.")
    var passwordStdin = false

    @Option(name: .long, help: "Read the password from FILE (mode 0600 or stricter).")
    var passwordFile: String?

    func validate() throws {
        if passwordStdin && passwordFile != nil {
            throw ValidationError("use either --password-stdin or --password-file, not both")
        }
    }

    /// The password, or nil when none was given and there is no terminal.
    func read(required: Bool, confirm: Bool = true) throws -> Secret? {
        if passwordStdin { return try Secrets.readStdin() }
        if let passwordFile {
            return try Secrets.readFile(passwordFile, emptyStatus: .usage)
        }
        if Terminal.isInteractive { return try Secrets.prompt("Password", confirm: confirm) }
        if required {
            throw SemailError(
                "no password given", why: "standard input is not a terminal, so no prompt can be shown",
                hint: "use --password-stdin or --password-file FILE", status: .usage)
        }
        return nil
    }
}

/// `--yes`, for the commands that destroy something: without it they ask
/// on a terminal, and refuse (exit 64) without one.
struct Confirmation: ParsableArguments {
    @Flag(help: "Do not ask; required when standard input is not a terminal.") var yes = false

    func ask(_ question: String, what: String) throws { try Terminal.confirm(question, yes: yes, what: what) }
}

enum Terminal {
    static var isInteractive: Bool { isatty(0) == 1 && isatty(2) == 1 }

    /// Asks a yes/no question on the terminal; refuses without one unless `yes`.
    static func confirm(_ question: String, yes: Bool, what: String) throws {
        if yes { return }
        guard isInteractive else {
            throw SemailError(
                "refusing to \(what) without confirmation", why: "standard input is not a terminal",
                hint: "add --yes", status: .usage)
        }
        Output.write(2, Validate.printable("\(question) [y/N] "))
        let answer = readLine()?.trimmingCharacters(in: .whitespaces).lowercased()
        guard answer == "y" || answer == "yes" else {
            throw SemailError("cancelled", why: "not confirmed", status: .failure)
        }
    }
}

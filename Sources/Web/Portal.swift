import Core
import Foundation
import Hummingbird
import HummingbirdAuth
import Logging
import Mustache

/// The self-service portal: an unprivileged web server on loopback (TLS is
/// a reverse proxy's) where mailbox owners log in with their directory
/// password and create, inspect and delete their own mailbox. Everything
/// privileged is `semailctl ... --as-user UID --json` through `sudo -n`.
public struct Portal: Sendable {
    let config: Config
    let configPath: String?
    let pages: MustacheLibrary
    let bind: UserBind
    let semailctl: Semailctl
    let throttle: Throttle
    /// Changes (keys, packages, create, delete) per user: each may rebuild the container.
    let changes: Throttle
    let loginToken = LoginToken()
    let guardian: RequestGuard
    let jobs = Jobs()
    let persist = MemoryPersistDriver()
    let sessionStorage: SessionStorage<PortalSession>
    let logger: Logger

    public init(config: Config, configPath: String?, logger: Logger) throws {
        self.config = config
        self.configPath = configPath
        self.logger = logger
        var templates: [String: MustacheTemplate] = [:]
        for (name, text) in Templates.all { templates[name] = try MustacheTemplate(string: text) }
        pages = MustacheLibrary(templates: templates)
        bind = UserBind(ldap: config.ldap, peopleDN: config.peopleDN)
        semailctl = Semailctl(
            sudo: config.web.sudo, program: config.web.semailctl.isEmpty ? Self.besideMe() : config.web.semailctl,
            configPath: configPath, gate: Gate(total: max(2, ProcessInfo.processInfo.activeProcessorCount)))
        throttle = Throttle(limit: config.web.loginAttempts, window: TimeInterval(config.web.loginWindow))
        changes = Throttle(limit: 20, window: 10 * 60)
        sessionStorage = SessionStorage(
            persist,
            configuration: .init(
                sessionCookieParameters: .init(
                    name: config.web.secureCookies ? "__Host-semail" : "semail", path: "/",  // = sessionCookie
                    secure: config.web.secureCookies, sameSite: .strict),
                keyPrefix: "s."))
        guardian = RequestGuard(
            origin: config.web.origin.isEmpty ? nil : Config.Web.origin(config.web.origin),
            secure: config.web.secureCookies)
    }

    /// `semail-web [--config PATH]`.
    public static func main(arguments: [String]) async throws {
        var path: String?
        var args = arguments.dropFirst()
        while let a = args.popFirst() {
            switch a {
            case "--config": path = args.popFirst()
            case "-h", "--help":
                print(
                    """
                    usage: semail-web [--config PATH]
                    The self-service portal. Configuration: --config PATH, else $SEMAIL_CONFIG, else \
                    /etc/semail/semail.toml ([web] section; see `semailctl config check`).
                    """)
                return
            default:
                FileHandle.standardError.write(Data("semail-web: unknown argument \(Validate.quoted(a))\n".utf8))
                exit(64)
            }
        }
        var logger = Logger(label: "semail-web")
        logger.logLevel = .info
        let config: Config
        do { config = try Config.load(path) { FileHandle.standardError.write(Data("warning: \($0)\n".utf8)) } } catch {
            FileHandle.standardError.write(Data("semail-web: \(error)\n".utf8))
            exit(78)
        }
        // Always named to semailctl: the sudo rule allows that one path, and no form value can choose another.
        let portal = try Portal(config: config, configPath: Portal.absolute(Config.resolvePath(path)), logger: logger)
        try await portal.application().runService()
    }

    /// `<directory of this executable>/semailctl` (`make install` puts both in one sbin).
    static func besideMe() -> String {
        let me =
            (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? CommandLine.arguments[0]
        return ((me as NSString).deletingLastPathComponent as NSString).appendingPathComponent("semailctl")
    }

    static func absolute(_ p: String) -> String {
        p.hasPrefix("/") ? p : FileManager.default.currentDirectoryPath + "/" + p
    }

    public func application() -> some ApplicationProtocol {
        let router = Router(context: PortalContext.self)
        router.add(middleware: SecurityHeaders())
        router.add(
            middleware: SessionMiddleware(
                sessionStorage: sessionStorage, defaultSessionExpiration: .seconds(config.web.sessionMinutes * 60)))
        routes(router)
        let (host, port) = Config.Web.listenAddress(config.web.listen) ?? ("127.0.0.1", 8080)
        return Application(
            router: router, configuration: .init(address: .hostname(host, port: port), serverName: nil),
            services: [persist], logger: logger)
    }
}

import Containers
import Core
import DNS
import Directory
import Foundation
import LDAPClient
import Storage

public struct ConfigReport: Sendable, Codable {
    public struct Component: Sendable, Codable {
        public var name: String
        public var ok: Bool
        public var message: String
        public var hint: String?
    }
    public var file: String
    public var problems: [Config.Problem]
    public var components: [Component]
}

/// `config check`: every problem in the file, then a live check of each
/// configured component.
public enum ConfigChecker {
    public static func check(path: String) throws -> ConfigReport {
        let (config, problems) = try Config.loadWithProblems(path)
        var components: [ConfigReport.Component] = []
        components.append(checkLDAP(config))
        components += checkDirectory(config)
        // The other services only when their section is in the file.
        if config.sections.contains("storage") { components.append(checkStorage(config)) }
        if config.sections.contains("containers") { components.append(checkDocker(config)) }
        if config.sections.contains("dns") { components.append(checkDNS(config)) }
        if config.sections.contains("smtp") { components.append(checkSMTP(config)) }
        return ConfigReport(file: path, problems: problems, components: components)
    }

    static func checkLDAP(_ config: Config) -> ConfigReport.Component {
        do {
            let c = try DirectoryServer.connect(config.ldap)
            defer { c.close() }
            try DirectoryServer.bindAdmin(c, config.ldap)
            let who = (try? c.whoAmI()) ?? ""
            var found = false
            try c.search(base: config.peopleDN, scope: .base, attributes: ["1.1"]) { _ in found = true }
            return .init(name: "ldap", ok: found, message: "connected to \(config.ldap.uri), bound as \(who.isEmpty ? config.ldap.bindDN : who)" +
                         (found ? ", \(config.peopleDN) exists" : ""))
        } catch let e as SemailError {
            return .init(name: "ldap", ok: false, message: "\(e.what): \(e.why)", hint: e.hint)
        } catch let e as LDAPError where e.code == .noSuchObject {
            return .init(name: "ldap", ok: false, message: "the people OU \(config.peopleDN) does not exist",
                         hint: "create it, or fix [ldap] base / people")
        } catch {
            return .init(name: "ldap", ok: false, message: "\(error)")
        }
    }

    static func checkStorage(_ config: Config) -> ConfigReport.Component {
        do {
            // The state directory, when it exists: nobody but root may change it.
            if FileManager.default.fileExists(atPath: config.state.dir) { try Trust.stateDirectory(config.state.dir) }
            try checkKernel(config)
            let vm = try VolumeManager(config: config.storage, stateDir: config.state.dir)
            let n = try vm.backend.observeAll().count
            _ = try MountOptions(config.storage.mountOptions)
            _ = try MailOwner.fixed(config.storage.owner)
            _ = try ByteSize.parse(config.storage.defaultSize)
            return .init(name: "storage", ok: true, message: "\(config.storage.backend) backend: \(n) volume(s) found")
        } catch let e as SemailError {
            return .init(name: "storage", ok: false, message: "\(e.what): \(e.why)", hint: e.hint)
        } catch { return .init(name: "storage", ok: false, message: "\(error)") }
    }

    /// Whether the kernel can do what the storage backend needs (LVM:
    /// device-mapper and the volume group; image: loop devices).
    static func checkKernel(_ config: Config) throws {
        if let e = KernelSupport.missing(for: config.storage) { throw e }
        if config.storage.backend == "lvm" { try LVMBackend(vg: config.storage.volumeGroup).checkVolumeGroup() }
    }

    static func checkDocker(_ config: Config) -> ConfigReport.Component {
        let c = DockerClient(socket: config.containers.socket)
        do {
            let v = try c.version()
            let base = try c.image(config.containers.baseImage)
            _ = try DockerfileTemplate(directory: config.containers.templateDir)
            return .init(name: "containers", ok: base != nil,
                         message: "Docker \(v.Version) (API \(try c.apiVersion())) at \(config.containers.socket); base image \(config.containers.baseImage) \(base == nil ? "MISSING" : "present")",
                         hint: base == nil ? "run `semailctl image bootstrap`" : nil)
        } catch let e as SemailError {
            return .init(name: "containers", ok: false, message: "\(e.what): \(e.why)", hint: e.hint)
        } catch { return .init(name: "containers", ok: false, message: "\(error)") }
    }

    /// The address map and its Postfix form: each file's directory exists
    /// (the map's is made on the first write; Postfix's must be there).
    static func checkSMTP(_ config: Config) -> ConfigReport.Component {
        let map = AddressMap(path: config.smtp.addressMap, postfix: PostfixMaps(config: config))
        var problems: [String] = []
        var hint: String?
        do { _ = try MailOwner.fixed(config.storage.owner) } catch let e as SemailError {
            if !map.postfix.paths.isEmpty { problems.append("the Postfix uid/gid maps need [storage] owner: \(e.why)") }
        } catch {}
        for kind in PostfixMaps.Kind.allCases {
            guard let path = map.postfix.paths[kind] else { continue }
            let dir = (path as NSString).deletingLastPathComponent
            var isDir: ObjCBool = false
            if !FileManager.default.fileExists(atPath: dir, isDirectory: &isDir) || !isDir.boolValue {
                problems.append("[smtp] \(kind.rawValue): the directory \(dir) does not exist")
                hint = "create it (root's, e.g. mode 0755), or fix the path"
            }
        }
        guard problems.isEmpty else { return .init(name: "smtp", ok: false, message: problems.joined(separator: "; "), hint: hint) }
        let n = map.entries().count
        let outputs = map.postfix.paths.isEmpty ? "no Postfix maps" : "Postfix maps: " + PostfixMaps.Kind.allCases.compactMap { map.postfix.paths[$0] }.joined(separator: ", ")
        let unwritten = map.postfix.paths.values.filter { !FileManager.default.fileExists(atPath: $0) }.sorted()
        return .init(name: "smtp", ok: true,
                     message: "address map \(config.smtp.addressMap) (\(map.read() == nil ? "not written yet" : "\(n) mailbox(es)")); \(outputs)"
                         + (unwritten.isEmpty ? "" : "; not written yet: \(unwritten.joined(separator: ", "))"),
                     hint: unwritten.isEmpty ? nil : "`semailctl reconcile` writes them")
    }

    static func checkDNS(_ config: Config) -> ConfigReport.Component {
        let dns = DNSManager(config: config.dns)
        do {
            let l = try dns.list()
            let r = try ProcessRunner().run(dns.store.settings.rndc + ["status"], check: false)
            guard r.status == 0 else {
                return .init(name: "dns", ok: false, message: "zone \(l.zone) read (serial \(l.serial.map(String.init) ?? "?")), but rndc status failed: \((r.stderr + r.text).trimmingCharacters(in: .whitespacesAndNewlines))",
                             hint: "check that named runs and [dns] rndc_server/rndc_port/rndc_key match its controls")
            }
            return .init(name: "dns", ok: true, message: "zone \(l.zone) in \(config.dns.zoneFile), serial \(l.serial.map(String.init) ?? "?"), \(l.managed.count) managed record(s); rndc answers")
        } catch let e as SemailError {
            return .init(name: "dns", ok: false, message: "\(e.what): \(e.why)", hint: e.hint)
        } catch { return .init(name: "dns", ok: false, message: "\(error)") }
    }
}

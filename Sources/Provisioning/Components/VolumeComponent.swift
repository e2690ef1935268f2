import Core
import CShims
import Foundation
import Storage

/// The mailbox's volume: ext4 mounted at `<mail_root>/<uid>` with its
/// Maildir, in fstab, its mount point sealed underneath; archived and
/// removed by delete, quarantined when orphaned.
struct VolumeComponent: MailboxComponent {
    func createSteps(_ r: CreateRequest, _ mb: Mailboxes) -> [Step] {
        let host = mb.host
        let uid = r.uid
        let size = r.size
        let config = mb.config
        return [
            Step(
                .volume,
                why:
                    "create the \(ByteSize.format(size)) volume, ext4"
                    + ", mount it at \(config.storage.mailRoot)/\(uid) with a Maildir",
                check: { try host.volumes().looksComplete(uid) },
                observe: { Before(existed: try host.volumes().exists(uid)) },
                apply: { _ = try host.volumes().create(uid: uid, size: size, owner: try host.mailOwner(uid)) },
                undo: { before in if before.existed == false { _ = try host.volumes().delete(uid: uid) } })
        ]
    }

    func deleteSteps(_ r: DeleteRequest, _ mb: Mailboxes) -> [Step] {
        let host = mb.host
        let uid = r.uid
        var steps: [Step] = []
        if let archive = r.archive {
            steps.append(
                Step(
                    .archive, why: "archive the Maildir to \(archive) and read it back before anything is destroyed",
                    check: { Self.isOurArchive(archive) },
                    apply: { try Self.archive(host, uid: uid, to: archive) }))
        }
        steps.append(
            Step(
                .volume, why: "unmount and remove the volume (its mail is gone)", pointOfNoReturn: true,
                check: {
                    let v = try host.volumes()
                    return try !v.exists(uid) && !FileManager.default.fileExists(atPath: v.mountPoint(uid))
                },
                apply: { _ = try host.volumes().delete(uid: uid) }))
        return steps
    }

    /// One scan of the volumes (one `lvs`, or the image directory) and one
    /// read of the mount table; the wanted mailboxes' Maildir trees through
    /// descriptors; whether mount points are sealed, in one bind mount.
    func observe(_ o: inout Observation, _ scope: ObserveScope, _ mb: Mailboxes) throws {
        let host = mb.host
        switch scope {
        case .list:
            o.volumes = Self.byUID(try host.volumes().list())
            return
        case .show(let uid):
            o.volumes = Self.byUID(try host.volumes().list(only: uid))
            return
        case .reconcile: break
        }
        let vm = try host.volumes()
        let mountTable = o.timed("volumes") { SystemState.mounts() }
        o.volumes = try o.timed("volumes") { Self.byUID(try vm.list(mounts: mountTable)) }
        o.count(vm.backend.kind == "lvm" ? "lvs" : "volume scan (readdir + /sys + fstab)")
        o.mounts = Dictionary(mountTable.map { ($0.mountPoint, $0.fsType) }, uniquingKeysWith: { _, b in b })
        let config = host.config
        let volumes = o.volumes
        let mailboxes = o.wanted().mailboxes
        o.maildirs = o.timed("volumes") {
            var trees: [String: [String: MaildirTree.State]] = [:]
            // Through descriptors, never following what the user made.
            for m in mailboxes where volumes[m.uid]?.mounted == true {
                trees[m.uid] = MaildirTree.inspect(Self.mountPoint(m.uid, config), owner: Self.owner(m, config))
            }
            return trees
        }
        let mounted = o.volumes.values.filter(\.mounted).map(\.uid).sorted()
        if !mounted.isEmpty {
            o.unsealed = o.timed("volumes") { (try? vm.unsealedUnderneath(mounted)) ?? [:] }
            o.count("bind mount of the mail root")
        }
    }

    func adopt(_ part: Observation, into o: inout Observation) {
        o.volumes = part.volumes
        o.mounts = part.mounts
        o.maildirs = part.maildirs
        o.unsealed = part.unsealed
    }

    func drift(of m: MailboxRecord, _ o: Observation, _ c: Config) -> [ReconcileItem] {
        var items: [ReconcileItem] = []
        func add(_ k: ReconcileItem.Kind, _ comp: ComponentName, _ a: String, _ r: String, destructive: Bool = false) {
            items.append(ReconcileItem(k, m.uid, comp, a, r, destructive: destructive))
        }
        let mp = Self.mountPoint(m.uid, c)
        guard let v = o.volumes[m.uid] else {
            let size = m.size ?? (try? ByteSize.parse(c.storage.defaultSize)) ?? 0
            add(
                .create, .volume, "create an empty \(ByteSize.format(size)) volume", "the mailbox has no volume",
                destructive: true)
            return items
        }
        if !v.mounted {
            add(.repair, .volume, "mount \(v.source) at \(mp)", "the volume is not mounted")
        } else {
            if let fs = o.mounts[mp], fs != "ext4" {
                add(.attention, .volume, "none (never reformatted): fix by hand", "it is mounted as \(fs), not ext4")
            }
            let tree = o.maildirs[m.uid] ?? [:]
            let blocked = MaildirTree.blocked(tree)
            if !blocked.isEmpty {
                add(
                    .attention, .maildir, "none: an admin must look",
                    "\(blocked.map { "\(mp)/\($0)" }.joined(separator: ", "))"
                        + " is not a directory (a symlink or a file); it is never followed"
                )
            } else {
                let missing = MaildirTree.directories.filter { tree[$0] == .missing }
                let owners = ([""] + MaildirTree.directories).filter { tree[$0] == .wrongOwner }
                if !missing.isEmpty {
                    add(.repair, .maildir, "create \(missing.joined(separator: ", "))", "missing Maildir directories")
                }
                if !owners.isEmpty {
                    add(
                        .repair, .maildir,
                        """
                        set owner and mode of \
                        \(owners.map { $0.isEmpty ? "the volume root" : $0 }.joined(separator: ", "))
                        """,
                        "the volume root must be root's (0711), the Maildir the owner's (0700)")
                }
            }
        }
        if !v.persistent {
            add(.repair, .volume, "add the fstab entry", "it would not be mounted at boot before the container engine")
        }
        if let hidden = o.unsealed[m.uid] {
            if hidden {
                add(
                    .attention, .volume, "none: an admin must look (unmount the volume and move them away)",
                    "files lie in \(mp) under the mounted volume (made while it was not mounted)")
            } else {
                add(
                    .repair, .volume, Self.sealAction,
                    "made before mount points were sealed:"
                        + " while the volume is not mounted a Maildir could be made there"
                )
            }
        }
        if let want = m.size, v.size < want {
            let maxSize = (try? ByteSize.parse(c.storage.maxSize)) ?? UInt64.max
            if want > maxSize {
                add(
                    .attention, .volume, "none: not grown",
                    "the directory asks for \(ByteSize.format(want)), above [storage] max_size \(c.storage.maxSize)")
            } else {
                add(
                    .repair, .volume, "grow to \(ByteSize.format(want))",
                    "it is \(ByteSize.format(v.size)), the directory says \(ByteSize.format(want))")
            }
        }
        return items
    }

    func orphans(_ o: Observation, wanted: Set<String>, _ c: Config) -> [ReconcileItem] {
        o.volumes.sorted { $0.key < $1.key }.filter { !wanted.contains($0.key) }.map { uid, v in
            ReconcileItem(
                .orphan, uid, .volume, "move \(v.source) to the quarantine", "no mailbox in the directory",
                destructive: true)
        }
    }

    static let sealAction = "seal the mount point under the volume (mode 000, immutable)"

    /// Mount points under mounted volumes, sealed in one pass (one bind of the mail root).
    func repairHost(_ items: [ReconcileItem], _ host: Host, errors: inout [String]) {
        let toSeal = items.filter { $0.component == .volume && $0.action == Self.sealAction }.map(\.uid)
        guard !toSeal.isEmpty else { return }
        do { _ = try host.volumes().sealUnderneath(toSeal) } catch { errors.append("seal: \(SemailError.text(error))") }
    }

    /// A mounted volume smaller than the directory asks is grown before the transaction.
    func prepare(_ m: MailboxRecord, _ o: Observation, _ host: Host) throws {
        if let want = m.size, let v = o.volumes[m.uid], v.size < want, v.mounted {
            _ = try host.volumes().resize(uid: m.uid, to: want, owner: try host.mailOwner(m.uid))
        }
    }

    var prunesLast: Bool { true }
    func prune(_ item: ReconcileItem, _ host: Host) throws -> Pruned? {
        guard item.component == .volume else { return nil }
        return .quarantined(try host.volumes().quarantine(uid: item.uid, days: host.config.state.quarantineDays))
    }

    func status(_ s: inout MailboxStatus, _ o: Observation, _ c: Config) { s.volume = o.volumes[s.uid] }

    func check(_ config: Config) -> [ConfigReport.Component] {
        config.sections.contains("storage") ? [Self.checkStorage(config)] : []
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

    static func byUID(_ list: [VolumeState]) -> [String: VolumeState] {
        Dictionary(list.map { ($0.uid, $0) }, uniquingKeysWith: { a, _ in a })
    }
    static func mountPoint(_ uid: String, _ c: Config) -> String { "\(c.storage.mailRoot)/\(uid)" }
    /// Who owns M's Maildir: `[storage] owner`, or the entry's ids.
    static func owner(_ m: MailboxRecord, _ c: Config) -> MailOwner? {
        (try? MailOwner.fixed(c.storage.owner)) ?? MailOwner.posix(uidNumber: m.uidNumber, gidNumber: m.gidNumber)
    }

    /// tar.gz of the volume's Maildir into an unnamed file (O_TMPFILE, mode
    /// 0600) in FILE's directory, read back whole, then given its name with
    /// a link that never replaces anything: no temporary name exists for
    /// anyone to plant a link at. Holes are stored as holes (`--sparse`), so
    /// the work is bounded by the blocks the mailbox really uses.
    static func archive(_ host: Host, uid: String, to file: String) throws {
        let mp = try host.volumes().mountPoint(uid)
        let tree = MaildirTree.inspect(mp, owner: nil)
        guard tree["Maildir"] == .ok else {
            throw SemailError(
                "nothing to archive for \(uid)", why: "\(mp)/Maildir is not a directory (is the volume mounted?)",
                status: .failure)
        }
        let dir = (file as NSString).deletingLastPathComponent
        let fd = semail_tmpfile(dir)
        guard fd >= 0 else {
            throw SemailError(
                "cannot archive \(uid)'s Maildir to \(file)",
                why: "cannot create a file in \(dir): \(SystemState.errnoText())",
                hint: "nothing was destroyed; fix the path", status: .ioError)
        }
        defer { close(fd) }
        do {
            try host.runner.run(
                ["tar", "--sparse", "--one-file-system", "-C", mp, "-czf", "-", "Maildir"], stdoutFD: fd)
            guard fsync(fd) == 0 else {
                throw SemailError("cannot write \(file)", why: SystemState.errnoText(), status: .ioError)
            }
            lseek(fd, 0, SEEK_SET)
            try host.runner.run(["tar", "-tzf", "-"], stdinFD: fd)
        } catch let e as ProcessError {
            throw SemailError(
                "cannot archive \(uid)'s Maildir to \(file)", why: e.description,
                hint: "nothing was destroyed; fix the path or free space", status: .ioError)
        }
        guard linkat(AT_FDCWD, "/proc/self/fd/\(fd)", AT_FDCWD, file, AT_SYMLINK_FOLLOW) == 0 else {
            let e = errno
            throw SemailError(
                "cannot write \(file)", why: SystemState.errnoText(e),
                hint: e == EEXIST
                    ? "something appeared at that name meanwhile; nothing was destroyed: choose another name" : nil,
                status: .ioError)
        }
        AtomicFile.syncDirectory(dir)
    }

    /// Whether FILE is an archive this tool made: a regular file of root's
    /// (a name someone else planted does not count as done).
    static func isOurArchive(_ file: String) -> Bool {
        var st = stat()
        return lstat(file, &st) == 0 && (st.st_mode & S_IFMT) == S_IFREG && st.st_uid == geteuid()
            && st.st_mode & 0o077 == 0
    }
}

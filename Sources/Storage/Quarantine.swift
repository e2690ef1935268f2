import Core
import Foundation

/// A volume set aside by `reconcile --prune` instead of being wiped: kept
/// under `<state>/quarantine/<id>/` for `[state] quarantine_days`.
public struct QuarantineEntry: Sendable, Codable, Equatable {
    public var id: String
    public var uid: String
    public var backend: String
    public var place: String
    public var size: UInt64
    public var quarantinedAt: Date
    public var expires: Date
}

extension VolumeManager {
    public var quarantineDir: String { "\(stateDir)/quarantine" }

    /// Unmounts UID's volume, drops its fstab entry and moves it into the
    /// quarantine. Nothing is wiped. Its quarantine directory is taken
    /// first and exclusively, so two quarantines of one uid in the same
    /// second get two ids and neither volume replaces the other.
    public func quarantine(uid: String, days: Int) throws -> QuarantineEntry {
        let uid = try Validate.uid(uid)
        let lock = try lock()
        defer { lock.release() }
        guard let vol = try backend.observeAll().first(where: { $0.uid == uid }) else {
            throw SemailError("no volume for \(uid)", why: "nothing to quarantine", status: .failure)
        }
        let now = Date()
        let (id, dir) = try reserveQuarantineDir(uid: uid, now: now)
        do {
            let mp = mountPoint(uid)
            if let m = SystemState.mounts().last(where: { $0.mountPoint == mp }) {
                guard m.source == vol.device else {
                    throw SemailError(
                        "refusing to unmount \(mp)", why: "\(m.source) is mounted there, not UID's volume",
                        status: .failure)
                }
                let e = backend.unmount(mp)
                guard e == 0 else {
                    throw SemailError(
                        "cannot unmount \(mp)", why: SystemState.errnoText(e),
                        hint: e == EBUSY ? "stop what uses it (its container?) first" : nil, status: .failure)
                }
            }
            if try fstab.read().contains(where: { $0.mountPoint == mp }) { try fstab.set(mountPoint: mp, to: nil) }
            if !SystemState.mounts().contains(where: { $0.mountPoint == mp }) { SystemState.unsealMountPoint(mp) }
            rmdir(mp)
            let again = "the volume is intact, only unmounted: `semailctl volume create \(uid)` mounts it again"
            let place: String
            do {
                try Fault.check("quarantine.move")
                place = try backend.quarantine(uid: uid, id: id, dir: dir)
            } catch {
                throw SemailError(
                    "cannot move \(uid)'s volume to the quarantine", why: "\(error)", hint: again, status: .failure)
            }
            let e = QuarantineEntry(
                id: id, uid: uid, backend: backend.kind, place: place, size: vol.size, quarantinedAt: now,
                expires: now.addingTimeInterval(Double(days) * 86400))
            let enc = JSONEncoder(); enc.dateEncodingStrategy = .iso8601;
            enc.outputFormatting = [.prettyPrinted, .sortedKeys]
            do {
                try Fault.check("quarantine.record")
                try AtomicFile.write("\(dir)/entry.json", Array(try enc.encode(e)))
            } catch {
                // Without its entry the volume would be invisible to `quarantine list`: put it back.
                do { try backend.restore(from: place, uid: uid) } catch {
                    throw SemailError(
                        "cannot record the quarantine of \(uid)'s volume", why: "\(error)",
                        hint: "the volume is kept at \(place)", status: .ioError)
                }
                throw SemailError(
                    "cannot record the quarantine of \(uid)'s volume", why: "\(error)", hint: again, status: .ioError)
            }
            return e
        } catch {
            rmdir(dir)  // only when empty: a volume moved there stays
            throw error
        }
    }

    /// Creates `<quarantine>/<uid>-<seconds>[-N]` exclusively.
    private func reserveQuarantineDir(uid: String, now: Date) throws -> (id: String, dir: String) {
        try Trust.stateDirectory(stateDir)
        try Trust.stateDirectory(quarantineDir)
        let base = "\(uid)-\(Int(now.timeIntervalSince1970))"
        for n in 1...100 {
            let id = n == 1 ? base : "\(base)-\(n)"
            let dir = "\(quarantineDir)/\(id)"
            if mkdir(dir, 0o700) == 0 { return (id, dir) }
            guard errno == EEXIST else {
                throw SemailError("cannot create \(dir)", why: SystemState.errnoText(), status: .ioError)
            }
        }
        throw SemailError(
            "cannot create a quarantine directory for \(uid)", why: "\(base) to \(base)-100 all exist", status: .ioError
        )
    }

    /// The quarantined volumes. An entry is believed only when root wrote
    /// it and it names the place its own id stands for: `purge` destroys
    /// that place.
    public func quarantined() throws -> [QuarantineEntry] {
        guard FileManager.default.fileExists(atPath: quarantineDir) else { return [] }
        try Trust.stateDirectory(stateDir)
        try Trust.stateDirectory(quarantineDir)
        let dec = JSONDecoder(); dec.dateDecodingStrategy = JSONDates.decoding
        return try ((try? FileManager.default.contentsOfDirectory(atPath: quarantineDir)) ?? []).sorted().compactMap {
            d in
            let file = "\(quarantineDir)/\(d)/entry.json"
            var st = stat()
            guard lstat(file, &st) == 0 else { return nil }  // being made, or being removed
            let e = try dec.decode(QuarantineEntry.self, from: Data(try Trust.read(file, what: "the quarantine entry")))
            guard e.id == d, (try? Validate.uid(e.uid)) != nil, e.backend == backend.kind,
                e.place == backend.quarantinePlace(id: e.id, dir: "\(quarantineDir)/\(d)")
            else {
                throw SemailError(
                    "refusing the quarantine entry \(file)",
                    why: "it does not describe the volume kept under its own id",
                    hint: "an admin must look at it; move it out of \(quarantineDir)", status: .dataError)
            }
            return e
        }
    }

    public func entry(_ id: String) throws -> QuarantineEntry {
        guard let e = try quarantined().first(where: { $0.id == id }) else {
            throw SemailError(
                "no quarantined volume \(Validate.quoted(id))", why: "not under \(quarantineDir)",
                hint: "see `semailctl quarantine list`", status: .failure)
        }
        return e
    }

    /// Puts a quarantined volume back as its user's and mounts it again
    /// (its ext4 is reused, never formatted).
    public func restore(id: String, owner: MailOwner) throws -> CreateResult {
        let e = try entry(id)
        let lock = try lock()
        defer { lock.release() }
        try backend.restore(from: e.place, uid: e.uid)
        // The volume is its user's again: the entry no longer says where it is.
        try? FileManager.default.removeItem(atPath: "\(quarantineDir)/\(id)")
        do { return try ensure(uid: e.uid, size: e.size, owner: owner, force: false) } catch {
            throw SemailError(
                "\(e.uid)'s volume is back but not mounted", why: "\(error)",
                hint: "fix the cause, then `semailctl volume create \(e.uid)` mounts it (never formats it)",
                status: .failure)
        }
    }

    /// Destroys quarantined volumes: the given ids, or every expired one.
    public func purge(ids: [String], now: Date = Date()) throws -> [QuarantineEntry] {
        let targets = ids.isEmpty ? try quarantined().filter { $0.expires <= now } : try ids.map { try entry($0) }
        for e in targets {
            try backend.purge(e.place)
            try FileManager.default.removeItem(atPath: "\(quarantineDir)/\(e.id)")
        }
        return targets
    }
}

import Core
import Foundation

extension ContainerService {
    /// Stops UID's container and keeps it stopped (a suspended mailbox):
    /// its restart policy becomes "no" first, so neither the engine (on a
    /// crash, or when the daemon restarts) nor anything else brings it back,
    /// then it stops. The volume stays mounted and nothing is removed.
    /// Idempotent; a missing container is left missing.
    public func keepStopped(uid: String) throws {
        let uid = try Validate.uid(uid)
        guard let c = try client.inspect(container: ContainerManager.name(uid)) else { return }
        guard c.Config.Labels?[SemailLabel.uid] == uid else {
            throw SemailError(
                "refusing to stop \(ContainerManager.name(uid))",
                why: "it has no semail.uid=\(uid) label, so semailctl did not make it",
                hint: "stop it yourself if it is yours to stop", status: .failure)
        }
        do {
            try Fault.check("container.keep-stopped")
            if c.HostConfig.RestartPolicy?.Name != "no" { try client.setRestartPolicy(container: c.Id, "no") }
            if c.State.Running || c.State.Restarting == true { try client.stop(container: c.Id) }
        } catch let e as DockerError {
            throw SemailError(
                "cannot stop the container of \(uid)", why: e.description,
                hint: "see `semailctl container show \(uid)`, then run the command again", status: .failure)
        }
    }

    /// Whether UID's container is missing, or stopped with restart policy "no".
    public func isKeptStopped(uid: String) throws -> Bool {
        let uid = try Validate.uid(uid)
        guard let c = try client.inspect(container: ContainerManager.name(uid)),
            c.Config.Labels?[SemailLabel.uid] == uid
        else { return true }
        return !c.State.Running && c.State.Restarting != true && c.HostConfig.RestartPolicy?.Name == "no"
    }
}

extension ContainerService {
    /// Undoes `keepStopped`: the restart policy back to "unless-stopped",
    /// and the container started (when it exists).
    public func startKept(uid: String) throws {
        let uid = try Validate.uid(uid)
        guard let c = try client.inspect(container: ContainerManager.name(uid)),
            c.Config.Labels?[SemailLabel.uid] == uid
        else { return }
        do {
            if c.HostConfig.RestartPolicy?.Name != "unless-stopped" {
                try client.setRestartPolicy(container: c.Id, "unless-stopped")
            }
            if !c.State.Running { try client.start(container: c.Id) }
        } catch let e as DockerError {
            throw SemailError(
                "cannot start the container of \(uid) again", why: e.description,
                hint: "see `semailctl container show \(uid)`", status: .failure)
        }
    }
}

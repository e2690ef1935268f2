import Containers
import Storage

extension ContainerState {
    /// Marks a container that is up while VOLUME (its mailbox's) is not mounted.
    public func checked(against volume: VolumeState?) -> ContainerState {
        var c = self
        c.volumeMounted = isUp ? (volume?.mounted ?? false) : nil
        return c
    }
}

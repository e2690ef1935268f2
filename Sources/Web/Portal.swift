import Hummingbird

/// The self-service portal (placeholder while it is built).
public enum Portal {
    public static func main() async throws {}
}

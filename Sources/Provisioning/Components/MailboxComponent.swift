import Core
import Foundation
import Storage

/// What a `mailbox create` is making, for the components' steps.
struct CreateRequest: Sendable {
    var uid: String
    /// Normalised (`local@domain`).
    var address: String
    var local: String
    var domain: String
    var size: UInt64
    var requester: Requester
    /// A directory request (see `Mailboxes.createPipeline`).
    var request: Bool
    var requestSize: UInt64?
}

/// What a `mailbox delete` is removing.
struct DeleteRequest: Sendable {
    var uid: String
    /// As the directory holds it.
    var address: String
    /// Normalised (`local@domain`).
    var normalized: String
    var domain: String
    var archive: String?
}

/// What `Observation` is gathered for: reconcile sees everything; `mailbox
/// list` every mailbox, `mailbox show` one, without what only reconcile plans from.
enum ObserveScope: Sendable, Equatable {
    case reconcile
    case list
    case show(String)
}

/// What a reconcile prune did with an orphan.
enum Pruned {
    case removed(String)
    case quarantined(QuarantineEntry)
}

/// One part of a mailbox (its directory entry, volume, container, DNS
/// record, place in the address map): everything about it in one type.
/// `Mailboxes` composes the steps of create and delete, `Reconciler` the
/// observation, drift and repairs, `mailbox list/show` the status and
/// `config check` the checks, each from `MailboxComponents.all`.
protocol MailboxComponent: Sendable {
    /// The steps it contributes to `mailbox create` (ordered by `StepName.createOrder`).
    func createSteps(_ r: CreateRequest, _ mb: Mailboxes) -> [Step]
    /// The steps it contributes to `mailbox delete` (ordered by `StepName.deleteOrder`).
    func deleteSteps(_ r: DeleteRequest, _ mb: Mailboxes) -> [Step]

    /// Adds what it sees of every mailbox to O, in one call per external
    /// system (never one per mailbox).
    func observe(_ o: inout Observation, _ scope: ObserveScope, _ mb: Mailboxes) throws
    /// Copies the fields its `observe` fills from PART into O: a reconcile
    /// observes with every component after the directory at once, each in
    /// its own copy (`Reconciler.observe`).
    func adopt(_ part: Observation, into o: inout Observation)

    /// Drift of the host as a whole, planned before the mailboxes (pure).
    func hostDrift(_ o: Observation, _ c: Config) -> [ReconcileItem]
    /// Drift of one wanted mailbox (pure).
    func drift(of m: MailboxRecord, _ o: Observation, _ c: Config) -> [ReconcileItem]
    /// Drift of what all mailboxes share, planned after them (pure).
    func sharedDrift(_ o: Observation, _ c: Config) -> [ReconcileItem]
    /// What it has that no mailbox of the directory wants (pure).
    func orphans(_ o: Observation, wanted: Set<String>, _ c: Config) -> [ReconcileItem]

    /// Repairs of the host as a whole, before the mailboxes' transactions.
    func repairHost(_ items: [ReconcileItem], _ host: Host, errors: inout [String])
    /// What must happen before M's transaction repairs it.
    func prepare(_ m: MailboxRecord, _ o: Observation, _ host: Host) throws
    /// Repairs of what all mailboxes share, after their transactions.
    func repairShared(_ items: [ReconcileItem], _ mb: Mailboxes, errors: inout [String])
    /// Removes an orphan it planned (`--prune`); nil: not one of its own.
    func prune(_ item: ReconcileItem, _ host: Host) throws -> Pruned?
    /// Whether its orphans go after every other component's (a volume
    /// outlives the container that mounts it).
    var prunesLast: Bool { get }

    /// Its part of `mailbox list/show`.
    func status(_ s: inout MailboxStatus, _ o: Observation, _ c: Config)
    /// Its live checks in `config check`.
    func check(_ config: Config) -> [ConfigReport.Component]
}

extension MailboxComponent {
    func createSteps(_ r: CreateRequest, _ mb: Mailboxes) -> [Step] { [] }
    func deleteSteps(_ r: DeleteRequest, _ mb: Mailboxes) -> [Step] { [] }
    func observe(_ o: inout Observation, _ scope: ObserveScope, _ mb: Mailboxes) throws {}
    func hostDrift(_ o: Observation, _ c: Config) -> [ReconcileItem] { [] }
    func drift(of m: MailboxRecord, _ o: Observation, _ c: Config) -> [ReconcileItem] { [] }
    func sharedDrift(_ o: Observation, _ c: Config) -> [ReconcileItem] { [] }
    func orphans(_ o: Observation, wanted: Set<String>, _ c: Config) -> [ReconcileItem] { [] }
    func repairHost(_ items: [ReconcileItem], _ host: Host, errors: inout [String]) {}
    func prepare(_ m: MailboxRecord, _ o: Observation, _ host: Host) throws {}
    func repairShared(_ items: [ReconcileItem], _ mb: Mailboxes, errors: inout [String]) {}
    func prune(_ item: ReconcileItem, _ host: Host) throws -> Pruned? { nil }
    var prunesLast: Bool { false }
    func status(_ s: inout MailboxStatus, _ o: Observation, _ c: Config) {}
    func check(_ config: Config) -> [ConfigReport.Component] { [] }
}

/// The list of components. Order matters where they meet: observation
/// (the directory's decision first), the plan's lines, `config check`.
enum MailboxComponents {
    static let all: [any MailboxComponent] = [
        DirectoryComponent(), VolumeComponent(), ContainerComponent(), DNSComponent(), AddressMapComponent()
    ]

    /// The components' steps in ORDER (a step not in it is a programming error).
    static func steps(_ order: [StepName], _ contributed: [Step]) -> [Step] {
        func index(_ s: Step) -> Int {
            guard let n = StepName(rawValue: s.name), let i = order.firstIndex(of: n) else {
                preconditionFailure("step \(s.name) has no place in \(order)")
            }
            return i
        }
        return contributed.enumerated().sorted { (index($0.element), $0.offset) < (index($1.element), $1.offset) }.map(
            \.element)
    }
}

extension ReconcileItem {
    init(
        _ kind: Kind, _ uid: String, _ component: ComponentName, _ action: String, _ reason: String,
        destructive: Bool = false, target: String? = nil
    ) {
        self.init(
            kind: kind, uid: uid, component: component, target: target ?? uid, action: action, reason: reason,
            destructive: destructive)
    }
}

extension SemailError {
    /// How a failure reads in a report's errors.
    static func text(_ error: Error) -> String { (error as? SemailError)?.description ?? "\(error)" }
}

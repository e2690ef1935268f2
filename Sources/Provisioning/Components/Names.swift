import Foundation

/// The steps of the mailbox pipelines. The raw values are what the journal,
/// `--dry-run` and `--json` print: they never change.
public enum StepName: String, Sendable, Codable, CaseIterable {
    case directoryCheck = "directory-check"
    case request
    case stopDelivery = "stop-delivery"
    case volume
    case archive
    case dockerfile
    case container
    case dns
    case directory
    case addressMap = "address-map"
    case address

    /// The order of `mailbox create`'s steps (each component contributes its own).
    static let createOrder: [StepName] = [
        .directoryCheck, .request, .volume, .dockerfile, .container, .dns, .directory, .addressMap
    ]
    /// The order of `mailbox delete`'s steps: delivery stops first, the
    /// volume is the point of no return, the fixed address goes last.
    static let deleteOrder: [StepName] = [
        .directoryCheck, .stopDelivery, .container, .archive, .volume, .dns, .directory,
        .addressMap, .dockerfile, .address
    ]
}

/// The transactions the mailbox pipelines journal (`start` records' kind).
public enum PipelineKind: String, Sendable, Codable {
    case create = "mailbox.create"
    case delete = "mailbox.delete"
    case suspend = "mailbox.suspend"
    case resume = "mailbox.resume"
}

/// The component a reconcile item is about (`ReconcileItem.component`).
public enum ComponentName: String, Sendable, Codable, CaseIterable {
    /// A directory request whose provisioning failed (retried as a whole).
    case mailbox
    case volume
    case maildir
    case container
    case dockerfile
    case network
    case dns
    case addressMap = "address-map"
}

/// What a step observed before applying, as the journal stores it
/// (`before`: `existed`/`hadMail` = "1"/"0"); nil when not recorded (a
/// step begun by `recover` records nothing).
public struct Before: Sendable, Equatable {
    public var existed: Bool?
    public var hadMail: Bool?
    public init(existed: Bool? = nil, hadMail: Bool? = nil) {
        self.existed = existed
        self.hadMail = hadMail
    }

    enum Key: String { case existed, hadMail }

    public init(record: [String: String]) {
        func flag(_ k: Key) -> Bool? { record[k.rawValue].flatMap { $0 == "1" ? true : $0 == "0" ? false : nil } }
        existed = flag(.existed)
        hadMail = flag(.hadMail)
    }
    public var record: [String: String] {
        var d: [String: String] = [:]
        if let existed { d[Key.existed.rawValue] = existed ? "1" : "0" }
        if let hadMail { d[Key.hadMail.rawValue] = hadMail ? "1" : "0" }
        return d
    }
}

extension Step {
    /// A mailbox step: named by the enum, with a typed observation.
    init(
        _ name: StepName, why: String, pointOfNoReturn: Bool = false,
        check: @escaping @Sendable () throws -> Bool = { false },
        observe: (@Sendable () throws -> Before)? = nil,
        apply: @escaping @Sendable () throws -> Void,
        undo: (@Sendable (Before) throws -> Void)? = nil
    ) {
        var undoRecord: (@Sendable ([String: String]) throws -> Void)?
        if let undo { undoRecord = { before in try undo(Before(record: before)) } }
        let observeRecord: @Sendable () throws -> [String: String] = { try observe?().record ?? [:] }
        self.init(
            name.rawValue, why: why, pointOfNoReturn: pointOfNoReturn, check: check,
            observe: observeRecord, apply: apply, undo: undoRecord)
    }
}

extension PipelineReport {
    /// Whether the run applied STEP.
    public func applied(_ step: StepName) -> Bool { applied.contains(step.rawValue) }
}

import LDAPClient

extension DirectorySetup {
    /// How a schema loaded by an older semailctl becomes OURS: every
    /// attribute type it defines is one of ours, unchanged (new ones are
    /// added), and its object classes are ours by name (their definitions
    /// are replaced: a class only gains MAY attributes). nil when it is
    /// something else (a conflict the admin resolves).
    static func schemaUpgrade(have: LDAPEntry, ours: LDAPEntry) -> (mods: [LDAPModification], what: String)? {
        let (types, classes) = ("olcAttributeTypes", "olcObjectClasses")
        let haveTypes = Set(have.strings(types).map(canonical))
        let ourTypes = ours.strings(types)
        guard haveTypes.isSubset(of: Set(ourTypes.map(canonical))) else { return nil }
        let haveClasses = have.strings(classes).map(canonical)
        let ourClasses = ours.strings(classes).map(canonical)
        guard Set(haveClasses.flatMap(names)).isSubset(of: Set(ourClasses.flatMap(names))) else { return nil }
        let added = ourTypes.filter { !haveTypes.contains(canonical($0)) }
        var mods: [LDAPModification] = []
        var what: [String] = []
        if !added.isEmpty {
            mods.append(.add(types, added))
            what.append("add \(added.flatMap(names).joined(separator: ", "))")
        }
        if Set(haveClasses) != Set(ourClasses) {
            mods.append(.replace(classes, ours.strings(classes)))
            what.append("extend \(ourClasses.flatMap(names).joined(separator: ", "))")
        }
        return mods.isEmpty ? nil : (mods, what.joined(separator: "; "))
    }
}

import Core
import Foundation
@testable import Storage
import Testing

/// The pure pieces of the storage backends: what blkid's answer means, the
/// lvm report lines read from liblvm2cmd's log callback, the words allowed
/// into `lvm2_run`'s one command line.
@Suite struct Ext4DecisionTests {
    func decide(_ status: Int32, _ export: String, force: Bool = false) -> Ext4OnBlockDevice.Decision {
        Ext4OnBlockDevice.decide(status: status, export: export, force: force)
    }

    @Test func formatsOnlyADeviceWithoutSignature() {
        #expect(decide(2, "") == .format)
        #expect(decide(0, "DEVNAME=/dev/loop3\nUUID=1234\nTYPE=ext4\nUSAGE=filesystem\n") == .reuse)
        #expect(decide(0, "DEVNAME=/dev/loop3\nTYPE=swap\n") == .refuse("swap"))
        #expect(decide(0, "DEVNAME=/dev/loop3\nPTTYPE=dos\n") == .refuse("dos"))
        #expect(decide(0, "DEVNAME=/dev/loop3\n") == .refuse("an unknown signature"))
        #expect(decide(4, "") == .probeFailed)
        #expect(decide(8, "TYPE=ext4\n") == .probeFailed)
    }

    @Test func forceFormatsAnythingButExt4() {
        #expect(decide(0, "TYPE=swap\n", force: true) == .format)
        #expect(decide(0, "TYPE=ext4\n", force: true) == .reuse)
        #expect(decide(4, "", force: true) == .format)
        // A value holding "=" is kept whole; the first TYPE line wins.
        #expect(decide(0, "TYPE=xfs\nTYPE=ext4\nLABEL=a=b\n") == .refuse("xfs"))
    }

    @Test func labelIsCutToExt4sSixteenBytes() {
        #expect(Ext4OnBlockDevice.label("alice") == "sm-alice")
        #expect(Ext4OnBlockDevice.label("averyveryverylonguid") == "sm-averyveryvery")
        #expect(Ext4OnBlockDevice.label("averyveryverylonguid").utf8.count == 16)
    }
}

@Suite struct LVMReportTests {
    @Test func rowsAreToldFromWarnings() {
        let lines = [
            "  WARNING: PV /dev/vdb in VG mvg is using an old PV header, modify the VG to update.",
            "  LVM2_LV_NAME='Volalice' LVM2_LV_SIZE='67108864' LVM2_LV_PATH='/dev/mvg/Volalice' "
                + "LVM2_LV_ACTIVE='active'",
            "  LVM2_LV_NAME='Qbob1700000000' LVM2_LV_SIZE='33554432' LVM2_LV_PATH='' LVM2_LV_ACTIVE=''",
            "  Reading all physical volumes.  This may take a while..."
        ]
        let rows = LVMReport.rows(lines)
        #expect(rows.count == 2)
        #expect(
            rows[0] == [
                "LV_NAME": "Volalice", "LV_SIZE": "67108864", "LV_PATH": "/dev/mvg/Volalice",
                "LV_ACTIVE": "active"
            ])
        #expect(rows[1]["LV_PATH"] == "" && rows[1]["LV_ACTIVE"] == "")
    }

    @Test func quotedValuesWithBlanksAndEscapes() {
        #expect(
            LVMReport.fields("LVM2_A='x y' LVM2_B='it\\'s' LVM2_C=plain")
                == ["A": "x y", "B": "it's", "C": "plain"])
        #expect(LVMReport.fields("LVM2_A='unterminated") == nil)
        #expect(LVMReport.fields("LVM2_A='1' junk") == nil)
        #expect(LVMReport.fields("") == [:])
    }

    @Test func callbackLinesAreSortedByLevel() {
        let out = LVMLibrary.output(
            status: 5,
            [
                (4, "  LVM2_VG_NAME='mvg'"), (3, "Volume group \"x\" not found"),
                (2, "fatal"), (4, "WARNING: y")
            ])
        #expect(out.lines == ["  LVM2_VG_NAME='mvg'", "WARNING: y"])
        #expect(out.errors == ["Volume group \"x\" not found", "fatal"])
    }

    @Test func anErrorSaysTheCommandAndWhatLVMSaid() {
        let errors = ["  Volume group \"mvg\" not found", "  Cannot process volume group mvg"]
        let e = LVMError(command: ["lvs", "mvg"], output: .init(status: 5, lines: ["WARNING: w"], errors: errors))
        #expect(
            e.description == "`lvm lvs mvg` failed (processing failed):\n    Volume group \"mvg\" not found\n"
                + "    Cannot process volume group mvg")
        // No error line: the output lines say what happened.
        let said = ["  Please specify a logical volume size."]
        let w = LVMError(command: ["lvcreate"], output: .init(status: 3, lines: said, errors: []))
        #expect(
            w.description == "`lvm lvcreate` failed (invalid parameters):\n    Please specify a logical volume size.")
    }
}

@Suite struct LVMCommandLineTests {
    /// lvm2_run splits its one line at blanks and quotes and stops at `#`:
    /// no word may change how it is split.
    @Test func refusesWordsThatWouldSplitOtherwise() {
        for bad in ["", "a b", "a\tb", "a\nb", "'quoted", "\"quoted", "#comment", "vol\u{7F}", "véro", "a\u{0}b"] {
            #expect(throws: SemailError.self, "\(bad.debugDescription)") { try LVMLibrary.check(["lvs", bad]) }
        }
        #expect(throws: Error.self) { try LVMLibrary.check([]) }
    }

    @Test func acceptsTheWordsTheBackendBuilds() throws {
        try LVMLibrary.check(["lvcreate", "--yes", "--wipesignatures", "y", "-n", "Volalice", "-L", "67108864b", "mvg"])
        try LVMLibrary.check([
            "lvs", "--noheadings", "--nameprefixes", "--units", "b", "--nosuffix", "-o",
            "lv_name,lv_size,lv_path,lv_active", "mvg"
        ])
        try LVMLibrary.check(["lvrename", "mvg", "Volalice", "Qalice1700000000", "vg.x+y_z-1/Volbob"])
    }

    @Test func volumeGroupNamesAreChecked() throws {
        for bad in ["", "-vg", "my vg", "vg'", "vg#", String(repeating: "v", count: 65), "vé"] {
            #expect(throws: SemailError.self, "\(bad.debugDescription)") { try LVMBackend.checkVG(bad) }
        }
        try LVMBackend.checkVG("mvg")
        try LVMBackend.checkVG("vg.x+y_z-1")
    }

    /// The quarantine's LV name keeps letters and digits of the id only.
    @Test func quarantinePlaceIsAPlainName() {
        let b = LVMBackend(vg: "mvg")
        #expect(b.quarantinePlace(id: "alice-1700000000-2", dir: "/x") == "mvg/Qalice17000000002")
        #expect(b.fstab(uid: "alice") == FstabSource(source: "/dev/mvg/Volalice", fsType: "ext4", options: ""))
        #expect(
            ImageBackend(dir: "/srv/img").fstab(uid: "alice")
                == FstabSource(source: "/srv/img/alice.img", fsType: "ext4", options: "loop"))
    }
}

/// liblvm2cmd for real in this process (no volume group needed): the log
/// callback captures the output, and an error comes back with lvm's words.
@Suite(.serialized) struct LVMLibraryTests {
    /// No device is scanned: every one is filtered out.
    let noDevices = "devices{global_filter=[\"r|.*|\"]}"

    @Test func outputComesThroughTheLogCallback() throws {
        let before = umask(0o022); defer { umask(before) }
        let out = try LVMLibrary.shared.run(["version"])
        #expect(out.status == 1)
        #expect(out.lines.contains { $0.contains("LVM version:") }, "\(out)")
        // The library's umask (077) is not left behind.
        let now = umask(0o022)
        #expect(now == 0o022)
    }

    @Test func aFailureCarriesLVMsMessage() throws {
        do {
            _ = try LVMLibrary.shared.run(["vgs", "--config", noDevices, "semailnosuchvg"])
            Issue.record("vgs of a missing volume group succeeded")
        } catch let e as LVMError {
            #expect(e.output.status == 5)
            #expect(e.description.contains("Volume group \"semailnosuchvg\" not found"), "\(e)")
            #expect(e.description.hasPrefix("`lvm vgs --config"), "\(e)")
        }
    }

    @Test func aMistypedCommandIsReported() throws {
        #expect(throws: LVMError.self) { try LVMLibrary.shared.run(["lvsx"]) }
    }
}

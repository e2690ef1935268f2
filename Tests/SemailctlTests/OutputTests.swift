import Foundation
import Logging
import Provisioning
@testable import Commands
@testable import Storage
import Synchronization
import Testing

/// Messages through swift-log keep the formats the README describes.
@Suite struct LogHandlerTests {
    let at = Date(timeIntervalSince1970: 1_764_950_400.25)

    @Test func onATerminal() {
        #expect(StderrLogHandler.format(.info, "created", stamped: false, now: at) == "created\n")
        #expect(StderrLogHandler.format(.warning, "slow", stamped: false, now: at) == "warning: slow\n")
        #expect(StderrLogHandler.format(.error, "failed", stamped: false, now: at) == "error: failed\n")
        // A long-running command's message carries its time on a terminal too.
        #expect(
            StderrLogHandler.format(.notice, "no drift", stamped: false, now: at)
                == "2025-12-05T16:00:00.250Z no drift\n")
    }

    @Test func offATerminalEveryLineHasItsPriorityAndTime() {
        let t = "2025-12-05T16:00:00.250Z"
        #expect(StderrLogHandler.format(.info, "a\nb", stamped: true, now: at) == "<6>\(t) a\n<6>\(t) b\n")
        #expect(StderrLogHandler.format(.warning, "slow", stamped: true, now: at) == "<4>\(t) warning: slow\n")
        #expect(StderrLogHandler.format(.error, "failed", stamped: true, now: at) == "<3>\(t) error: failed\n")
        #expect(StderrLogHandler.format(.notice, "no drift", stamped: true, now: at) == "<6>\(t) no drift\n")
        // Control characters are escaped: a value cannot forge a line.
        #expect(StderrLogHandler.format(.info, "x\u{1b}[2J", stamped: true, now: at) == "<6>\(t) x\\u{1b}[2J\n")
    }

    @Test func quietKeepsWarningsAndErrorsOnly() {
        let lines = Mutex<[String]>([])
        let logger = Logger(label: "test") { _ in
            var h = StderrLogHandler()
            h.stamped = false
            h.write = { s in lines.withLock { $0.append(s) } }
            return h
        }
        let out = Output(json: false, quiet: true, logger: logger)
        out.info("hidden"); out.note("hidden too"); out.warn("shown")
        out.reporter.info("hidden"); out.reporter.warn("reported")
        #expect(lines.withLock { $0 } == ["warning: shown\n", "warning: reported\n"])
        Output(json: false, quiet: false, logger: logger).reporter.info("made")
        #expect(lines.withLock { $0.last } == "made\n")
    }
}

/// Tables size their columns to their content: nothing is cut.
@Suite struct TableTests {
    let long = "u" + String(repeating: "0123456789", count: 4).dropLast()  // 40 characters

    @Test func aLongUidStaysWholeAndTheColumnsStayAligned() {
        #expect(long.count == 40)
        let t = TextTable.render([[long, "a@x.org", "rest"], ["bob", "b@x.org", "more"]], minimum: [16, 10])
        let lines = t.split(separator: "\n").map(String.init)
        #expect(lines[0] == "\(long) a@x.org    rest")
        #expect(lines[1] == "bob" + String(repeating: " ", count: 38) + "b@x.org    more")
    }

    @Test func shortValuesKeepTheirOldColumns() {
        #expect(
            TextTable.render([["alice", "5G", "mounted", "1M used"]], minimum: [16, 7, 12])
                == "alice            5G      mounted      1M used")
        #expect(
            TextTable.render([["drift", "bob", "volume", "create: missing"]], minimum: [7, 14, 11], indent: "  ")
                == "  drift   bob            volume      create: missing")
    }

    @Test func theCommandsTablesDoNotCut() throws {
        let json =
            #"{"uid":"\#(long)","backend":"image","source":"/v/\#(long).img","size":1073741824,"#
            + #""mountPoint":"/srv/mail/\#(long)","mounted":true,"fsSize":1000000000,"fsUsed":1048576,"#
            + #""persistent":true}"#
        let v = try JSONDecoder().decode(VolumeState.self, from: Data(json.utf8))
        let bob = json.replacingOccurrences(of: long, with: "bob")
        let short = try JSONDecoder().decode(VolumeState.self, from: Data(bob.utf8))
        let lines = VolumeState.table([v, short]).split(separator: "\n").map(String.init)
        #expect(lines[0].hasPrefix("\(long) 1G      mounted      1M used of "), "\(lines[0])")
        #expect(lines[0].hasSuffix("/srv/mail/\(long)"))
        #expect(lines[1].hasPrefix("bob" + String(repeating: " ", count: 38) + "1G      mounted"), "\(lines[1])")
    }
}

import Core
import Foundation

extension ConfigChecker {
    /// `[web]` (when the file has it): the portal's user exists and can read
    /// this file, and the programs it runs are there.
    static func checkWeb(_ config: Config, path: String) -> [ConfigReport.Component] {
        guard config.sections.contains("web") else { return [] }
        let w = config.web
        var problems: [String] = []
        var hints: [String] = []
        let semailctl =
            w.semailctl.isEmpty
            ? ((Config.executablePath() ?? "/usr/sbin/semailctl") as NSString).deletingLastPathComponent
                + "/semailctl" : w.semailctl
        for p in [semailctl, w.sudo] where !p.isEmpty && !FileManager.default.isExecutableFile(atPath: p) {
            problems.append("\(p) is not an executable file")
        }
        if let pw = getpwnam(w.user) {
            var st = stat()
            if stat(path, &st) == 0 {
                let readable =
                    st.st_uid == pw.pointee.pw_uid || (st.st_gid == pw.pointee.pw_gid && st.st_mode & 0o040 != 0)
                    || st.st_mode & 0o004 != 0
                if !readable {
                    problems.append("\(w.user) cannot read \(path)")
                    hints.append("chgrp \(w.user) \(path); chmod 640 \(path)")
                }
            }
        } else {
            problems.append("no system user \(w.user)")
            hints.append("useradd --system --user-group --no-create-home --shell /usr/sbin/nologin \(w.user)")
        }
        guard problems.isEmpty else {
            return [
                .init(
                    name: "web", ok: false, message: problems.joined(separator: "; "),
                    hint: hints.isEmpty ? nil : hints.joined(separator: "; "))
            ]
        }
        return [
            .init(name: "web", ok: true, message: "semail-web runs as \(w.user), on \(w.listen), with \(semailctl)")
        ]
    }
}

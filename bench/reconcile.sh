#!/usr/bin/env bash
# A no-op `reconcile` (nothing to change) at two sizes, N1 then N2
# mailboxes: its time and its external calls, counted by the tool itself
# (SEMAIL_TRACE_CALLS=1: processes spawned, Docker API requests, LDAP
# search requests) and reported by it (--json observeCalls). The calls must
# not grow with the mailbox count, and the run must take less than the
# tools an admin would run to look at the same state, each once: docker ps,
# ldapsearch, losetup --list, findmnt, named-checkzone (the zone read).
# The ratio (at N2) is printed last.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
bin=${SEMAILCTL:-$here/.build/debug/semailctl}
n1=${N1:-10}
n2=${N2:-100}
cache=${ROOTFS_CACHE:-/var/cache/semail-test/bookworm-ssh.tar}
. "$here/bench/lib.sh"
bench_start "$(mktemp -d /tmp/semail-bench-rec.XXXXXX)" /tmp/sbr-$$
bench_config 16M
python3 - "$n1" "$n2" "$work" <<'PY'
import sys
n1, n2, work = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
for name, lo, hi in (("first", 0, n1), ("second", n1, n2)):
    with open(f"{work}/{name}.ldif", "w") as f:
        for i in range(lo, hi):
            u = f"mb{i:04d}"
            f.write(f"dn: uid={u},ou=Personnes,dc=semail,dc=email\nobjectClass: inetOrgPerson\nobjectClass: posixAccount\n"
                    f"objectClass: semailUser\nuid: {u}\ncn: {u}\nsn: {u}\nuidNumber: {20000+i}\ngidNumber: {20000+i}\n"
                    f"homeDirectory: /home/{u}\nsemailMailbox: {u}@d{i % 20}.semail.email\nsemailVolumeSize: 16777216\n\n")
PY
reps=${REPS:-11}
# One size, after a warm run that takes the counts: the tool and the tools
# are timed turn about, REPS times each, and the medians compared (a busy
# machine then slows both alike). Prints
# "ms-tool ms-tools calls-traced calls-reported changes detail".
tools_once() {
  docker ps -a --filter label=semail.uid >/dev/null
  ldapsearch -x -LLL -H "$LDAP_URI" -D "$LDAP_ADMIN_DN" -y "$LDAP_SECRET" -b "ou=Personnes,dc=semail,dc=email" \
    -E pr=500/noprompt '(semailMailbox=*)' uid semailMailbox >/dev/null
  losetup --list >/dev/null
  findmnt >/dev/null
  named-checkzone -q semail.email "$ZONE_FILE" >/dev/null
}
measure() {
  SEMAIL_TRACE_CALLS=1 "$bin" reconcile --json > "$work/r.json" 2> "$work/trace"   # warm, and the counts
  local traced; traced=$(grep -o 'processes=.*' "$work/trace" | tail -1 | tr ' ' ',' || true)
  [ -n "$traced" ] || traced=not-traced
  : > "$work/times"
  for _ in $(seq 1 "$reps"); do
    local t0 t1 t2; t0=$(now); "$bin" reconcile --json > /dev/null; t1=$(now); tools_once; t2=$(now)
    echo "$t0 $t1 $t2" >> "$work/times"
  done
  python3 - "$work/times" "$traced" "$work/r.json" <<'PY'
import json, statistics, sys
rows = [list(map(float, l.split())) for l in open(sys.argv[1])]
tool = statistics.median((b - a) * 1000 for a, b, _ in rows)
tools = statistics.median((c - b) * 1000 for _, b, c in rows)
d = json.load(open(sys.argv[3]))
print(f"{tool:.1f}", f"{tools:.1f}", sys.argv[2], sum(d["observeCalls"].values()), len(d["items"]),
      json.dumps(d["observeCalls"], sort_keys=True).replace(" ", ""))
PY
}
echo "provisioning $n1 mailboxes (not timed)..." >&2
"$bin" import "$work/first.ldif" --quiet >/dev/null
read -r ms1 tools1 tr1 c1 i1 d1 < <(measure)
echo "provisioning $((n2 - n1)) more (not timed)..." >&2
"$bin" import "$work/second.ldif" --quiet >/dev/null
read -r ms2 tools2 tr2 c2 i2 d2 < <(measure)
python3 - "$n1" "$ms1" "$tr1" "$c1" "$i1" "$d1" "$tools1" "$n2" "$ms2" "$tr2" "$c2" "$i2" "$d2" "$tools2" <<'PY'
import sys
a = sys.argv[1:8]; b = sys.argv[8:15]
for n, ms, tr, c, i, d, tools in (a, b):
    print(f"no-op reconcile, {int(n):4d} mailboxes: {float(ms):7.1f} ms (median), {i} changes; traced: {tr.replace(',', ' ')};"
          f" reported: {c} {d}")
    print(f"  docker ps + ldapsearch + losetup + findmnt + named-checkzone: {float(tools):7.1f} ms (median)")
flat = a[2] == b[2] and a[3] == b[3]
print(f"calls flat from {a[0]} to {b[0]} mailboxes: {'yes' if flat else 'NO'}; "
      f"ratio: reconcile takes {float(b[1])/float(b[6]):.2f}x the observation commands at {b[0]} (goal < 1x)")
PY

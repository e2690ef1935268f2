#!/usr/bin/env bash
# `semailctl mailbox usage` over N mailboxes (default 200) against `du -s`
# of the same N Maildirs, in the same run. Each mailbox is its own small
# ext4 volume (image backend, `volume create`) holding MSGS messages; the
# directory has the N entries and the address map lists them (no containers:
# usage needs none). The two are timed turn about, REPS times each, after a
# warm run (both then read from the page cache: du's best case), and the
# medians compared; COLD=1 also times one run of each after dropping the
# caches. The ratio is printed last.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
bin=${SEMAILCTL:-$here/.build/debug/semailctl}
n=${N:-200}
msgs=${MSGS:-300}
reps=${REPS:-11}
work=$(mktemp -d /tmp/semail-bench-usage.XXXXXX)
. "$here/bench/lib.sh"
bench_start_slapd "$work"
bench_storage_config vmail:5000:5000 16M
python3 - "$n" "$work" <<'PY'
import sys
n, work = int(sys.argv[1]), sys.argv[2]
with open(f"{work}/users.ldif", "w") as f, open(f"{work}/map.txt", "w") as m:
    for i in range(n):
        u = f"ub{i:04d}"
        f.write(f"dn: uid={u},ou=Personnes,dc=semail,dc=email\nobjectClass: inetOrgPerson\nobjectClass: semailUser\n"
                f"uid: {u}\ncn: {u}\nsn: {u}\nsemailMailbox: {u}@{u}.semail.email\nsemailVolumeSize: 16777216\n\n")
        m.write(f"uid: {u} mail: {u}@{u}.semail.email\n")
PY
echo "provisioning $n volumes with $msgs messages each (not timed)..." >&2
ldapadd -x -H "$LDAP_URI" -D "$LDAP_ADMIN_DN" -y "$LDAP_SECRET" -f "$work/users.ldif" >/dev/null
for i in $(seq 0 $((n - 1))); do "$bin" volume create "$(printf 'ub%04d' "$i")" --quiet >/dev/null; done
cp "$work/map.txt" "$work/state/mailbox.txt"
python3 - "$n" "$msgs" "$work/mail" <<'PY'
import os, random, sys
n, msgs, root = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
rnd = random.Random(7)
for i in range(n):
    cur = f"{root}/ub{i:04d}/Maildir/cur"
    for k in range(msgs):
        with open(f"{cur}/{1700000000 + k}.M{k}P1.bench,S=0:2,S", "wb") as f:
            f.write(b"x" * rnd.randint(1000, 12000))
        os.chown(f"{cur}/{1700000000 + k}.M{k}P1.bench,S=0:2,S", 5000, 5000)
PY
maildirs=()
for i in $(seq 0 $((n - 1))); do maildirs+=("$work/mail/$(printf 'ub%04d' "$i")/Maildir"); done
rows=$("$bin" mailbox usage --json | python3 -c 'import json,sys; print(sum(1 for r in json.load(sys.stdin)["rows"] if r.get("usage")))')
du -s "${maildirs[@]}" >/dev/null
: > "$work/times"
for _ in $(seq 1 "$reps"); do
  t0=$(date +%s.%N); "$bin" mailbox usage --json >/dev/null; t1=$(date +%s.%N)
  du -s "${maildirs[@]}" >/dev/null; t2=$(date +%s.%N)
  echo "$t0 $t1 $t2" >> "$work/times"
done
cold=""
if [ "${COLD:-0}" = 1 ]; then
  sync; echo 3 > /proc/sys/vm/drop_caches
  t0=$(date +%s.%N); "$bin" mailbox usage --json >/dev/null; t1=$(date +%s.%N)
  sync; echo 3 > /proc/sys/vm/drop_caches
  du -s "${maildirs[@]}" >/dev/null; t2=$(date +%s.%N)
  cold="$t0 $t1 $t2"
fi
python3 - "$work/times" "$n" "$msgs" "$rows" "$cold" <<'PY'
import statistics, sys
rows = [list(map(float, l.split())) for l in open(sys.argv[1])]
n, msgs, measured, cold = int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), sys.argv[5]
tool = statistics.median((b - a) * 1000 for a, b, _ in rows)
du = statistics.median((c - b) * 1000 for _, b, c in rows)
print(f"semailctl mailbox usage: {tool:8.1f} ms (median of {len(rows)}) for {n} mailboxes ({measured} measured)")
print(f"du -s of the {n} Maildirs: {du:8.1f} ms (median of {len(rows)}), {n * msgs} files")
if cold:
    a, b, c = map(float, cold.split())
    print(f"cold caches: mailbox usage {(b - a) * 1000:8.1f} ms, du -s {(c - b) * 1000:8.1f} ms")
print(f"ratio: mailbox usage is {du / tool:.2f}x faster than du -s (goal > 1x)")
PY

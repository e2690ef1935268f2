#!/usr/bin/env bash
# A no-op `reconcile` (nothing to change) over N provisioned mailboxes, and
# over M directory entries without mailboxes: the time and the external
# calls it made (from its --json report). The calls must not grow with the
# mailbox count, and the run must take less than the four tools an admin
# would run to look at the same state, each once: docker ps, ldapsearch,
# losetup --list, named-checkzone. The ratio is printed last.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
bin=${SEMAILCTL:-$here/.build/debug/semailctl}
n=${N:-200}
m=${M:-10000}
cache=${ROOTFS_CACHE:-/var/cache/semail-test/bookworm-ssh.tar}
. "$here/bench/lib.sh"
bench_start "$(mktemp -d /tmp/semail-bench-rec.XXXXXX)" /tmp/sbr-$$
bench_config 16M
python3 - "$n" "$m" "$work" <<'PY'
import sys
n, m, work = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
with open(f"{work}/mailboxes.ldif", "w") as f:
    for i in range(n):
        u = f"mb{i:04d}"
        f.write(f"dn: uid={u},ou=Personnes,dc=semail,dc=email\nobjectClass: inetOrgPerson\nobjectClass: posixAccount\nobjectClass: semailUser\n"
                f"uid: {u}\ncn: {u}\nsn: {u}\nuidNumber: {20000+i}\ngidNumber: {20000+i}\nhomeDirectory: /home/{u}\n"
                f"semailMailbox: {u}@d{i % 20}.semail.email\nsemailVolumeSize: 16777216\n\n")
with open(f"{work}/plain.ldif", "w") as f:
    for i in range(m):
        u = f"pl{i:05d}"
        f.write(f"dn: uid={u},ou=Personnes,dc=semail,dc=email\nobjectClass: inetOrgPerson\nuid: {u}\ncn: {u}\nsn: {u}\nmail: {u}@example.org\n\n")
PY
echo "provisioning $n mailboxes (once, not timed)..." >&2
"$bin" import "$work/mailboxes.ldif" --quiet >/dev/null
reps=5
calls() { python3 -c 'import json,sys; d=json.load(sys.stdin); print(len(d["items"]), sum(d["observeCalls"].values()), json.dumps(d["observeCalls"], sort_keys=True))'; }
"$bin" reconcile --json > "$work/r0.json"   # warm
read -r items1 calls1 detail1 < <(calls < "$work/r0.json")
t0=$(now); for r in $(seq 1 $reps); do "$bin" reconcile --json > "$work/r1.json"; done; t1=$(now)
t2=$(now)
for r in $(seq 1 $reps); do
  docker ps -a --filter label=semail.uid >/dev/null
  ldapsearch -x -LLL -H "$LDAP_URI" -D "$LDAP_ADMIN_DN" -y "$LDAP_SECRET" -b "ou=Personnes,dc=semail,dc=email" -E pr=500/noprompt '(semailMailbox=*)' uid semailMailbox >/dev/null
  losetup --list >/dev/null
  named-checkzone -q semail.email "$ZONE_FILE" >/dev/null
done
t3=$(now)
echo "adding $m directory entries without mailboxes (not timed)..." >&2
ldapadd -x -H "$LDAP_URI" -D "$LDAP_ADMIN_DN" -y "$LDAP_SECRET" -f "$work/plain.ldif" >/dev/null
"$bin" reconcile --json > "$work/r2.json"
read -r items2 calls2 detail2 < <(calls < "$work/r2.json")
t4=$(now); for r in $(seq 1 $reps); do "$bin" reconcile --json > "$work/r3.json"; done; t5=$(now)
python3 - "$t0" "$t1" "$t2" "$t3" "$t4" "$t5" "$reps" "$n" "$m" "$items1" "$calls1" "$items2" "$calls2" "$detail1" <<'PY'
import sys
t0,t1,t2,t3,t4,t5=map(float,sys.argv[1:7]); reps,n,m,i1,c1,i2,c2=map(int,sys.argv[7:14]); detail=sys.argv[14]
rec=(t1-t0)/reps; tools=(t3-t2)/reps; rec2=(t5-t4)/reps
print(f"no-op reconcile, {n} mailboxes:                 {rec*1000:7.1f} ms, {c1} external calls {detail}, {i1} changes")
print(f"  + {m} entries without mailboxes:          {rec2*1000:7.1f} ms, {c2} external calls, {i2} changes")
print(f"docker ps + ldapsearch + losetup + checkzone:  {tools*1000:7.1f} ms")
print(f"calls constant: {'yes' if c1 == c2 else 'NO'}; ratio: reconcile takes {rec/tools:.2f}x the four tools (goal < 1x)")
PY

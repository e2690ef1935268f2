#!/usr/bin/env bash
# Bulk LDIF import: ldapadd -f against semailctl import, each on a fresh
# private slapd, same 10,000-user LDIF, same run. Also measures the CPU time
# slapd itself spends on each run: when it is close to ldapadd's wall time,
# the server, not the client, sets the pace. Last line: the ratio.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
bin=${SEMAILCTL:-$here/.build/debug/semailctl}
n=${N:-10000}
work=$(mktemp -d /tmp/semail-bench-import.XXXXXX)
cleanup() { bash "$here/scripts/slapd.sh" stop "$work/a" || true; bash "$here/scripts/slapd.sh" stop "$work/b" || true; rm -rf "$work"; }
trap cleanup EXIT
python3 - "$n" > "$work/users.ldif" <<'PY'
import sys
for i in range(int(sys.argv[1])):
    print(f"dn: uid=user{i:05d},ou=Personnes,dc=semail,dc=email\nobjectClass: inetOrgPerson\nobjectClass: posixAccount\n"
          f"uid: user{i:05d}\ncn: User {i}\nsn: Number{i}\nmail: user{i:05d}@semail.email\nuidNumber: {20000+i}\n"
          f"gidNumber: {20000+i}\nhomeDirectory: /home/Personnes/user{i:05d}\n")
PY
now() { date +%s.%N; }
tck=$(getconf CLK_TCK)
# slapd's CPU seconds so far (user + system), from /proc.
slapd_cpu() { awk -v t="$tck" '{printf "%.2f", ($14 + $15) / t}' "/proc/$(cat "$1/slapd.pid")/stat"; }
reps=${REPS:-3}
: > "$work/times"
for r in $(seq 1 "$reps"); do
  bash "$here/scripts/slapd.sh" start "$work/a" >/dev/null
  . "$work/a/env"
  c0=$(slapd_cpu "$work/a")
  t0=$(now)
  ldapadd -x -H "$LDAP_URI" -D "$LDAP_ADMIN_DN" -y "$LDAP_SECRET" -f "$work/users.ldif" >/dev/null
  t1=$(now)
  c1=$(slapd_cpu "$work/a")
  bash "$here/scripts/slapd.sh" stop "$work/a"
  bash "$here/scripts/slapd.sh" start "$work/b" >/dev/null
  . "$work/b/env"
  cat > "$work/semail.toml" <<TOML
[ldap]
uri = "$LDAP_URI"
bind_dn = "$LDAP_ADMIN_DN"
bind_password_file = "$LDAP_SECRET"
[state]
dir = "$work/state"
TOML
  c2=$(slapd_cpu "$work/b")
  t2=$(now)
  /usr/bin/time -f '%M' -o "$work/rss" "$bin" import "$work/users.ldif" --config "$work/semail.toml" --quiet >/dev/null
  t3=$(now)
  c3=$(slapd_cpu "$work/b")
  bash "$here/scripts/slapd.sh" stop "$work/b"
  echo "$t0 $t1 $t2 $t3 $(tail -1 "$work/rss") $c0 $c1 $c2 $c3" >> "$work/times"
done
python3 - "$work/times" "$n" <<'PY'
import sys, statistics
rows=[list(map(float,l.split())) for l in open(sys.argv[1])]; n=int(sys.argv[2])
a=statistics.median(r[1]-r[0] for r in rows); b=statistics.median(r[3]-r[2] for r in rows); rss=max(r[4] for r in rows)
ca=statistics.median(r[6]-r[5] for r in rows); cb=statistics.median(r[8]-r[7] for r in rows)
print(f"ldapadd -f:        {a:7.2f} s for {n} entries (median of {len(rows)}, fresh slapd each); slapd CPU {ca:.2f} s")
print(f"semailctl import:  {b:7.2f} s for {n} entries, peak RSS {rss/1024:.1f} MB (goal < 100 MB); slapd CPU {cb:.2f} s")
print(f"slapd's own CPU: {1000000*ca/n:.0f} us per add, {100*ca/a:.0f}% of ldapadd's wall time: "
      "the server, not the client, sets the pace")
print(f"ratio ldapadd/semailctl: {a/b:.2f}x (goal >= 2x)")
PY

#!/usr/bin/env bash
# Bulk LDIF import: ldapadd -f against semailctl import, each on a fresh
# private slapd, same 10,000-user LDIF, same run. Last line: the ratio.
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
bash "$here/scripts/slapd.sh" start "$work/a" >/dev/null
. "$work/a/env"
t0=$(now)
ldapadd -x -H "$LDAP_URI" -D "$LDAP_ADMIN_DN" -y "$LDAP_SECRET" -f "$work/users.ldif" >/dev/null
t1=$(now)
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
t2=$(now)
/usr/bin/time -f '%M %U %S' -o "$work/rss" "$bin" import "$work/users.ldif" --config "$work/semail.toml" --quiet >/dev/null
t3=$(now)
rss=$(tail -1 "$work/rss" | cut -d' ' -f1); echo "semailctl cpu: $(tail -1 "$work/rss" | cut -d' ' -f2-)" >&2
python3 - "$t0" "$t1" "$t2" "$t3" "$rss" "$n" <<'PY'
import sys
t0,t1,t2,t3=map(float,sys.argv[1:5]); rss=int(sys.argv[5]); n=int(sys.argv[6])
a=t1-t0; b=t3-t2
print(f"ldapadd -f:        {a:7.2f} s for {n} entries")
print(f"semailctl import:  {b:7.2f} s for {n} entries, peak RSS {rss/1024:.1f} MB (goal < 100 MB)")
print(f"ratio ldapadd/semailctl: {a/b:.2f}x (goal >= 2x)")
PY

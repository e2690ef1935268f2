#!/usr/bin/env bash
# One `mailbox create` against the engine's floor, measured in the same run
# with the admin's tools: the raw work one mailbox needs, each step timed
# alone and summed:
#   mkfs.ext4 on a sparse loop image, `docker run -d` of the base image
#   (sshd, on the mailbox network), `rndc reload` of the zone, one
#   `ldapmodify` of an entry.
# The tool does all of that and more (checks, the journal, the volume's
# mount and Maildir, the per-user image, the address map). Medians of R
# runs; each create gets its own MX domain, so each reloads the zone.
# The ratio is printed last.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
bin=${SEMAILCTL:-$here/.build/debug/semailctl}
r=${R:-7}
cache=${ROOTFS_CACHE:-/var/cache/semail-test/bookworm-ssh.tar}
. "$here/bench/lib.sh"
bench_start "$(mktemp -d /tmp/semail-bench-cr.XXXXXX)" /tmp/sbc-$$
bench_config 32M
docker network create semailsh >/dev/null   # the shell's own: the tool makes and labels "semail" itself
ssh-keygen -q -t ed25519 -N "" -f "$work/key"
python3 - "$r" "$(cat "$work/key.pub")" > "$work/users.ldif" <<'PY'
import sys
r, key = int(sys.argv[1]), sys.argv[2]
for p in ("c", "f"):
    for i in range(r + 1):
        u = f"{p}user{i:02d}"; num = 20000 + i + (0 if p == "c" else 1000)
        print(f"dn: uid={u},ou=Personnes,dc=semail,dc=email\nobjectClass: inetOrgPerson\nobjectClass: posixAccount\n"
              f"objectClass: ldapPublicKey\nuid: {u}\ncn: {u}\nsn: {u}\nuidNumber: {num}\ngidNumber: {num}\n"
              f"homeDirectory: /home/{u}\nsshPublicKey: {key}\n")
PY
ldapadd -x -H "$LDAP_URI" -D "$LDAP_ADMIN_DN" -y "$LDAP_SECRET" -f "$work/users.ldif" >/dev/null
mkdir -p "$work/floor"
median() { python3 -c 'import sys,statistics; print(statistics.median(float(x) for x in sys.argv[1:]))' "$@"; }
since() { python3 -c 'import sys,time; print(time.time()-float(sys.argv[1]))' "$1"; }

# Run 0 of each side warms caches (the base image's files, page cache) and is not counted.
mk=(); run=(); rl=(); lm=(); cr=()
for i in $(seq 0 "$r"); do
  img="$work/floor/v$i.img"; truncate -s 32M "$img"; dev=$(losetup --find --show "$img")
  t=$(now); mkfs.ext4 -q -m 0 -E lazy_itable_init=1,lazy_journal_init=1,nodiscard "$dev"; d1=$(since "$t")
  losetup -d "$dev"
  t=$(now); docker run -d --name "floor-$i" --network semailsh semail/base:latest >/dev/null; d2=$(since "$t")
  t=$(now); rndc -s 127.0.0.1 -p "$RNDC_PORT" -k "$RNDC_KEY" reload semail.email >/dev/null; d3=$(since "$t")
  u=$(printf 'fuser%02d' "$i")
  t=$(now)
  printf 'dn: uid=%s,ou=Personnes,dc=semail,dc=email\nchangetype: modify\nreplace: mail\nmail: %s@f%d.semail.email\n' "$u" "$u" "$i" |
    ldapmodify -x -H "$LDAP_URI" -D "$LDAP_ADMIN_DN" -y "$LDAP_SECRET" >/dev/null
  d4=$(since "$t")
  u=$(printf 'cuser%02d' "$i")
  t=$(now); "$bin" mailbox create "$u" --address "$u@c$i.semail.email" --quiet >"$work/create.err" 2>&1 || { cat "$work/create.err" >&2; exit 1; }; d5=$(since "$t")
  if [ "$i" -gt 0 ]; then mk+=("$d1"); run+=("$d2"); rl+=("$d3"); lm+=("$d4"); cr+=("$d5"); fi
done
ok=$("$bin" mailbox list --json | python3 -c 'import json,sys; print(sum(1 for m in json.load(sys.stdin) if m.get("container",{}).get("state")=="running" and m.get("volume",{}).get("mounted")))')
python3 - "$(median "${mk[@]}")" "$(median "${run[@]}")" "$(median "${rl[@]}")" "$(median "${lm[@]}")" "$(median "${cr[@]}")" "$r" "$ok" <<'PY'
import sys
mk, run, rl, lm, cr = map(float, sys.argv[1:6]); r, ok = int(sys.argv[6]), int(sys.argv[7])
floor = mk + run + rl + lm
print(f"floor: mkfs.ext4 {mk*1000:6.0f} ms + docker run {run*1000:6.0f} ms + rndc reload {rl*1000:5.0f} ms"
      f" + ldapmodify {lm*1000:5.0f} ms = {floor*1000:6.0f} ms (medians of {r})")
print(f"semailctl mailbox create:  {cr*1000:6.0f} ms (median of {r}; {ok} mailboxes complete)")
print(f"ratio: one mailbox create takes {cr/floor:.2f}x the floor (goal <= 2x)")
PY

#!/usr/bin/env bash
# Bulk provisioning: N mailboxes from one LDIF with `semailctl import`
# (each mailbox its own transaction, --jobs workers) against the original
# approach, the shell loop of the SPEC: one mailbox at a time, shell commands
# (ldapadd, truncate, losetup, mkfs.ext4, mount, Maildir, sed-rendered
# Dockerfile (bench/Dockerfile.classic: RUN useradd, COPY, RUN chown, CMD),
# ssh-keygen, docker build, docker run, the address map line).
# Same slapd, dockerd, base image and machine; the ratio is printed last.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
bin=${SEMAILCTL:-$here/.build/debug/semailctl}
n=${N:-100}
jobs=${JOBS:-$((2 * $(nproc)))}   # import's default
cache=${ROOTFS_CACHE:-/var/cache/semail-test/bookworm-ssh.tar}
. "$here/bench/lib.sh"
bench_start "$(mktemp -d /tmp/semail-bench-prov.XXXXXX)" /tmp/sbp-$$
bench_config 32M
docker network create semailsh >/dev/null   # the shell's own: the tool makes and labels "semail" itself
ssh-keygen -q -t ed25519 -N "" -f "$work/key"
python3 - "$n" "$(cat "$work/key.pub")" "$work" <<'PY'
import sys
n, key, work = int(sys.argv[1]), sys.argv[2], sys.argv[3]
for p, f in (("t", "tool.ldif"), ("s", "shell")):
    out = []
    for i in range(n):
        u = f"{p}user{i:03d}"; num = 20000 + i + (0 if p == "t" else 5000)
        e = (f"dn: uid={u},ou=Personnes,dc=semail,dc=email\nobjectClass: inetOrgPerson\nobjectClass: posixAccount\n"
             f"objectClass: ldapPublicKey\nobjectClass: semailUser\nuid: {u}\ncn: {u}\nsn: {u}\nuidNumber: {num}\n"
             f"gidNumber: {num}\nhomeDirectory: /home/{u}\nsshPublicKey: {key}\n")
        if p == "t":
            out.append(e + f"semailMailbox: {u}@bench.semail.email\nsemailVolumeSize: 33554432\n")
        else:
            open(f"{work}/{u}.ldif", "w").write(e + f"semailMailbox: {u}@shbench.semail.email\n")
    if p == "t":
        open(f"{work}/{f}", "w").write("\n".join(out))
PY

# The shell loop, one mailbox at a time (as the original scripts did).
t0=$(now)
mkdir -p "$work/sh/images" "$work/sh/mail"
for i in $(seq 0 $((n-1))); do
  u=$(printf 'suser%03d' "$i"); id=$((25000+i)); addr="$u@shbench.semail.email"
  ldapadd -x -H "$LDAP_URI" -D "$LDAP_ADMIN_DN" -y "$LDAP_SECRET" -f "$work/$u.ldif" >/dev/null
  img="$work/sh/images/$u.img"; mp="$work/sh/mail/$u"
  truncate -s 32M "$img"
  dev=$(losetup --find --show "$img")
  mkfs.ext4 -q -L "sm-$u" -m 0 -E lazy_itable_init=1,lazy_journal_init=1,nodiscard "$dev"
  mkdir -p "$mp"; mount -o nodev,nosuid,noexec "$dev" "$mp"
  mkdir -p "$mp/Maildir/tmp" "$mp/Maildir/new" "$mp/Maildir/cur"; chown -R "$id:$id" "$mp"; chmod -R 700 "$mp"
  echo "$img $mp ext4 loop,nodev,nosuid,noexec,nofail 0 2" >> "$work/sh/fstab"
  shell_container "$u" "$id" "$addr" "$work/sh/Containers/$u" "$mp/Maildir"
  if [ "$i" = 0 ]; then   # one MX for the shared domain, as semailctl adds it once (its own: the tool's is bench)
    printf 'shbench\t3600\tIN\tMX\t10 mx.semail.email.\n' >> "$ZONE_FILE"
    sed -i -E 's/([0-9]{10})(\s*;\s*serial)?/\1/' "$ZONE_FILE"
    rndc -s 127.0.0.1 -p "$RNDC_PORT" -k "$RNDC_KEY" reload semail.email >/dev/null 2>&1 || true
  fi
  echo "uid: $u mail: $addr" >> "$work/sh/mailbox.txt"
done
t1=$(now)
ok_shell=$(docker ps -q --filter label=semail.uid --filter status=running --filter name=semail-suser | wc -l)
# Both sides start from the same engine state: the shell's containers go first
# (100 running sshd containers would otherwise slow down only the second side).
docker rm -f $(docker ps -aq --filter name=semail-suser) >/dev/null
t1b=$(now)
"$bin" import "$work/tool.ldif" --jobs "$jobs" --quiet > "$work/import.out"
t2=$(now)
tail -1 "$work/import.out"
ok_tool=$("$bin" mailbox list --json | python3 -c 'import json,sys; print(sum(1 for m in json.load(sys.stdin) if m.get("container",{}).get("state")=="running" and m.get("volume",{}).get("mounted")))')
python3 - "$t0" "$t1" "$t2" "$n" "$ok_shell" "$ok_tool" "$jobs" "$t1b" <<'PY'
import sys
t0,t1,t2=map(float,sys.argv[1:4]); n,oks,okt,j=map(int,sys.argv[4:8]); t1b=float(sys.argv[8])
sh=t1-t0; tool=t2-t1b   # the removal of the shell's containers between the two is not counted
print(f"shell loop (one at a time):      {sh:7.1f} s for {n} mailboxes ({oks} running)")
print(f"semailctl import --jobs {j}:       {tool:7.1f} s for {n} mailboxes ({okt} complete)")
print(f"ratio: semailctl is {sh/tool:.2f}x faster than the shell loop (goal >= 4x)")
PY

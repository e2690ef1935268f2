#!/usr/bin/env bash
# Mailbox containers, same run, same dockerd, same base image:
#  1. create+start N containers with `semailctl container create` against the
#     shell an admin would write with the docker CLI: render the Dockerfile
#     with sed, ssh-keygen, `docker build`, `docker run -d` with the same
#     settings (labels, limits, capabilities, mount, restart policy, network);
#  2. `container list --json` over M containers (one API call) against
#     `docker ps -a --filter label=semail.uid --format '{{json .}}'`.
# The ratios are printed last.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
bin=${SEMAILCTL:-$here/.build/debug/semailctl}
n=${N:-20}
m=${M:-200}
cache=${ROOTFS_CACHE:-/var/cache/semail-test/bookworm-ssh.tar}
. "$here/bench/lib.sh"
bench_start "$(mktemp -d /tmp/semail-bench-ct.XXXXXX)" /tmp/sb-$$
bench_config 32M
"$bin" container list >/dev/null   # negotiates nothing persistent; warms the page cache
ssh-keygen -q -t ed25519 -N "" -f "$work/key"
python3 - "$n" "$(cat "$work/key.pub")" > "$work/users.ldif" <<'PY'
import sys
n, key = int(sys.argv[1]), sys.argv[2]
for p in ("t", "s"):
    for i in range(n):
        u = f"{p}user{i:03d}"
        print(f"dn: uid={u},ou=Personnes,dc=semail,dc=email\nobjectClass: inetOrgPerson\nobjectClass: posixAccount\n"
              f"objectClass: ldapPublicKey\nuid: {u}\ncn: {u}\nsn: {u}\nmail: {u}@semail.email\nuidNumber: {20000+i+(0 if p=='t' else 1000)}\n"
              f"gidNumber: {20000+i+(0 if p=='t' else 1000)}\nhomeDirectory: /home/{u}\nsshPublicKey: {key}\n")
PY
ldapadd -x -H "$LDAP_URI" -D "$LDAP_ADMIN_DN" -y "$LDAP_SECRET" -f "$work/users.ldif" >/dev/null
for p in t s; do for i in $(seq 0 $((n-1))); do
  u=$(printf '%suser%03d' $p "$i"); id=$((20000+i+$([ $p = t ] && echo 0 || echo 1000)))
  mkdir -p "$work/mail/$u/Maildir/new" "$work/mail/$u/Maildir/cur" "$work/mail/$u/Maildir/tmp"; chown -R $id:$id "$work/mail/$u"
done; done
docker network create semailsh >/dev/null   # the shell's own: the tool makes and labels "semail" itself

t0=$(now)
for i in $(seq 0 $((n-1))); do
  u=$(printf 'suser%03d' "$i"); id=$((21000+i))
  shell_container "$u" "$id" "$u@semail.email" "$work/shell/$u" "$work/mail/$u/Maildir"
done
t1=$(now)
for i in $(seq 0 $((n-1))); do "$bin" container create "$(printf 'tuser%03d' "$i")" --quiet >/dev/null; done
t2=$(now)
running=$(docker ps --filter label=semail.uid --filter status=running -q | wc -l)

# M containers for the listing (created, not started: listing cost is the same).
have=$(docker ps -aq --filter label=semail.uid | wc -l)
python3 - "$DOCKER_SOCK" $((m - have)) <<'PY'
import json, socket, sys, http.client
class U(http.client.HTTPConnection):
    def __init__(s, p): super().__init__("localhost"); s.p = p
    def connect(s): s.sock = socket.socket(socket.AF_UNIX); s.sock.connect(s.p)
c = U(sys.argv[1])
for i in range(int(sys.argv[2])):
    body = json.dumps({"Image": "semail/base:latest", "Labels": {"semail.uid": f"l{i:04d}", "semail.address": f"l{i:04d}@semail.email"}})
    c.request("POST", f"/containers/create?name=semail-l{i:04d}", body, {"Content-Type": "application/json"}); c.getresponse().read()
PY
reps=10
t3=$(now)
for r in $(seq 1 $reps); do docker ps -a --filter label=semail.uid --format '{{json .}}' >/dev/null; done
t4=$(now)
for r in $(seq 1 $reps); do "$bin" container list --json >/dev/null; done
t5=$(now)
listed=$("$bin" container list --json | python3 -c 'import json,sys; print(len(json.load(sys.stdin)))')
python3 - "$t0" "$t1" "$t2" "$t3" "$t4" "$t5" "$n" "$running" "$listed" "$reps" <<'PY'
import sys
t0,t1,t2,t3,t4,t5=map(float,sys.argv[1:7]); n,running,listed,reps=map(int,sys.argv[7:11])
sh=t1-t0; tool=t2-t1; ps=(t4-t3)/reps; ls=(t5-t4)/reps
print(f"docker CLI (sed + build + run): {sh:6.2f} s for {n} containers")
print(f"semailctl container create:     {tool:6.2f} s for {n} containers ({running} running in all)")
print(f"docker ps -a --filter label:    {ps*1000:6.1f} ms")
print(f"semailctl container list:       {ls*1000:6.1f} ms ({listed} containers)")
print(f"ratios: create {tool/sh:.2f}x the docker CLI (goal <= 1.1x), list {ls/ps:.2f}x docker ps (goal <= 1.5x)")
PY

#!/usr/bin/env bash
# The production flow of the install test, on a fresh Debian 12 root ROOT in
# which the semailctl package is installed (scripts/installtest.sh makes it):
#   scripts/installflow.sh ROOT
# - Debian's own slapd and bind9 packages are installed in ROOT and configured
#   there by their maintainer scripts and debconf, as on a new server (cn=config,
#   the package's default ACLs, SASL EXTERNAL over ldapi for root; bind9's
#   /etc/bind layout and rndc.key). They run from ROOT (chroot) on private
#   loopback ports: the only change to their configuration.
# - a private dockerd (scripts/dockerd.sh) and the base image from the cache;
# - the installed binary ROOT/usr/sbin/semailctl with the package's own
#   configuration file, edited as an admin would, and no template_dir: the
#   templates come from the package (the default follows the prefix).
# The flow: config check (fails: the directory is not set up), directory
# setup (dry run, apply, again: nothing), config check, users, a mailbox on a
# subdomain and one on an external domain, ssh-config then ssh by name,
# reconcile --watch reacting to an ldapmodify, delete. Everything it starts
# is stopped and removed, on failure too. Last line: `installflow: N passed, M failed`.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
root=$(cd "${1:?usage: installflow.sh ROOT}" && pwd)
bin="$root/usr/sbin/semailctl"
work=$(mktemp -d /tmp/semail-iflow.XXXXXX)
dock=/tmp/sdif-$$
. "$here/scripts/lib.sh"
passed=0 failed=0
ok()   { passed=$((passed + 1)); echo "ok   - $*"; }
bad()  { failed=$((failed + 1)); echo "FAIL - $*"; }
check() { local what=$1; shift; if "$@"; then ok "$what"; else bad "$what"; fi; }
in_root() { chroot "$root" "$@"; }

watch_pid=""
cleanup() {
  set +e
  [ -n "$watch_pid" ] && kill "$watch_pid" 2>/dev/null
  if [ -S "$dock/d.sock" ]; then
    for c in $(curl -s --unix-socket "$dock/d.sock" 'http://d/containers/json?all=1' |
               python3 -c 'import json,sys; print(" ".join(c["Id"] for c in json.load(sys.stdin)))'); do
      curl -s -X DELETE --unix-socket "$dock/d.sock" "http://d/containers/$c?force=1" >/dev/null
    done
  fi
  bash "$here/scripts/dockerd.sh" stop "$dock" >/dev/null 2>&1
  for m in $(findmnt -rn -o TARGET | grep "^$work/" | sort -r); do umount "$m"; done
  for l in $(losetup -nl -O NAME,BACK-FILE | awk -v w="$work" 'index($2,w)==1{print $1}'); do losetup -d "$l"; done
  for p in "$root/run/slapd/slapd.pid" "$root/run/named/named.pid"; do
    [ -f "$p" ] && kill "$(cat "$p")" 2>/dev/null
  done
  sleep 0.5
  rm -f "$root/usr/sbin/policy-rc.d"
  chattr -R -i "$work" 2>/dev/null
  rm -rf "$work"
}
trap cleanup EXIT

echo "== Debian's slapd and bind9, configured by their packages in $root"
cat > "$root/tmp/semail-preseed" <<'EOF'
slapd slapd/domain string semail.email
slapd shared/organization string SEMail
slapd slapd/password1 password install-test-admin
slapd slapd/password2 password install-test-admin
slapd slapd/no_configuration boolean false
EOF
# As on a server: package scripts do not start services here (policy-rc.d).
printf '#!/bin/sh\nexit 101\n' > "$root/usr/sbin/policy-rc.d"; chmod 755 "$root/usr/sbin/policy-rc.d"
in_root debconf-set-selections /tmp/semail-preseed
rm -f "$root/tmp/semail-preseed"
DEBIAN_FRONTEND=noninteractive in_root apt-get install -y -q --no-install-recommends \
  slapd ldap-utils bind9 bind9-utils >"$work/apt.log" 2>&1 || { tail -20 "$work/apt.log"; exit 1; }

lport=$(free_port); dport=$(free_port); rport=$(free_port)
in_root slapd -h "ldap://127.0.0.1:$lport/ ldapi:///" -g openldap -u openldap -F /etc/ldap/slapd.d
sock="$root/run/slapd/ldapi"
for _ in $(seq 1 100); do [ -S "$sock" ] && break; sleep 0.1; done
enc=$(python3 -c 'import sys,urllib.parse; print(urllib.parse.quote(sys.argv[1], safe=""))' "$sock")
ldapi="ldapi://$enc"
ldap_root() { ldapmodify -Q -Y EXTERNAL -H "$ldapi" "$@"; }

# bind9: the admin's zone in /etc/bind, declared in named.conf.local; private
# ports instead of 53/953 (listen-on and controls with Debian's rndc.key).
cat > "$root/etc/bind/db.semail.email" <<'ZONE'
$TTL 3600
@	IN	SOA	ns1.semail.email. hostmaster.semail.email. 2026120501 3600 900 604800 300
	IN	NS	ns1.semail.email.
ns1	IN	A	127.0.0.1
mx	IN	A	127.0.0.1
ZONE
cat >> "$root/etc/bind/named.conf.local" <<'CONF'
zone "semail.email" { type master; file "/etc/bind/db.semail.email"; };
CONF
sed -i "s|listen-on-v6 { any; };|listen-on port $dport { 127.0.0.1; }; listen-on-v6 { none; };|" "$root/etc/bind/named.conf.options"
printf 'include "/etc/bind/rndc.key";\ncontrols { inet 127.0.0.1 port %s allow { 127.0.0.1; } keys { "rndc-key"; }; };\n' "$rport" >> "$root/etc/bind/named.conf"
mkdir -p "$root/run/named"; in_root chown bind:bind /run/named
in_root named -u bind -4
for _ in $(seq 1 100); do rndc -s 127.0.0.1 -p "$rport" -k "$root/etc/bind/rndc.key" status >/dev/null 2>&1 && break; sleep 0.1; done

echo "== a private dockerd and the base image"
bash "$here/scripts/dockerd.sh" start "$dock" >/dev/null
. "$dock/env"

echo "== the package's configuration, edited as an admin would"
conf="$root/etc/semail/semail.toml"
# Readable by the portal's user (the configuration holds no secret; ldap.secret stays root's 0600).
check "the package installed its configuration (root:semail-web, 0640)" \
  test "$(chroot "$root" stat -c '%U:%G %a' /etc/semail/semail.toml)" = "root:semail-web 640"
cat > "$conf" <<TOML
# Edited by the install test (paths under $work: the test leaves the host alone).
[ldap]
uri = "$ldapi"
base = "dc=semail,dc=email"
people = "ou=Personnes"
bind_dn = ""                 # SASL EXTERNAL over ldapi, as root

[state]
dir = "$work/state"

[storage]
backend = "image"
image_dir = "$work/images"
mail_root = "$work/Personnes"
fstab = "$work/fstab"
default_size = "64M"

[containers]
socket = "$DOCKER_SOCK"
dockerfile_dir = "$work/Containers"
network = "semail-install"
memory = "256M"
ssh_host = "127.0.0.1"

[dns]
zone = "semail.email"
zone_file = "$root/etc/bind/db.semail.email"
mx_host = "mx.semail.email."
rndc_port = $rport
rndc_key = "$root/etc/bind/rndc.key"
directory = "$root/var/cache/bind"
resolver = "127.0.0.1:$dport"

[smtp]
address_map = "$work/state/mailbox.txt"
TOML
sc() { "$bin" --config "$conf" "$@"; }
sc image bootstrap --rootfs-cache /var/cache/semail-test/bookworm-ssh.tar >/dev/null

echo "== before the directory is set up"
set +e
sc config check >"$work/check1.out" 2>&1; rc=$?
set -e
cat "$work/check1.out"
check "config check fails on Debian's fresh slapd" test "$rc" -ne 0
check "config check names directory setup" grep -q "directory setup" "$work/check1.out"

echo "== directory setup"
cp -a "$root/etc/ldap/slapd.d" "$work/config-before"
sc directory setup --dry-run
check "the dry run changes nothing in cn=config" diff -r "$root/etc/ldap/slapd.d" "$work/config-before"
sc directory setup
sc directory setup --json >"$work/setup2.json"
check "a second setup makes no change" python3 -c '
import json,sys; d=json.load(open(sys.argv[1])); c=d.get("changes", d.get("items"))
sys.exit(0 if c == [] else 1)' "$work/setup2.json"
sc config check
check "config check passes after setup" sc config check

echo "== users and mailboxes"
ssh-keygen -q -t ed25519 -N "" -C install-test -f "$work/key"
for u in alice:Alice bob:Bob carol:Carol; do
  printf 'pw-%s-secret\n' "${u%%:*}" | sc user add "${u%%:*}" --cn "${u#*:} Test" --sn Test --posix \
    --password-stdin --ssh-key "$work/key.pub"
done
sc mailbox create alice --address alice@home.semail.email
check "the MX of the subdomain is served" \
  test "$(dig @127.0.0.1 -p "$dport" +short home.semail.email MX)" = "10 mx.semail.email."
sc mailbox create bob --address bob@example.org >"$work/bob.out" 2>&1; cat "$work/bob.out"
check "an external domain: the record to publish is printed" grep -q "example.org" "$work/bob.out"
sc mailbox list

echo "== ssh-config, then ssh into the container by name"
sc ssh-config alice --json >"$work/ssh.json"
python3 - "$work" <<'PY'
import json, sys
w = sys.argv[1]; d = json.load(open(w + "/ssh.json"))
open(w + "/ssh_config", "w").write(d["config"] if d["config"].endswith("\n") else d["config"] + "\n")
kh = d["knownHosts"]; kh = "\n".join(kh) if isinstance(kh, list) else kh
open(w + "/known_hosts", "w").write(kh if kh.endswith("\n") else kh + "\n")
PY
cat "$work/ssh_config" "$work/known_hosts"
hostname_alias=$(awk '/^Host /{print $2; exit}' "$work/ssh_config")
echo "Subject: hello" >"$work/Personnes/alice/Maildir/new/1.hello"
# ProxyJump is the host itself here (no sshd on this test machine): connect directly.
check "ssh by the printed name, host key checked" \
  ssh -F "$work/ssh_config" -o ProxyJump=none -o UserKnownHostsFile="$work/known_hosts" \
      -o StrictHostKeyChecking=yes -o BatchMode=yes -i "$work/key" "$hostname_alias" ls Maildir/new

echo "== reconcile --watch follows an ldapmodify"
"$bin" --config "$conf" reconcile --watch --json >"$work/watch.out" 2>"$work/watch.err" &
watch_pid=$!
sleep 2
ldap_root >/dev/null <<LDIF
dn: uid=carol,ou=Personnes,dc=semail,dc=email
changetype: modify
add: objectClass
objectClass: semailUser
-
add: semailMailbox
semailMailbox: carol@shop.semail.email
LDIF
state=""
for _ in $(seq 1 120); do
  state=$(sc mailbox show carol --json 2>/dev/null | python3 -c 'import json,sys; d=json.load(sys.stdin); print(d.get("container",{}).get("state",""))' 2>/dev/null || true)
  [ "$state" = running ] && break
  sleep 0.5
done
check "the watch provisioned carol's mailbox" test "$state" = running
kill -TERM "$watch_pid"; set +e; wait "$watch_pid"; wrc=$?; set -e; watch_pid=""
check "the watch stops cleanly on SIGTERM (exit $wrc)" test "$wrc" -eq 0
[ "$wrc" -eq 0 ] || tail -5 "$work/watch.err"
check "every --json line of the watch is a document with a time" python3 -c '
import json,sys
lines=[l for l in open(sys.argv[1]) if l.strip()]
sys.exit(0 if lines and all("time" in json.loads(l) for l in lines) else 1)' "$work/watch.out"
check "its log lines carry a priority and a timestamp" grep -qE '^<[0-9]>[0-9]{4}-[0-9]{2}-[0-9]{2}T' "$work/watch.err"

echo "== delete"
for u in alice bob carol; do sc mailbox delete "$u" --yes >/dev/null; done
check "no mailbox left" test "$(sc mailbox list --json | python3 -c 'import json,sys; d=json.load(sys.stdin); print(len(d) if isinstance(d, list) else len(d["mailboxes"]))')" = 0
check "the MX is gone" test -z "$(dig @127.0.0.1 -p "$dport" +short home.semail.email MX)"

echo "installflow: $passed passed, $failed failed"
[ "$failed" -eq 0 ]

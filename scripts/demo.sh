#!/usr/bin/env bash
# `make demo`: the whole story on the embedded default (image-file storage,
# private slapd, named and dockerd on loopback), printing what it does, then
# removing everything it started. Idempotent: every run starts from nothing
# and leaves nothing (but the cached Debian rootfs of `image bootstrap`, in
# /var/cache/semail-test, which makes the next run faster).
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
bin="$here/.build/debug/semailctl"
work=$(mktemp -d /tmp/semail-demo.XXXXXX)
dockdir=/tmp/sdemo-$$   # short: Unix socket paths are limited
cleanup() {
  echo
  echo "== cleaning up (private services, containers, mounts, loop devices and files under $work)"
  bash "$here/scripts/dockerd.sh" stop "$dockdir" >/dev/null 2>&1 || true
  for m in $(findmnt -rn -o TARGET | grep "^$work" | sort -r); do umount "$m" || true; done
  for l in $(losetup -nl -O NAME,BACK-FILE | awk -v w="$work" 'index($2,w)==1{print $1}'); do losetup -d "$l" || true; done
  bash "$here/scripts/named.sh" stop "$work/named" >/dev/null 2>&1 || true
  bash "$here/scripts/slapd.sh" stop "$work/slapd" >/dev/null 2>&1 || true
  rm -rf "$work"
}
trap cleanup EXIT
step() { printf '\n== %s\n' "$*"; }
run() { printf '$ semailctl %s\n' "$*"; "$bin" "$@"; }

step "starting a private slapd, named (own rndc key) and dockerd on loopback"
bash "$here/scripts/slapd.sh" start "$work/slapd"
bash "$here/scripts/named.sh" start "$work/named" semail.email
bash "$here/scripts/dockerd.sh" start "$dockdir"
. "$work/slapd/env"; . "$work/named/env"; . "$dockdir/env"
export SEMAIL_CONFIG="$work/semail.toml"
cat > "$SEMAIL_CONFIG" <<TOML
[ldap]
uri = "$LDAP_URI"
base = "dc=semail,dc=email"
people = "ou=Personnes"
bind_dn = "$LDAP_ADMIN_DN"
bind_password_file = "$LDAP_SECRET"

[state]
dir = "$work/state"

[storage]
backend = "image"                 # the embedded default: sparse image files on loop devices
image_dir = "$work/state/images"
mail_root = "$work/Personnes"
fstab = "$work/fstab"             # the demo leaves /etc/fstab alone
default_size = "64M"
owner = "posix"

[containers]
socket = "$DOCKER_SOCK"
template_dir = "$here/templates"
dockerfile_dir = "$work/Containers"
network = "semail"
memory = "256M"

[dns]
zone = "semail.email"
zone_file = "$ZONE_FILE"
mx_host = "mx.semail.email."
rndc_server = "127.0.0.1"
rndc_port = $RNDC_PORT
rndc_key = "$RNDC_KEY"
resolver = "127.0.0.1:$DNS_PORT"

[smtp]
address_map = "$work/state/mailbox.txt"
TOML

step "the base image: debootstrap minbase + openssh-server, imported through the API (nothing is pulled)"
mkdir -p /var/cache/semail-test
run image bootstrap --rootfs-cache /var/cache/semail-test/bookworm-ssh.tar

step "configuration: every configured service is checked"
run config check

step "a user added by hand (password read from stdin, never from argv)"
ssh-keygen -q -t ed25519 -N "" -C demo -f "$work/demo-key"
printf 'demo password\n' | run user add ssow --cn "Sandra Sow" --sn Sow --posix --password-stdin --ssh-key "$work/demo-key.pub"

step "users imported from LDIF; the second import changes nothing"
cat > "$work/users.ldif" <<'LDIF'
dn: uid=jdupont,ou=Personnes,dc=semail,dc=email
objectClass: inetOrgPerson
objectClass: posixAccount
uid: jdupont
cn: Jean Dupont
sn: Dupont
uidNumber: 20001
gidNumber: 20001
homeDirectory: /home/Personnes/jdupont

dn: uid=amartin,ou=Personnes,dc=semail,dc=email
objectClass: inetOrgPerson
objectClass: posixAccount
objectClass: semailUser
uid: amartin
cn: Anne Martin
sn: Martin
uidNumber: 20002
gidNumber: 20002
homeDirectory: /home/Personnes/amartin
semailMailbox: anne@compta.semail.email
LDIF
run import "$work/users.ldif"
run import "$work/users.ldif"

step "a hostile uid is refused before anything reaches the directory"
run user add '*)(uid=*' --cn x --sn y || echo "(exit status $?, as documented in --help)"

step "mailboxes: one on a managed subdomain (MX added to the zone), one on an external domain"
run mailbox create jdupont --address jean@rh.semail.email --dry-run
run mailbox create jdupont --address jean@rh.semail.email
run mailbox create ssow --address sandra@example.org --size 32M
run mailbox create ssow --address sandra@example.org --size 32M
run mailbox list
run mailbox show ssow
printf '$ dig @127.0.0.1 -p %s rh.semail.email MX +short\n' "$DNS_PORT"
dig @127.0.0.1 -p "$DNS_PORT" rh.semail.email MX +short
printf '$ cat %s\n' "$work/state/mailbox.txt"
cat "$work/state/mailbox.txt"

step "ssow logs in to her container through the host, with her key from LDAP"
ip=$("$bin" container show ssow --json | python3 -c 'import json,sys; print(json.load(sys.stdin)["ipAddress"])')
echo "Subject: welcome" > "$work/Personnes/ssow/Maildir/new/1.welcome"
printf '$ ssh -i demo-key ssow@%s ls Maildir/new   # (ssh -J <this host> from outside)\n' "$ip"
ssh -i "$work/demo-key" -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null -o LogLevel=ERROR -o BatchMode=yes "ssow@$ip" ls Maildir/new

step "breaking things: a container stopped, an MX record deleted, the address map clobbered"
curl -s -X POST --unix-socket "$DOCKER_SOCK" "http://localhost/containers/semail-jdupont/stop?t=1" && echo "stopped semail-jdupont"
run zone remove-mx rh.semail.email
echo "garbage" > "$work/state/mailbox.txt"
run reconcile --dry-run --detailed-exitcode || echo "(exit status $?: changes pending)"

step "reconcile repairs each mailbox as its own transaction; a second run finds nothing"
run reconcile
run reconcile

step "deleting a mailbox: the Maildir is archived and read back before anything is destroyed"
run mailbox delete ssow --archive "$work/ssow.tar.gz" --yes
tar -tzf "$work/ssow.tar.gz" | head -5
run mailbox list

#!/usr/bin/env bash
# `make demo`: runs semailctl end to end on the embedded default with private
# services on loopback, printing what it does, then removes everything it
# started. Idempotent: every run starts from nothing and leaves nothing.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
bin="$here/.build/debug/semailctl"
work=$(mktemp -d /tmp/semail-demo.XXXXXX)
cleanup() {
  echo "== cleaning up (private services, mounts, loop devices and files under $work)"
  for m in $(findmnt -rn -o TARGET | grep "^$work" | sort -r); do umount "$m" || true; done
  for l in $(losetup -nl -O NAME,BACK-FILE | awk -v w="$work" 'index($2,w)==1{print $1}'); do losetup -d "$l" || true; done
  [ -f "$work/named/env" ] && bash "$here/scripts/named.sh" stop "$work/named" || true
  bash "$here/scripts/slapd.sh" stop "$work/slapd" || true
  rm -rf "$work"
}
trap cleanup EXIT
step() { printf '\n== %s\n' "$*"; }
run() { printf '$ semailctl %s\n' "$*"; "$bin" "$@"; }

step "starting a private slapd on loopback"
bash "$here/scripts/slapd.sh" start "$work/slapd"
. "$work/slapd/env"
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
image_dir = "$work/images"
mail_root = "$work/Personnes"
fstab = "$work/fstab"             # the demo leaves /etc/fstab alone
default_size = "64M"
owner = "posix"
TOML
if [ -x "$here/scripts/named.sh" ]; then
  step "starting a private named on loopback with its own rndc key"
  bash "$here/scripts/named.sh" start "$work/named" semail.email
  . "$work/named/env"
  cat >> "$SEMAIL_CONFIG" <<TOML

[dns]
zone = "semail.email"
zone_file = "$ZONE_FILE"
mx_host = "mx.semail.email."
rndc_server = "127.0.0.1"
rndc_port = $RNDC_PORT
rndc_key = "$RNDC_KEY"
resolver = "127.0.0.1:$DNS_PORT"
TOML
fi

step "configuration"
run config check

step "adding a user (password read from stdin, never from argv)"
printf 'demo password\n' | run user add ssow --cn "Sandra Sow" --sn Sow --posix --password-stdin

step "importing users from LDIF"
cat > "$work/users.ldif" <<'LDIF'
dn: uid=jdupont,ou=Personnes,dc=semail,dc=email
objectClass: inetOrgPerson
uid: jdupont
cn: Jean Dupont
sn: Dupont

dn: uid=amartin,ou=Personnes,dc=semail,dc=email
objectClass: inetOrgPerson
uid: amartin
cn: Anne Martin
sn: Martin
LDIF
run import "$work/users.ldif"
step "importing the same file again changes nothing"
run import "$work/users.ldif"
run user list

step "a hostile uid is refused before anything reaches the directory"
run user add '*)(uid=*' --cn x --sn y || echo "(exit status $?, as documented in --help)"

step "a mailbox volume for ssow: image file, loop device, ext4, mount, Maildir, fstab entry"
run volume create ssow
run volume create ssow
run volume list
ls -ln "$work/Personnes/ssow/Maildir"
cat "$work/fstab"
run volume delete ssow --yes

if [ -f "$work/named/env" ]; then
  step "MX records in the bind9 zone, checked with named-checkzone, then rndc reload"
  run zone add-mx ssow
  run zone add-mx ssow
  run zone list
  printf '$ dig @127.0.0.1 -p %s ssow.semail.email MX +short\n' "$DNS_PORT"
  dig @127.0.0.1 -p "$DNS_PORT" ssow.semail.email MX +short
  run zone check-mx ssow.semail.email
  run zone remove-mx ssow
fi

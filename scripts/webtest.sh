#!/usr/bin/env bash
# The portal in a real browser: private slapd, named and dockerd on loopback,
# semail-web running as an unprivileged system user with the shipped sudo
# rule (pointed at this build's semailctl), and scripts/webtest.py driving
# Debian's chromium through chromium-driver (selenium). Screenshots of every
# page go to docs/screenshots/. Leaves nothing running.
#   scripts/webtest.sh            (after `swift build`)
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
work=$(mktemp -d /tmp/semail-web.XXXXXX)
chmod 755 "$work"
# The binaries where the unprivileged user can reach them (the checkout may be under a 0700 home).
bin="$work/bin"
install -d -m 0755 "$bin"
install -m 0755 "$here/.build/debug/semailctl" "$here/.build/debug/semail-web" "$bin/"
dockdir=/tmp/sweb-$$
webuser=semail-webtest
sudoers=/etc/sudoers.d/semail-webtest
portal_pid=""
made_user=0
cleanup() {
  [ -n "$portal_pid" ] && kill "$portal_pid" 2>/dev/null && wait "$portal_pid" 2>/dev/null || true
  bash "$here/scripts/dockerd.sh" stop "$dockdir" >/dev/null 2>&1 || true
  for m in $(findmnt -rn -o TARGET | grep "^$work" | sort -r); do umount "$m" || true; done
  for l in $(losetup -nl -O NAME,BACK-FILE | awk -v w="$work" 'index($2,w)==1{print $1}'); do losetup -d "$l" || true; done
  bash "$here/scripts/named.sh" stop "$work/named" >/dev/null 2>&1 || true
  bash "$here/scripts/slapd.sh" stop "$work/slapd" >/dev/null 2>&1 || true
  rm -f "$sudoers"
  [ $made_user = 1 ] && userdel "$webuser" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

for p in chromium chromedriver sudo visudo; do
  command -v "$p" >/dev/null || { echo "webtest: $p is missing (scripts/deps.sh installs it)" >&2; exit 1; }
done
python3 -c 'import selenium' 2>/dev/null || { echo "webtest: python3 selenium is missing (pip install selenium)" >&2; exit 1; }
if ! id "$webuser" >/dev/null 2>&1; then
  useradd --system --no-create-home --shell /usr/sbin/nologin "$webuser"; made_user=1
fi
# The shipped rule, for this user, this build's semailctl and this test's configuration file.
python3 - "$here/packaging/sudoers/semail-web" "$webuser" "$bin/semailctl" "$work/semail.toml" > "$work/sudoers" <<'PY'
import sys
rule, user, program, config = sys.argv[1:]
text = open(rule).read().replace("semail-web", user).replace("/usr/sbin/semailctl", program)
sys.stdout.write(text.replace("/etc/semail/semail\\.toml", config.replace(".", "\\.")))
PY
visudo -cf "$work/sudoers" >/dev/null
install -m 0440 "$work/sudoers" "$sudoers"

bash "$here/scripts/slapd.sh" start "$work/slapd" >/dev/null
bash "$here/scripts/named.sh" start "$work/named" >/dev/null
bash "$here/scripts/dockerd.sh" start "$dockdir" >/dev/null
. "$work/slapd/env"; . "$work/named/env"; . "$dockdir/env"
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
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
backend = "image"
image_dir = "$work/state/images"
mail_root = "$work/Personnes"
fstab = "$work/fstab"
default_size = "32M"
owner = "posix"
[containers]
socket = "$DOCKER_SOCK"
template_dir = "$here/templates"
dockerfile_dir = "$work/Containers"
network = "semail-webtest"
memory = "128M"
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
[web]
listen = "127.0.0.1:$port"
user = "$webuser"
semailctl = "$bin/semailctl"
secure_cookies = false
login_attempts = 5
login_window = 8
TOML
chmod 644 "$SEMAIL_CONFIG"
mkdir -p /var/cache/semail-test
"$bin/semailctl" image bootstrap --rootfs-cache /var/cache/semail-test/bookworm-ssh.tar >/dev/null
"$bin/semailctl" config check > "$work/check.txt" 2>&1 || { cat "$work/check.txt" >&2; exit 1; }

# The portal, unprivileged.
runuser -u "$webuser" -- "$bin/semail-web" --config "$SEMAIL_CONFIG" > "$work/portal.log" 2>&1 &
portal_pid=$!
for _ in $(seq 1 100); do curl -fs "http://127.0.0.1:$port/login" >/dev/null 2>&1 && break; sleep 0.1; done

export PORTAL="http://127.0.0.1:$port" SEMAILCTL="$bin/semailctl" WORK="$work" SHOTS="$here/docs/screenshots"
export LDAP_URI LDAP_ADMIN_DN LDAP_SECRET DNS_PORT RNDC_PORT RNDC_KEY NAMED_DIR="$work/named"
status=0
python3 "$here/scripts/webtest.py" || status=$?
# No password in any log.
if grep -q "pw-alice\|new-alice-pw\|pw-bob" "$work/portal.log"; then
  echo "FAIL: a password is in the portal's log" >&2; status=1
fi
[ $status = 0 ] || { echo "--- portal log"; tail -50 "$work/portal.log"; } >&2
exit $status

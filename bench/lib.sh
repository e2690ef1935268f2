# Shared by the benchmarks: private slapd, named and dockerd, a config for
# them, and cleanup of everything (services, mounts, loop devices, files).
# KEEP=1 leaves it all running and prints where (for profiling).
bench_start() {   # WORK DOCKDIR
  work=$1; dock=$2
  trap bench_cleanup EXIT
  bash "$here/scripts/slapd.sh" start "$work/slapd" >/dev/null
  bash "$here/scripts/named.sh" start "$work/named" semail.email >/dev/null
  bash "$here/scripts/dockerd.sh" start "$dock" >/dev/null
  . "$work/slapd/env"; . "$work/named/env"; . "$dock/env"
  export DOCKER_HOST
}
bench_cleanup() {
  if [ "${KEEP:-0}" = 1 ]; then echo "kept: SEMAIL_CONFIG=$work/semail.toml DOCKER_HOST=$DOCKER_HOST" >&2; return; fi
  bash "$here/scripts/dockerd.sh" stop "$dock" >/dev/null 2>&1 || true
  for m in $(findmnt -rn -o TARGET | grep "^$work" | sort -r); do umount "$m" 2>/dev/null || true; done
  for l in $(losetup -nl -O NAME,BACK-FILE | awk -v w="$work" 'index($2,w)==1{print $1}'); do losetup -d "$l" || true; done
  bash "$here/scripts/slapd.sh" stop "$work/slapd" >/dev/null 2>&1 || true
  bash "$here/scripts/named.sh" stop "$work/named" >/dev/null 2>&1 || true
  rm -rf "$work"
}
bench_config() {   # DEFAULT_SIZE: writes $work/semail.toml for the three services, exports SEMAIL_CONFIG
  cat > "$work/semail.toml" <<TOML
[ldap]
uri = "$LDAP_URI"
bind_dn = "$LDAP_ADMIN_DN"
bind_password_file = "$LDAP_SECRET"
[state]
dir = "$work/state"
[storage]
image_dir = "$work/state/images"
mail_root = "$work/mail"
fstab = "$work/fstab"
default_size = "${1:-32M}"
owner = "posix"
[containers]
socket = "$DOCKER_SOCK"
template_dir = "$here/templates"
dockerfile_dir = "$work/Containers"
network = "semail"
[dns]
zone = "semail.email"
zone_file = "$ZONE_FILE"
mx_host = "mx.semail.email."
rndc_port = $RNDC_PORT
rndc_key = "$RNDC_KEY"
resolver = "127.0.0.1:$DNS_PORT"
[smtp]
address_map = "$work/state/mailbox.txt"
TOML
  export SEMAIL_CONFIG="$work/semail.toml"
  mkdir -p "$(dirname "$cache")"
  "$bin" image bootstrap --rootfs-cache "$cache" --quiet >/dev/null
}
now() { date +%s.%N; }

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
bench_start_slapd() {   # WORK: only slapd (benchmarks of volumes and Maildirs need no container, no zone)
  work=$1; dock=""
  trap bench_cleanup EXIT
  bash "$here/scripts/slapd.sh" start "$work/slapd" >/dev/null
  . "$work/slapd/env"
}
bench_storage_config() {   # OWNER [DEFAULT_SIZE]: $work/semail.toml for slapd and image volumes only
  cat > "$work/semail.toml" <<TOML
[ldap]
uri = "$LDAP_URI"
bind_dn = "$LDAP_ADMIN_DN"
bind_password_file = "$LDAP_SECRET"
[state]
dir = "$work/state"
[storage]
image_dir = "$work/images"
mail_root = "$work/mail"
fstab = "$work/fstab"
default_size = "${2:-32M}"
owner = "$1"
[smtp]
address_map = "$work/state/mailbox.txt"
TOML
  export SEMAIL_CONFIG="$work/semail.toml"
}
bench_cleanup() {
  if [ "${KEEP:-0}" = 1 ]; then echo "kept: SEMAIL_CONFIG=$work/semail.toml DOCKER_HOST=${DOCKER_HOST:-}" >&2; return; fi
  [ -z "$dock" ] || bash "$here/scripts/dockerd.sh" stop "$dock" >/dev/null 2>&1 || true
  for m in $(findmnt -rn -o TARGET | grep "^$work" | sort -r); do umount "$m" 2>/dev/null || true; done
  for l in $(losetup -nl -O NAME,BACK-FILE | awk -v w="$work" 'index($2,w)==1{print $1}'); do losetup -d "$l" || true; done
  bash "$here/scripts/slapd.sh" stop "$work/slapd" >/dev/null 2>&1 || true
  bash "$here/scripts/named.sh" stop "$work/named" >/dev/null 2>&1 || true
  chattr -f -i "$work"/mail/* "$work"/sh/mail/* 2>/dev/null || true   # sealed mount points
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

# The container part of the admin's shell: render the Dockerfile with sed,
# ssh-keygen, docker build, docker run with semailctl's settings.
#   shell_container UID NUMERIC_ID ADDRESS CONTEXT_DIR MAILDIR
shell_container() {
  local u=$1 id=$2 addr=$3 d=$4 maildir=$5
  local caps="--cap-add AUDIT_WRITE --cap-add CHOWN --cap-add DAC_OVERRIDE --cap-add FOWNER --cap-add KILL --cap-add NET_BIND_SERVICE --cap-add SETGID --cap-add SETUID --cap-add SYS_CHROOT"
  mkdir -p "$d"
  grep -v '^{{[#/]has_packages}}' "$here/bench/Dockerfile.classic" | grep -v 'apt-get\|rm -rf /var/lib/apt' |
    sed -e "s|{{{uid}}}|$u|g" -e "s|{{{address}}}|$addr|g" -e "s|{{{base_image}}}|semail/base:latest|g" \
        -e "s|{{{uid_number}}}|$id|g" -e "s|{{{gid_number}}}|$id|g" > "$d/Dockerfile"
  cp "$work/key.pub" "$d/authorized_keys"
  ssh-keygen -q -t ed25519 -N "" -f "$d/ssh_host_ed25519_key"
  docker build -q -t "semail/shell:$u" "$d" >/dev/null 2>&1
  # shellcheck disable=SC2086
  docker run -d --name "semail-$u" --hostname "$u" --label semail.uid="$u" --label semail.address="$addr" \
    --memory 512m --pids-limit 256 --cap-drop ALL $caps --restart unless-stopped --network semailsh \
    -v "$maildir:/Maildir" "semail/shell:$u" >/dev/null
}

#!/usr/bin/env bash
# The install test (run by `make test` after the Swift tests; alone: `make
# installtest`). Needs root.
#  1. `make install DESTDIR=... PREFIX=/usr/local`, twice, over an existing
#     etc/semail/semail.toml: the file is kept; the binary is stripped and
#     needs no Swift library; man pages, completions, units, data are there.
#  2. `make deb`, then a fresh Debian 12 root without any Swift toolchain
#     (the debootstrap tarball `image bootstrap` caches in
#     /var/cache/semail-test, made here the same way when missing):
#     `apt-get install ./semailctl_*.deb` in a chroot, the package's files,
#     no service started, the conffile, then `dpkg --purge`.
# Phases are functions; `in_root CMD...` runs a command in the chroot
# ($ROOT). The production flow goes in phase_flow, before the purge.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
cd "$here"
[ "$(id -u)" = 0 ] || { echo "installtest: run as root" >&2; exit 1; }

VERSION=$(sed -n 's/^ *version: "\([^"]*\)",.*/\1/p' Sources/Commands/Semailctl.swift)
CACHE=${ROOTFS_CACHE:-/var/cache/semail-test/bookworm-ssh.tar}
MIRROR=${MIRROR:-http://deb.debian.org/debian}
WORK=$(mktemp -d /tmp/semail-installtest.XXXXXX)
ROOT=$WORK/root
export ROOT WORK VERSION
LOG=$WORK/log
passed=0 failed=0
MOUNTS=()

ok() { echo "installtest ok: $*"; passed=$((passed + 1)); }
fail() { echo "installtest FAIL: $*" >&2; failed=$((failed + 1)); }
# check WHAT CMD...: runs CMD (output to $LOG); passes when it exits 0.
check() {
  local what=$1; shift
  if "$@" >>"$LOG" 2>&1; then ok "$what"; else fail "$what (see the lines above: $*)"; tail -5 "$LOG" >&2; fi
}
phase() { echo "installtest: == $* ($(date +%T))"; }

cleanup() {
  local m i
  for ((i = ${#MOUNTS[@]} - 1; i >= 0; i--)); do
    m=${MOUNTS[$i]}
    umount "$m" 2>/dev/null || umount -l "$m" 2>/dev/null || true
  done
  # Never recurse into something still mounted.
  if ! grep -q " $WORK/" /proc/self/mounts; then rm -rf "$WORK"; else echo "installtest: left $WORK (still mounted)" >&2; fi
}
trap cleanup EXIT

# in_root CMD...: runs CMD in the fresh root with a clean environment.
in_root() {
  chroot "$ROOT" /usr/bin/env -i PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
    HOME=/root LANG=C.UTF-8 TERM=dumb DEBIAN_FRONTEND=noninteractive "$@"
}
export -f in_root

# Processes whose root directory is the fresh root (a started service would be one).
root_processes() {
  local p
  for p in /proc/[0-9]*; do
    [ "$(readlink "$p/root" 2>/dev/null)" = "$ROOT" ] && echo "${p#/proc/} $(tr '\0' ' ' < "$p/cmdline" 2>/dev/null)"
  done
  return 0
}

# --- 1. make install into a DESTDIR ------------------------------------------
phase_local() {
  phase "make install DESTDIR PREFIX=/usr/local"
  local d=$WORK/dest p=$WORK/dest/usr/local mine="# the admin's own configuration"
  mkdir -p "$d/etc/semail"; chmod 700 "$d/etc/semail"
  printf '%s\n' "$mine" > "$d/etc/semail/semail.toml"; chmod 600 "$d/etc/semail/semail.toml"
  check "make install (first)" make -s install DESTDIR="$d" PREFIX=/usr/local
  check "make install (second, over the first)" make -s install DESTDIR="$d" PREFIX=/usr/local
  printf '%s\n' "$mine" > "$WORK/mine"
  check "an existing etc/semail/semail.toml is kept" cmp "$WORK/mine" "$d/etc/semail/semail.toml"
  check "an existing etc/semail keeps its mode" test "$(stat -c %a "$d/etc/semail")" = 700
  check "the binary is in sbin and stripped" sh -c "file -L '$p/sbin/semailctl' | grep -q ', stripped'"
  check "the binary needs no Swift library (ldd)" sh -c "ldd '$p/sbin/semailctl' && ! ldd '$p/sbin/semailctl' | grep -Eq 'libswift|libFoundation|not found'"
  check "the binary runs: --version is $VERSION" test "$("$p/sbin/semailctl" --version)" = "$VERSION"
  check "man pages in share/man/man8" test -s "$p/share/man/man8/semailctl.8" -a -s "$p/share/man/man8/semailctl.mailbox.create.8"
  check "man page section 8" grep -q '^\.Dt SEMAILCTL 8' "$p/share/man/man8/semailctl.8"
  check "bash completion" sh -c "grep -q 'complete .*semailctl' '$p/share/bash-completion/completions/semailctl' && bash -n '$p/share/bash-completion/completions/semailctl'"
  check "zsh completion (site-functions under /usr/local)" grep -q '^#compdef semailctl' "$p/share/zsh/site-functions/_semailctl"
  check "fish completion" grep -q "^complete -c 'semailctl'" "$p/share/fish/vendor_completions.d/semailctl.fish"
  check "templates, schema and the example under share/semail" test -s "$p/share/semail/templates/Dockerfile.template" \
    -a -s "$p/share/semail/schema/semail.schema" -a -s "$p/share/semail/examples/semail.toml"
  check "every schema file installed" sh -c "cd schema && for f in *; do cmp \"\$f\" '$p/share/semail/schema/'\"\$f\" || exit 1; done"
  local f bad=0
  while read -r f; do
    [ -f "$p/lib/systemd/system/$f" ] || { echo "missing unit $f" >>"$LOG"; bad=1; continue; }
    if grep -E '^Exec' "$p/lib/systemd/system/$f" | grep semailctl | grep -vq '/usr/local/sbin/semailctl'; then
      echo "unit $f: Exec line not rewritten" >>"$LOG"; bad=1
    fi
  done < <(cd packaging/systemd && find . -type f \( -name '*.service' -o -name '*.timer' -o -name '*.conf' \) | sed 's#^\./##')
  check "every unit of packaging/systemd in lib/systemd/system, ExecStart in the prefix" test $bad = 0
  check "ExecStart=/usr/local/sbin/semailctl" grep -q '^ExecStart=/usr/local/sbin/semailctl ' "$p/lib/systemd/system/semailctl-watch.service"
  check "semail-web in sbin, stripped, runs" sh -c "file -L '$p/sbin/semail-web' | grep -q ', stripped' && '$p/sbin/semail-web' --help | grep -q 'usage: semail-web'"
  check "semail-web.service runs it as semail-web from the prefix" sh -c \
    "grep -q '^ExecStart=/usr/local/sbin/semail-web ' '$p/lib/systemd/system/semail-web.service' && grep -qx 'User=semail-web' '$p/lib/systemd/system/semail-web.service'"
  check "the sudo rule: etc/sudoers.d/semail-web 0440, names the prefix's semailctl" sh -c \
    "[ \"\$(stat -c %a '$d/etc/sudoers.d/semail-web')\" = 440 ] && grep -q 'NOPASSWD: /usr/local/sbin/semailctl ^' '$d/etc/sudoers.d/semail-web'"
  check "visudo -cf accepts the sudo rule" visudo -cf "$d/etc/sudoers.d/semail-web"
  check "the reverse-proxy sample and the sysusers file" test -s "$p/share/semail/examples/nginx-semail-web.conf" \
    -a -s "$p/lib/sysusers.d/semail-web.conf"

  local d2=$WORK/dest2
  check "make install into an empty DESTDIR" make -s install DESTDIR="$d2" PREFIX=/usr/local
  check "a fresh install writes etc/semail/semail.toml 0600 root, the example" sh -c \
    "[ \"\$(stat -c %a:%u:%g '$d2/etc/semail/semail.toml')\" = 600:0:0 ] && cmp '$d2/etc/semail/semail.toml' packaging/semail.toml"
  check "make uninstall leaves only etc/semail" sh -c \
    "make -s uninstall DESTDIR='$d2' PREFIX=/usr/local && [ -z \"\$(find '$d2' -type f ! -path '$d2/etc/semail/*')\" ]"
  rm -rf "$d" "$d2"
}

# --- 2. the Debian package in a fresh root -----------------------------------
# The rootfs tarball `image bootstrap` caches (debootstrap minbase +
# openssh-server, no host keys, no apt lists); made the same way if missing.
make_rootfs_cache() {
  [ -f "$CACHE" ] && return 0
  phase "debootstrap bookworm into $CACHE (about a minute, cached for the next runs)"
  local b=$WORK/bootstrap
  mkdir -p "$(dirname "$CACHE")"
  debootstrap --variant=minbase --include=openssh-server bookworm "$b" "$MIRROR" >>"$LOG" 2>&1
  rm -f "$b"/etc/ssh/ssh_host_*
  find "$b/var/lib/apt/lists" "$b/var/cache/apt/archives" -maxdepth 1 -type f ! -name lock -delete
  tar --numeric-owner --xattrs -C "$b" -cf "$CACHE.tmp-$$" .
  mv "$CACHE.tmp-$$" "$CACHE"
  rm -rf "$b"
}

bind_mount() { mount "$@"; MOUNTS+=("${@: -1}"); }

make_root() {
  make_rootfs_cache
  mkdir -p "$ROOT"
  tar --numeric-owner --xattrs -C "$ROOT" -xf "$CACHE"
  cp -L /etc/resolv.conf "$ROOT/etc/resolv.conf"
  bind_mount -t proc proc "$ROOT/proc"
  bind_mount --bind /sys "$ROOT/sys"
  bind_mount --bind /dev "$ROOT/dev"
}

phase_deb_install() {
  phase "make deb"
  check "make deb" make -s deb
  local deb
  deb=$(ls .build/deb/semailctl_"${VERSION}"_*.deb 2>/dev/null | head -1)
  check "the package is semailctl_${VERSION}_$(dpkg --print-architecture).deb" test -n "$deb"
  [ -n "$deb" ] || return 0
  check "Depends has the libraries and the tools" sh -c "dpkg-deb -f '$deb' Depends | tee -a '$LOG' | grep -q 'libldap-2.5-0' && dpkg-deb -f '$deb' Depends | grep -q 'e2fsprogs'"
  check "control: the description as written" sh -c "dpkg-deb -f '$deb' Description | grep -qF 'run \`semailctl config check\`'"
  check "conffiles: /etc/semail/semail.toml" sh -c "dpkg-deb --ctrl-tarfile '$deb' | tar -xOf - ./conffiles | grep -qx /etc/semail/semail.toml"

  phase "a fresh Debian 12 root, apt-get install ./$(basename "$deb")"
  make_root
  check "the fresh root has no Swift toolchain" sh -c "! ls '$ROOT'/usr/bin/swift* '$ROOT'/usr/lib/swift >/dev/null 2>&1"
  cp "$deb" "$ROOT/tmp/"
  check "apt-get update in the root" in_root apt-get update -q
  check "apt-get install ./$(basename "$deb")" in_root apt-get install -y -q --no-install-recommends "/tmp/$(basename "$deb")"
  check "semailctl --help runs" sh -c "chroot '$ROOT' /usr/sbin/semailctl --help | grep -q 'EXIT CODES'"
  check "semailctl --version is $VERSION" test "$(in_root semailctl --version)" = "$VERSION"
  check "every library found in the root, none from Swift (ldd)" bash -c \
    "in_root ldd /usr/sbin/semailctl > '$WORK/ldd' && ! grep -Eq 'libswift|not found' '$WORK/ldd'"
  check "man page /usr/share/man/man8/semailctl.8.gz" test -s "$ROOT/usr/share/man/man8/semailctl.8.gz"
  check "bash, zsh and fish completions" test -s "$ROOT/usr/share/bash-completion/completions/semailctl" \
    -a -s "$ROOT/usr/share/zsh/vendor-completions/_semailctl" -a -s "$ROOT/usr/share/fish/vendor_completions.d/semailctl.fish"
  check "units in /usr/lib/systemd/system, ExecStart=/usr/sbin/semailctl" \
    grep -q '^ExecStart=/usr/sbin/semailctl ' "$ROOT/usr/lib/systemd/system/semailctl-watch.service"
  check "templates under /usr/share/semail" test -s "$ROOT/usr/share/semail/templates/Dockerfile.template"
  check "the conffile is listed by dpkg" bash -c "in_root dpkg-query -W -f='\${Conffiles}' semailctl | grep -q '/etc/semail/semail.toml'"
  check "the portal's system user semail-web exists" in_root getent passwd semail-web
  check "/etc/semail/semail.toml is 0640 root:semail-web" test \
    "$(in_root stat -c %a:%U:%G /etc/semail/semail.toml)" = 640:root:semail-web
  check "visudo -c accepts /etc/sudoers.d/semail-web in the root" in_root visudo -c
  check "the sudo rule names /usr/sbin/semailctl" grep -q 'NOPASSWD: /usr/sbin/semailctl ^' "$ROOT/etc/sudoers.d/semail-web"
  check "semail-web --help runs; its unit runs it as semail-web" sh -c \
    "chroot '$ROOT' /usr/sbin/semail-web --help | grep -q 'usage: semail-web' && grep -q '^ExecStart=/usr/sbin/semail-web ' '$ROOT/usr/lib/systemd/system/semail-web.service'"
  local procs; procs=$(root_processes)
  check "no service started (no process runs in the root)" test -z "$procs"
  check "no unit enabled" test -z "$(find "$ROOT/etc/systemd/system" -name 'semail*' 2>/dev/null)"
  # The admin edits the configuration; reinstalling keeps it.
  echo '# edited by the admin' >> "$ROOT/etc/semail/semail.toml"
  check "dpkg -i again keeps the edited conffile" bash -c \
    "in_root dpkg -i '/tmp/$(basename "$deb")' && grep -q '^# edited by the admin' '$ROOT/etc/semail/semail.toml'"
}

# --- 3. the production flow (directory setup, config check, user add, ...) ---
phase_flow() {
  phase "the production flow (scripts/installflow.sh)"
  local rc=0
  bash "$here/scripts/installflow.sh" "$ROOT" 2>&1 | tee -a "$LOG" || rc=$?
  if [ "$rc" -eq 0 ]; then ok "the production flow"; else fail "the production flow (exit $rc)"; fi
}

# --- 4. purge: the configuration goes, state and mail stay -------------------
phase_purge() {
  phase "dpkg --purge"
  mkdir -p "$ROOT/var/lib/semail/journal" "$ROOT/home/Personnes/ann/Maildir/new"
  echo state > "$ROOT/var/lib/semail/journal/keep"; echo mail > "$ROOT/home/Personnes/ann/Maildir/new/1.host"
  echo secret > "$ROOT/etc/semail/ldap.secret"
  check "dpkg --purge semailctl" in_root dpkg --purge semailctl
  check "the binary is gone" test ! -e "$ROOT/usr/sbin/semailctl"
  check "the configuration file is gone" test ! -e "$ROOT/etc/semail/semail.toml"
  check "the admin's ldap.secret, /var/lib/semail and the mail are kept" test -s "$ROOT/etc/semail/ldap.secret" \
    -a -s "$ROOT/var/lib/semail/journal/keep" -a -s "$ROOT/home/Personnes/ann/Maildir/new/1.host"
  check "no process left in the root" test -z "$(root_processes)"
}

t0=$(date +%s)
# INSTALLTEST_SKIP_LOCAL=1: only the package part.
[ -n "${INSTALLTEST_SKIP_LOCAL:-}" ] || phase_local
phase_deb_install
if [ -x "$ROOT/usr/sbin/semailctl" ]; then phase_flow; phase_purge; fi
echo "installtest: $(( $(date +%s) - t0 )) s"
echo "installtest: $passed passed, $failed failed"
[ "$failed" -eq 0 ]

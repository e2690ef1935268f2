#!/usr/bin/env bash
# Installs the Debian packages semailctl builds, tests and demos with, only
# those that are missing. Idempotent; runs apt-get update at most once a day.
# Services the packages would start at install time are not started: the
# tests and the demo run their own private instances on loopback.
set -euo pipefail
pkgs=(
  pkg-config libldap2-dev liblvm2-dev libcurl4-openssl-dev   # the C libraries of the design
  slapd ldap-utils                                         # directory (private test/demo instance)
  bind9 bind9-utils bind9-dnsutils                         # named, rndc, named-checkzone, dig
  docker.io busybox-static debootstrap                     # engine and local base images
  lvm2 e2fsprogs util-linux kmod                           # volumes, ext4, loop devices
  qemu-system-x86 linux-image-amd64 cpio                   # LVM tests in a guest (host has no device-mapper)
  postfix                                                  # delivery test: a private instance (no system-wide set-up)
  openssl openssh-client python3 procps psmisc hyperfine time
  dpkg-dev file                                            # make deb (dpkg-shlibdeps), the install test
  chromium chromium-driver sudo curl python3-pip           # the portal's browser test (scripts/webtest.sh)
)
# `deps.sh build`: only what building needs (make release/man/install on a
# server must not install services, a kernel, or an MTA that replaces the
# host's own).
if [ "${1:-}" = build ]; then
  pkgs=(pkg-config libldap2-dev liblvm2-dev libcurl4-openssl-dev)
fi
# The browser test drives chromium with selenium (PyPI), for the python3 the tests run.
selenium() {
  [ "${1:-}" != build ] || return 0
  python3 -c 'import selenium' 2>/dev/null && return 0
  echo "deps: pip install selenium" >&2
  python3 -m pip install -q selenium >&2 || python3 -m pip install -q --break-system-packages selenium >&2
}
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && { selenium "${1:-}"; exit 0; }
if [ "$(id -u)" != 0 ]; then
  echo "deps: missing Debian packages: ${missing[*]}; run as root (or: sudo apt-get install ${missing[*]})" >&2
  exit 1
fi
echo "deps: installing ${missing[*]}" >&2
stamp=/var/lib/apt/periodic/semail-update-stamp
if [ ! -f "$stamp" ] || [ -n "$(find "$stamp" -mmin +1440)" ]; then
  apt-get update -q >&2
  mkdir -p "$(dirname "$stamp")"; touch "$stamp"
fi
# Keep package scripts from starting system-wide slapd/named/dockerd.
policy=/usr/sbin/policy-rc.d
made_policy=0
if [ ! -e "$policy" ]; then
  printf '#!/bin/sh\nexit 101\n' > "$policy"; chmod 755 "$policy"; made_policy=1
fi
trap '[ $made_policy = 1 ] && rm -f "$policy"' EXIT
# Postfix without its questions and without a system-wide main.cf.
[[ " ${missing[*]} " == *" postfix "* ]] && echo "postfix postfix/main_mailer_type select No configuration" | debconf-set-selections
DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing[@]}" >&2
selenium "${1:-}"

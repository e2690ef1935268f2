#!/usr/bin/env bash
# 50 mailbox volumes (image backend): `semailctl volume create` against the
# plain shell sequence (truncate, losetup, mkfs.ext4, mount, mkdir), then
# `volume list --json` against `losetup --json --list` + `findmnt --json`.
# Same run; the ratios are printed last.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
bin=${SEMAILCTL:-$here/.build/debug/semailctl}
n=${N:-50}
work=$(mktemp -d /tmp/semail-bench-vol.XXXXXX)
cleanup() {
  for m in $(findmnt -rn -o TARGET | grep "^$work" | sort -r); do umount "$m" || true; done
  for l in $(losetup -nl -O NAME,BACK-FILE | awk -v w="$work" 'index($2,w)==1{print $1}'); do losetup -d "$l" || true; done
  rm -rf "$work"
}
trap cleanup EXIT
mkdir -p "$work/sh/images" "$work/sh/mail"
cat > "$work/semail.toml" <<TOML
[state]
dir = "$work/state"
[storage]
image_dir = "$work/tool/images"
mail_root = "$work/tool/mail"
owner = "vmail:5000:5000"
fstab = "$work/fstab"
default_size = "64M"
TOML
now() { date +%s.%N; }
t0=$(now)
for i in $(seq 1 "$n"); do
  img="$work/sh/images/u$i.img"; mp="$work/sh/mail/u$i"
  truncate -s 64M "$img"
  dev=$(losetup --find --show "$img")
  mkfs.ext4 -q -L "sm-u$i" -m 0 -E lazy_itable_init=1,lazy_journal_init=1,nodiscard "$dev"
  mkdir -p "$mp"
  mount -o nodev,nosuid,noexec "$dev" "$mp"
  mkdir -p "$mp/Maildir/tmp" "$mp/Maildir/new" "$mp/Maildir/cur"
  chown -R 5000:5000 "$mp"; chmod 700 "$mp" "$mp/Maildir" "$mp/Maildir/tmp" "$mp/Maildir/new" "$mp/Maildir/cur"
done
t1=$(now)
for i in $(seq 1 "$n"); do "$bin" volume create "u$i" --config "$work/semail.toml" --quiet >/dev/null; done
t2=$(now)
for i in 1 2 3 4 5; do losetup --json --list >/dev/null; findmnt --json >/dev/null; done
t3=$(now)
for i in 1 2 3 4 5; do "$bin" volume list --json --config "$work/semail.toml" >/dev/null; done
t4=$(now)
count=$("$bin" volume list --json --config "$work/semail.toml" | python3 -c 'import json,sys; print(len(json.load(sys.stdin)))')
python3 - "$t0" "$t1" "$t2" "$t3" "$t4" "$n" "$count" <<'PY'
import sys
t0,t1,t2,t3,t4=map(float,sys.argv[1:6]); n=int(sys.argv[6]); c=int(sys.argv[7])
sh=t1-t0; tool=t2-t1; ls_sh=(t3-t2)/5; ls_tool=(t4-t3)/5
print(f"shell sequence:          {sh:6.2f} s for {n} volumes")
print(f"semailctl volume create: {tool:6.2f} s for {n} volumes")
print(f"losetup+findmnt --json:  {ls_sh*1000:6.1f} ms")
print(f"semailctl volume list:   {ls_tool*1000:6.1f} ms ({c} volumes)")
print(f"ratios: create {tool/sh:.2f}x the shell (goal <= 1.2x), list {ls_tool/ls_sh:.2f}x (goal <= 1.5x)")
PY

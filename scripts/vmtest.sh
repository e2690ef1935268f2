#!/usr/bin/env bash
# The LVM backend for real, inside a QEMU guest (the host kernel has no
# device-mapper): builds an initramfs with busybox, lvm2, e2fsprogs, the
# semailctl binary and their libraries plus the dm/virtio/ext4 modules,
# boots Debian's kernel with a 1 GiB virtual disk under software emulation,
# runs Tests/vm/scenarios.sh and reads the results from the serial console.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
bin=${SEMAILCTL:-$here/.build/debug/semailctl}
kver=""
for k in $(ls /boot/vmlinuz-* 2>/dev/null | sort -V); do v=${k#/boot/vmlinuz-}; [ -d "/lib/modules/$v" ] && kver=$v; done
kernel=/boot/vmlinuz-$kver
[ -f "$kernel" ] || { echo "vmtest: no kernel at $kernel (apt-get install linux-image-amd64)" >&2; exit 1; }
work=$(mktemp -d /tmp/semail-vmtest.XXXXXX)
trap 'rm -rf "$work"' EXIT
root=$work/root
mkdir -p "$root"/{bin,sbin,etc,proc,sys,dev,lib,lib64,usr/lib,tmp}

copy_with_libs() {
  for f in "$@"; do
    rm -f "$root/bin/$(basename "$f")"; cp -L "$f" "$root/bin/"
    ldd "$f" 2>/dev/null | awk '/=> \//{print $3} /^\t\/lib/{print $1}' | while read -r lib; do
      mkdir -p "$root$(dirname "$lib")"
      [ -e "$root$lib" ] || cp -L "$lib" "$root$lib"
    done
  done
}
cp /bin/busybox "$root/bin/busybox"
for a in $(/bin/busybox --list); do [ -e "$root/bin/$a" ] || ln -s busybox "$root/bin/$a"; done
# semailctl runs LVM in-process (liblvm2cmd, found by ldd); the lvm program
# is for the scenarios' own checks (lvs, pvcreate, vgcreate).
copy_with_libs "$bin" /usr/sbin/lvm /usr/sbin/mke2fs /usr/sbin/e2fsck /usr/sbin/resize2fs /sbin/blkid /sbin/mkswap
rm -f "$root/bin/mkfs.ext4"; ln -s mke2fs "$root/bin/mkfs.ext4"
for t in pvcreate vgcreate lvcreate lvs vgs lvremove lvextend lvchange; do rm -f "$root/bin/$t"; ln -s lvm "$root/bin/$t"; done
cp "$here/Tests/vm/init" "$root/init"; chmod 755 "$root/init"
cp "$here/Tests/vm/scenarios.sh" "$root/scenarios.sh"
: > "$root/modules.order"
for m in dm_mod crc32c_generic ext4 virtio_pci virtio_blk; do
  modprobe -S "$kver" --show-depends "$m" | awk '$1=="insmod"{print $2}' | while read -r ko; do
    grep -qx "$ko" "$root/modules.order" && continue
    mkdir -p "$root$(dirname "$ko")"; cp "$ko" "$root$ko"; echo "$ko" >> "$root/modules.order"
  done
done
(cd "$root" && find . | cpio -o -H newc --quiet | gzip -1) > "$work/initrd.gz"
truncate -s 1G "$work/disk.img"
echo "vmtest: booting $kernel with $(du -h "$work/initrd.gz" | cut -f1) initramfs (software emulation)" >&2
timeout 600 qemu-system-x86_64 -m 1024 -smp 1 -nographic -no-reboot -kernel "$kernel" -initrd "$work/initrd.gz" \
  -append "console=ttyS0 panic=-1 quiet loglevel=3" -drive "file=$work/disk.img,format=raw,if=virtio" \
  -nic none > "$work/console.log" 2>&1 || true
grep -a '^VMTEST' "$work/console.log" | tr -d '\r' || true
ok=$(grep -ac '^VMTEST ok' "$work/console.log" || true)
failed=$(grep -ac '^VMTEST FAIL' "$work/console.log" || true)
if ! grep -aq '^VMTEST done' "$work/console.log"; then
  echo "vmtest: the guest did not finish; last console lines:" >&2; tail -30 "$work/console.log" >&2
  failed=$((failed + 1))
fi
echo "vmtest: $ok passed, $failed failed"
[ "$failed" -eq 0 ]

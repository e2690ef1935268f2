#!/bin/sh
# LVM scenarios for semailctl, run inside the QEMU guest by Tests/vm/init.
# Each check prints "VMTEST ok NAME" or "VMTEST FAIL NAME: why".
B=/bin/semailctl
C=/etc/semail.toml
fails=0
ok() { echo "VMTEST ok $1"; }
fail() { echo "VMTEST FAIL $1: $2"; fails=$((fails + 1)); }
check() { name=$1; shift; if "$@"; then ok "$name"; else fail "$name" "command or condition failed: $*"; fi; }

pvcreate -q /dev/vda && vgcreate -q mvg /dev/vda || { echo "VMTEST FAIL setup: cannot make the volume group"; exit 1; }
cat > $C <<TOML
[state]
dir = "/var/lib/semail"
[storage]
backend = "lvm"
volume_group = "mvg"
mail_root = "/home/Personnes"
owner = "vmail:5000:5000"
fstab = "/etc/fstab"
default_size = "64M"
TOML

# create
out=$($B volume create alice --config $C --json 2>&1); rc=$?
check create-exit [ $rc -eq 0 ]
echo "$out" | grep -q '"formatted" : true' && ok create-formatted || fail create-formatted "$out"
check create-lv lvm lvs mvg/Volalice
check create-mounted grep -q ' /home/Personnes/alice ' /proc/mounts
check create-maildir [ -d /home/Personnes/alice/Maildir/cur ]
[ "$(stat -c '%u:%g:%a' /home/Personnes/alice/Maildir/new)" = "5000:5000:700" ] && ok create-owner || fail create-owner "$(stat -c '%u:%g:%a' /home/Personnes/alice/Maildir/new)"
check create-fstab grep -q '^/dev/mvg/Volalice /home/Personnes/alice ext4 nodev,nosuid,noexec,nofail,x-systemd.before=docker.service 0 2' /etc/fstab
echo "mail" > /home/Personnes/alice/Maildir/new/1.msg

# rerun: reused, not formatted
out=$($B volume create alice --config $C --json 2>&1)
echo "$out" | grep -q '"formatted" : false' && ok rerun-not-formatted || fail rerun-not-formatted "$out"
check rerun-mail-kept [ -f /home/Personnes/alice/Maildir/new/1.msg ]

# list
out=$($B volume list --config $C --json 2>&1)
echo "$out" | grep -q '"mounted" : true' && echo "$out" | grep -q '"backend" : "lvm"' && ok list || fail list "$out"

# resize online
out=$($B volume resize alice 128M --config $C --json 2>&1); rc=$?
[ $rc -eq 0 ] && echo "$out" | grep -q '"size" : 134217728' && ok resize-online || fail resize-online "$out"
check resize-mail-kept [ -f /home/Personnes/alice/Maildir/new/1.msg ]
$B volume resize alice 64M --config $C >/dev/null 2>&1; [ $? -eq 64 ] && ok resize-refuses-shrink || fail resize-refuses-shrink "shrink not refused"

# resize offline: unmounted, the LV and its ext4 grown, mounted again
out=$($B volume resize alice 160M --offline --config $C --json 2>&1); rc=$?
[ $rc -eq 0 ] && echo "$out" | grep -q '"size" : 167772160' && echo "$out" | grep -q '"mounted" : true' \
  && [ -f /home/Personnes/alice/Maildir/new/1.msg ] && ok resize-offline || fail resize-offline "rc=$rc $out"

# LVM runs in-process (liblvm2cmd): no lvm program is needed on PATH
out=$(PATH=/nowhere $B volume list --config $C --json 2>&1); rc=$?
[ $rc -eq 0 ] && echo "$out" | grep -q '"uid" : "alice"' && ok lvm-in-process || fail lvm-in-process "rc=$rc $out"

# an LVM error carries what lvm said (read through the log callback)
sed 's/^volume_group = "mvg"/volume_group = "nosuchvg"/' $C > /tmp/novg.toml
out=$($B volume list --config /tmp/novg.toml 2>&1); rc=$?
[ $rc -ne 0 ] && echo "$out" | grep -q 'Volume group "nosuchvg" not found' && ok lvm-error-message \
  || fail lvm-error-message "rc=$rc $out"

# refuse to format a device that holds a signature
lvm lvcreate -q -n Volbob -L 32M mvg >/dev/null && mkswap /dev/mvg/Volbob >/dev/null 2>&1
out=$($B volume create bob --config $C 2>&1); rc=$?
[ $rc -eq 73 ] && echo "$out" | grep -q swap && ok refuse-to-format || fail refuse-to-format "rc=$rc $out"
blkid -p -o value -s TYPE /dev/mvg/Volbob | grep -q swap && ok refuse-kept-signature || fail refuse-kept-signature "signature gone"

# a size larger than the VG's free space
out=$($B volume create huge --size 10G --config $C 2>&1); rc=$?
[ $rc -eq 73 ] && ! lvm lvs mvg/Volhuge >/dev/null 2>&1 && ok too-big || fail too-big "rc=$rc $out"

# a failed step removes the LV it created
SEMAIL_FAULT=storage.mkfs $B volume create dave --config $C >/dev/null 2>&1; rc=$?
[ $rc -eq 1 ] && ! lvm lvs mvg/Voldave >/dev/null 2>&1 && ok fault-undo || fail fault-undo "rc=$rc, LV left: $(lvm lvs --noheadings mvg 2>&1 | tr '\n' ' ')"

# crash (kill -9) half-way, then rerun completes without formatting twice
SEMAIL_FAULT=kill:storage.mount $B volume create carol --config $C >/dev/null 2>&1; rc=$?
[ $rc -eq 137 ] && ok crash-killed || fail crash-killed "rc=$rc"
out=$($B volume create carol --config $C --json 2>&1); rc=$?
[ $rc -eq 0 ] && echo "$out" | grep -q '"formatted" : false' && ok crash-rerun || fail crash-rerun "rc=$rc $out"

# delete
$B volume delete alice --yes --config $C >/dev/null 2>&1; rc=$?
[ $rc -eq 0 ] && ! lvm lvs mvg/Volalice >/dev/null 2>&1 && ! grep -q alice /proc/mounts && ! grep -q alice /etc/fstab && ok delete || fail delete "rc=$rc"
$B volume delete carol --yes --config $C >/dev/null 2>&1 && ok delete-carol || fail delete-carol "rc=$?"

# quarantine by hand: the LV is deactivated and renamed, unmounted, out of
# fstab; restore brings it back with its mail; purge removes it
$B volume create erin --config $C >/dev/null 2>&1 && echo "keep" > /home/Personnes/erin/Maildir/new/2.msg
out=$($B quarantine add erin --config $C --json 2>&1); rc=$?
id=$(echo "$out" | sed -n 's/.*"id" : "\(.*\)".*/\1/p')
q=$(echo "$out" | sed -n 's/.*"place" : "mvg\/\(.*\)".*/\1/p')
if [ $rc -eq 0 ] && [ -n "$id" ] && [ -n "$q" ] && ! lvm lvs mvg/Volerin >/dev/null 2>&1 \
   && [ -z "$(lvm lvs --noheadings -o lv_active "mvg/$q" | tr -d ' ')" ] \
   && ! grep -q ' /home/Personnes/erin ' /proc/mounts && ! grep -q erin /etc/fstab; then ok quarantine-lvm
else fail quarantine-lvm "rc=$rc q=$q $out $(lvm lvs --noheadings -o lv_name,lv_active mvg 2>&1 | tr '\n' ' ')"; fi
$B quarantine list --config $C 2>&1 | grep -q "^$id " && ok quarantine-list || fail quarantine-list "$id not listed"
out=$($B quarantine restore "$id" --config $C --json 2>&1); rc=$?
if [ $rc -eq 0 ] && lvm lvs mvg/Volerin >/dev/null 2>&1 && ! lvm lvs "mvg/$q" >/dev/null 2>&1 \
   && grep -q ' /home/Personnes/erin ' /proc/mounts && [ "$(cat /home/Personnes/erin/Maildir/new/2.msg 2>/dev/null)" = keep ] \
   && grep -q '^/dev/mvg/Volerin ' /etc/fstab; then ok quarantine-restore
else fail quarantine-restore "rc=$rc $out"; fi
out=$($B quarantine add erin --config $C --json 2>&1)
id=$(echo "$out" | sed -n 's/.*"id" : "\(.*\)".*/\1/p'); q=$(echo "$out" | sed -n 's/.*"place" : "mvg\/\(.*\)".*/\1/p')
$B quarantine purge "$id" --yes --config $C >/dev/null 2>&1; rc=$?
[ $rc -eq 0 ] && [ -n "$q" ] && ! lvm lvs "mvg/$q" >/dev/null 2>&1 && ! lvm lvs mvg/Volerin >/dev/null 2>&1 \
  && [ -z "$($B quarantine list --config $C 2>&1)" ] && ok quarantine-purge || fail quarantine-purge "rc=$rc q=$q"

echo "VMTEST done failures=$fails"

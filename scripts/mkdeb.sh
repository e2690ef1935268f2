#!/usr/bin/env bash
# Builds semailctl_<version>_<arch>.deb from a `make install DESTDIR=<root>
# PREFIX=/usr` tree (`make deb` does both). Depends: the shared libraries the
# binary needs (dpkg-shlibdeps) plus the programs it runs (TOOLS below).
# The maintainer scripts never start or enable a service; purge removes the
# configuration file, never /var/lib/semail or mail.
# Usage: scripts/mkdeb.sh ROOT VERSION OUTDIR
set -euo pipefail
root=$(realpath "$1"); version=$2; out=$(realpath -m "$3")
[ -x "$root/usr/sbin/semailctl" ] || { echo "mkdeb: $root/usr/sbin/semailctl missing (run make deb)" >&2; exit 1; }
[ -n "$version" ] || { echo "mkdeb: no version" >&2; exit 1; }

# Programs semailctl spawns (ProcessRunner argv arrays), by package:
# mkfs.ext4 e2fsck resize2fs; blkid; iptables iptables-restore; ssh-keygen;
# rndc named-checkzone; tar (gzip for the archives).
TOOLS="e2fsprogs, util-linux, iptables, openssh-client, bind9-utils, tar, gzip"
# semail-web runs `sudo -n semailctl ... --as-user` (/etc/sudoers.d/semail-web); its user comes from passwd's useradd.
TOOLS="$TOOLS, sudo, passwd"
# The container engine (local or remote socket), `image bootstrap`, the LVM backend.
RECOMMENDS="docker.io, debootstrap, lvm2"
SUGGESTS="slapd, ldap-utils, bind9"

arch=$(dpkg --print-architecture)
work=$(mktemp -d); trap 'rm -rf "$work"' EXIT

# dpkg-shlibdeps wants a source tree: a minimal debian/control is enough.
mkdir -p "$work/src/debian"
printf 'Source: semailctl\n\nPackage: semailctl\nArchitecture: any\n' > "$work/src/debian/control"
shlibs=$(cd "$work/src" && dpkg-shlibdeps -O "$root/usr/sbin/semailctl" "$root/usr/sbin/semail-web" 2>/dev/null \
  | sed -n 's/^shlibs:Depends=//p')
[ -n "$shlibs" ] || { echo "mkdeb: dpkg-shlibdeps found no libraries" >&2; exit 1; }

# Man pages compressed as Debian does.
find "$root/usr/share/man" -type f -name '*.[0-9]' -exec gzip -9nf {} +

units=$(cd "$root/usr/lib/systemd/system" && find . -maxdepth 1 -type f \( -name 'semailctl*.service' -o -name 'semailctl*.timer' \
  -o -name 'semail-web*.service' \) -printf '%f ' )

mkdir -p "$root/DEBIAN"
cat > "$root/DEBIAN/control" <<EOF
Package: semailctl
Version: $version
Architecture: $arch
Maintainer: semailctl maintainers <root@localhost>
Installed-Size: $(du -sk --exclude=DEBIAN "$root" | cut -f1)
Depends: $shlibs, $TOOLS
Recommends: $RECOMMENDS
Suggests: $SUGGESTS
Section: admin
Priority: optional
Description: provision a multi-user mail host (LDAP users, volumes, containers, DNS)
 semailctl keeps a mail host in step with its LDAP directory: one storage
 volume per mailbox (image file on a loop device, or LVM), ext4, Maildir,
 one Docker container per user, MX records in a bind9 zone, and the address
 map for the SMTP servers. Transactional, idempotent, with reconcile.
 .
EOF
# Quoted: nothing below is expanded.
cat >> "$root/DEBIAN/control" <<'EOF'
 Nothing is started or enabled on install: edit /etc/semail/semail.toml,
 run `semailctl config check`, then enable semailctl-watch.service.
EOF
find "$root/etc" -type f | sed "s#^$root##" | sort > "$root/DEBIAN/conffiles"

cat > "$root/DEBIAN/postinst" <<'EOF'
#!/bin/sh
set -e
# The portal's system user (usr/lib/sysusers.d/semail-web.conf), and its
# read access to the configuration (it holds no secret: the LDAP password is
# in ldap.secret, root's). Units are installed, never enabled or started here.
if [ "$1" = configure ]; then
  if ! getent passwd semail-web >/dev/null; then
    useradd --system --user-group --no-create-home --home-dir /nonexistent --shell /usr/sbin/nologin \
      --comment "semailctl self-service portal" semail-web
  fi
  if [ -f /etc/semail/semail.toml ] && [ "$(stat -c %U:%G /etc/semail/semail.toml)" = root:root ]; then
    chgrp semail-web /etc/semail/semail.toml && chmod 0640 /etc/semail/semail.toml
  fi
  if [ -d /run/systemd/system ]; then systemctl daemon-reload >/dev/null 2>&1 || true; fi
fi
exit 0
EOF
cat > "$root/DEBIAN/prerm" <<EOF
#!/bin/sh
set -e
# On removal (not upgrade) stop what the admin started from our units.
if [ "\$1" = remove ] && [ -d /run/systemd/system ]; then
  for u in $units; do systemctl stop "\$u" >/dev/null 2>&1 || true; done
fi
exit 0
EOF
cat > "$root/DEBIAN/postrm" <<EOF
#!/bin/sh
set -e
if [ "\$1" = purge ]; then
  # The configuration file (dpkg removes a conffile on purge too) and its
  # dpkg leftovers; the directory only if nothing else (ldap.secret) is there.
  # Never /var/lib/semail (journal, quarantine, images) or the mail.
  rm -f /etc/semail/semail.toml /etc/semail/semail.toml.dpkg-old /etc/semail/semail.toml.dpkg-new /etc/semail/semail.toml.dpkg-dist
  rmdir /etc/semail 2>/dev/null || true
  # Links left by \`systemctl enable\` of our units.
  for u in $units; do find /etc/systemd/system -maxdepth 2 -type l -name "\$u" -delete 2>/dev/null || true; done
fi
if [ -d /run/systemd/system ]; then systemctl daemon-reload >/dev/null 2>&1 || true; fi
exit 0
EOF
chmod 0755 "$root/DEBIAN/postinst" "$root/DEBIAN/prerm" "$root/DEBIAN/postrm"
chmod 0644 "$root/DEBIAN/control" "$root/DEBIAN/conffiles"

mkdir -p "$out"
deb="$out/semailctl_${version}_${arch}.deb"
dpkg-deb --root-owner-group -Zxz -z6 --build "$root" "$deb" >/dev/null
echo "$deb"

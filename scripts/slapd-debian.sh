#!/usr/bin/env bash
# A private slapd configured the way Debian 12's slapd package configures it
# on a default (debconf) install: cn=config built by slapadd from
# /usr/share/slapd/slapd.init.ldif with the postinst's substitutions, an mdb
# database for the suffix holding only the base entry, the package's ACLs
# (root over ldapi via SASL EXTERNAL manages cn=config and the frontend,
# everyone else reads the database), no syncprov, no openssh-lpk, no semail
# schema. Only its paths are private (pid/args files, database, socket).
#   scripts/slapd-debian.sh start DIR [PORT]  -> writes DIR/env (shell variables)
#   scripts/slapd-debian.sh stop DIR          -> stops it and removes DIR
set -euo pipefail
cmd=${1:?usage: slapd-debian.sh start|stop DIR [PORT]}
dir=${2:?usage: slapd-debian.sh start|stop DIR [PORT]}
domain="semail.email"
base="dc=semail,dc=email"   # postinst: dc=`echo $domain | sed 's/\./,dc=/g'`
dc="semail"
admin="cn=admin,$base"

. "$(dirname "$0")/lib.sh"

case "$cmd" in
start)
  mkdir -p "$dir/slapd.d" "$dir/db"
  dir=$(cd "$dir" && pwd)
  port=${3:-$(free_port)}
  sock="$dir/ldapi"
  enc_sock=$(python3 -c 'import sys,urllib.parse; print(urllib.parse.quote(sys.argv[1], safe=""))' "$sock")
  pw=$(head -c 18 /dev/urandom | base64 | tr -d '/+=')
  install -m 600 /dev/null "$dir/admin.secret"
  printf "%s" "$pw" > "$dir/admin.secret"
  # postinst crypt_admin_pass / create_new_slapd_conf: the hash, then the
  # init LDIF with @SUFFIX@ and @PASSWORD@ replaced; here also the three
  # system paths made private.
  hash=$(slappasswd -s "$pw")
  sed -e "s|@SUFFIX@|$base|g" -e "s|@PASSWORD@|$hash|g" \
      -e "s|^olcPidFile: .*|olcPidFile: $dir/slapd.pid|" \
      -e "s|^olcArgsFile: .*|olcArgsFile: $dir/slapd.args|" \
      -e "s|^olcDbDirectory: .*|olcDbDirectory: $dir/db|" \
      /usr/share/slapd/slapd.init.ldif > "$dir/init.ldif"
  slapadd -F "$dir/slapd.d" -b "cn=config" -l "$dir/init.ldif" >/dev/null 2>"$dir/slapadd.log" || { cat "$dir/slapadd.log" >&2; exit 1; }
  # postinst create_new_directory: the base entry only (organization = domain).
  cat > "$dir/base.ldif" <<LDIF
dn: $base
objectClass: top
objectClass: dcObject
objectClass: organization
o: $domain
dc: $dc

LDIF
  slapadd -F "$dir/slapd.d" -b "$base" -l "$dir/base.ldif" >/dev/null 2>"$dir/slapadd.log" || { cat "$dir/slapadd.log" >&2; exit 1; }
  # Debian's default SLAPD_SERVICES is "ldap:/// ldapi:///"; here a private
  # socket and a loopback port.
  slapd -F "$dir/slapd.d" -h "ldapi://$enc_sock/ ldap://127.0.0.1:$port/" -n semail-slapd-debian
  for _ in $(seq 1 100); do
    if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && [ -S "$sock" ]; then break; fi
    sleep 0.05
  done
  cat > "$dir/env" <<ENV
SLAPD_DIR=$dir
SLAPD_CONFIG_DIR=$dir/slapd.d
LDAP_PORT=$port
LDAP_URI=ldap://127.0.0.1:$port
LDAPI_URI=ldapi://$enc_sock
LDAP_BASE=$base
LDAP_ADMIN_DN=$admin
LDAP_SECRET=$dir/admin.secret
ENV
  echo "Debian-like slapd running on 127.0.0.1:$port and $sock (pid $(cat "$dir/slapd.pid")), env in $dir/env"
  ;;
stop)
  stop_service "$dir" "$dir/slapd.pid"
  ;;
*) echo "usage: slapd-debian.sh start|stop DIR [PORT]" >&2; exit 64 ;;
esac

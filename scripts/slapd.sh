#!/usr/bin/env bash
# A private slapd for tests, the demo and benchmarks: its own config, database,
# port on 127.0.0.1, ldapi socket and test CA. Nothing system-wide is touched.
#   scripts/slapd.sh start DIR [PORT]   -> writes DIR/env (shell variables)
#   scripts/slapd.sh stop DIR           -> stops it and removes DIR
# SLAPD_SYNCPROV=no: without the syncprov overlay (as Debian's slapd comes).
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
cmd=${1:?usage: slapd.sh start|stop DIR [PORT]}
dir=${2:?usage: slapd.sh start|stop DIR [PORT]}
base="dc=semail,dc=email"
admin="cn=admin,$base"

. "$(dirname "$0")/lib.sh"

case "$cmd" in
start)
  mkdir -p "$dir/db"
  dir=$(cd "$dir" && pwd)
  port=${3:-$(free_port)}
  tls_port=$(free_port)
  syncprov_module="moduleload syncprov"
  syncprov_overlay=$'# Content Synchronization (RFC 4533) for reconcile --watch.\noverlay syncprov\nsyncprov-checkpoint 100 10'
  if [ "${SLAPD_SYNCPROV:-yes}" = no ]; then syncprov_module=""; syncprov_overlay=""; fi
  sock="$dir/ldapi"
  enc_sock=$(python3 -c 'import sys,urllib.parse; print(urllib.parse.quote(sys.argv[1], safe=""))' "$sock")
  pw=$(head -c 18 /dev/urandom | base64 | tr -d '/+=' )
  install -m 600 /dev/null "$dir/admin.secret"
  printf "%s" "$pw" > "$dir/admin.secret"
  hash=$(slappasswd -s "$pw")
  # Test CA and a server certificate for 127.0.0.1/localhost (StartTLS, ldaps).
  (
    cd "$dir"
    openssl req -x509 -newkey rsa:2048 -nodes -keyout ca.key -out ca.crt -days 2 -subj "/CN=semail test CA" >/dev/null 2>&1
    openssl req -newkey rsa:2048 -nodes -keyout server.key -out server.csr -subj "/CN=localhost" >/dev/null 2>&1
    printf 'subjectAltName=DNS:localhost,IP:127.0.0.1\n' > san.ext
    openssl x509 -req -in server.csr -CA ca.crt -CAkey ca.key -CAcreateserial -out server.crt -days 2 -extfile san.ext >/dev/null 2>&1
    chmod 600 server.key ca.key
  )
  cat > "$dir/slapd.conf" <<CONF
include /etc/ldap/schema/core.schema
include /etc/ldap/schema/cosine.schema
include /etc/ldap/schema/inetorgperson.schema
include /etc/ldap/schema/nis.schema
include $here/schema/openssh-lpk.schema
include $here/schema/semail.schema
include $here/schema/semail-software.schema
# As Debian ships slapd (olcLogLevel: none): no per-operation log formatting.
loglevel none
pidfile $dir/slapd.pid
argsfile $dir/slapd.args
modulepath /usr/lib/ldap
moduleload back_mdb
$syncprov_module
# A small plain size limit, unlimited for paged searches: clients must page.
sizelimit size.soft=500 size.hard=500 size.prtotal=unlimited
# As some sites run it: a DN with an empty password binds, unauthenticated
# (RFC 4513 5.1.2). semailctl must never send one.
allow bind_anon_dn
TLSCACertificateFile $dir/ca.crt
TLSCertificateFile $dir/server.crt
TLSCertificateKeyFile $dir/server.key
authz-regexp "gidNumber=0\\\\+uidNumber=0,cn=peercred,cn=external,cn=auth" "$admin"
database mdb
maxsize 2147483648
# A throwaway instance: no fsync per write (both tools in the benchmarks get the same server).
dbnosync
suffix "$base"
rootdn "$admin"
rootpw $hash
directory $dir/db
index objectClass eq
index uid,mail,semailMailbox eq,pres
access to attrs=userPassword by self write by anonymous auth by * none
# A permissive site: users edit their own keys and mailbox attributes (the
# attack tests write them as the user; semailctl must not trust them).
access to attrs=sshPublicKey,semailMailbox,semailVolumeSize,mail by self write by users read by * none
access to * by self read by users read by * none
$syncprov_overlay
CONF
  cat > "$dir/base.ldif" <<LDIF
dn: $base
objectClass: top
objectClass: dcObject
objectClass: organization
o: SEMail
dc: semail

dn: ou=Personnes,$base
objectClass: organizationalUnit
ou: Personnes
LDIF
  slapadd -q -f "$dir/slapd.conf" -l "$dir/base.ldif" >/dev/null
  slapd -f "$dir/slapd.conf" -h "ldap://127.0.0.1:$port/ ldaps://127.0.0.1:$tls_port/ ldapi://$enc_sock/" -n semail-slapd
  for _ in $(seq 1 100); do
    if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then break; fi
    sleep 0.05
  done
  cat > "$dir/env" <<ENV
SLAPD_DIR=$dir
LDAP_PORT=$port
LDAP_URI=ldap://127.0.0.1:$port
LDAPS_PORT=$tls_port
LDAPS_URI=ldaps://127.0.0.1:$tls_port
LDAPI_URI=ldapi://$enc_sock
LDAP_BASE=$base
LDAP_ADMIN_DN=$admin
LDAP_SECRET=$dir/admin.secret
LDAP_CA=$dir/ca.crt
ENV
  echo "slapd running on 127.0.0.1:$port (pid $(cat "$dir/slapd.pid")), env in $dir/env"
  ;;
stop)
  stop_service "$dir" "$dir/slapd.pid"
  ;;
halt)
  halt_service "$dir/slapd.pid"
  ;;
resume)
  . "$dir/env"
  enc_sock=${LDAPI_URI#ldapi://}
  slapd -f "$dir/slapd.conf" -h "ldap://127.0.0.1:$LDAP_PORT/ ${LDAPS_URI:+$LDAPS_URI/ }ldapi://$enc_sock/" -n semail-slapd
  for _ in $(seq 1 100); do
    if (exec 3<>"/dev/tcp/127.0.0.1/$LDAP_PORT") 2>/dev/null; then break; fi
    sleep 0.05
  done
  ;;
*) echo "usage: slapd.sh start|stop|halt|resume DIR [PORT]" >&2; exit 64 ;;
esac

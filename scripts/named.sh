#!/usr/bin/env bash
# A private named for tests, the demo and benchmarks: its own config, rndc key
# and ports on 127.0.0.1, and two master zones: semail.email (static) and
# dyn.semail.test (dynamic: allow-update with the rndc key, has a journal).
#   scripts/named.sh start DIR   -> writes DIR/env (shell variables)
#   scripts/named.sh stop DIR    -> stops it and removes DIR
set -euo pipefail
cmd=${1:?usage: named.sh start|stop DIR}
dir=${2:?usage: named.sh start|stop DIR}
. "$(dirname "$0")/lib.sh"
zone_text() {
  cat <<ZONE
; test zone for semailctl ($1)
\$TTL 3600
@	IN	SOA	ns1.$1. hostmaster.$1. (
		2026010100 ; serial
		3600       ; refresh
		900        ; retry
		604800     ; expire
		300 )      ; minimum
	IN	NS	ns1.$1.
ns1	IN	A	127.0.0.1
mx	IN	A	127.0.0.1
www	IN	A	192.0.2.80
manual	IN	MX	20 mx.$1.
ZONE
}
case "$cmd" in
start)
  mkdir -p "$dir"
  dir=$(cd "$dir" && pwd)
  port=${DNS_PORT:-$(free_port)}
  rport=$(free_port)
  rndc-confgen -a -A hmac-sha256 -k semail-test -c "$dir/rndc.key" >/dev/null 2>&1
  chmod 600 "$dir/rndc.key"
  zone_text semail.email > "$dir/db.semail.email"
  zone_text dyn.semail.test > "$dir/db.dyn.semail.test"
  cat > "$dir/named.conf" <<CONF
include "$dir/rndc.key";
options {
  directory "$dir";
  pid-file "$dir/named.pid";
  session-keyfile "$dir/session.key";
  managed-keys-directory "$dir";
  listen-on port $port { 127.0.0.1; };
  listen-on-v6 { none; };
  recursion no;
  dnssec-validation no;
  notify no;
  allow-new-zones yes;   # tests add a zone of their own with rndc addzone
};
controls { inet 127.0.0.1 port $rport allow { 127.0.0.1; } keys { "semail-test"; }; };
logging { channel log { file "$dir/named.log"; severity info; print-time yes; }; category default { log; }; };
zone "semail.email" { type primary; file "$dir/db.semail.email"; };
zone "dyn.semail.test" { type primary; file "$dir/db.dyn.semail.test"; allow-update { key "semail-test"; }; };
CONF
  named -4 -c "$dir/named.conf"
  for _ in $(seq 1 100); do
    if rndc -s 127.0.0.1 -p "$rport" -k "$dir/rndc.key" status >/dev/null 2>&1; then break; fi
    sleep 0.1
  done
  rndc -s 127.0.0.1 -p "$rport" -k "$dir/rndc.key" status >/dev/null
  cat > "$dir/env" <<ENV
NAMED_DIR=$dir
DNS_PORT=$port
RNDC_PORT=$rport
RNDC_KEY=$dir/rndc.key
ZONE_FILE=$dir/db.semail.email
DYN_ZONE=dyn.semail.test
DYN_ZONE_FILE=$dir/db.dyn.semail.test
ENV
  echo "named running on 127.0.0.1:$port (rndc on $rport, pid $(cat "$dir/named.pid")), env in $dir/env"
  ;;
stop)
  stop_service "$dir" "$dir/named.pid"
  ;;
halt)
  halt_service "$dir/named.pid"
  ;;
resume)
  named -4 -c "$dir/named.conf"
  . "$dir/env"
  for _ in $(seq 1 100); do dig @127.0.0.1 -p "$DNS_PORT" +short +time=1 +tries=1 semail.email SOA >/dev/null 2>&1 && break; sleep 0.05; done
  ;;
*) echo "usage: named.sh start|stop DIR" >&2; exit 64 ;;
esac

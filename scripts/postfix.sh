#!/usr/bin/env bash
# A private Postfix (Debian's package) for the delivery test and the demo:
# its own config, queue and data directories under DIR, one smtpd on a
# loopback port, no chroot, no other listener, a log file instead of syslog.
# Nothing system-wide is touched (the package's /etc/postfix is only read
# for postfix-files).
#   scripts/postfix.sh start DIR [PORT]  -> writes DIR/env; main.cf gets DIR/extra.cf appended
#   scripts/postfix.sh stop DIR          -> stops it and removes DIR
set -euo pipefail
cmd=${1:?usage: postfix.sh start|stop DIR [PORT]}
dir=${2:?usage: postfix.sh start|stop DIR [PORT]}

. "$(dirname "$0")/lib.sh"

case "$cmd" in
start)
  mkdir -p "$dir/etc" "$dir/queue" "$dir/data"
  dir=$(cd "$dir" && pwd)
  chmod 755 "$dir" "$dir/etc" "$dir/queue"
  chown postfix "$dir/data"
  port=${3:-$(free_port)}
  cat > "$dir/etc/main.cf" <<CONF
compatibility_level = 3.6
queue_directory = $dir/queue
data_directory = $dir/data
maillog_file_prefixes = $dir
maillog_file = $dir/maillog
mail_owner = postfix
inet_interfaces = 127.0.0.1
inet_protocols = ipv4
myhostname = mx.semail.test
mydestination =
mynetworks = 127.0.0.0/8
relay_domains =
# As a public MX: only the virtual domains, whoever connects.
smtpd_relay_restrictions = reject_unauth_destination
alias_maps =
alias_database =
local_recipient_maps =
biff = no
smtpd_banner = \$myhostname ESMTP
CONF
  [ -f "$dir/extra.cf" ] && cat "$dir/extra.cf" >> "$dir/etc/main.cf"
  # The services a delivery needs; chroot (5th column) off everywhere.
  cat > "$dir/etc/master.cf" <<CONF
127.0.0.1:$port inet n - n - - smtpd
cleanup   unix n - n - 0 cleanup
qmgr      unix n - n 300 1 qmgr
rewrite   unix - - n - - trivial-rewrite
bounce    unix - - n - 0 bounce
defer     unix - - n - 0 bounce
trace     unix - - n - 0 bounce
verify    unix - - n - 1 verify
flush     unix n - n 1000? 0 flush
proxymap  unix - - n - - proxymap
showq     unix n - n - - showq
error     unix - - n - - error
retry     unix - - n - - error
discard   unix - - n - - discard
smtp      unix - - n - - smtp
relay     unix - - n - - smtp
local     unix - n n - - local
virtual   unix - n n - - virtual
anvil     unix - - n - 1 anvil
scache    unix - - n - 1 scache
postlog   unix-dgram n - n - 1 postlogd
CONF
  postfix -c "$dir/etc" check >&2
  postfix -c "$dir/etc" start >&2
  for _ in $(seq 1 100); do
    if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then break; fi
    sleep 0.05
  done
  cat > "$dir/env" <<ENV
POSTFIX_DIR=$dir
POSTFIX_CONFIG=$dir/etc
SMTP_PORT=$port
POSTFIX_LOG=$dir/maillog
ENV
  echo "postfix running on 127.0.0.1:$port (pid $(cat "$dir/queue/pid/master.pid" | tr -d ' ')), env in $dir/env"
  ;;
stop)
  [ -d "$dir" ] || exit 0
  pidfile="$dir/queue/pid/master.pid"
  if [ -f "$pidfile" ]; then
    pid=$(tr -d ' ' < "$pidfile")
    children=$(pgrep -P "$pid" || true)
    postfix -c "$dir/etc" stop >/dev/null 2>&1 || true
    for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.05; done
    for p in $pid $children; do kill -9 "$p" 2>/dev/null || true; done
  fi
  rm -rf "$dir"
  ;;
*) echo "usage: postfix.sh start|stop DIR [PORT]" >&2; exit 64 ;;
esac

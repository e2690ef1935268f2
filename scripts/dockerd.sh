#!/usr/bin/env bash
# A private dockerd for tests, the demo and benchmarks: its own data root,
# exec root and Unix socket under DIR (no TCP), no default bridge (the tool
# makes its own network). Nothing can be pulled here: images are imported.
#   scripts/dockerd.sh start DIR   -> writes DIR/env (DOCKER_SOCK, DOCKER_HOST)
#   scripts/dockerd.sh stop DIR    -> stops it, unmounts what it left, removes DIR
set -euo pipefail
. "$(dirname "$0")/lib.sh"
cmd=${1:?usage: dockerd.sh start|stop DIR}
dir=${2:?usage: dockerd.sh start|stop DIR}
case "$cmd" in
halt)
  halt_service "$dir/dockerd.pid"
  ;;
start|resume)
  mkdir -p "$dir"
  dir=$(cd "$dir" && pwd)
  # Short paths: a Unix socket path is limited to 107 bytes.
  sock="$dir/d.sock"
  # One start at a time: daemons starting together race to create the same
  # iptables chains ("Chain already exists") and one of them dies. The lock
  # is held until this daemon answers; the daemon itself does not inherit it.
  exec 9>/tmp/.semail-dockerd-start.lock
  flock 9
  # Each daemon gets its own /16 for its networks: two daemons handing out
  # the same subnet put two bridges on one route, and a connection to a
  # container reached the other daemon's container (seen as a failed ssh).
  pools=/tmp/.semail-dockerd-pools
  mkdir -p "$pools"
  pool=""
  if [ -f "$dir/pool" ]; then pool=$(cat "$dir/pool"); fi
  if [ -z "$pool" ]; then
    routes=$(ip -4 route)   # once, into a variable: grep -q on a pipe breaks it under pipefail
    for n in $(seq 18 31); do
      # Taken while its daemon lives (or starts: no pid file yet, entry fresh).
      owner=$(cat "$pools/$n" 2>/dev/null || true)
      if [ -n "$owner" ] && [ -d "$owner" ]; then
        if [ -f "$owner/dockerd.pid" ] && kill -0 "$(cat "$owner/dockerd.pid")" 2>/dev/null; then continue; fi
        if [ ! -f "$owner/dockerd.pid" ] && [ -z "$(find "$pools/$n" -mmin +2)" ]; then continue; fi
      fi
      grep -q "^172\.$n\." <<<"$routes" && continue
      pool=$n; echo "$dir" > "$pools/$n"; echo "$n" > "$dir/pool"; break
    done
  fi
  [ -n "$pool" ] || { echo "dockerd.sh: no free 172.N.0.0/16 pool (18-31) for another daemon" >&2; exit 1; }
  dockerd --data-root "$dir/data" --exec-root "$dir/exec" --pidfile "$dir/dockerd.pid" \
    -H "unix://$sock" --bridge=none --log-level=warn \
    --default-address-pool "base=172.$pool.0.0/16,size=24" > "$dir/dockerd.log" 2>&1 9>&- &
  for _ in $(seq 1 200); do
    if [ -S "$sock" ] && curl -sf --unix-socket "$sock" http://localhost/_ping >/dev/null 2>&1; then break; fi
    sleep 0.1
  done
  curl -sf --unix-socket "$sock" http://localhost/_ping >/dev/null || { echo "dockerd did not start:" >&2; tail -20 "$dir/dockerd.log" >&2; exit 1; }
  exec 9>&-
  printf 'DOCKER_DIR=%s\nDOCKER_SOCK=%s\nDOCKER_HOST=unix://%s\n' "$dir" "$sock" "$sock" > "$dir/env"
  echo "dockerd running on $sock (pid $(cat "$dir/dockerd.pid")), env in $dir/env"
  ;;
stop)
  [ -d "$dir" ] || exit 0
  if [ -S "$dir/d.sock" ]; then
    # Remove what the tests left so no container outlives its daemon.
    ids=$(curl -s --unix-socket "$dir/d.sock" 'http://localhost/containers/json?all=1' | python3 -c 'import json,sys; print(" ".join(c["Id"] for c in json.load(sys.stdin)))' 2>/dev/null || true)
    for id in $ids; do curl -s -X DELETE --unix-socket "$dir/d.sock" "http://localhost/containers/$id?force=1" >/dev/null || true; done
    # And its networks: dockerd leaves their bridges and iptables rules behind
    # when it is stopped, and the address pools run out after a few dozen runs.
    nets=$(curl -s --unix-socket "$dir/d.sock" 'http://localhost/networks' | python3 -c 'import json,sys; print(" ".join(n["Id"] for n in json.load(sys.stdin) if n["Name"] not in ("bridge","host","none")))' 2>/dev/null || true)
    for id in $nets; do
      for _ in $(seq 1 20); do   # a container's endpoint may still be going away
        code=$(curl -s -o /dev/null -w '%{http_code}' -X DELETE --unix-socket "$dir/d.sock" "http://localhost/networks/$id" || true)
        case "$code" in 204|404) break ;; esac
        sleep 0.2
      done
    done
  fi
  if [ -f "$dir/dockerd.pid" ]; then
    pid=$(cat "$dir/dockerd.pid")
    kill "$pid" 2>/dev/null || true
    for _ in $(seq 1 200); do kill -0 "$pid" 2>/dev/null || break; sleep 0.05; done
    kill -9 "$pid" 2>/dev/null || true
  fi
  for id in ${nets:-}; do
    br="br-${id:0:12}"
    ip link delete "$br" 2>/dev/null || true
    for t in filter nat; do
      iptables -t "$t" -S 2>/dev/null | grep -- "$br" | grep '^-A' | sed 's/^-A //' | while read -r rule; do
        eval "iptables -t $t -D $rule" 2>/dev/null || true
      done || true   # grep finds nothing once dockerd removed them itself (pipefail would end the script here)
    done
    # semailctl's own chains for that network (their hooks named the bridge, so they are gone above).
    for c in "SEMAIL-F-${id:0:12}" "SEMAIL-I-${id:0:12}"; do
      iptables -w -F "$c" 2>/dev/null && iptables -w -X "$c" 2>/dev/null || true
    done
  done
  for m in $(awk -v d="$dir" 'index($2,d)==1{print $2}' /proc/self/mounts | sort -r); do umount -l "$m" 2>/dev/null || true; done
  if [ -f "$dir/pool" ]; then rm -f "/tmp/.semail-dockerd-pools/$(cat "$dir/pool")"; fi
  rm -rf "$dir"
  ;;
*) echo "usage: dockerd.sh start|stop|halt|resume DIR" >&2; exit 64 ;;
esac

# Shared by the private-service scripts (slapd.sh, named.sh, ...).

# A free TCP port on 127.0.0.1.
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

# Stops the daemon whose pid is in PIDFILE (TERM, then KILL after 5 s) and
# removes DIR.
stop_service() {
  local dir=$1 pidfile=$2
  [ -d "$dir" ] || return 0
  if [ -f "$pidfile" ]; then
    local pid
    pid=$(cat "$pidfile")
    kill "$pid" 2>/dev/null || true
    for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.05; done
    kill -9 "$pid" 2>/dev/null || true
  fi
  rm -rf "$dir"
}

# Stops the daemon whose pid is in PIDFILE but keeps its directory, so
# `resume` can start it again on the same data (outage tests).
halt_service() {
  local pidfile=$1
  [ -f "$pidfile" ] || return 0
  local pid
  pid=$(cat "$pidfile")
  kill "$pid" 2>/dev/null || true
  for _ in $(seq 1 200); do kill -0 "$pid" 2>/dev/null || break; sleep 0.05; done
  kill -9 "$pid" 2>/dev/null || true
  rm -f "$pidfile"
}

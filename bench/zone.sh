#!/usr/bin/env bash
# zone add-mx (parse, edit, named-checkzone, atomic write, rndc reload) on a
# 10,000-record zone, against named-checkzone alone on the same file, same
# run, against a private named. Last line: the ratio.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
bin=${SEMAILCTL:-$here/.build/debug/semailctl}
work=$(mktemp -d /tmp/semail-bench-zone.XXXXXX)
trap 'bash "$here/scripts/named.sh" stop "$work/named" >/dev/null 2>&1 || true; rm -rf "$work"' EXIT
bash "$here/scripts/named.sh" start "$work/named" >/dev/null
. "$work/named/env"
python3 - >> "$ZONE_FILE" <<'PY'
for i in range(10000):
    kind = i % 4
    if kind == 0: print(f"host{i}\tIN\tA\t10.{i//65536%256}.{i//256%256}.{i%256}")
    elif kind == 1: print(f"host{i}\t300\tIN\tAAAA\t2001:db8::{i:x}")
    elif kind == 2: print(f"txt{i}\tIN\tTXT\t\"v=spf1 -all ; record {i}\"")
    else: print(f"mail{i}\tIN\tMX\t10 mx.semail.email.")
PY
rndc -s 127.0.0.1 -p "$RNDC_PORT" -k "$RNDC_KEY" reload semail.email >/dev/null
cat > "$work/semail.toml" <<TOML
[dns]
zone = "semail.email"
zone_file = "$ZONE_FILE"
mx_host = "mx.semail.email."
rndc_port = $RNDC_PORT
rndc_key = "$RNDC_KEY"
TOML
runs=${RUNS:-10}
now() { date +%s.%N; }
t0=$(now)
for i in $(seq 1 "$runs"); do named-checkzone semail.email "$ZONE_FILE" >/dev/null; done
t1=$(now)
for i in $(seq 1 "$runs"); do "$bin" zone add-mx "bench$i" --config "$work/semail.toml" --quiet >/dev/null; done
t2=$(now)
python3 - "$t0" "$t1" "$t2" "$runs" <<'PY'
import sys
t0,t1,t2=map(float,sys.argv[1:4]); n=int(sys.argv[4])
a=(t1-t0)/n; b=(t2-t1)/n
print(f"named-checkzone alone:      {a*1000:8.1f} ms per run (10,000-record zone)")
print(f"semailctl zone add-mx:      {b*1000:8.1f} ms per edit (parse, edit, check, write, reload)")
print(f"ratio semailctl/checkzone: {b/a:.2f}x (goal <= 2x)")
PY

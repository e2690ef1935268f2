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
runs=${RUNS:-15}
ms() { echo "$EPOCHREALTIME"; }
: > "$work/times"
for i in $(seq 1 "$runs"); do
  a=$(ms); named-checkzone semail.email "$ZONE_FILE" >/dev/null; b=$(ms)
  "$bin" zone add-mx "bench$i" --config "$work/semail.toml" --quiet >/dev/null; c=$(ms)
  echo "$a $b $c" >> "$work/times"
done
python3 - "$work/times" <<'PY'
import sys, statistics
rows=[list(map(float,l.split())) for l in open(sys.argv[1])]
a=statistics.median(r[1]-r[0] for r in rows); b=statistics.median(r[2]-r[1] for r in rows)
print(f"named-checkzone alone:      {a*1000:8.1f} ms (median of {len(rows)}, 10,000-record zone)")
print(f"semailctl zone add-mx:      {b*1000:8.1f} ms (parse, edit, check, write, reload)")
print(f"ratio semailctl/checkzone: {b/a:.2f}x (goal <= 2x)")
PY

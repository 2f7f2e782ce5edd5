#!/usr/bin/env bash
# Where a server's fan-out goes besides CPU: system calls and context switches (each
# one a thread put to sleep or woken) per delivered update, counted by `perf stat`
# (syscall tracepoints; no hardware counters needed) on the server's process while the
# load tool runs the workshop preset with EDITORS editors on one board. Prints one
# line per run: CPU, syscalls and context switches per delivered update, fan-out p99.
# Compare with `commonboard-load floor` (one write per delivery, nothing else).
#
#   load-tests/scripts/syscalls.sh SERVER_BIN [EDITORS...]     (40 by default)
#
# The server runs with --open on a fresh data directory on 127.0.0.1:18090; the load
# tool is $COMMONBOARD_LOAD, by default target/release/commonboard-load. Needs perf.
set -euo pipefail
cd "$(dirname "$0")/../.."
[ $# -ge 1 ] || { sed -n '2,12p' "$0" | sed 's/^# \{0,1\}//' >&2; exit 2; }
bin=$1
shift
editors=("${@:-40}")
load=${COMMONBOARD_LOAD:-target/release/commonboard-load}
addr=127.0.0.1:18090
command -v perf >/dev/null || { echo "error: needs perf (Debian: linux-perf)" >&2; exit 1; }

echo "editors cpu_us syscalls context_switches fanout_p99_ms   (per delivered update)"
for n in "${editors[@]}"; do
  dir=$(mktemp -d)
  counts=$(mktemp)
  json=$(mktemp)
  "$bin" serve --open --addr "$addr" --data-dir "$dir" >/dev/null 2>&1 &
  pid=$!
  for _ in $(seq 50); do curl -fs "http://$addr/healthz" >/dev/null 2>&1 && break; sleep 0.1; done
  # The tool's 5 s warm-up is not counted; its measured 30 s are, less 2 s at the end.
  "$load" --preset workshop --editors "$n" --url "ws://$addr/ws/{board}" --server-pid "$pid" --json >"$json" 2>/dev/null &
  tool=$!
  sleep 5
  perf stat -x, -e raw_syscalls:sys_enter -e context-switches -p "$pid" -o "$counts" -- sleep 28 >/dev/null 2>&1
  wait "$tool" || true
  kill "$pid"; wait "$pid" 2>/dev/null || true
  python3 - "$n" "$counts" "$json" <<'PY'
import json, sys
n, counts, report = sys.argv[1], sys.argv[2], json.load(open(sys.argv[3]))
values = {}
for line in open(counts):
    parts = line.strip().split(",")
    if len(parts) > 2 and parts[0].replace(".", "").isdigit():
        values[parts[2]] = float(parts[0])
cpu = report["server"]["cpu_s_per_delivered_update"] * 1e6
# perf counted 28 s of the measured window: the updates delivered meanwhile.
per = report["delivery"]["updates_per_s"] * 28.0
sys_per = values.get("raw_syscalls:sys_enter", 0) / per
cs_per = values.get("context-switches", 0) / per
print(n, f"{cpu:.2f}", f"{sys_per:.2f}", f"{cs_per:.2f}", f"{report['latency']['p99_ms']:.2f}")
PY
  rm -rf "$dir" "$counts" "$json"
done

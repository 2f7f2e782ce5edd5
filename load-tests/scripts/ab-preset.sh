#!/usr/bin/env bash
# Compares two builds of the server on a preset, alternating them so that a change in
# the machine's load falls on both: A, B, A, B, ... for ROUNDS rounds. Prints each
# run's server CPU per delivered update, fan-out p99, the server's resident memory
# once connected and at its peak, whether it converged, whether the load tool
# saturated and how busy the machine was; then each build's medians with their spread
# and the ratios of the medians (B / A).
#
#   load-tests/scripts/ab-preset.sh PRESET OLD_BIN NEW_BIN [ROUNDS] [TOOL_FLAGS...]
#   e.g. load-tests/scripts/ab-preset.sh many-boards OLD NEW 3
#        load-tests/scripts/ab-preset.sh townhall OLD NEW 3 --duration 20s
#
# Each server runs with --open on a fresh data directory on 127.0.0.1:18080, with the
# open-files limit raised to the hard limit and --max-connections 11000 (many-boards
# opens 10,000 connections, and its convergence check a fresh one per board on top),
# plus $SERVER_FLAGS; the load tool is $COMMONBOARD_LOAD, by default
# target/release/commonboard-load.
set -euo pipefail
cd "$(dirname "$0")/../.."
[ $# -ge 3 ] || { sed -n '2,17p' "$0" | sed 's/^# \{0,1\}//' >&2; exit 2; }
preset=$1
bins=("$2" "$3")
rounds=${4:-3}
shift $(($# < 4 ? $# : 4))
load=${COMMONBOARD_LOAD:-target/release/commonboard-load}
addr=127.0.0.1:18080
results=$(mktemp)
trap 'rm -f "$results"' EXIT
ulimit -n "$(ulimit -Hn)"

run() {
  local label=$1 bin=$2 dir pid json
  shift 2
  dir=$(mktemp -d)
  # shellcheck disable=SC2086
  "$bin" serve --open --addr "$addr" --data-dir "$dir" --max-connections 11000 ${SERVER_FLAGS:-} >/dev/null 2>&1 &
  pid=$!
  for _ in $(seq 50); do curl -fs "http://$addr/healthz" >/dev/null 2>&1 && break; sleep 0.1; done
  json=$("$load" --preset "$preset" --url "ws://$addr/ws/{board}" --server-pid "$pid" --json -q "$@" || true)
  kill "$pid"; wait "$pid" 2>/dev/null || true
  rm -rf "$dir"
  echo "$json" | python3 -c '
import json, sys
r = json.load(sys.stdin)
s, tool = r["server"], r["tool"]
mib = 1 << 20
print(sys.argv[1], "%.2f" % (s["cpu_s_per_delivered_update"] * 1e6), "%.2f" % r["latency"]["p99_ms"],
      "%.1f" % (s["rss_connected_bytes"] / mib), "%.1f" % (s["rss_peak_bytes"] / mib),
      r["convergence"]["converged"], tool["saturated"], "%.0f" % (tool.get("machine_busy_percent") or 0))
' "$label" | tee -a "$results"
}

echo "build cpu_us_per_delivered_update fanout_p99_ms rss_connected_mib rss_peak_mib converged tool_saturated machine_busy_pct"
for _ in $(seq "$rounds"); do
  run A "${bins[0]}" "$@"
  run B "${bins[1]}" "$@"
done
python3 - "$results" <<'PY'
import statistics, sys
rows = [line.split() for line in open(sys.argv[1])]
names = {1: "CPU per delivered update (us)", 2: "fan-out p99 (ms)", 4: "RSS peak (MiB)"}
med = {}
for build in ("A", "B"):
    for column, name in names.items():
        values = sorted(float(r[column]) for r in rows if r[0] == build)
        med[build, column] = statistics.median(values)
        print(f"{build}: {name} median {med[build, column]:.2f} (min {values[0]:.2f}, max {values[-1]:.2f})")
for column, name in names.items():
    print(f"B / A, {name}: {med['B', column] / med['A', column]:.3f}")
PY

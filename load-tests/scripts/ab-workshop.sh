#!/usr/bin/env bash
# Compares two builds of the server on the workshop preset, alternating them so that a
# change in the machine's load falls on both: A, B, A, B, ... for ROUNDS rounds. Prints
# each run's server CPU per delivered update and fan-out p99, then the median and the
# spread of each build and the ratio of the medians (B / A).
#
#   load-tests/scripts/ab-workshop.sh OLD_BIN NEW_BIN [ROUNDS]     (3 rounds by default)
#
# Each server runs with --open on a fresh data directory on 127.0.0.1:18080; the load
# tool is $COMMONBOARD_LOAD, by default target/release/commonboard-load (cargo build
# --release). Run it on an otherwise idle machine: the tool reports how busy it was.
set -euo pipefail
cd "$(dirname "$0")/../.."
[ $# -ge 2 ] || { sed -n '2,12p' "$0" | sed 's/^# \{0,1\}//' >&2; exit 2; }
bins=("$1" "$2")
rounds=${3:-3}
load=${COMMONBOARD_LOAD:-target/release/commonboard-load}
addr=127.0.0.1:18080
results=$(mktemp)
trap 'rm -f "$results"' EXIT

run() {
  local label=$1 bin=$2 dir pid json
  dir=$(mktemp -d)
  "$bin" serve --open --addr "$addr" --data-dir "$dir" >/dev/null 2>&1 &
  pid=$!
  for _ in $(seq 50); do curl -fs "http://$addr/healthz" >/dev/null 2>&1 && break; sleep 0.1; done
  json=$("$load" --preset workshop --url "ws://$addr/ws/{board}" --server-pid "$pid" --json)
  kill "$pid"; wait "$pid" 2>/dev/null || true
  rm -rf "$dir"
  echo "$json" | python3 -c '
import json, sys
r = json.load(sys.stdin)
cpu = r["server"]["cpu_s_per_delivered_update"] * 1e6
p99 = r["latency"]["p99_ms"]
print(sys.argv[1], f"{cpu:.2f}", f"{p99:.2f}", r["convergence"]["converged"])
' "$label" | tee -a "$results"
}

echo "build cpu_us_per_delivered_update fanout_p99_ms converged"
for round in $(seq "$rounds"); do
  run A "${bins[0]}"
  run B "${bins[1]}"
done
python3 - "$results" <<'PY'
import statistics, sys
rows = [line.split() for line in open(sys.argv[1])]
med = {}
for build in ("A", "B"):
    cpu = sorted(float(r[1]) for r in rows if r[0] == build)
    p99 = sorted(float(r[2]) for r in rows if r[0] == build)
    med[build] = statistics.median(cpu)
    print(f"{build}: CPU per delivered update median {med[build]:.2f} us (min {cpu[0]:.2f}, max {cpu[-1]:.2f}); "
          f"fan-out p99 median {statistics.median(p99):.2f} ms (min {p99[0]:.2f}, max {p99[-1]:.2f})")
print(f"B / A: {med['B'] / med['A']:.3f}")
PY

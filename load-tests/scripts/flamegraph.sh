#!/usr/bin/env bash
# A flame graph of the server under load: starts SERVER_BIN (--open, a fresh data
# directory, 127.0.0.1:18095), runs the load tool's PRESET with EDITORS editors on it,
# records the server with `perf record -e cpu-clock` and call graphs for SECONDS of the
# measured window, and renders OUT_SVG. Prints the run's figures (CPU per delivered
# update, fan-out p99), the share of the samples in each part of the server (kernel,
# our code and its libraries, libc) and the hottest functions.
#
#   load-tests/scripts/flamegraph.sh SERVER_BIN PRESET EDITORS OUT_SVG [SECONDS]
#   e.g. load-tests/scripts/flamegraph.sh target/release/commonboard workshop 50 docs/flamegraph-50-editors.svg
#
# Call graphs: `--call-graph dwarf` by default, which unwinds through the release
# build's .eh_frame (it has no frame pointers, so `-g` would show one frame per
# sample); PERF_CALL_GRAPH=fp for a build with `-C force-frame-pointers=yes`. The SVG
# is drawn by the `flamegraph` tool (cargo-flamegraph, which uses the inferno crate),
# installed into .tools/ on first use like the other tools the scripts install; it is
# a separate program, not a dependency of the load tool (inferno's CDDL-1.0 license is
# not among those deny.toml allows). The load tool is $COMMONBOARD_LOAD, by default
# target/release/commonboard-load. FLAMEGRAPH_DELAY (15 s) is the wait before the
# recording; PERF_DATA_OUT=FILE keeps perf's recording. Needs perf.
set -euo pipefail
cd "$(dirname "$0")/../.."
[ $# -ge 4 ] || { sed -n '2,20p' "$0" | sed 's/^# \{0,1\}//' >&2; exit 2; }
bin=$1 preset=$2 editors=$3 out=$4 seconds=${5:-15}
load=${COMMONBOARD_LOAD:-target/release/commonboard-load}
call_graph=${PERF_CALL_GRAPH:-dwarf,16384}
addr=127.0.0.1:18095
command -v perf >/dev/null || { echo "error: needs perf (Debian: linux-perf)" >&2; exit 1; }
# shellcheck source=../../scripts/lib.sh
. scripts/lib.sh
if ! command -v flamegraph >/dev/null 2>&1; then
  echo "==> installing flamegraph (draws the SVG)" >&2
  install_packaged_cargo_tool flamegraph 0.6.14 || cargo install --locked --quiet flamegraph --version 0.6.14
fi

work=$(mktemp -d)
pid=""
tool=""
cleanup() {
  [ -n "$tool" ] && kill "$tool" 2>/dev/null || true
  [ -n "$pid" ] && kill "$pid" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

ulimit -n "$(ulimit -Hn)"
"$bin" serve --open --addr "$addr" --data-dir "$work/data" >"$work/server.log" 2>&1 &
pid=$!
for _ in $(seq 50); do curl -fs "http://$addr/healthz" >/dev/null 2>&1 && break; sleep 0.1; done
# The recording starts after the connections and the preset's warm-up (5 s; townhall
# 10 s) and ends inside the measured window.
delay=${FLAMEGRAPH_DELAY:-15}
window=$((seconds + delay))
"$load" --preset "$preset" --editors "$editors" --duration "${window}s" --url "ws://$addr/ws/{board}" \
  --server-pid "$pid" --json -q >"$work/report.json" &
tool=$!
sleep "$delay"
echo "recording $seconds s of the server (pid $pid, $preset, $editors editors, call graph $call_graph)" >&2
perf record -e cpu-clock -F 499 --call-graph "$call_graph" -p "$pid" -o "$work/perf.data" -- sleep "$seconds" \
  >/dev/null 2>"$work/perf.log" || { cat "$work/perf.log" >&2; exit 1; }
wait "$tool" || true
tool=""
kill "$pid"; wait "$pid" 2>/dev/null || true
pid=""

mkdir -p "$(dirname "$out")"
title="commonboard, $preset preset, $editors editors ($(date -u +%Y-%m-%dT%H:%MZ))"
flamegraph --perfdata "$work/perf.data" --no-inline --deterministic --min-width 0.1 --title "$title" -o "$out" >/dev/null 2>&1 || {
  echo "error: flamegraph could not render $work/perf.data" >&2
  exit 1
}
echo "wrote $out" >&2
# PERF_DATA_OUT=FILE keeps the recording, for `perf report -i FILE`.
[ -n "${PERF_DATA_OUT:-}" ] && cp "$work/perf.data" "$PERF_DATA_OUT"

python3 - "$work/report.json" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
s = r.get("server") or {}
cpu = (s.get("cpu_s_per_delivered_update") or 0) * 1e6
print(f"run: CPU per delivered update {cpu:.2f} us, fan-out p99 {r['latency']['p99_ms']:.2f} ms, "
      f"server {s.get('cpu_percent', 0):.0f}% of a core, machine {r['tool'].get('machine_busy_percent') or 0:.0f}% busy, "
      f"tool saturated: {r['tool']['saturated']}, converged: {r['convergence']['converged']}")
PY
echo "samples by part of the server (self time):"
perf report -i "$work/perf.data" --stdio --no-children --sort dso --percent-limit 1 -g none 2>/dev/null | grep -E '^ +[0-9]' || true
echo "hottest functions (self time):"
perf report -i "$work/perf.data" --stdio --no-children --sort sym --percent-limit 1.5 -g none 2>/dev/null \
  | grep -E '^ +[0-9]' | head -25 || true

#!/usr/bin/env bash
# make bench-loopback: how close the loopback transfer comes to plain memory on this machine.
# Runs the cache-line ping-pong floor, then REPEAT independent loopback runs (fresh processes each, through
# run_test.sh --vm loopback --repeat) of a 64 B latency test (notification overhead) and of a 4K test with
# reference messages (the guest's phases on private memory), and prints the ratios the targets are stated in
# with 95% intervals (bench/summary.py). Results and manifests stay in results/bench-loopback-*/.
# Usage: bench/loopback.sh [BIN_DIR]   (REPEAT=N: runs of each test, default 5)
set -euo pipefail

readonly BIN=${1:-build}
readonly REPEAT=${REPEAT:-5}
readonly PYTHON=/usr/bin/python3
OUT="results/bench-loopback-$(date -u +%Y%m%dT%H%M%SZ)"
readonly OUT

[[ $REPEAT =~ ^[1-9][0-9]*$ ]] || { echo "bench-loopback: REPEAT must be a positive count, not '$REPEAT'" >&2; exit 2; }

# REPEAT loopback runs into DIR/<timestamp>/run-*; the host's options follow.
runs() {
	local dir=$1 log=$2
	shift 2
	local host=(--host-arg --meta --host-arg bench=bench-loopback)
	for arg in "$@"; do host+=(--host-arg "$arg"); done
	# No map study and no stream: both would sit inside (or after) the exchanges these runs time.
	BUILD=$BIN ./run_test.sh --vm loopback --repeat "$REPEAT" --results "$dir" --timeout 60 --no-analysis \
		--no-map-study --stream-seconds 0 \
		"${host[@]}" >"$log" 2>&1 || { tail -n 20 "$log" >&2; return 1; }
}

mkdir -p "$OUT"
echo "bench-loopback: ping-pong floor" >&2
"$BIN/bench_pingpong" 200 >"$OUT/pingpong_ns.txt"
echo "bench-loopback: 64 B latency runs (2000 messages) x $REPEAT" >&2
# No counters here: their system calls around each phase would sit inside the round trip.
runs "$OUT/small" "$OUT/small.log" --iterations 2000 --latency-frame 64 --bw-iterations 0 --ref-iterations 0 --no-counters
echo "bench-loopback: 4K runs with private-memory references (30 + 15 messages) x $REPEAT" >&2
runs "$OUT/4k" "$OUT/4k.log" --iterations 30 --latency-frame 4k --bw-iterations 0 --frames 4k --ref-iterations 15

"$PYTHON" bench/summary.py loopback "$OUT" | tee "$OUT/summary.txt"
echo "bench-loopback: results in $OUT" >&2

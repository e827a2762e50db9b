#!/usr/bin/env bash
# make bench-stream: frames per second through the ring, in loopback, against limits measured in the same run.
#   1. 4K frames, block policy, unpaced, XXH3: the stream's frames/s against the pipeline limit of the same run
#      (each side's cost of a frame on private memory) and against the lock-step bandwidth test of 4K frames
#      run just before it by the same host_writer.
#   2. 1080p and 4K with the latest policy at 60 and 144 frames/s: drops and the latency percentiles.
# Every run keeps its CSVs and run.json in results/bench-stream-*/.
# Usage: bench/stream.sh [BIN_DIR]   (SECONDS_PER_STREAM=S, default 5)
set -euo pipefail

readonly BIN=${1:-build}
readonly STREAM_S=${SECONDS_PER_STREAM:-5}
readonly PYTHON=/usr/bin/python3
OUT="results/bench-stream-$(date -u +%Y%m%dT%H%M%SZ)"
readonly OUT
# shellcheck source=bench/lib.sh
. "$(dirname "$0")/lib.sh"

[[ $STREAM_S =~ ^[1-9][0-9]*$ ]] || { echo "bench-stream: SECONDS_PER_STREAM must be a positive count" >&2; exit 2; }

# One loopback run (run_test.sh --vm loopback) into OUT/NAME with the given run_test.sh options.
run() {
	local name=$1
	shift
	bench_run_test "$BIN" "$OUT/$name" --vm loopback --shm-size 128M --timeout 60 \
		--host-arg --no-counters --host-arg --meta --host-arg bench=bench-stream "$@" ||
		{ echo "bench-stream: $name failed; see $OUT/$name.log" >&2; exit 1; }
}

mkdir -p "$OUT"
echo "bench-stream: 4K block, unpaced, xxh3 for $STREAM_S s, after a lock-step bandwidth test of 4K" >&2
run block-4k --iterations 0 --bw-iterations 10 --frames 4k --ref-iterations 0 --stream-seconds "$STREAM_S" \
	--stream-frames 4k --stream-policy block --verify xxh3
for fps in 60 144; do
	echo "bench-stream: 1080p and 4K, latest, $fps frames/s for $STREAM_S s each" >&2
	run "latest-$fps" --iterations 0 --bw-iterations 0 --ref-iterations 0 --stream-seconds "$STREAM_S" \
		--stream-frames 1080p,4k --stream-policy latest --fps "$fps" --verify xxh3
done

# The figures are the analysis' own (ivbench_analysis/streams.py): the same as the report's STREAMING section.
"$PYTHON" - "$OUT" <<'PY' | tee "$OUT/summary.txt"
import sys
from pathlib import Path

sys.path.insert(0, ".")
from ivbench_analysis.load import load_run  # noqa: E402
from ivbench_analysis.streams import load_streams, lockstep_fps, stream_figures  # noqa: E402

out = Path(sys.argv[1])

def streams(name):
    run = load_run(out / name)
    return run, [(s, stream_figures(s)) for s in load_streams(run).streams]

ms = lambda ns: f"{ns / 1e6:.2f}"
run, [(s, f)] = streams("block-4k")
lockstep = lockstep_fps(run.bandwidth, s)
print(f"4K block, unpaced, xxh3, {f.duration_s:.1f} s: {f.produced} frames, {f.dropped} dropped, {f.failed} failed")
print(f"  frames/s: sustained {f.fps_sustained:.1f} (median 1-s window), slowest {f.fps_slowest:.1f}, "
      f"overall {f.fps_overall:.1f}")
print(f"  pipeline limit (same run): {f.limit_fps:.1f} frames/s: stream / limit = "
      f"{f.fps_sustained / f.limit_fps:.2f}x (goal >= 0.9x)")
print(f"  lock-step bandwidth test of 4K (same run): {lockstep:.1f} frames/s: stream / lock-step = "
      f"{f.fps_sustained / lockstep:.2f}x")
print(f"  latency p50 {ms(f.latency[50])} ms, p99 {ms(f.latency[99])} ms")
print()
print("latest, xxh3: frame  fps target  produced  consumed  dropped  latency p50  latency p99  (ms, host clock)")
for fps in (60, 144):
    for s, f in streams(f"latest-{fps}")[1]:
        print(f"  {s.frame_type:>6} {fps:>10} {f.produced:>9} {f.consumed:>9} {f.dropped:>8} "
              f"{ms(f.latency[50]):>12} {ms(f.latency[99]):>12}")
PY
echo "bench-stream: results in $OUT" >&2

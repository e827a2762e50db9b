#!/usr/bin/env bash
# make bench-doorbell: what polling costs against the doorbell mode, measured in one go.
# For each mode (polling, doorbell), host to host (loopback):
#   - a 64 B latency run (2000 messages): round trip and notification;
#   - a 4K run (30 messages): the same with the guest busy for milliseconds per message;
#   - a stream: 64 B messages 16667 us apart (60 a second, for 2 s), as a video stream would send them;
#   - an idle run: 64 B messages 250 ms apart (for 3 s), so that waiting is nearly all of the time: the CPU
#     share of each side is what waiting costs (the stream's share adds the work per message).
# CPU per message comes from the programs themselves (run.json host.cpu and guest.cpu). The references are
# measured in the same run: bench_wakeup (two processes waking each other through eventfds: the floor of
# any blocking notification) and bench_pingpong (a cache-line ping-pong: the floor of polling).
# With --vm, the same runs again in the bench VM (run_test.sh; under TCG its figures are functional only).
# Each run is repeated REPEAT times (fresh processes; default 3) into <run>/run-<i>, and bench/summary.py prints
# medians with 95% intervals. Results and manifests stay in results/bench-doorbell-*/.
# Usage: bench/doorbell.sh [--vm] [BIN_DIR]   (REPEAT=N)
set -euo pipefail

vm=
if [ "${1:-}" = --vm ]; then
	vm=1
	shift
fi
readonly BIN=${1:-build}
readonly REPEAT=${REPEAT:-3}
readonly PYTHON=/usr/bin/python3
[[ $REPEAT =~ ^[1-9][0-9]*$ ]] || { echo "bench-doorbell: REPEAT must be a positive count, not '$REPEAT'" >&2; exit 2; }
OUT="results/bench-doorbell-$(date -u +%Y%m%dT%H%M%SZ)"
readonly OUT
# The bench VM's region file: this run's own (loopback runs make their own).
SHM="/dev/shm/ivb-bench-doorbell-$$"
readonly SHM
# shellcheck source=bench/lib.sh
. "$(dirname "$0")/lib.sh"
trap 'rm -f "$SHM"' EXIT

# The runs: name, then host_writer's test options.
readonly SMALL=(--iterations 2000 --latency-frame 64 --bw-iterations 0 --ref-iterations 0)
readonly FRAME=(--iterations 30 --latency-frame 4k --bw-iterations 0 --ref-iterations 0)
readonly STREAM=(--iterations 120 --latency-frame 64 --bw-iterations 0 --ref-iterations 0 --interval-us 16667)
readonly IDLE=(--iterations 12 --latency-frame 64 --bw-iterations 0 --ref-iterations 0 --interval-us 250000)
readonly VM_SMALL=(--iterations 300 --latency-frame 64 --bw-iterations 0 --ref-iterations 0)
readonly VM_FRAME=(--iterations 10 --latency-frame 4k --bw-iterations 0 --ref-iterations 0)

# REPEAT runs in MODE into DIR/run-*, in loopback (fresh processes each run) or in the bench VM (one boot):
# run_test.sh --vm WHERE, with our ivshmem server in doorbell mode. No counters: their system calls around each
# phase would sit inside the round trip. No stream: these runs time messages.
# Arguments: WHERE (loopback|bench) MODE DIR RUN_TEST_OPTION...
runs() {
	local where=$1 mode=$2 dir=$3 shm=()
	shift 3
	[ "$where" = loopback ] || shm=(--shm "$SHM")
	bench_run_test "$BIN" "$dir" --vm "$where" "${shm[@]}" --mode "$mode" --repeat "$REPEAT" --shm-size 64M --timeout 60 \
		--stream-seconds 0 --host-arg --no-counters --host-arg --meta --host-arg bench=bench-doorbell "$@"
}

mkdir -p "$OUT"
echo "bench-doorbell: references: eventfd wake-up and cache-line ping-pong between two processes" >&2
"$BIN/bench_wakeup" 20000 >"$OUT/wakeup_ns.txt"
"$BIN/bench_pingpong" 200 >"$OUT/pingpong_ns.txt"
for mode in polling doorbell; do
	echo "bench-doorbell: $mode: 64 B x 2000, 4K x 30, 64 B x 120 at 60/s, idle: 64 B x 12 at 4/s (loopback)" \
		"x $REPEAT" >&2
	runs loopback "$mode" "$OUT/loopback-$mode-64B" "${SMALL[@]}"
	runs loopback "$mode" "$OUT/loopback-$mode-4k" "${FRAME[@]}"
	runs loopback "$mode" "$OUT/loopback-$mode-60fps" "${STREAM[@]}"
	runs loopback "$mode" "$OUT/loopback-$mode-idle" "${IDLE[@]}"
	if [ -n "$vm" ]; then
		echo "bench-doorbell: $mode: 64 B x 300, 4K x 10, 64 B x 120 at 60/s, idle: 64 B x 12 at 4/s (bench VM)" >&2
		runs bench "$mode" "$OUT/vm-$mode-64B" "${VM_SMALL[@]}"
		runs bench "$mode" "$OUT/vm-$mode-4k" "${VM_FRAME[@]}"
		runs bench "$mode" "$OUT/vm-$mode-60fps" "${STREAM[@]}"
		runs bench "$mode" "$OUT/vm-$mode-idle" "${IDLE[@]}"
	fi
done

"$PYTHON" bench/summary.py doorbell "$OUT" | tee "$OUT/summary.txt"
echo "bench-doorbell: results in $OUT" >&2

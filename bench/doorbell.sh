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
SHM="/dev/shm/ivb-bench-doorbell-$$"
readonly SHM
pids=()
work=

cleanup() {
	for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
	rm -f "$SHM"
	[ -z "$work" ] || rm -rf -- "$work"
}
trap cleanup EXIT

# The runs: name, then host_writer's test options.
readonly SMALL=(--iterations 2000 --latency-frame 64 --bw-iterations 0 --ref-iterations 0)
readonly FRAME=(--iterations 30 --latency-frame 4k --bw-iterations 0 --ref-iterations 0)
readonly STREAM=(--iterations 120 --latency-frame 64 --bw-iterations 0 --ref-iterations 0 --interval-us 16667)
readonly IDLE=(--iterations 12 --latency-frame 64 --bw-iterations 0 --ref-iterations 0 --interval-us 250000)
readonly VM_SMALL=(--iterations 300 --latency-frame 64 --bw-iterations 0 --ref-iterations 0)
readonly VM_FRAME=(--iterations 10 --latency-frame 4k --bw-iterations 0 --ref-iterations 0)

# One loopback run in MODE: the server (doorbell), the guest in the background, the host in the foreground.
# No counters: their system calls around each phase would sit inside the round trip.
loopback() {
	local mode=$1 dir=$2 sock="" server=""
	shift 2
	mkdir -p "$dir"
	rm -f "$SHM"
	if [ "$mode" = doorbell ]; then
		sock=$work/ivshmem.sock
		"$BIN/ivshmem_server" --socket "$sock" --shm "$SHM" --size 64M --pid-file "$work/server.pid" \
			2>"$dir/ivshmem_server.log" &
		server=$!
		pids+=("$server")
		for _ in $(seq 100); do [ -s "$work/server.pid" ] && break; sleep 0.05; done
	fi
	timeout 600 "$BIN/guest_reader" --shm "$SHM" --timeout 60 --mode "$mode" ${sock:+--doorbell "$sock"} \
		>"$dir/guest.log" 2>&1 &
	pids+=("$!")
	timeout 600 "$BIN/host_writer" --shm "$SHM" --size 64M --out "$dir" --timeout 60 --no-counters \
		--mode "$mode" ${sock:+--doorbell "$sock"} --meta vm=loopback --meta bench=bench-doorbell "$@" 2>"$dir/host.log"
	wait "${pids[-1]}"
	if [ -n "$server" ]; then
		kill "$server"
		wait "$server" || true
	fi
}

# The same in the bench VM, REPEAT runs in one boot; its result folder (with run-*) is moved to DIR.
in_vm() {
	local mode=$1 dir=$2
	shift 2
	./run_test.sh --mode "$mode" --shm "$SHM" --shm-size 64M --results "$work/vm" --no-analysis --repeat "$REPEAT" \
		--no-map-study --stream-seconds 0 "$@" \
		>"$work/vm.log" 2>&1 || { cat "$work/vm.log" >&2; return 1; }
	mv -- "$(readlink -f "$work/vm/latest")" "$dir"
}

work=$(mktemp -d "${TMPDIR:-/tmp}/ivb-bench-doorbell.XXXXXX")
mkdir -p "$OUT"
echo "bench-doorbell: references: eventfd wake-up and cache-line ping-pong between two processes" >&2
"$BIN/bench_wakeup" 20000 >"$OUT/wakeup_ns.txt"
"$BIN/bench_pingpong" 200 >"$OUT/pingpong_ns.txt"
for mode in polling doorbell; do
	echo "bench-doorbell: $mode: 64 B x 2000, 4K x 30, 64 B x 120 at 60/s, idle: 64 B x 12 at 4/s (loopback)" \
		"x $REPEAT" >&2
	for ((i = 1; i <= REPEAT; i++)); do
		loopback "$mode" "$OUT/loopback-$mode-64B/run-$i" "${SMALL[@]}"
		loopback "$mode" "$OUT/loopback-$mode-4k/run-$i" "${FRAME[@]}"
		loopback "$mode" "$OUT/loopback-$mode-60fps/run-$i" "${STREAM[@]}"
		loopback "$mode" "$OUT/loopback-$mode-idle/run-$i" "${IDLE[@]}"
	done
	if [ -n "$vm" ]; then
		echo "bench-doorbell: $mode: 64 B x 300, 4K x 10, 64 B x 120 at 60/s, idle: 64 B x 12 at 4/s (bench VM)" >&2
		in_vm "$mode" "$OUT/vm-$mode-64B" "${VM_SMALL[@]}"
		in_vm "$mode" "$OUT/vm-$mode-4k" "${VM_FRAME[@]}"
		in_vm "$mode" "$OUT/vm-$mode-60fps" "${STREAM[@]}"
		in_vm "$mode" "$OUT/vm-$mode-idle" "${IDLE[@]}"
	fi
done

"$PYTHON" bench/summary.py doorbell "$OUT" | tee "$OUT/summary.txt"
echo "bench-doorbell: results in $OUT" >&2

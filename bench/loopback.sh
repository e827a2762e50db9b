#!/usr/bin/env bash
# make bench-loopback: how close the loopback transfer comes to plain memory on this machine.
# Runs, in one go: the cache-line ping-pong floor, a 64 B latency run (notification overhead),
# and a 4K run with reference messages (the guest's phases on private memory), then prints
# the ratios the targets are stated in. Results and manifests stay in results/bench-loopback-*/.
# Usage: bench/loopback.sh [BIN_DIR]
set -euo pipefail

readonly BIN=${1:-build}
readonly PYTHON=/usr/bin/python3
OUT="results/bench-loopback-$(date -u +%Y%m%dT%H%M%SZ)"
readonly OUT
SHM="/dev/shm/ivb-bench-$$"
readonly SHM
pids=()

cleanup() {
	for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
	rm -f "$SHM"
}
trap cleanup EXIT

# One loopback run: guest in the background, host in the foreground, both bounded.
loopback() {
	local dir=$1
	shift
	mkdir -p "$dir"
	timeout 600 "$BIN/guest_reader" --shm "$SHM" --timeout 60 >"$dir/guest.log" 2>&1 &
	pids+=("$!")
	timeout 600 "$BIN/host_writer" --shm "$SHM" --size 64M --out "$dir" --timeout 60 --meta vm=loopback \
		--meta bench=bench-loopback "$@" 2>"$dir/host.log"
	wait "${pids[-1]}"
}

mkdir -p "$OUT"
echo "bench-loopback: ping-pong floor" >&2
"$BIN/bench_pingpong" 200 >"$OUT/pingpong_ns.txt"
echo "bench-loopback: 64 B latency run (2000 messages)" >&2
loopback "$OUT/small" --iterations 2000 --latency-frame 64 --bw-iterations 0 --ref-iterations 0
echo "bench-loopback: 4K run with private-memory references (30 + 30 messages)" >&2
loopback "$OUT/4k" --iterations 30 --latency-frame 4k --bw-iterations 0 --frames 4k --ref-iterations 15

"$PYTHON" - "$OUT" <<'PY' | tee "$OUT/summary.txt"
import csv, statistics, sys
out = sys.argv[1]

def column(path, name):
    with open(path) as f:
        return [float(r[name]) for r in csv.DictReader(f) if r["success"] == "1" and r[name] != ""]

def median(path, name):
    return statistics.median(column(path, name))

size = 24883200
pingpong = float(open(f"{out}/pingpong_ns.txt").read())
notify = median(f"{out}/small/latency_results.csv", "notification_est_ns")
lat = f"{out}/4k/latency_results.csv"
ref = f"{out}/4k/reference_results.csv"
region = {k: median(lat, c) for k, c in [("A", "guest_hot_cache_ns"), ("B", "guest_cold_cache_ns"), ("C", "guest_second_pass_ns")]}
private = {k: median(ref, c) for k, c in [("A", "guest_hot_cache_ns"), ("B", "guest_cold_cache_ns"), ("C", "guest_second_pass_ns")]}
host_region = median(lat, "host_memcpy_ns")
host_private = median(ref, "host_memcpy_ns")

def mbps(ns):
    return size / 1e6 / (ns / 1e9)

print("bench-loopback (medians; MB = 1e6 B; ratios are bandwidth region / private, same run)")
print(f"  {'stage':34} {'region':>12} {'private':>12} {'ratio':>7}  target")
rows = [("host memcpy into region (4K)", host_region, host_private, None),
        ("A pure read, hot (4K)", region["A"], private["A"], None),
        ("B pure read, cold (4K)", region["B"], private["B"], 0.90),
        ("C copy-out, memcpy (4K)", region["C"], private["C"], 0.95)]
for name, r, p, target in rows:
    ratio = p / r
    verdict = "" if target is None else (f">= {target:.2f} " + ("met" if ratio >= target else "NOT met"))
    print(f"  {name:34} {mbps(r):8.0f} MB/s {mbps(p):7.0f} MB/s {ratio:6.2f}x  {verdict}")
ratio = notify / pingpong
print(f"  64 B notification overhead: {notify:.0f} ns; cache-line ping-pong: {pingpong:.0f} ns;"
      f" ratio {ratio:.2f}x (target <= 1.50x: {'met' if ratio <= 1.5 else 'NOT met'})")
PY
echo "bench-loopback: results in $OUT" >&2

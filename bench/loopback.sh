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
# No counters here: their system calls around each phase would sit inside the round trip.
loopback "$OUT/small" --iterations 2000 --latency-frame 64 --bw-iterations 0 --ref-iterations 0 --no-counters
echo "bench-loopback: 4K run with private-memory references (30 + 30 messages)" >&2
loopback "$OUT/4k" --iterations 30 --latency-frame 4k --bw-iterations 0 --frames 4k --ref-iterations 15

"$PYTHON" - "$OUT" <<'PY' | tee "$OUT/summary.txt"
import csv, statistics, sys
out = sys.argv[1]
size = 24883200
PHASES = {"A": ("guest_hot_cache_ns", "A_hot_read"), "B": ("guest_cold_cache_ns", "B_cold_read"),
          "C": ("guest_second_pass_ns", "C_copy")}

def rows(path):
    with open(path) as f:
        return [r for r in csv.DictReader(f) if r["success"] == "1"]

# A phase during which the process was switched out measured the scheduler, not the memory:
# the counters say which (phase_performance.csv), and those samples are left out.
switched = set()
with open(f"{out}/4k/phase_performance.csv") as f:
    for r in csv.DictReader(f):
        if r["context_switches"] not in ("", "0"):
            switched.add((r["test"], r["iteration"], r["frame_type"], r["phase"]))

def phase_median(test, path, phase):
    column, name = PHASES[phase]
    keep, dropped = [], 0
    for r in rows(path):
        if (test, r["iteration"], r.get("frame_type", "4k"), name) in switched:
            dropped += 1
        else:
            keep.append(float(r[column]))
    return (statistics.median(keep) if keep else float("nan")), dropped, len(keep) + dropped

def mbps(ns):
    return size / 1e6 / (ns / 1e9)

# Timed one at a time like host_writer's round trip (clock reads included), and the bare batch floor.
pingpong, pingpong_floor = (float(v) for v in open(f"{out}/pingpong_ns.txt").read().split())
notify = statistics.median(float(r["notification_est_ns"]) for r in rows(f"{out}/small/latency_results.csv"))
lat, ref = f"{out}/4k/latency_results.csv", f"{out}/4k/reference_results.csv"
host_region = statistics.median(float(r["host_memcpy_ns"]) for r in rows(lat))
host_private = statistics.median(float(r["host_memcpy_ns"]) for r in rows(ref))

print("bench-loopback (medians; MB = 1e6 B; ratio = region bandwidth / private bandwidth, same run)")
print(f"  {'stage':30} {'region':>10} {'private':>10} {'ratio':>6}  target        samples switched out")
print(f"  {'host memcpy into region':30} {mbps(host_region):5.0f} MB/s {mbps(host_private):5.0f} MB/s"
      f" {host_private / host_region:5.2f}x")
for phase, label, target in [("A", "A pure read, hot", None), ("B", "B pure read, cold", 0.90),
                             ("C", "C copy-out (memcpy)", 0.95)]:
    r, rd, rn = phase_median("latency", lat, phase)
    p, pd, pn = phase_median("reference", ref, phase)
    ratio = p / r
    verdict = "" if target is None else (f">= {target:.2f} " + ("met" if ratio >= target else "NOT met"))
    print(f"  {label:30} {mbps(r):5.0f} MB/s {mbps(p):5.0f} MB/s {ratio:5.2f}x  {verdict:13} {rd}/{rn} region, {pd}/{pn} private")
ratio = notify / pingpong
print(f"  64 B notification overhead {notify:.0f} ns; cache-line ping-pong timed like it {pingpong:.0f} ns:"
      f" {ratio:.2f}x (target <= 1.50x: {'met' if ratio <= 1.5 else 'NOT met'})")
print(f"  (bare ping-pong floor, averaged over batches without clock reads: {pingpong_floor:.0f} ns;"
      f" notification / floor {notify / pingpong_floor:.2f}x)")
PY
echo "bench-loopback: results in $OUT" >&2

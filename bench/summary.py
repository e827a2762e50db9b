#!/usr/bin/python3
"""The closing summaries of make bench-loopback and make bench-doorbell over repeated runs: medians with
95% intervals (ivbench_analysis/intervals.py) and the phases the noise filter left out
(ivbench_analysis/noise.py).

Usage: bench/summary.py loopback OUT   (OUT/small/latest/run-*, OUT/4k/latest/run-*, OUT/pingpong_ns.txt)
       bench/summary.py doorbell OUT   (OUT/<where>-<mode>-<run>/run-*, OUT/wakeup_ns.txt, OUT/pingpong_ns.txt)
"""

import csv
import glob
import json
import os
import sys
from dataclasses import dataclass
from typing import Optional

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
from ivbench_analysis import intervals, noise  # noqa: E402

FRAME_4K = 24883200
# phase letter: (CSV column, phase name in phase_performance.csv, target of region / private bandwidth)
PHASES = {"A": ("guest_hot_cache_ns", "A_hot_read", None, "A pure read, hot"),
          "B": ("guest_cold_cache_ns", "B_cold_read", 0.90, "B pure read, cold"),
          "C": ("guest_second_pass_ns", "C_copy", 0.95, "C copy-out (memcpy)")}
NOTIFY_TARGET = 1.50
DOORBELL_TARGET = 2.00
IDLE_SHARE_TARGET = 0.05


@dataclass(frozen=True)
class Kept:
    runs: list      # one list of kept samples per run
    removed: int
    total: int


def run_dirs(parent: str) -> list:
    dirs = sorted(glob.glob(os.path.join(parent, "run-*")), key=lambda d: int(d.rsplit("-", 1)[1]))
    if not dirs:
        raise SystemExit(f"bench summary: no run-* folders in {parent}")
    return dirs


def rows(path: str) -> list:
    with open(path) as f:
        return [r for r in csv.DictReader(f) if r["success"] == "1"]


def counters(run: str) -> list:
    path = os.path.join(run, "phase_performance.csv")
    if not os.path.exists(path):
        return []
    with open(path) as f:
        return noise.phase_counters(csv.DictReader(f))


def kept(runs: list, csv_name: str, test: str, phase: str) -> Kept:
    """The phase's samples of every run, without those whose phase was switched out (noise.drop_switched)."""
    column, name = PHASES[phase][0], PHASES[phase][1]
    out, removed, total = [], 0, 0
    for run in runs:
        samples = [((test, int(r["iteration"]), r.get("frame_type", "4k"), name), float(r[column]))
                   for r in rows(os.path.join(run, csv_name))]
        filtered = noise.drop_switched(samples, counters(run))
        out.append(list(filtered.kept))
        removed += filtered.removed
        total += len(samples)
    return Kept(out, removed, total)


def column_runs(runs: list, column: str, csv_name: str = "latency_results.csv") -> list:
    return [[float(r[column]) for r in rows(os.path.join(run, csv_name))] for run in runs]


def interval(low: Optional[float], high: Optional[float], fmt: str = "{:.2f}") -> str:
    if low is None or high is None:
        return "[no interval: too few samples]"
    return "[" + fmt.format(low) + ", " + fmt.format(high) + "]"


def met(value: Optional[float], ok: bool) -> str:
    return "met" if ok else "NOT met"


def verdicts(runs: list) -> list:
    out = []
    for run in runs:
        with open(os.path.join(run, "run.json")) as f:
            manifest = json.load(f)
        phases = noise.phase_switches(counters(run)) if counters(run) else None
        verdict = noise.noise_verdict(noise.inputs_from_manifest(manifest.get("noise"), phases))
        out.append(f"{os.path.basename(os.path.dirname(os.path.dirname(run)))}/{os.path.basename(run)} {verdict.text}")
    return out


def mbps(ns: float) -> float:
    return FRAME_4K / 1e6 / (ns / 1e9)


def loopback(out: str) -> None:
    small, big = run_dirs(os.path.join(out, "small", "latest")), run_dirs(os.path.join(out, "4k", "latest"))
    pingpong, floor = (float(v) for v in open(os.path.join(out, "pingpong_ns.txt")).read().split())
    print(f"bench-loopback over {len(big)} runs (fresh processes each; medians with 95% intervals:"
          f" {intervals.METHOD_RUNS}; MB = 1e6 B; ratio = region bandwidth / private bandwidth, same run)")
    host_region = column_runs(big, "host_memcpy_ns")
    host_private = column_runs(big, "host_memcpy_ns", "reference_results.csv")
    r = intervals.same_run_ratio(host_private, host_region)
    print(f"  {'host memcpy into region':24} {mbps(intervals.pooled_median(host_region)):6.0f} MB/s"
          f" {mbps(intervals.pooled_median(host_private)):6.0f} MB/s  ratio {r.ratio:.2f}x"
          f" {interval(r.low, r.high)}")
    for phase, (_, _, target, label) in PHASES.items():
        region = kept(big, "latency_results.csv", "latency", phase)
        private = kept(big, "reference_results.csv", "reference", phase)
        if any(not run for run in region.runs + private.runs):
            print(f"  {label:24} every sample of a run was switched out: no figure"
                  f" ({region.removed}/{region.total} region, {private.removed}/{private.total} private left out)")
            continue
        r = intervals.same_run_ratio(private.runs, region.runs)
        verdict = "" if target is None else f"target >= {target:.2f}: " + met(r.ratio, r.ratio >= target)
        if target is not None and r.low is not None and r.low < target <= r.ratio:
            verdict += " (interval reaches below)"
        print(f"  {label:24} {mbps(intervals.pooled_median(region.runs)):6.0f} MB/s"
              f" {mbps(intervals.pooled_median(private.runs)):6.0f} MB/s  ratio {r.ratio:.2f}x"
              f" {interval(r.low, r.high)}  {verdict}")
        print(f"  {'':24} switched out, left out: {region.removed}/{region.total} region,"
              f" {private.removed}/{private.total} private")
    note = intervals.median_interval(column_runs(small, "notification_est_ns"))
    ratio = note.median / pingpong
    low = None if note.low is None else note.low / pingpong
    high = None if note.high is None else note.high / pingpong
    print(f"  64 B notification overhead {note.median:.0f} ns {interval(note.low, note.high, '{:.0f}')}"
          f" (run-to-run CV {note.cv if note.cv is not None else float('nan'):.1%});"
          f" cache-line ping-pong timed like it {pingpong:.0f} ns")
    print(f"  notification / ping-pong {ratio:.2f}x {interval(low, high)}"
          f" (target <= {NOTIFY_TARGET:.2f}x: {met(ratio, ratio <= NOTIFY_TARGET)};"
          f" bare ping-pong floor {floor:.0f} ns: {note.median / floor:.2f}x)")
    print("  noise per run (ivbench_analysis/noise.py):")
    for line in verdicts(big + small):
        print(f"    {line}")


def cpu(run: str, side: str) -> tuple:
    """CPU seconds per 1000 messages and the share of one core of one side; (None, None) if not recorded."""
    with open(os.path.join(run, "run.json")) as f:
        c = json.load(f).get(side, {}).get("cpu")
    if not c or not c["messages"] or not c["wall_s"]:
        return None, None
    used = c["user_s"] + c["sys_s"]
    return used / c["messages"] * 1000, used / c["wall_s"]


def median_of(values: list) -> Optional[float]:
    values = sorted(v for v in values if v is not None)
    if not values:
        return None
    mid = len(values) // 2
    return values[mid] if len(values) % 2 else (values[mid - 1] + values[mid]) / 2


def fmt_time(ns: float) -> str:
    return f"{ns / 1e3:.1f} us" if ns < 1e6 else f"{ns / 1e6:.2f} ms"


def doorbell(out: str) -> None:
    wakeup = float(open(os.path.join(out, "wakeup_ns.txt")).read().split()[0])
    pingpong = float(open(os.path.join(out, "pingpong_ns.txt")).read().split()[0])
    print("bench-doorbell (medians over repeated runs with 95% intervals; CPU from getrusage in each program,"
          " per 1000 messages and as a share of one core: the median over runs)")
    print(f"  references, same run: eventfd wake-up round trip {wakeup / 1e3:.1f} us;"
          f" cache-line ping-pong {pingpong:.0f} ns")
    shares = {}
    for where in ("loopback", "vm"):
        for mode in ("polling", "doorbell"):
            for kind in ("64B", "4k", "60fps", "idle"):
                name = f"{where}-{mode}-{kind}"
                if not os.path.isdir(os.path.join(out, name)):
                    continue
                runs = run_dirs(os.path.join(out, name))
                rt = intervals.median_interval(column_runs(runs, "roundtrip_ns"))
                note = intervals.median_interval(column_runs(runs, "notification_est_ns"))
                host, guest = zip(*(cpu(r, "host") for r in runs)), zip(*(cpu(r, "guest") for r in runs))
                (hs, hshare), (gs, gshare) = (tuple(median_of(list(v)) for v in host),
                                              tuple(median_of(list(v)) for v in guest))
                shares[name] = (rt, hshare, gshare)
                show = (lambda v, f: "n/a" if v is None else f.format(v))
                span = "[no interval]" if rt.low is None else f"[{fmt_time(rt.low)}, {fmt_time(rt.high)}]"
                print(f"  {where:8} {mode:8} {kind:5} x{len(runs)}: round trip {fmt_time(rt.median)}"
                      f" {span}; notification {fmt_time(note.median)};"
                      f" CPU s/1000 host {show(hs, '{:.3f}')} guest {show(gs, '{:.3f}')};"
                      f" core host {show(hshare, '{:.1%}')} guest {show(gshare, '{:.1%}')}")
    rt = shares["loopback-doorbell-64B"][0]
    ratio = rt.median / wakeup
    low = None if rt.low is None else rt.low / wakeup
    high = None if rt.high is None else rt.high / wakeup
    print(f"  loopback doorbell 64 B round trip / eventfd wake-up round trip: {ratio:.2f}x {interval(low, high)}"
          f" (target <= {DOORBELL_TARGET:.2f}x: {met(ratio, ratio <= DOORBELL_TARGET)})")
    for where in ("loopback", "vm"):
        name = f"{where}-doorbell-idle"
        if name in shares:
            _, hshare, gshare = shares[name]
            worst = max(v for v in (hshare, gshare, 0.0) if v is not None)
            _, phs, pgs = shares[f"{where}-polling-idle"]
            print(f"  {where} doorbell idle (4 messages/s): host {hshare or 0:.1%}, guest {gshare or 0:.1%} of a core"
                  f" (target < {IDLE_SHARE_TARGET:.0%}: {met(worst, worst < IDLE_SHARE_TARGET)});"
                  f" polling: host {phs or 0:.1%}, guest {pgs or 0:.1%}")


def main() -> int:
    if len(sys.argv) != 3 or sys.argv[1] not in ("loopback", "doorbell"):
        print("usage: bench/summary.py loopback|doorbell OUT", file=sys.stderr)
        return 2
    (loopback if sys.argv[1] == "loopback" else doorbell)(sys.argv[2])
    return 0


if __name__ == "__main__":
    sys.exit(main())

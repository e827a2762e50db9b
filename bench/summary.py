#!/usr/bin/python3
"""The closing summaries of make bench-loopback and make bench-doorbell over repeated runs: medians with
95% intervals (ivbench_analysis/intervals.py) and the phases the noise filter left out
(ivbench_analysis/noise.py).

Usage: bench/summary.py loopback OUT   (OUT/small/latest/run-*, OUT/4k/latest/run-*, OUT/pingpong_ns.txt)
       bench/summary.py doorbell OUT   (OUT/<where>-<mode>-<run>/run-*, OUT/wakeup_ns.txt, OUT/pingpong_ns.txt)
"""

import os
import statistics
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
from ivbench_analysis import intervals, repeats  # noqa: E402
from ivbench_analysis.manifest import cpu_record  # noqa: E402
from ivbench_analysis.model import MESSAGE_KEYS  # noqa: E402
from ivbench_analysis.stats import cpu_figures, frames_by_size, mbps, successful  # noqa: E402

# The guest phases the loopback targets are stated for: timing column, target of region / private bandwidth
# (None: shown without a target), label. Their phase names and the switched-out filter are the analysis'
# (repeats.PHASE_OF_COLUMN, repeats.stage_samples).
PHASES = (("guest_hot_cache_ns", None, "A pure read, hot"),
          ("guest_cold_cache_ns", 0.90, "B pure read, cold"),
          ("guest_second_pass_ns", 0.95, "C copy-out (memcpy)"))
NOTIFY_TARGET = 1.50
DOORBELL_TARGET = 2.00
IDLE_SHARE_TARGET = 0.05


@dataclass(frozen=True)
class Kept:
    runs: list      # one list of kept samples per run
    removed: int
    total: int
    size: int       # bytes of the frame each sample moved


def load(folder: str) -> repeats.RunSet:
    run_set = repeats.load_set(Path(folder))
    if not run_set.repeated:
        raise SystemExit(f"bench summary: no run-* folders in {folder}")
    return run_set


def rows_of(run, test: str):
    """The successful rows of a test; the reference test's are its 4K messages (the latency test's frame)."""
    rows = successful(run.timings(test))
    if rows is None or test != "reference":
        return rows
    size = run.latency_frame_bytes
    for frame, frame_size in frames_by_size(rows):
        if frame_size == size:
            return rows[rows["frame_type"] == frame]
    return rows.iloc[0:0]


def kept(run_set: repeats.RunSet, test: str, column: str) -> Kept:
    """A column's samples in every run, a guest phase's without those switched out (repeats.stage_samples)."""
    out, removed, total = [], 0, 0
    for run in run_set.runs:
        rows = rows_of(run, test)
        samples = repeats.stage_samples(run, test, rows, column, MESSAGE_KEYS[test])
        out.append(list(samples.values))
        removed += samples.left_out
        total += samples.total
    return Kept(out, removed, total, run_set.runs[0].latency_frame_bytes)


def column_runs(run_set: repeats.RunSet, column: str) -> list:
    return kept(run_set, "latency", column).runs


def interval(low: Optional[float], high: Optional[float], fmt: str = "{:.2f}") -> str:
    if low is None or high is None:
        return "[no interval: too few samples]"
    return "[" + fmt.format(low) + ", " + fmt.format(high) + "]"


def met(value: Optional[float], ok: bool) -> str:
    return "met" if ok else "NOT met"


def verdicts(run_set: repeats.RunSet) -> list:
    """Each run's noise verdict (repeats.set_noise), labelled <set>/run-N."""
    folder = run_set.folder
    name = folder.parent.name if folder.name == "latest" else folder.name
    return [f"{name}/{r.label} " + (r.verdict.text if r.verdict else f"no verdict: {r.error}")
            for r in repeats.set_noise(run_set, record=False)]


def rate(k: Kept) -> float:
    return mbps(k.size, intervals.pooled_median(k.runs))


def loopback(out: str) -> None:
    small, big = load(os.path.join(out, "small", "latest")), load(os.path.join(out, "4k", "latest"))
    pingpong, floor = (float(v) for v in open(os.path.join(out, "pingpong_ns.txt")).read().split())
    print(f"bench-loopback over {len(big.runs)} runs (fresh processes each; medians with 95% intervals:"
          f" {intervals.METHOD_RUNS}; MB = 1e6 B; ratio = region bandwidth / private bandwidth, same run)")
    host_region, host_private = kept(big, "latency", "host_memcpy_ns"), kept(big, "reference", "host_memcpy_ns")
    r = intervals.same_run_ratio(host_private.runs, host_region.runs)
    print(f"  {'host memcpy into region':24} {rate(host_region):6.0f} MB/s"
          f" {rate(host_private):6.0f} MB/s  ratio {r.ratio:.2f}x {interval(r.low, r.high)}")
    for column, target, label in PHASES:
        region, private = kept(big, "latency", column), kept(big, "reference", column)
        if any(not run for run in region.runs + private.runs):
            print(f"  {label:24} every sample of a run was switched out: no figure"
                  f" ({region.removed}/{region.total} region, {private.removed}/{private.total} private left out)")
            continue
        r = intervals.same_run_ratio(private.runs, region.runs)
        verdict = "" if target is None else f"target >= {target:.2f}: " + met(r.ratio, r.ratio >= target)
        if target is not None and r.low is not None and r.low < target <= r.ratio:
            verdict += " (interval reaches below)"
        print(f"  {label:24} {rate(region):6.0f} MB/s {rate(private):6.0f} MB/s  ratio {r.ratio:.2f}x"
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
    for line in verdicts(big) + verdicts(small):
        print(f"    {line}")


def cpu(run, side: str) -> tuple:
    """CPU seconds per 1000 messages and the share of one core of one side (manifest.cpu_record,
    stats.cpu_figures); (None, None) if not recorded."""
    record = cpu_record(run.manifest, side)
    if record is None:
        return None, None
    figures = cpu_figures(record)
    return figures["per_1000_s"], figures["core_share"]


def median_of(values: list) -> Optional[float]:
    values = [v for v in values if v is not None]
    return statistics.median(values) if values else None


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
                run_set = load(os.path.join(out, name))
                runs = run_set.runs
                rt = intervals.median_interval(column_runs(run_set, "roundtrip_ns"))
                note = intervals.median_interval(column_runs(run_set, "notification_est_ns"))
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

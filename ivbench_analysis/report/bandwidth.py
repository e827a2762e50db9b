"""BANDWIDTH TEST: times, rates and statistics per frame (bandwidth_results.csv)."""

from ..model import BANDWIDTH_CSV, BANDWIDTH_TIMING_COLUMNS
from ..region_private import bandwidth_comparisons
from ..stats import frames_by_size, mbps, stage_summaries, successful
from .breakdown import bottleneck_lines, count_line, failure_lines, planned_line
from .text import fmt, fmt_mbps, fmt_table, section, stats_table


def bandwidth_frame_rows(frame, size, everything):
    """One frame's row of the times table and of the MB/s table (None when no iteration succeeded)."""
    rows = successful(everything)
    head = [frame, f"{size:.0f}", fmt(size / 1e6, 6), fmt(size / 2**20, 6),
            f"{len(rows)}/{len(everything)}", fmt(100 * len(rows) / len(everything))]
    if rows.empty:
        return head + ["n/a"] * len(BANDWIDTH_TIMING_COLUMNS), None
    times = head + [fmt(rows[c].mean() / 1e6, 6) for c in BANDWIDTH_TIMING_COLUMNS]
    rates = [frame]
    for col in ("host_memcpy", "guest_memcpy", "total"):
        per_iteration = rows[f"{col}_calc_mbps"]
        rates.append(fmt_mbps(mbps(size, rows[f"{col}_ns"].mean())))
        rates.append(f"{fmt(per_iteration.min())}-{fmt(per_iteration.max())}")
    return times, rates


def bandwidth_sections(run, summary):
    data = run.bandwidth
    lines = section(f"BANDWIDTH TEST ({BANDWIDTH_CSV})")
    if data is None:
        return lines + [f"  {BANDWIDTH_CSV} not found: no bandwidth analysis"]
    if data.empty:
        return lines + ["  no iterations recorded (header only)"]
    lines.append(count_line("Iterations (all frames)", data))
    lines += planned_line(run, "bandwidth", data) + failure_lines(run, "bandwidth", data)
    summary.bandwidth = f"{len(successful(data))}/{len(data)} iterations succeeded"
    if successful(data).empty:
        return lines + ["  every iteration failed: no bandwidth statistics"]

    time_rows, rate_rows, stats_series = [], [], []
    for frame, size in frames_by_size(data):
        everything = data[data["frame_type"] == frame]
        times, rates = bandwidth_frame_rows(frame, size, everything)
        time_rows.append(times)
        if rates is None:
            continue
        rate_rows.append(rates)
        rows = successful(everything)
        stats_series += [(f"{frame} {c}", rows[c]) for c in BANDWIDTH_TIMING_COLUMNS]
        summary.bandwidth_frames.append(
            f"{frame}: total {fmt(mbps(size, rows['total_ns'].mean()))} MB/s, "
            f"guest copy {fmt(mbps(size, rows['guest_memcpy_ns'].mean()))} MB/s")
        stages = stage_summaries(rows, run.bandwidth_stages)
        summary.bottleneck_bandwidth.extend(bottleneck_lines(f"Bandwidth {frame}", stages,
                                                             bandwidth_comparisons(run, frame, size)))

    lines += ["", "  Times per frame (ms, mean over successful iterations); 1 MB = 1e6 bytes, 1 MiB = 2^20 bytes"]
    lines += fmt_table(["frame", "size_bytes", "MB", "MiB", "ok/total", "success%",
                        "host_memcpy", "roundtrip", "guest_copy", "guest_verify", "total"], time_rows)
    lines += ["", "  Bandwidth per frame (MB/s = frame bytes / mean time; range = slowest-fastest iteration)"]
    lines += fmt_table(["frame", "host_memcpy", "range", "guest_copy", "range", "total", "range"], rate_rows)
    lines += ["", "  Statistics over successful iterations (ns), per frame"]
    lines += stats_table(stats_series)
    return lines

"""REFERENCE: the same phases on private memory (reference_results.csv), and the bandwidth frames
compared with it."""

from ..model import REFERENCE_CSV, REFERENCE_TIMING_COLUMNS
from ..stats import frames_by_size, mbps, reference_for_size, stage_summaries, successful
from .breakdown import COMPARISON_HEADER, comparison_rows, count_line
from .text import fmt_mbps, fmt_table, section, stats_table


def reference_sections(run):
    data = run.reference
    lines = section(f"REFERENCE: THE SAME PHASES ON PRIVATE MEMORY ({REFERENCE_CSV})")
    if data is None:
        return lines + [f"  {REFERENCE_CSV} not found: the run has no private-memory reference, "
                        "so no stage can be attributed to the shared mapping"]
    if data.empty:
        return lines + ["  no iterations recorded (header only)"]
    lines.append(count_line("Iterations (all frames)", data))
    rows = successful(data)
    if rows.empty:
        return lines + ["  every iteration failed"]
    rate_rows, stats_series = [], []
    for frame, size in frames_by_size(rows):
        frame_rows = rows[rows["frame_type"] == frame]
        rates = [fmt_mbps(mbps(size, frame_rows[c].mean())) for c in REFERENCE_TIMING_COLUMNS]
        rate_rows.append([frame, f"{size:.0f}", str(len(frame_rows))] + rates)
        stats_series += [(f"{frame} {c}", frame_rows[c]) for c in REFERENCE_TIMING_COLUMNS]
    lines.append("  MB/s (frame bytes / mean time) on private memory:")
    lines += fmt_table(["frame", "size_bytes", "ok", "host_memcpy", "A_hot_read", "B_cold_read", "C_copy", "D_verify"],
                       rate_rows)
    lines += ["", "  Statistics over successful iterations (ns), per frame"]
    lines += stats_table(stats_series)

    comparisons = []
    bandwidth = successful(run.bandwidth)
    for frame, size in frames_by_size(rows):
        region = bandwidth[bandwidth["size_bytes"] == size] if bandwidth is not None else None
        if region is None or region.empty:
            continue
        stages = stage_summaries(region, run.bandwidth_stages)
        for row in comparison_rows(stages, reference_for_size(data, size), size):
            comparisons.append([f"{frame} {row[0]}"] + row[1:])
    if comparisons:
        lines += section("SHARED REGION VS PRIVATE MEMORY, bandwidth frames (medians)")
        lines += fmt_table(COMPARISON_HEADER, comparisons)
    return lines

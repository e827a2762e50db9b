"""LATENCY TEST: statistics, the read/write isolation breakdown, percentiles and ranges
(latency_results.csv)."""

from ..manifest import MANIFEST_JSON
from ..model import LATENCY_CSV, LATENCY_STAGES, LATENCY_TIMING_COLUMNS, REFERENCE_CSV, Stage
from ..stats import PERCENTILES, mbps, reference_for_size, stage_summaries, successful
from ..region_private import latency_comparisons
from .breakdown import (
    COMPARISON_HEADER, bottleneck_lines, breakdown_table, comparison_notes, comparison_rows, count_line, failure_lines,
    planned_line, ratio_line,
)
from .text import fmt, fmt_mbps, fmt_size, fmt_table, section, stats_table


PERCENTILE_ROWS = [
    ("roundtrip", "roundtrip_ns"),
    ("one-way est. (roundtrip/2)", "one_way_est_ns"),
    ("host memcpy", "host_memcpy_ns"),
    ("A hot read", "guest_hot_cache_ns"),
    ("B cold read", "guest_cold_cache_ns"),
    ("C copy", "guest_second_pass_ns"),
    ("D verify", "guest_cached_verify_ns"),
    ("notification (est.)", "notification_est_ns"),
    ("total", "total_ns"),
]


def latency_sections(run, summary):
    data = run.latency
    lines = section(f"LATENCY TEST ({LATENCY_CSV})")
    if data is None:
        return lines + [f"  {LATENCY_CSV} not found: no latency analysis"]
    if data.empty:
        return lines + ["  no iterations recorded (header only)"]
    size = run.latency_frame_bytes
    if size:
        lines.append(f"  Frame: {fmt_size(size)}")
    else:
        lines.append(f"  Frame size unknown ({MANIFEST_JSON} options do not give latency_frame): no MB/s")
    lines.append(count_line("Iterations", data))
    lines += planned_line(run, "latency", data) + failure_lines(run, "latency", data)
    rows = successful(data)
    summary.latency = f"{len(rows)}/{len(data)} iterations succeeded"
    if rows.empty:
        return lines + ["  every iteration failed: no timing statistics"]

    lines.append("")
    lines.append("  Statistics over successful iterations (ns; stddev is the sample standard deviation, n-1;")
    lines.append("  percentiles interpolate linearly between ranks)")
    lines += stats_table([(c, rows[c]) for c in LATENCY_TIMING_COLUMNS + ["one_way_est_ns"]])
    lines.append("  one_way_est_ns = roundtrip_ns / 2; the round trip includes the guest's phases A-D")
    summary.latency += (
        f"; roundtrip median {fmt(rows['roundtrip_ns'].median() / 1e3, 3)} us, "
        f"one-way estimate {fmt(rows['one_way_est_ns'].median() / 1e3, 3)} us"
    )

    stages = stage_summaries(rows, run.latency_stages)
    lines += section("READ/WRITE ISOLATION BREAKDOWN (successful iterations; MB/s = frame bytes / time)")
    lines += breakdown_table(stages, rows, size)
    lines += [
        "  share = mean / mean total (the means add up); median_share = median over iterations of stage / total.",
        "  host memcpy and the round trip are timed on the host clock, phases A-D on the guest clock;",
        "  guest other = guest total - (A+B+C+D"
        + (" + write-study variants" if run.write_study is not None else "")
        + "); notification (est.) = roundtrip - guest total",
        "",
        ratio_line("Write overhead", "C", rows["guest_second_pass_ns"], "B", rows["guest_cold_cache_ns"]),
        ratio_line("Cache effect", "B", rows["guest_cold_cache_ns"], "A", rows["guest_hot_cache_ns"]),
    ]
    private = reference_for_size(run.reference, size)
    comparisons = latency_comparisons(run)
    if private is not None:
        lines += [
            ratio_line("On private memory, write overhead", "C", private["guest_second_pass_ns"],
                       "B", private["guest_cold_cache_ns"]),
            ratio_line("On private memory, cache effect", "B", private["guest_cold_cache_ns"],
                       "A", private["guest_hot_cache_ns"]),
        ]
        lines += section(f"SHARED REGION VS PRIVATE MEMORY, latency frame "
                         f"(medians; {REFERENCE_CSV}, {len(private)} iterations)")
        lines += fmt_table(COMPARISON_HEADER, comparison_rows(comparisons, size))
        lines += comparison_notes(comparisons)

    lines += section("PERCENTILES (us, successful iterations)")
    percentile_rows = []
    for label, col in PERCENTILE_ROWS:
        percentile_rows.append([label] + [fmt(rows[col].quantile(p / 100) / 1e3, 3) for p in PERCENTILES])
    lines += fmt_table(["stage"] + [f"p{p:g}" for p in PERCENTILES], percentile_rows)

    lines += section("MIN/MAX RANGES (successful iterations; MB/s from the fastest and slowest iteration)")
    range_rows = []
    for label, col, is_bw, _ in LATENCY_STAGES[:5] + [Stage("roundtrip", "roundtrip_ns", False, None),
                                                      Stage("total", "total_ns", False, None)]:
        lo, hi = rows[col].min(), rows[col].max()
        rates = f"{fmt_mbps(mbps(size, hi))} - {fmt_mbps(mbps(size, lo))}" if is_bw and size else "-"
        range_rows.append([label, fmt(lo / 1e3, 3), fmt(hi / 1e3, 3), rates])
    lines += fmt_table(["stage", "min_us", "max_us", "MB/s range"], range_rows)

    summary.bottleneck_latency = bottleneck_lines("Latency frame", stages, comparisons)
    return lines

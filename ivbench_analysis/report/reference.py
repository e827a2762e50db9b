"""REFERENCE: the same phases on private memory (reference_results.csv), and the bandwidth frames
compared with it; reference.png draws the same figures (reference_figures, their one computation)."""

from dataclasses import dataclass, field

import numpy as np

from ..model import REFERENCE_CSV, REFERENCE_TIMING_COLUMNS
from ..region_private import bandwidth_comparisons
from ..stats import frames_by_size, mbps, successful
from .breakdown import COMPARISON_HEADER, comparison_notes, comparison_rows, count_line
from .text import fmt_mbps, fmt_table, section, stats_table

RATE_HEADER = ["frame", "size_bytes", "ok"] + ["host_memcpy", "A_hot_read", "B_cold_read", "C_copy", "D_verify"]


@dataclass
class ReferenceFigures:
    """Per frame on private memory: (frame, size, successful iterations, MB/s of the mean time of each column
    of REFERENCE_TIMING_COLUMNS); per bandwidth frame that has a reference: (frame, size, its stages against
    private memory: region_private.StageComparison)."""
    rates: list = field(default_factory=list)
    comparisons: list = field(default_factory=list)


def reference_figures(run, rows):
    """The section's figures from the successful reference rows."""
    out = ReferenceFigures()
    for frame, size in frames_by_size(rows):
        frame_rows = rows[rows["frame_type"] == frame]
        out.rates.append((frame, size, len(frame_rows),
                          [mbps(size, frame_rows[c].mean()) for c in REFERENCE_TIMING_COLUMNS]))
    for frame, size in frames_by_size(rows):
        found = bandwidth_comparisons(run, frame, size)
        if found:
            out.comparisons.append((frame, size, found))
    return out


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
    figures = reference_figures(run, rows)
    lines.append("  MB/s (frame bytes / mean time) on private memory:")
    lines += fmt_table(RATE_HEADER, [[frame, f"{size:.0f}", str(n)] + [fmt_mbps(r) for r in rates]
                                     for frame, size, n, rates in figures.rates])
    lines += ["", "  Statistics over successful iterations (ns), per frame"]
    stats_series = []
    for frame, _ in frames_by_size(rows):
        frame_rows = rows[rows["frame_type"] == frame]
        stats_series += [(f"{frame} {c}", frame_rows[c]) for c in REFERENCE_TIMING_COLUMNS]
    lines += stats_table(stats_series)
    comparisons = []
    for frame, size, found in figures.comparisons:
        comparisons += [[f"{frame} {row[0]}"] + row[1:] for row in comparison_rows(found, size)]
    if comparisons:
        lines += section("SHARED REGION VS PRIVATE MEMORY, bandwidth frames (medians)")
        lines += fmt_table(COMPARISON_HEADER, comparisons)
        lines += comparison_notes([c for _, _, found in figures.comparisons for c in found])
    return lines


def plot_reference(run, path):
    """reference.png: the table's MB/s per frame and phase on private memory and, where bandwidth frames of the
    same size ran, each stage's region/private ratio of medians; False when the run has no figure for it."""
    rows = successful(run.reference)
    if rows is None or rows.empty:
        return False
    from ..plots import pyplot, run_title, save  # matplotlib only when plotting

    figures = reference_figures(run, rows)
    plt = pyplot()
    panels = 2 if figures.comparisons else 1
    fig, axes = plt.subplots(1, panels, figsize=(6.5 * panels, 4.8), squeeze=False)
    ax = axes[0][0]
    width = 0.8 / len(REFERENCE_TIMING_COLUMNS)
    for j, name in enumerate(RATE_HEADER[3:]):
        xs = np.arange(len(figures.rates)) + (j - (len(REFERENCE_TIMING_COLUMNS) - 1) / 2) * width
        ax.bar(xs, [rates[j] for _, _, _, rates in figures.rates], width, label=name)
    ax.set_xticks(range(len(figures.rates)), [f"{frame}\n{size / 1e6:.3g} MB" for frame, size, _, _ in figures.rates])
    ax.set_yscale("log")
    ax.set_title("Private memory: MB/s per phase (frame bytes / mean time)", fontsize="medium")
    ax.set_xlabel("frame (1 MB = 1e6 B)")
    ax.set_ylabel("MB/s (log scale)")
    ax.grid(True, axis="y", which="both", alpha=0.3)
    ax.legend(fontsize="small")
    if figures.comparisons:
        ax = axes[0][1]
        # the table's compared stages (a stage whose side was switched out in every sample is n/a there)
        shown = [(frame, c) for frame, _, found in figures.comparisons for c in found if c.compared]
        labels = [f"{frame} {c.label}" for frame, c in shown]
        ratios = [c.ratio for _, c in shown]
        ax.barh(labels, ratios, color="tab:blue")
        ax.axvline(1, color="black", linewidth=0.8)
        ax.invert_yaxis()
        ax.set_title("Shared region vs private memory, bandwidth frames (medians)", fontsize="medium")
        ax.set_xlabel("region/private (time ratio; 1: as fast as private memory)")
        ax.grid(True, axis="x", alpha=0.3)
    fig.suptitle(run_title("Reference: the guest's phases on private memory", run.manifest))
    save(fig, path, run.manifest)
    return True

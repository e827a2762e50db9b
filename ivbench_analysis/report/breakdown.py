"""What the latency, bandwidth and reference sections share: counts and failures, the per-stage
breakdown, ratios, the shared-region-vs-private tables and the bottleneck lines (their medians from
region_private, the one rule for which samples such a comparison uses)."""

import numpy as np
import pandas as pd

from ..manifest import MANIFEST_JSON, lookup
from ..region_private import REGION_RATIO_THRESHOLD, not_compared, slower_stages
from ..stats import mbps, ratio
from .text import fmt, fmt_duration, fmt_mbps, fmt_table


def count_line(what, data):
    total = len(data)
    ok = int((data["success"] == 1).sum())
    rate = 100.0 * ok / total if total else float("nan")
    return f"  {what}: {total} recorded, {ok} succeeded, {total - ok} failed; success rate {fmt(rate)}%"


def failure_lines(run, test, data):
    """The failed iterations with the reasons run.json gives for them."""
    failed = data[data["success"] == 0]
    if failed.empty:
        return []
    reasons = {}
    for failure in lookup(run.manifest, "failures", default=[]) or []:
        if isinstance(failure, dict) and failure.get("test") == test:
            reasons[(failure.get("frame"), failure.get("iteration"))] = failure.get("error", "?")
            reasons.setdefault((None, failure.get("iteration")), failure.get("error", "?"))
    items = []
    for _, row in failed.iterrows():
        frame = row["frame_type"] if "frame_type" in row else None
        iteration = int(row["iteration"])
        reason = reasons.get((frame, iteration), reasons.get((None, iteration), "reason not recorded"))
        items.append(f"{frame + ' ' if frame else ''}{iteration} ({reason})")
    return ["  Failed iterations: " + ", ".join(items)]


def planned_line(run, test, data):
    planned = lookup(run.manifest, "summary", test, "planned")
    if isinstance(planned, int) and planned != len(data):
        return [f"  {MANIFEST_JSON} plans {planned} {test} iterations; the CSV has {len(data)} rows (partial run)"]
    return []


def breakdown_table(stages, rows, size):
    table = []
    total_mean = rows["total_ns"].mean()
    for s in stages:
        rate = fmt_mbps(mbps(size, s.mean)) if size else "n/a"
        median_rate = fmt_mbps(mbps(size, s.median)) if size else "n/a"
        table.append([s.label, fmt(s.mean), fmt(s.mean / 1e3, 3), fmt(100 * s.mean / total_mean) + "%",
                      rate if s.is_bandwidth else "-", fmt(s.median), fmt(s.median_share) + "%",
                      median_rate if s.is_bandwidth else "-"])
    total_median = rows["total_ns"].median()
    table.append(["total (host memcpy + roundtrip)", fmt(total_mean), fmt(total_mean / 1e3, 3), "100.0%",
                  fmt_mbps(mbps(size, total_mean)) if size else "n/a", fmt(total_median), "100.0%",
                  fmt_mbps(mbps(size, total_median)) if size else "n/a"])
    header = ["stage", "mean_ns", "mean_us", "share", "MB/s", "median_ns", "median_share", "median_MB/s"]
    return fmt_table(header, table)


def ratio_line(name, slow_label, slow, fast_label, fast):
    """C vs B, B vs A: the difference and the ratio of the means, and the per-iteration ratios, as measured."""
    diff = slow.mean() - fast.mean()
    of_means = ratio(slow.mean(), fast.mean())
    per_iteration = (slow / fast).replace([np.inf, -np.inf], np.nan).dropna()
    return (
        f"  {name} ({slow_label} vs {fast_label}): {slow_label} - {fast_label} = {fmt(diff)} ns "
        f"({fmt(diff / 1e3, 3)} us, {fmt(100 * diff / fast.mean())}% of {fast_label}); "
        f"ratio of means {fmt(of_means, 2)}x; per iteration median {fmt(per_iteration.median(), 2)}x, "
        f"range {fmt(per_iteration.min(), 2)}x-{fmt(per_iteration.max(), 2)}x"
    )


def comparison_cell(comparison):
    """The region/private cell: the ratio of the medians, or n/a when the stage is not compared."""
    return f"{fmt(comparison.ratio, 2)}x" if comparison.compared else "n/a"


def comparison_rows(comparisons, size):
    """Region stage vs the same work on private memory (region_private's medians): label, ns, ns, ratio, MB/s,
    MB/s."""
    return [[c.label, fmt(c.region.median), fmt(c.private.median), comparison_cell(c),
             fmt_mbps(mbps(size, c.region.median)), fmt_mbps(mbps(size, c.private.median))] for c in comparisons]


def comparison_notes(comparisons):
    """What the comparison tables' medians are over, and the stages they do not compare."""
    left = [f"{c.label.split(' (')[0]} {c.region.left_out} on the region, {c.private.left_out} on private memory"
            for c in comparisons if c.region.left_out or c.private.left_out]
    lines = [f"  {RULE_WORDS}" + (f"; left out: {'; '.join(left)}" if left else "")]
    skipped = not_compared(comparisons)
    if skipped:
        lines.append(f"  n/a: {', '.join(skipped)}: {NOT_COMPARED_WORDS}, not compared")
    return lines


def bottleneck_lines(what, stages, comparisons):
    """The stage with the largest share, and what the private-memory reference says about it
    (region_private's comparisons of the same stages).

    The write-study variants (--write-study) run inside the round trip but are no part of a transfer:
    they are never the bottleneck, and their share is said on a line of its own."""
    study = [s for s in stages if s.column == "guest_study_ns"]
    top = max((s for s in stages if s.column != "guest_study_ns"), key=lambda s: s.median_share)
    lines = [f"  {what}: largest share of the end-to-end time: {top.label}, median {fmt(top.median_share)}% "
             f"per iteration ({fmt_duration(top.median)} median over every successful iteration)"]
    if study:
        lines.append(f"    (the write-study variants, run inside each round trip because of --write-study and not part "
                     f"of a transfer, took a median {fmt(study[0].median_share)}% of it; they are left out here)")
    if top.label.startswith("D verify"):
        lines.append("    (SHA-256 is the benchmark's integrity check, not part of a transfer)")
    if top.reference is None:
        lines.append("    this stage has no private-memory counterpart: the data cannot attribute it to the mapping")
        return lines
    if not comparisons:
        lines.append("    no reference run on private memory for this size: "
                     "the data cannot say whether the shared mapping makes it slow")
        return lines
    mine = next(c for c in comparisons if c.stage.column == top.column)
    factor = mine.ratio
    if mine.region.all_switched or mine.private.all_switched:
        lines.append(f"    its median is not compared: {NOT_COMPARED_WORDS}")
    elif pd.isna(factor):
        lines.append("    its median on private memory is 0 ns (SUSPECT): no comparison")
    else:
        if factor > REGION_RATIO_THRESHOLD:
            verdict = "evidence that the shared mapping slows this stage"
        elif factor < 1 / REGION_RATIO_THRESHOLD:
            verdict = "faster than on private memory; the mapping is not what makes it slow"
        else:
            verdict = (f"within {REGION_RATIO_THRESHOLD}x of private memory: the work itself costs this much here, "
                       "no evidence that the shared mapping is the bottleneck")
        lines.append(f"    on the shared region it takes {fmt(factor, 2)}x as long as on private memory "
                     f"in the same run (medians): {verdict}")
    slower = [f"{label} {fmt(ratio, 2)}x" for label, ratio in slower_stages(comparisons)]
    lines.append(f"    stages more than {REGION_RATIO_THRESHOLD}x slower on the shared region than on private memory: "
                 f"{', '.join(slower) or 'none'}")
    skipped = not_compared(comparisons)
    if skipped:
        lines.append(f"    not compared ({NOT_COMPARED_WORDS}): {', '.join(skipped)}")
    return lines


# How the comparisons of the region against private memory choose their samples (region_private).
RULE_WORDS = ("medians of the samples HEADLINE FIGURES keeps: guest phases switched out or migrated left out "
              "on both sides")
NOT_COMPARED_WORDS = "every sample of a side was switched out"


COMPARISON_HEADER = ["stage", "region_ns", "private_ns", "region/private", "region_MB/s", "private_MB/s"]

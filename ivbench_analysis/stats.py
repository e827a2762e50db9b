"""Pure statistics over the loaded tables: rates, descriptive statistics and percentiles, stage shares,
derived counter values, CPU figures.

Units: times are integer nanoseconds in the CSVs; 1 MB = 1e6 bytes, 1 MiB = 2^20 bytes;
MB/s = bytes / ns * 1e3."""

import math

import numpy as np
import pandas as pd

from .model import LATENCY_COUNTERS_CSV, StageSummary


PERCENTILES = [50, 90, 95, 99, 99.9]

# A copy or read faster than this is not something a machine does today: a single core reaches tens
# of GB/s to memory, and a whole 8-channel DDR5 socket ~300 GB/s for all cores together. Above it,
# the timing or a unit is wrong (the seed's 1000x errors would land here), so it is flagged.
MAX_PLAUSIBLE_MBPS = 200_000.0


def mbps(size_bytes, ns):
    """MB/s (1 MB = 1e6 B) from bytes and nanoseconds: bytes/ns is GB/s, so times 1e3. NaN where the time
    is 0: no rate (the checks flag the time itself)."""
    if np.ndim(ns) == 0:
        return size_bytes / ns * 1e3 if ns != 0 else math.nan
    return size_bytes / ns.where(ns != 0) * 1e3


def ratio(numerator, denominator):
    """numerator / denominator, NaN where either is missing or the denominator is not above 0 (a time of 0 ns
    gives no ratio: the checks flag the time itself)."""
    if numerator is None or denominator is None or pd.isna(numerator) or pd.isna(denominator) or denominator <= 0:
        return math.nan
    return float(numerator) / float(denominator)


def consecutive_runs(table, columns):
    """Per row, the number of the run of consecutive rows with the same values in columns (1, 2, ...): how
    host_writer's files group rows (a message's mappings, a stream's frames). An empty table gives an empty
    Series."""
    if table.empty:
        return pd.Series(dtype="int64", index=table.index)
    key = table[columns].astype(str).agg("/".join, axis=1)
    return (key != key.shift()).cumsum()


def successful(data):
    return data[data["success"] == 1] if data is not None else None


def describe(values):
    """count, min, max, mean, median, stddev (sample, n-1) and the PERCENTILES of a series."""
    values = values.dropna()
    stats = {
        "count": len(values),
        "min": values.min(),
        "max": values.max(),
        "mean": values.mean(),
        "median": values.median(),
        "stddev": values.std(ddof=1),
    }
    for p in PERCENTILES:
        stats[f"p{p:g}"] = values.quantile(p / 100)  # linear interpolation between ranks
    return stats


STAT_NAMES = ["count", "min", "max", "mean", "median", "stddev"] + [f"p{p:g}" for p in PERCENTILES]


def frames_by_size(data):
    """frame_type names ordered by size (then name), each with its size in bytes."""
    sizes = data.groupby("frame_type")["size_bytes"].max()
    return sorted(sizes.items(), key=lambda item: (math.inf if pd.isna(item[1]) else item[1], item[0]))


def reference_for_size(reference, size):
    """Successful reference rows for a message size, or None."""
    if reference is None or size is None:
        return None
    rows = successful(reference)
    rows = rows[rows["size_bytes"] == size]
    return rows if not rows.empty else None


def exceeds_bound(value):
    return value is not None and not pd.isna(value) and value > MAX_PLAUSIBLE_MBPS


def counter_bytes(run, name, data):
    """The message size of each row of a per-iteration counter file (for cycles per byte), NaN when unknown."""
    if name == LATENCY_COUNTERS_CSV:
        size = run.latency_frame_bytes
        return pd.Series(float(size) if size else np.nan, index=data.index)
    bandwidth = run.bandwidth
    sizes = bandwidth.groupby("frame_type")["size_bytes"].max() if bandwidth is not None else pd.Series(dtype=float)
    return data["frame_type"].map(sizes).astype(float)


def derived_values(data, prefix, numerator, denominator, size):
    """numerator / denominator per row where both were measured and the denominator is positive, else NaN."""
    den = size if denominator == "bytes" else data[prefix + denominator]
    den = den.astype(float)
    return data[prefix + numerator].astype(float) / den.where(den > 0)


def stage_summaries(rows, stages, total_column="total_ns"):
    """Per stage: its mean and median, and the median over iterations of its share of the total.

    Means add up to the mean total (the breakdown); medians and per-iteration shares resist the odd
    slow iteration (e.g. the first, which warms caches and page tables), so the bottleneck uses them.
    """
    summaries = []
    for label, col, is_bw, ref in stages:
        summaries.append(StageSummary(label, col, is_bw, ref, rows[col].mean(), rows[col].median(),
                                      (100 * rows[col] / rows[total_column]).median()))
    return summaries


def cpu_figures(cpu):
    """CPU per 1000 messages (= ms per message) and share of one core, from a cpu_record; None where a
    divisor is 0."""
    used = cpu["user_s"] + cpu["sys_s"]
    return {
        "used_s": used,
        "per_1000_s": used / cpu["messages"] * 1000 if cpu["messages"] else None,
        "core_share": used / cpu["wall_s"] if cpu["wall_s"] else None,
    }


def latency_medians(latency):
    """(messages, median round trip us, median notification us) of the successful latency messages, or None."""
    ok = successful(latency)
    if ok is None or ok.empty:
        return None
    return len(ok), ok["roundtrip_ns"].median() / 1e3, ok["notification_est_ns"].median() / 1e3

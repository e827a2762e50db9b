#!/usr/bin/python3
# /// script
# requires-python = ">=3.9"
# dependencies = [
#     "numpy>=1.20",
#     "pandas>=1.3",
#     "matplotlib>=3.5",
# ]
# ///
"""Statistics, plots and a performance report for one ivshmem-bench results folder.

Usage: ./analyze_results.py [RESULTS_DIR]        (default: results/latest)

Reads latency_results.csv, bandwidth_results.csv, reference_results.csv, latency_performance.csv,
bandwidth_performance.csv and run.json (each when present) and writes into RESULTS_DIR:
performance_report.txt, latency_histogram.png, latency_over_time.png, latency_percentiles.png and
bandwidth_analysis.png. A short summary goes to stdout, problems to stderr (one line each).

Units: times are integer nanoseconds in the CSVs; 1 MB = 1e6 bytes, 1 MiB = 2^20 bytes;
MB/s = bytes / ns * 1e3. Exit status: 0 report written, 1 bad input or every iteration of a test
failed, 2 usage error.
"""

import argparse
import csv
import json
import math
import os
import sys
from pathlib import Path

try:
    import matplotlib

    matplotlib.use("Agg")  # headless: no display on the machines this runs on
    import matplotlib.pyplot as plt
    import numpy as np
    import pandas as pd
except ImportError as err:
    sys.exit(
        f"analyze_results: missing Python package ({err.name}): install python3-pandas and "
        "python3-matplotlib (Debian), or run `uv run analyze_results.py`"
    )

PROG = "analyze_results"
DEFAULT_RESULTS_DIR = "results/latest"

LATENCY_CSV = "latency_results.csv"
BANDWIDTH_CSV = "bandwidth_results.csv"
REFERENCE_CSV = "reference_results.csv"
LATENCY_COUNTERS_CSV = "latency_performance.csv"
BANDWIDTH_COUNTERS_CSV = "bandwidth_performance.csv"
MANIFEST_JSON = "run.json"
REPORT_TXT = "performance_report.txt"

# The columns host_writer writes (src/csv.c); the analysis needs every one of them.
LATENCY_COLUMNS = [
    "iteration",
    "host_memcpy_ns", "host_memcpy_us",
    "roundtrip_ns", "roundtrip_us",
    "guest_memcpy_ns", "guest_memcpy_us",
    "guest_verify_ns", "guest_verify_us",
    "guest_hot_cache_ns", "guest_hot_cache_us",
    "guest_cold_cache_ns", "guest_cold_cache_us",
    "guest_second_pass_ns", "guest_second_pass_us",
    "guest_cached_verify_ns", "guest_cached_verify_us",
    "notification_est_ns", "notification_est_us",
    "total_ns", "total_us",
    "success",
]
BANDWIDTH_COLUMNS = [
    "iteration", "frame_type", "width", "height", "bpp", "size_bytes", "size_mb",
    "host_memcpy_ns", "host_memcpy_ms", "host_memcpy_mbps",
    "roundtrip_ns", "roundtrip_ms",
    "guest_memcpy_ns", "guest_memcpy_ms", "guest_memcpy_mbps",
    "guest_verify_ns", "guest_verify_ms",
    "total_ns", "total_ms", "total_mbps",
    "success",
]
REFERENCE_COLUMNS = [
    "iteration", "frame_type", "size_bytes", "host_memcpy_ns",
    "guest_hot_cache_ns", "guest_cold_cache_ns", "guest_second_pass_ns", "guest_cached_verify_ns",
    "success",
]
TEXT_COLUMNS = {"frame_type"}

LATENCY_TIMING_COLUMNS = [c for c in LATENCY_COLUMNS if c.endswith("_ns")]
BANDWIDTH_TIMING_COLUMNS = [c for c in BANDWIDTH_COLUMNS if c.endswith("_ns")]
REFERENCE_TIMING_COLUMNS = [c for c in REFERENCE_COLUMNS if c.endswith("_ns")]

PERCENTILES = [50, 90, 95, 99, 99.9]

# A copy or read faster than this is not something a machine does today: a single core reaches tens
# of GB/s to memory, and a whole 8-channel DDR5 socket ~300 GB/s for all cores together. Above it,
# the timing or a unit is wrong (the seed's 1000x errors would land here), so it is flagged.
MAX_PLAUSIBLE_MBPS = 200_000.0

# A stage counts as slower (or faster) on the shared region than on private memory only beyond this
# ratio: the machines are shared and noisy, and the reference has few iterations.
REGION_RATIO_THRESHOLD = 1.5

# Derived CSV columns (us, ms, MB, MB/s) must match their source within this: half a printed unit
# plus 2%, enough for any rounding, far too little for a unit error.
DERIVED_ABS_TOLERANCE = 0.5
DERIVED_REL_TOLERANCE = 0.02

NAMED_FRAMES = {"1080p": 1920 * 1080 * 3, "1440p": 2560 * 1440 * 3, "4k": 3840 * 2160 * 3}

TCG_WARNING = "TCG: timings are functional only, not hardware performance"

# The latency test's stages, in time order: label, column, whether bytes/time is a bandwidth,
# the reference column that ran the same work on private memory.
LATENCY_STAGES = [
    ("host memcpy (host -> region)", "host_memcpy_ns", True, "host_memcpy_ns"),
    ("A hot read (region)", "guest_hot_cache_ns", True, "guest_hot_cache_ns"),
    ("B cold read (region, flushed)", "guest_cold_cache_ns", True, "guest_cold_cache_ns"),
    ("C copy (region -> private)", "guest_second_pass_ns", True, "guest_second_pass_ns"),
    ("D verify (SHA-256 of copy)", "guest_cached_verify_ns", True, "guest_cached_verify_ns"),
    ("guest other (flushes etc.)", "guest_other_ns", False, None),
    ("notification (est.)", "notification_est_ns", False, None),
]
GUEST_PHASE_COLUMNS = ["guest_hot_cache_ns", "guest_cold_cache_ns", "guest_second_pass_ns", "guest_cached_verify_ns"]

# The bandwidth test records fewer guest phases: the rest of the round trip is A, B, flushes, signalling.
BANDWIDTH_STAGES = [
    ("host memcpy (host -> region)", "host_memcpy_ns", True, "host_memcpy_ns"),
    ("C copy (region -> private)", "guest_memcpy_ns", True, "guest_second_pass_ns"),
    ("D verify (SHA-256 of copy)", "guest_verify_ns", True, "guest_cached_verify_ns"),
    ("rest of round trip (A, B, signalling)", "roundtrip_other_ns", False, None),
]

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


class InputError(Exception):
    """A results folder or file the analysis cannot use; the message is one line for stderr."""


def warn(message):
    print(f"{PROG}: {message}", file=sys.stderr)


# ----------------------------------------------------------------------------------------------
# Loading


def read_csv_file(path, columns, optional_numeric=False):
    """Read one CSV into a DataFrame with numeric columns, or raise InputError saying what is wrong.

    Every column in `columns` must be present. Values must be numbers (frame_type is text); empty
    fields are allowed in rows with success=0 (the writer leaves timings empty when a message failed)
    and anywhere when optional_numeric is set (hardware counters that could not be read).
    """
    name = path.name
    try:
        with open(path, newline="", encoding="utf-8") as f:
            rows = [row for row in csv.reader(f) if row]
    except UnicodeDecodeError:
        raise InputError(f"{name}: not a text CSV file")
    except csv.Error as err:
        raise InputError(f"{name}: cannot be parsed as CSV ({err})")
    except OSError as err:
        raise InputError(f"{name}: cannot be read ({err.strerror})")
    if not rows:
        raise InputError(f"{name}: file is empty (no header line)")
    header = [h.strip() for h in rows[0]]
    duplicates = sorted({h for h in header if header.count(h) > 1})
    if duplicates:
        raise InputError(f"{name}: wrong columns: {', '.join(duplicates)} more than once")
    missing = [c for c in columns if c not in header]
    if missing:
        raise InputError(f"{name}: wrong columns: missing {', '.join(missing)}")
    for lineno, row in enumerate(rows[1:], start=2):
        if len(row) != len(header):
            raise InputError(f"{name} line {lineno}: {len(row)} fields, the header has {len(header)}")
    table = pd.DataFrame(rows[1:], columns=header, dtype=str)
    table = table.apply(lambda col: col.str.strip())
    data = pd.DataFrame(index=table.index)
    for col in header:
        if col in TEXT_COLUMNS or col not in columns and not optional_numeric:
            data[col] = table[col]
            continue
        values = pd.to_numeric(table[col].where(table[col] != ""), errors="coerce")
        bad = (table[col] != "") & ~np.isfinite(values)
        if bad.any():
            first = bad[bad].index[0]
            raise InputError(f"{name} line {first + 2}, column {col}: {table[col][first]!r} is not a number")
        data[col] = values
    if not optional_numeric:
        check_required_fields(name, data, columns)
    return data


def check_required_fields(name, data, columns):
    """iteration and success are always set; every other field is set in successful rows."""
    for col in ("iteration", "success"):
        if col in columns and data[col].isna().any():
            first = data[col][data[col].isna()].index[0]
            raise InputError(f"{name} line {first + 2}: empty {col}")
    if not data["success"].isin([0, 1]).all():
        first = data.index[~data["success"].isin([0, 1])][0]
        raise InputError(f"{name} line {first + 2}: success is {data['success'][first]:g}, expected 0 or 1")
    succeeded = data[data["success"] == 1]
    for col in columns:
        empty = succeeded[col].isna() if col not in TEXT_COLUMNS else succeeded[col] == ""
        if empty.any():
            first = empty[empty].index[0]
            raise InputError(f"{name} line {first + 2}: empty {col} in a successful row")


def load_optional_csv(folder, filename, columns, notes):
    """The table, or None with a note when the file is absent. Raises InputError when it is broken."""
    path = folder / filename
    if not path.exists():
        notes.append(f"{filename}: not found")
        return None
    return read_csv_file(path, columns)


def load_counters(folder, filename, keys, notes):
    """Hardware/software counters are extra: a broken file is reported, never fatal."""
    path = folder / filename
    if not path.exists():
        notes.append(f"{filename}: not found (no counters)")
        return None
    try:
        return read_csv_file(path, keys, optional_numeric=True)
    except InputError as err:
        warn(f"{err}; counters skipped")
        notes.append(f"{err}; counters skipped")
        return None


def load_manifest(folder, notes):
    path = folder / MANIFEST_JSON
    if not path.exists():
        notes.append(f"{MANIFEST_JSON}: not found (environment unknown)")
        return {}
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError) as err:
        warn(f"{MANIFEST_JSON}: unreadable ({err}); environment unknown")
        notes.append(f"{MANIFEST_JSON}: unreadable ({err})")
        return {}
    if not isinstance(manifest, dict):
        notes.append(f"{MANIFEST_JSON}: not a JSON object")
        return {}
    return manifest


def is_tcg(manifest):
    return str(lookup(manifest, "meta", "accel", default="")).lower() == "tcg"


def lookup(mapping, *keys, default=None):
    """mapping[k1][k2]... or default when a level is missing or not an object."""
    for key in keys:
        if not isinstance(mapping, dict) or key not in mapping:
            return default
        mapping = mapping[key]
    return mapping


def parse_frame_bytes(value):
    """A frame as host_writer's options take it (1080p, 4k, 4096, 1M = MiB) in bytes, or None."""
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        return int(value) if value > 0 else None
    if not isinstance(value, str) or not value.strip():
        return None
    text = value.strip().lower()
    if text in NAMED_FRAMES:
        return NAMED_FRAMES[text]
    if text.endswith("b"):
        text = text[:-1]
    shift = {"k": 10, "m": 20, "g": 30}.get(text[-1:], 0)
    if shift:
        text = text[:-1]
    return int(text) << shift if text.isdigit() and int(text) > 0 else None


def latency_frame_bytes(manifest):
    """The latency test's message size from run.json's options, or None when it does not say."""
    options = lookup(manifest, "options", default={})
    for key in ("latency_frame_bytes", "latency_frame_size", "latency_frame"):
        size = parse_frame_bytes(lookup(options, key))
        if size:
            return size
    return None


def add_derived_latency_columns(data):
    data["one_way_est_ns"] = data["roundtrip_ns"] / 2
    data["guest_total_ns"] = data["roundtrip_ns"] - data["notification_est_ns"]
    data["guest_other_ns"] = data["guest_total_ns"] - data[GUEST_PHASE_COLUMNS].sum(axis=1, min_count=4)


def add_derived_bandwidth_columns(data):
    data["roundtrip_other_ns"] = data["roundtrip_ns"] - data["guest_memcpy_ns"] - data["guest_verify_ns"]
    for col in ("host_memcpy", "guest_memcpy", "total"):
        data[f"{col}_calc_mbps"] = mbps(data["size_bytes"], data[f"{col}_ns"])


def load_run(folder):
    """Everything the folder holds, as a dict; raises InputError when there is nothing to analyse."""
    if not folder.exists():
        raise InputError(f"results folder not found: {folder}")
    if not folder.is_dir():
        raise InputError(f"not a folder: {folder}")
    notes = []
    latency = load_optional_csv(folder, LATENCY_CSV, LATENCY_COLUMNS, notes)
    bandwidth = load_optional_csv(folder, BANDWIDTH_CSV, BANDWIDTH_COLUMNS, notes)
    if latency is None and bandwidth is None:
        raise InputError(f"{folder}: neither {LATENCY_CSV} nor {BANDWIDTH_CSV} found: nothing to analyse")
    if (latency is None or latency.empty) and (bandwidth is None or bandwidth.empty):
        raise InputError(f"{folder}: no iterations recorded in {LATENCY_CSV} or {BANDWIDTH_CSV}")
    reference = load_optional_csv(folder, REFERENCE_CSV, REFERENCE_COLUMNS, notes)
    if latency is not None:
        add_derived_latency_columns(latency)
    if bandwidth is not None:
        add_derived_bandwidth_columns(bandwidth)
    manifest = load_manifest(folder, notes)
    return {
        "folder": folder,
        "latency": latency,
        "bandwidth": bandwidth,
        "reference": reference,
        "latency_counters": load_counters(folder, LATENCY_COUNTERS_CSV, ["iteration"], notes),
        "bandwidth_counters": load_counters(folder, BANDWIDTH_COUNTERS_CSV, ["iteration", "frame_type"], notes),
        "manifest": manifest,
        "latency_frame_bytes": latency_frame_bytes(manifest),
        "notes": notes,
    }


# ----------------------------------------------------------------------------------------------
# Statistics


def mbps(size_bytes, ns):
    """MB/s (1 MB = 1e6 B) from bytes and nanoseconds: bytes/ns is GB/s, so times 1e3."""
    return size_bytes / ns * 1e3


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


# ----------------------------------------------------------------------------------------------
# Plausibility checks: every finding is a line that starts with SUSPECT


def exceeds_bound(value):
    return value is not None and not pd.isna(value) and value > MAX_PLAUSIBLE_MBPS


def check_bandwidth_bound(findings, what, rates):
    rates = rates.replace([np.inf, -np.inf], np.nan).dropna()
    too_fast = rates[rates > MAX_PLAUSIBLE_MBPS]
    if not too_fast.empty:
        findings.append(
            f"SUSPECT: {what}: {len(too_fast)} iteration(s) above {MAX_PLAUSIBLE_MBPS:.0f} MB/s "
            f"(max {too_fast.max():.1f} MB/s): faster than memory can move data; a timing or unit is wrong"
        )


def check_positive_durations(findings, filename, rows, columns):
    for col in columns:
        bad = rows[rows[col] <= 0]
        if not bad.empty:
            findings.append(
                f"SUSPECT: {filename}: {col} is zero or negative in {len(bad)} successful row(s) "
                f"(iteration {bad['iteration'].iloc[0]:.0f}: {bad[col].iloc[0]:.0f} ns)"
            )


def check_derived_column(findings, filename, rows, column, expected):
    """A derived column (us, ms, MB, MB/s) must agree with the value computed from its source."""
    diff = (rows[column] - expected).abs()
    bad = diff > DERIVED_ABS_TOLERANCE + DERIVED_REL_TOLERANCE * expected.abs()
    if bad.any():
        first = bad[bad].index[0]
        findings.append(
            f"SUSPECT: {filename}: column {column} disagrees with its source in {int(bad.sum())} row(s) "
            f"(iteration {rows['iteration'][first]:.0f}: {rows[column][first]:g}, expected {expected[first]:g})"
        )


def check_equal_columns(findings, filename, rows, column, why):
    """column must equal the expression `why` of other columns, e.g. "host_memcpy_ns + roundtrip_ns"."""
    expected = rows.eval(why)
    bad = rows[column] != expected
    if bad.any():
        first = bad[bad].index[0]
        findings.append(
            f"SUSPECT: {filename}: {column} != {why} in {int(bad.sum())} row(s) "
            f"(iteration {rows['iteration'][first]:.0f}: {rows[column][first]:g} vs {expected[first]:g})"
        )


def latency_findings(run):
    findings = []
    rows = successful(run["latency"])
    if rows is None or rows.empty:
        return findings
    timed = [c for c in LATENCY_TIMING_COLUMNS if c != "notification_est_ns"]
    check_positive_durations(findings, LATENCY_CSV, rows, timed)
    for col in GUEST_PHASE_COLUMNS:
        longer = rows[rows[col] > rows["roundtrip_ns"]]
        if not longer.empty:
            findings.append(
                f"SUSPECT: {LATENCY_CSV}: guest phase {col} is longer than the round trip that contains it "
                f"in {len(longer)} iteration(s) (iteration {longer['iteration'].iloc[0]:.0f}: "
                f"{longer[col].iloc[0]:.0f} ns > {longer['roundtrip_ns'].iloc[0]:.0f} ns)"
            )
    negative = rows[rows["notification_est_ns"] < 0]
    if not negative.empty:
        findings.append(
            f"SUSPECT: {LATENCY_CSV}: notification_est_ns is negative in {len(negative)} iteration(s) "
            f"(min {negative['notification_est_ns'].min():.0f} ns): the guest's processing took longer "
            "than the host's round trip; the two clocks disagree (e.g. under TCG)"
        )
    short_total = rows[rows["guest_other_ns"] < 0]
    if not short_total.empty:
        findings.append(
            f"SUSPECT: {LATENCY_CSV}: the guest's total (roundtrip - notification_est) is shorter than "
            f"the sum of its phases A-D in {len(short_total)} iteration(s)"
        )
    check_equal_columns(findings, LATENCY_CSV, rows, "guest_memcpy_ns", "guest_second_pass_ns")
    check_equal_columns(findings, LATENCY_CSV, rows, "guest_verify_ns", "guest_cached_verify_ns")
    check_equal_columns(findings, LATENCY_CSV, rows, "total_ns", "host_memcpy_ns + roundtrip_ns")
    for col in LATENCY_TIMING_COLUMNS:
        check_derived_column(findings, LATENCY_CSV, rows, col[:-3] + "_us", rows[col] / 1e3)
    size = run["latency_frame_bytes"]
    if size:
        for label, col, is_bandwidth, _ in LATENCY_STAGES:
            if is_bandwidth:
                check_bandwidth_bound(findings, f"{LATENCY_CSV}: {label}", mbps(size, rows[col]))
    return findings


def bandwidth_findings(run):
    findings = []
    rows = successful(run["bandwidth"])
    if rows is None or rows.empty:
        return findings
    check_positive_durations(findings, BANDWIDTH_CSV, rows, BANDWIDTH_TIMING_COLUMNS)
    for col in ("guest_memcpy_ns", "guest_verify_ns"):
        longer = rows[rows[col] > rows["roundtrip_ns"]]
        if not longer.empty:
            findings.append(
                f"SUSPECT: {BANDWIDTH_CSV}: guest phase {col} is longer than the round trip in "
                f"{len(longer)} iteration(s) ({longer['frame_type'].iloc[0]} iteration "
                f"{longer['iteration'].iloc[0]:.0f})"
            )
    check_equal_columns(findings, BANDWIDTH_CSV, rows, "size_bytes", "width * height * bpp / 8")
    check_equal_columns(findings, BANDWIDTH_CSV, rows, "total_ns", "host_memcpy_ns + roundtrip_ns")
    check_derived_column(findings, BANDWIDTH_CSV, rows, "size_mb", rows["size_bytes"] / 1e6)
    for col in BANDWIDTH_TIMING_COLUMNS:
        check_derived_column(findings, BANDWIDTH_CSV, rows, col[:-3] + "_ms", rows[col] / 1e6)
    for col in ("host_memcpy", "guest_memcpy", "total"):
        check_derived_column(findings, BANDWIDTH_CSV, rows, f"{col}_mbps", rows[f"{col}_calc_mbps"])
        check_bandwidth_bound(findings, f"{BANDWIDTH_CSV}: {col}", rows[f"{col}_calc_mbps"])
    verify_rates = mbps(rows["size_bytes"], rows["guest_verify_ns"])
    check_bandwidth_bound(findings, f"{BANDWIDTH_CSV}: guest_verify", verify_rates)
    return findings


def reference_findings(run):
    findings = []
    rows = successful(run["reference"])
    if rows is None or rows.empty:
        return findings
    check_positive_durations(findings, REFERENCE_CSV, rows, REFERENCE_TIMING_COLUMNS)
    for col in REFERENCE_TIMING_COLUMNS:
        check_bandwidth_bound(findings, f"{REFERENCE_CSV}: {col}", mbps(rows["size_bytes"], rows[col]))
    return findings


def find_suspects(run):
    return latency_findings(run) + bandwidth_findings(run) + reference_findings(run)


# ----------------------------------------------------------------------------------------------
# Report formatting


def fmt(value, decimals=1):
    if value is None or pd.isna(value):
        return "n/a"
    return f"{value:.{decimals}f}"


def fmt_mbps(value):
    """MB/s with a SUSPECT mark above the plausible bound."""
    text = fmt(value, 1)
    return text + " SUSPECT" if exceeds_bound(value) else text


def fmt_size(size):
    return f"{size:.0f} bytes ({size / 1e6:.6f} MB, {size / 2**20:.6f} MiB)"


def fmt_table(header, rows, indent="  "):
    """Columns padded to their widest cell: the first left-aligned, the rest right-aligned."""
    cells = [header] + [[str(c) for c in row] for row in rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(header))]
    lines = []
    for row in cells:
        parts = [row[0].ljust(widths[0])] + [c.rjust(w) for c, w in zip(row[1:], widths[1:])]
        lines.append(indent + "  ".join(parts).rstrip())
    return lines


def section(title):
    return ["", title, "-" * len(title)]


def stats_table(named_series):
    """One row per (label, series): every statistic in STAT_NAMES, in ns."""
    rows = []
    for label, values in named_series:
        stats = describe(values)
        rows.append([label, str(stats["count"])] + [fmt(stats[name]) for name in STAT_NAMES[1:]])
    return fmt_table(["column"] + STAT_NAMES, rows)


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
    for failure in lookup(run["manifest"], "failures", default=[]) or []:
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
    planned = lookup(run["manifest"], "summary", test, "planned")
    if isinstance(planned, int) and planned != len(data):
        return [f"  {MANIFEST_JSON} plans {planned} {test} iterations; the CSV has {len(data)} rows (partial run)"]
    return []


def environment_section(run):
    m = run["manifest"]
    lines = section(f"ENVIRONMENT ({MANIFEST_JSON})")
    if not m:
        return lines + [f"  {MANIFEST_JSON} missing or unreadable: accelerator, mapping and versions unknown"]

    def get(*keys):
        value = lookup(m, *keys)
        return "unknown" if value in (None, "") else str(value)

    accel = get("meta", "accel")
    lines += [
        f"  Run status:      {get('status')} (started {get('started_utc')}, finished {get('finished_utc')})",
        f"  Tool:            {get('tool')}, protocol {get('protocol_version')}, git {get('git_revision')}",
        f"  Accelerator:     {accel}",
    ]
    if is_tcg(m):
        lines.append(f"  ! {TCG_WARNING}")
    lines += [
        f"  VM:              {get('meta', 'vm')}; QEMU {get('meta', 'qemu_version')}",
        f"  Host:            {get('host', 'cpu_model')}, {get('host', 'cores')} cores, kernel {get('host', 'kernel')}, "
        f"cache flush {get('host', 'flush')}",
        f"  Guest mapping:   {get('guest', 'mapping')}, memory type {get('guest', 'memory_type')}, "
        f"device {get('guest', 'device')}",
        f"  Guest kernel:    {get('guest', 'kernel')}",
        f"  Region:          {get('region', 'path')}, {get('region', 'size')} bytes",
    ]
    options = lookup(m, "options")
    if isinstance(options, dict) and options:
        lines.append("  Options:         " + " ".join(f"{k}={v}" for k, v in options.items()))
    extra_meta = {k: v for k, v in (lookup(m, "meta") or {}).items() if k not in ("accel", "vm", "qemu_version")}
    if extra_meta:
        lines.append("  Meta:            " + " ".join(f"{k}={v}" for k, v in extra_meta.items()))
    if get("status") not in ("completed", "unknown"):
        lines.append(f"  ! run status is {get('status')} ({get('abort_reason')}): the results are partial")
    return lines


def stage_summaries(rows, stages, total_column="total_ns"):
    """Per stage: its mean and median, and the median over iterations of its share of the total.

    Means add up to the mean total (the breakdown); medians and per-iteration shares resist the odd
    slow iteration (e.g. the first, which warms caches and page tables), so the bottleneck uses them.
    """
    summaries = []
    for label, col, is_bw, ref in stages:
        summaries.append({
            "label": label, "column": col, "is_bandwidth": is_bw, "reference": ref,
            "mean": rows[col].mean(), "median": rows[col].median(),
            "median_share": (100 * rows[col] / rows[total_column]).median(),
        })
    return summaries


def breakdown_table(stages, rows, size):
    table = []
    total_mean = rows["total_ns"].mean()
    for s in stages:
        rate = fmt_mbps(mbps(size, s["mean"])) if size else "n/a"
        median_rate = fmt_mbps(mbps(size, s["median"])) if size else "n/a"
        table.append([s["label"], fmt(s["mean"]), fmt(s["mean"] / 1e3, 3), fmt(100 * s["mean"] / total_mean) + "%",
                      rate if s["is_bandwidth"] else "-", fmt(s["median"]), fmt(s["median_share"]) + "%",
                      median_rate if s["is_bandwidth"] else "-"])
    total_median = rows["total_ns"].median()
    table.append(["total (host memcpy + roundtrip)", fmt(total_mean), fmt(total_mean / 1e3, 3), "100.0%",
                  fmt_mbps(mbps(size, total_mean)) if size else "n/a", fmt(total_median), "100.0%",
                  fmt_mbps(mbps(size, total_median)) if size else "n/a"])
    header = ["stage", "mean_ns", "mean_us", "share", "MB/s", "median_ns", "median_share", "median_MB/s"]
    return fmt_table(header, table)


def ratio_line(name, slow_label, slow, fast_label, fast):
    """C vs B, B vs A: the difference and the ratio of the means, and the per-iteration ratios, as measured."""
    diff = slow.mean() - fast.mean()
    ratio = slow.mean() / fast.mean()
    per_iteration = (slow / fast).replace([np.inf, -np.inf], np.nan).dropna()
    return (
        f"  {name} ({slow_label} vs {fast_label}): {slow_label} - {fast_label} = {fmt(diff)} ns "
        f"({fmt(diff / 1e3, 3)} us, {fmt(100 * diff / fast.mean())}% of {fast_label}); "
        f"ratio of means {fmt(ratio, 2)}x; per iteration median {fmt(per_iteration.median(), 2)}x, "
        f"range {fmt(per_iteration.min(), 2)}x-{fmt(per_iteration.max(), 2)}x"
    )


def comparison_rows(stages, reference_rows, size):
    """Region stage vs the same work on private memory (medians): label, ns, ns, ratio, MB/s, MB/s."""
    rows = []
    for s in stages:
        if s["reference"] is None or reference_rows is None:
            continue
        private = reference_rows[s["reference"]].median()
        rows.append([s["label"], fmt(s["median"]), fmt(private), fmt(s["median"] / private, 2) + "x",
                     fmt_mbps(mbps(size, s["median"])), fmt_mbps(mbps(size, private))])
    return rows


def bottleneck_lines(what, stages, reference_rows):
    """The stage with the largest share, and what the private-memory reference says about it."""
    top = max(stages, key=lambda s: s["median_share"])
    lines = [f"  {what}: largest share of the end-to-end time: {top['label']}, median {fmt(top['median_share'])}% "
             f"per iteration ({fmt(top['median'] / 1e3, 3)} us median)"]
    if top["label"].startswith("D verify"):
        lines.append("    (SHA-256 is the benchmark's integrity check, not part of a transfer)")
    if top["reference"] is None:
        lines.append("    this stage has no private-memory counterpart: the data cannot attribute it to the mapping")
        return lines
    if reference_rows is None:
        lines.append("    no reference run on private memory for this size: "
                     "the data cannot say whether the shared mapping makes it slow")
        return lines
    ratio = top["median"] / reference_rows[top["reference"]].median()
    if ratio > REGION_RATIO_THRESHOLD:
        verdict = "evidence that the shared mapping slows this stage"
    elif ratio < 1 / REGION_RATIO_THRESHOLD:
        verdict = "faster than on private memory; the mapping is not what makes it slow"
    else:
        verdict = (f"within {REGION_RATIO_THRESHOLD}x of private memory: the work itself costs this much here, "
                   "no evidence that the shared mapping is the bottleneck")
    lines.append(f"    on the shared region it takes {fmt(ratio, 2)}x as long as on private memory "
                 f"in the same run (medians): {verdict}")
    slower = []
    for s in stages:
        if s["reference"] is not None:
            other_ratio = s["median"] / reference_rows[s["reference"]].median()
            if other_ratio > REGION_RATIO_THRESHOLD:
                slower.append(f"{s['label']} {fmt(other_ratio, 2)}x")
    lines.append(f"    stages more than {REGION_RATIO_THRESHOLD}x slower on the shared region than on private memory: "
                 f"{', '.join(slower) or 'none'}")
    return lines


COMPARISON_HEADER = ["stage", "region_ns", "private_ns", "region/private", "region_MB/s", "private_MB/s"]


def latency_sections(run, summary):
    data = run["latency"]
    lines = section(f"LATENCY TEST ({LATENCY_CSV})")
    if data is None:
        return lines + [f"  {LATENCY_CSV} not found: no latency analysis"]
    if data.empty:
        return lines + ["  no iterations recorded (header only)"]
    size = run["latency_frame_bytes"]
    if size:
        lines.append(f"  Frame: {fmt_size(size)}")
    else:
        lines.append(f"  Frame size unknown ({MANIFEST_JSON} options do not give latency_frame): no MB/s")
    lines.append(count_line("Iterations", data))
    lines += planned_line(run, "latency", data) + failure_lines(run, "latency", data)
    rows = successful(data)
    summary["latency"] = f"{len(rows)}/{len(data)} iterations succeeded"
    if rows.empty:
        return lines + ["  every iteration failed: no timing statistics"]

    lines.append("")
    lines.append("  Statistics over successful iterations (ns; stddev is the sample standard deviation, n-1;")
    lines.append("  percentiles interpolate linearly between ranks)")
    lines += stats_table([(c, rows[c]) for c in LATENCY_TIMING_COLUMNS + ["one_way_est_ns"]])
    lines.append("  one_way_est_ns = roundtrip_ns / 2; the round trip includes the guest's phases A-D")
    summary["latency"] += (
        f"; roundtrip median {fmt(rows['roundtrip_ns'].median() / 1e3, 3)} us, "
        f"one-way estimate {fmt(rows['one_way_est_ns'].median() / 1e3, 3)} us"
    )

    stages = stage_summaries(rows, LATENCY_STAGES)
    lines += section("READ/WRITE ISOLATION BREAKDOWN (successful iterations; MB/s = frame bytes / time)")
    lines += breakdown_table(stages, rows, size)
    lines += [
        "  share = mean / mean total (the means add up); median_share = median over iterations of stage / total.",
        "  host memcpy and the round trip are timed on the host clock, phases A-D on the guest clock;",
        "  guest other = guest total - (A+B+C+D); notification (est.) = roundtrip - guest total",
        "",
        ratio_line("Write overhead", "C", rows["guest_second_pass_ns"], "B", rows["guest_cold_cache_ns"]),
        ratio_line("Cache effect", "B", rows["guest_cold_cache_ns"], "A", rows["guest_hot_cache_ns"]),
    ]
    private = reference_for_size(run["reference"], size)
    if private is not None:
        lines += [
            ratio_line("On private memory, write overhead", "C", private["guest_second_pass_ns"],
                       "B", private["guest_cold_cache_ns"]),
            ratio_line("On private memory, cache effect", "B", private["guest_cold_cache_ns"],
                       "A", private["guest_hot_cache_ns"]),
        ]
        lines += section(f"SHARED REGION VS PRIVATE MEMORY, latency frame "
                         f"(medians; {REFERENCE_CSV}, {len(private)} iterations)")
        lines += fmt_table(COMPARISON_HEADER, comparison_rows(stages, private, size))

    lines += section("PERCENTILES (us, successful iterations)")
    percentile_rows = []
    for label, col in PERCENTILE_ROWS:
        percentile_rows.append([label] + [fmt(rows[col].quantile(p / 100) / 1e3, 3) for p in PERCENTILES])
    lines += fmt_table(["stage"] + [f"p{p:g}" for p in PERCENTILES], percentile_rows)

    lines += section("MIN/MAX RANGES (successful iterations; MB/s from the fastest and slowest iteration)")
    range_rows = []
    for label, col, is_bw, _ in LATENCY_STAGES[:5] + [("roundtrip", "roundtrip_ns", False, None),
                                                      ("total", "total_ns", False, None)]:
        lo, hi = rows[col].min(), rows[col].max()
        rates = f"{fmt_mbps(mbps(size, hi))} - {fmt_mbps(mbps(size, lo))}" if is_bw and size else "-"
        range_rows.append([label, fmt(lo / 1e3, 3), fmt(hi / 1e3, 3), rates])
    lines += fmt_table(["stage", "min_us", "max_us", "MB/s range"], range_rows)

    summary["bottleneck_latency"] = bottleneck_lines("Latency frame", stages, private)
    return lines


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
    data = run["bandwidth"]
    lines = section(f"BANDWIDTH TEST ({BANDWIDTH_CSV})")
    if data is None:
        return lines + [f"  {BANDWIDTH_CSV} not found: no bandwidth analysis"]
    if data.empty:
        return lines + ["  no iterations recorded (header only)"]
    lines.append(count_line("Iterations (all frames)", data))
    lines += planned_line(run, "bandwidth", data) + failure_lines(run, "bandwidth", data)
    summary["bandwidth"] = f"{len(successful(data))}/{len(data)} iterations succeeded"
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
        summary.setdefault("bandwidth_frames", []).append(
            f"{frame}: total {fmt(mbps(size, rows['total_ns'].mean()))} MB/s, "
            f"guest copy {fmt(mbps(size, rows['guest_memcpy_ns'].mean()))} MB/s")
        stages = stage_summaries(rows, BANDWIDTH_STAGES)
        private = reference_for_size(run["reference"], size)
        summary.setdefault("bottleneck_bandwidth", []).extend(bottleneck_lines(f"Bandwidth {frame}", stages, private))

    lines += ["", "  Times per frame (ms, mean over successful iterations); 1 MB = 1e6 bytes, 1 MiB = 2^20 bytes"]
    lines += fmt_table(["frame", "size_bytes", "MB", "MiB", "ok/total", "success%",
                        "host_memcpy", "roundtrip", "guest_copy", "guest_verify", "total"], time_rows)
    lines += ["", "  Bandwidth per frame (MB/s = frame bytes / mean time; range = slowest-fastest iteration)"]
    lines += fmt_table(["frame", "host_memcpy", "range", "guest_copy", "range", "total", "range"], rate_rows)
    lines += ["", "  Statistics over successful iterations (ns), per frame"]
    lines += stats_table(stats_series)
    return lines


def reference_sections(run):
    data = run["reference"]
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
    bandwidth = successful(run["bandwidth"])
    for frame, size in frames_by_size(rows):
        region = bandwidth[bandwidth["size_bytes"] == size] if bandwidth is not None else None
        if region is None or region.empty:
            continue
        stages = stage_summaries(region, BANDWIDTH_STAGES)
        for row in comparison_rows(stages, reference_for_size(data, size), size):
            comparisons.append([f"{frame} {row[0]}"] + row[1:])
    if comparisons:
        lines += section("SHARED REGION VS PRIVATE MEMORY, bandwidth frames (medians)")
        lines += fmt_table(COMPARISON_HEADER, comparisons)
    return lines


def counter_table(filename, counters, timings, keys, timing):
    """Counters of the successful iterations: their statistics and correlation with a timing column."""
    joined = successful(timings)[keys + [timing]].merge(counters, on=keys, how="inner")
    columns = [c for c in counters.columns if c not in keys]
    measured = [c for c in columns if joined[c].notna().any()]
    empty = [c for c in columns if c not in measured]
    lines = [f"  {filename}: {len(joined)} successful iterations with counters"]
    if empty:
        lines.append(f"    not measured (empty): {', '.join(empty)}")
    table = []
    for col in measured:
        values = joined[col].dropna()
        corr = joined[[col, timing]].dropna().corr().iloc[0, 1] if values.nunique() > 1 else float("nan")
        table.append([col, str(len(values))]
                     + [fmt(v, 2) for v in (values.mean(), values.median(), values.min(), values.max(), corr)])
    if table:
        lines += fmt_table(["counter", "count", "mean", "median", "min", "max", f"corr_{timing}"], table, indent="    ")
    return lines


def counter_sections(run):
    lines = section("COUNTERS (hardware and software, joined with the timings by iteration)")
    found = False
    for filename, counters, timings, keys, timing in (
        (LATENCY_COUNTERS_CSV, run["latency_counters"], run["latency"], ["iteration"], "roundtrip_ns"),
        (BANDWIDTH_COUNTERS_CSV, run["bandwidth_counters"], run["bandwidth"], ["iteration", "frame_type"], "total_ns"),
    ):
        if counters is None or counters.empty:
            continue
        found = True
        if timings is None or successful(timings).empty:
            lines.append(f"  {filename}: no successful timing rows to join with")
        else:
            lines += counter_table(filename, counters, timings, keys, timing)
    if not found:
        lines.append("  no counter files in this run")
    return lines


def bottleneck_section(run, summary):
    lines = section("BOTTLENECK (derived from this run's data only)")
    lines += summary.get("bottleneck_latency", []) + summary.get("bottleneck_bandwidth", [])
    if len(lines) == 3:
        lines.append("  no successful iterations: nothing to attribute")
    if is_tcg(run["manifest"]):
        lines.append(f"  ! {TCG_WARNING}")
    return lines


def suspect_section(findings):
    lines = section("SUSPECT FIGURES (physically implausible or inconsistent; do not trust them as results)")
    lines.append(
        f"  checks: durations > 0, guest phases within their round trip, notification_est >= 0, legacy duplicate "
        f"columns equal, derived us/ms/MB/MB/s columns consistent, bandwidth <= {MAX_PLAUSIBLE_MBPS:.0f} MB/s"
    )
    return lines + ["  " + f for f in findings] if findings else lines + ["  none found"]


def build_report(run, findings, summary):
    lines = [
        "ivshmem-bench performance report",
        "================================",
        f"Results folder: {run['folder'].resolve()}",
        "Units: times in ns as measured (CLOCK_MONOTONIC), us = 1e3 ns, ms = 1e6 ns; 1 MB = 1e6 bytes,",
        "1 MiB = 2^20 bytes; MB/s = bytes / ns * 1e3. Statistics use successful iterations only.",
    ]
    if run["notes"]:
        lines += section("MISSING OR UNREADABLE INPUT") + ["  " + n for n in run["notes"]]
    lines += environment_section(run)
    lines += latency_sections(run, summary)
    lines += bandwidth_sections(run, summary)
    lines += reference_sections(run)
    lines += counter_sections(run)
    lines += bottleneck_section(run, summary)
    lines += suspect_section(findings)
    return "\n".join(lines) + "\n"


# ----------------------------------------------------------------------------------------------
# Plots


def save(fig, path):
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def plot_latency_histogram(rows, path):
    """The round trip's distribution on a linear and a logarithmic time axis (the log axis shows the tail)."""
    roundtrip_us = rows["roundtrip_ns"] / 1e3
    nbins = min(50, max(5, len(rows) // 2))
    lo, hi = roundtrip_us.min(), roundtrip_us.max()
    fig, axes = plt.subplots(1, 2, figsize=(12, 4.5))
    for ax, scale in zip(axes, ("linear", "log")):
        log_axis = scale == "log" and lo > 0
        bins = np.geomspace(lo, max(hi, lo * 1.01), nbins + 1) if log_axis else nbins
        ax.hist(roundtrip_us, bins=bins, color="tab:blue", alpha=0.8)
        median, mean = roundtrip_us.median(), roundtrip_us.mean()
        ax.axvline(median, color="tab:red", linestyle="--", label=f"median {median:.3f} µs")
        ax.axvline(mean, color="tab:green", linestyle=":", label=f"mean {mean:.3f} µs")
        if log_axis:
            ax.set_xscale("log")
        ax.set_title(f"Round-trip latency, {scale} time axis (n={len(rows)})")
        ax.set_xlabel("round trip (µs, log scale)" if log_axis else "round trip (µs)")
        ax.set_ylabel("iterations")
        ax.legend()
    save(fig, path)


def plot_latency_over_time(data, path):
    rows = successful(data)
    fig, ax = plt.subplots(figsize=(12, 5))
    for label, col in [("round trip", "roundtrip_ns"), ("host memcpy", "host_memcpy_ns"),
                       ("A hot read", "guest_hot_cache_ns"), ("B cold read", "guest_cold_cache_ns"),
                       ("C copy", "guest_second_pass_ns"), ("D verify", "guest_cached_verify_ns")]:
        ax.plot(rows["iteration"], rows[col] / 1e3, marker=".", linewidth=1, label=label)
    for i, iteration in enumerate(data.loc[data["success"] == 0, "iteration"]):
        ax.axvline(iteration, color="red", alpha=0.4, label="failed iteration" if i == 0 else None)
    ax.set_yscale("log")
    ax.set_title("Latency test: time per stage over the run")
    ax.set_xlabel("iteration")
    ax.set_ylabel("time (µs, log scale)")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(loc="upper right", fontsize="small")
    save(fig, path)


def nines(percentile):
    """Position of a percentile on an axis that spreads the tail: p90 -> 1, p99 -> 2, p99.9 -> 3."""
    return -np.log10(1 - np.asarray(percentile) / 100)


def plot_latency_percentiles(rows, path):
    fig, ax = plt.subplots(figsize=(10, 5.5))
    ranks = np.concatenate([np.linspace(0, 99, 397), np.linspace(99, 99.9, 91)])
    for label, col in [("round trip", "roundtrip_ns"), ("host memcpy", "host_memcpy_ns"),
                       ("B cold read", "guest_cold_cache_ns"), ("C copy", "guest_second_pass_ns"),
                       ("notification (est.)", "notification_est_ns")]:
        if (rows[col] > 0).all():  # a log axis cannot show the rest
            ax.plot(nines(ranks), np.percentile(rows[col] / 1e3, ranks), label=label)
    roundtrip_us = rows["roundtrip_ns"] / 1e3
    marked = [np.percentile(roundtrip_us, p) for p in PERCENTILES]
    ax.plot(nines(PERCENTILES), marked, "o", color="tab:red", label="round trip percentiles")
    ax.text(0.02, 0.97, "round trip\n" + "\n".join(f"p{p:g}: {v:.3f} µs" for p, v in zip(PERCENTILES, marked)),
            transform=ax.transAxes, va="top", fontsize="small", family="monospace",
            bbox={"facecolor": "white", "alpha": 0.8, "edgecolor": "gray"})
    ax.set_xticks(nines([0, 50, 90, 99, 99.9]))
    ax.set_xticklabels(["p0", "p50", "p90", "p99", "p99.9"])
    ax.set_yscale("log")
    ax.set_ylim(top=roundtrip_us.max() * 5)  # headroom for the text box
    ax.set_title(f"Latency percentiles (n={len(rows)}; the axis spreads the tail)")
    ax.set_xlabel("percentile")
    ax.set_ylabel("time (µs, log scale)")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(loc="lower right", fontsize="small")
    save(fig, path)


def plot_bandwidth_distribution(ax, rows, frames):
    ax.boxplot([rows.loc[rows["frame_type"] == f, "total_calc_mbps"] for f, _ in frames])
    ax.set_xticks(range(1, len(frames) + 1), [f for f, _ in frames])
    ax.set_title("Distribution of end-to-end bandwidth per iteration")
    ax.set_xlabel("frame")
    ax.set_ylabel("MB/s (1 MB = 1e6 B)")


def plot_bandwidth_vs_size(ax, means, frames, reference):
    sizes_mb = [s / 1e6 for _, s in frames]
    for label, col in [("host memcpy", "host_memcpy_ns"), ("guest copy (C)", "guest_memcpy_ns"),
                       ("end to end", "total_ns")]:
        ax.plot(sizes_mb, [mbps(s, means.loc[f, col]) for f, s in frames], marker="o", label=label)
    private = successful(reference) if reference is not None else None
    if private is not None and not private.empty:
        private_frames = frames_by_size(private)
        private_means = private.groupby("frame_type")["guest_second_pass_ns"].mean()
        ax.plot([s / 1e6 for _, s in private_frames], [mbps(s, private_means[f]) for f, s in private_frames],
                marker="s", linestyle="--", label="copy on private memory (reference)")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_title("Bandwidth vs frame size (bytes / mean time)")
    ax.set_xlabel("frame size (MB, log scale)")
    ax.set_ylabel("MB/s (log scale)")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize="small")


def plot_time_breakdown(ax, means, frames):
    names = [f for f, _ in frames]
    left = np.zeros(len(frames))
    for label, col, _, _ in BANDWIDTH_STAGES:
        shares = np.array([100 * means.loc[f, col] / means.loc[f, "total_ns"] for f in names])
        ax.barh(names, shares, left=left, label=label)
        left += shares
    for i, f in enumerate(names):
        ax.text(1, i, f"total {means.loc[f, 'total_ns'] / 1e6:.3f} ms", va="center", fontsize="small",
                bbox={"facecolor": "white", "alpha": 0.7, "edgecolor": "none"})
    ax.set_title("Time breakdown per stage (share of mean end-to-end time)")
    ax.set_xlabel("share of total time (%)")
    ax.legend(fontsize="small", loc="upper center", bbox_to_anchor=(0.5, -0.15), ncol=2)


def plot_success_rates(ax, data):
    names = [f for f, _ in frames_by_size(data)]
    groups = [data[data["frame_type"] == f] for f in names]
    rates = [100 * (g["success"] == 1).mean() for g in groups]
    bars = ax.bar(names, rates, color=["tab:green" if r == 100 else "tab:orange" for r in rates])
    for bar, group in zip(bars, groups):
        ax.text(bar.get_x() + bar.get_width() / 2, bar.get_height() + 1,
                f"{int(group['success'].sum())}/{len(group)}", ha="center")
    ax.set_ylim(0, 110)
    ax.set_title("Success rate per frame")
    ax.set_xlabel("frame")
    ax.set_ylabel("iterations verified (%)")


def plot_bandwidth_analysis(data, reference, path):
    rows = successful(data)
    frames = [(f, s) for f, s in frames_by_size(data) if (rows["frame_type"] == f).any()]
    means = rows.groupby("frame_type").mean(numeric_only=True)
    fig, axes = plt.subplots(2, 2, figsize=(13, 9))
    plot_bandwidth_distribution(axes[0][0], rows, frames)
    plot_bandwidth_vs_size(axes[0][1], means, frames, reference)
    plot_time_breakdown(axes[1][0], means, frames)
    plot_success_rates(axes[1][1], data)
    save(fig, path)


def write_plots(run):
    """Each plot whose data exists; returns (written, skipped with the reason)."""
    folder = run["folder"]
    written, skipped = [], []
    latency = run["latency"]
    latency_rows = successful(latency)
    latency_plots = ["latency_histogram.png", "latency_over_time.png", "latency_percentiles.png"]
    if latency_rows is not None and not latency_rows.empty:
        plot_latency_histogram(latency_rows, folder / latency_plots[0])
        plot_latency_over_time(latency, folder / latency_plots[1])
        plot_latency_percentiles(latency_rows, folder / latency_plots[2])
        written += latency_plots
    else:
        skipped += [f"{p} (no successful latency iteration)" for p in latency_plots]
    bandwidth_rows = successful(run["bandwidth"])
    if bandwidth_rows is not None and not bandwidth_rows.empty:
        plot_bandwidth_analysis(run["bandwidth"], run["reference"], folder / "bandwidth_analysis.png")
        written.append("bandwidth_analysis.png")
    else:
        skipped.append("bandwidth_analysis.png (no successful bandwidth iteration)")
    return written, skipped


# ----------------------------------------------------------------------------------------------
# Main


def all_failed_tests(run):
    """Tests that recorded rows but not one successful iteration."""
    return [name for name in ("latency", "bandwidth")
            if run[name] is not None and not run[name].empty and successful(run[name]).empty]


def analyse(folder):
    run = load_run(folder)
    findings = find_suspects(run)
    summary = {}
    report = build_report(run, findings, summary)
    try:
        (folder / REPORT_TXT).write_text(report, encoding="utf-8")
        written, skipped = write_plots(run)
    except OSError as err:
        raise InputError(f"cannot write into {folder}: {err.strerror}")

    print(f"{PROG}: {folder}")
    if is_tcg(run["manifest"]):
        print(f"  ! {TCG_WARNING}")
    for key in ("latency", "bandwidth"):
        if key in summary:
            print(f"  {key}: {summary[key]}")
    for line in summary.get("bandwidth_frames", []):
        print(f"    {line}")
    for line in (summary.get("bottleneck_latency") or summary.get("bottleneck_bandwidth") or [])[:2]:
        print(f"  {line.strip()}")
    print(f"  SUSPECT figures: {len(findings)}" + (" (see the report)" if findings else ""))
    print(f"  wrote {REPORT_TXT}" + "".join(f", {p}" for p in written))
    for item in skipped:
        print(f"  not written: {item}")

    failed = all_failed_tests(run)
    if failed:
        raise InputError(f"every {' and every '.join(failed)} iteration failed; see {folder / REPORT_TXT}")


def main(argv=None):
    parser = argparse.ArgumentParser(
        prog="analyze_results.py",
        description="Statistics, plots and performance_report.txt for one ivshmem-bench results folder.",
    )
    parser.add_argument("results_dir", nargs="?", default=DEFAULT_RESULTS_DIR,
                        help=f"folder with the CSVs and run.json (default: {DEFAULT_RESULTS_DIR})")
    args = parser.parse_args(argv)
    try:
        analyse(Path(args.results_dir))
    except InputError as err:
        warn(str(err))
        return 1
    except Exception as err:  # a bug here: still one line, the measurements stay untouched
        if os.environ.get("IVB_ANALYSIS_TRACEBACK"):
            raise
        warn(f"internal error: {type(err).__name__}: {err} (IVB_ANALYSIS_TRACEBACK=1 shows where)")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())

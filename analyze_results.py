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
       ./analyze_results.py --compare DIR DIR...  (side by side: mode, latency, CPU per message; stdout only)

Reads latency_results.csv, bandwidth_results.csv, reference_results.csv, latency_performance.csv,
bandwidth_performance.csv, phase_performance.csv, write_study.csv, mapping_study.csv and run.json (each
when present) and writes into RESULTS_DIR: performance_report.txt, latency_histogram.png,
latency_over_time.png, latency_percentiles.png, bandwidth_analysis.png and write_study.png. A short
summary goes to stdout, problems to stderr (one line each).

Units: times are integer nanoseconds in the CSVs; 1 MB = 1e6 bytes, 1 MiB = 2^20 bytes;
MB/s = bytes / ns * 1e3. Exit status: 0 report written, 1 bad input (a timing CSV that cannot be
used; or a counter, write-study, mapping-study or run.json file that cannot be used: then the report
and plots are still written from the rest) or every iteration of a test failed, 2 usage error.
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
PHASE_COUNTERS_CSV = "phase_performance.csv"
WRITE_STUDY_CSV = "write_study.csv"
MAP_STUDY_CSV = "mapping_study.csv"
MANIFEST_JSON = "run.json"
REPORT_TXT = "performance_report.txt"
WRITE_STUDY_PNG = "write_study.png"

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

# The counter files (src/csv.c). One side's columns are the seed's; the software counters come last.
SIDE_COUNTERS = [
    "l1_cache_misses", "l1_cache_references", "l1_miss_rate", "llc_misses", "llc_references", "llc_miss_rate",
    "tlb_misses", "cpu_cycles", "instructions", "ipc", "cycles_per_byte", "context_switches",
]
SOFTWARE_COUNTERS = ["host_page_faults", "host_task_clock_ns", "guest_page_faults", "guest_task_clock_ns"]
SIDE_COUNTER_COLUMNS = [f"{side}_{c}" for side in ("host", "guest") for c in SIDE_COUNTERS] + SOFTWARE_COUNTERS
LATENCY_COUNTER_COLUMNS = ["iteration"] + SIDE_COUNTER_COLUMNS
BANDWIDTH_COUNTER_COLUMNS = ["iteration", "frame_type"] + SIDE_COUNTER_COLUMNS
PHASE_COUNTERS = [
    "l1_cache_misses", "l1_cache_references", "llc_misses", "llc_references", "tlb_misses",
    "cpu_cycles", "instructions", "context_switches", "page_faults", "task_clock_ns",
]
PHASE_COUNTER_COLUMNS = ["test", "iteration", "frame_type", "size_bytes", "phase"] + PHASE_COUNTERS
WRITE_STUDY_COLUMNS = ["test", "iteration", "frame_type", "size_bytes", "variant", "copy_ns", "copy_mbps",
                       "page_faults", "success"]
MAP_STUDY_COLUMNS = ["test", "iteration", "frame_type", "size_bytes", "mapping", "memory_type", "hot_read_ns",
                     "cold_read_ns", "copy_ns", "copy_mbps", "success"]
TESTS = ("latency", "bandwidth", "reference")
PHASES = ("A_hot_read", "B_cold_read", "C_copy", "D_verify")

# Derived metrics, computed here from the raw counters (and checked against the CSV's own columns):
# label, the CSV's column suffix, numerator, denominator ("bytes": the message size), scale.
DERIVED_METRICS = [
    ("IPC", "ipc", "instructions", "cpu_cycles", 1.0),
    ("cycles/byte", "cycles_per_byte", "cpu_cycles", "bytes", 1.0),
    ("L1_miss%", "l1_miss_rate", "l1_cache_misses", "l1_cache_references", 100.0),
    ("LLC_miss%", "llc_miss_rate", "llc_misses", "llc_references", 100.0),
]
DERIVED_COLUMNS = {suffix for _, suffix, _, _, _ in DERIVED_METRICS}
# host_writer prints the derived columns with 4 decimals.
DERIVED_COUNTER_TOLERANCE = 0.00051

# The write-path variants of phase C, in report order; memcpy_prefaulted is phase C itself, the 1.00x.
PREFAULTED = "memcpy_prefaulted"
FRESH_PAGES = "memcpy_fresh_pages"
VARIANT_ORDER = [PREFAULTED, FRESH_PAGES, "nt_store", "memcpy_thp", "memcpy_hugetlb", "memcpy_hugepages"]
VARIANT_WORDS = {
    FRESH_PAGES: "fresh pages",
    "nt_store": "non-temporal stores",
    "memcpy_thp": "memcpy into transparent huge pages",
    "memcpy_hugetlb": "memcpy into hugetlb pages",
    "memcpy_hugepages": "memcpy into huge pages",
}
# A variant is called faster or slower than the pre-faulted memcpy only when the medians differ by at
# least this ratio and at least this share of the iterations (each message ran every variant, so they
# pair up) agree on the direction: one disturbed message out of five does not hide a difference, two do.
CLEAR_DIFFERENCE = 1.10
CLEAR_AGREEMENT = 0.8
# Phase C's source column in each timing CSV: memcpy_prefaulted must be the same measurement.
PHASE_C_COLUMN = {"latency": "guest_second_pass_ns", "bandwidth": "guest_memcpy_ns",
                  "reference": "guest_second_pass_ns"}
# The guest's mappings of the region (src/region.c ivb_map_kind_name), and the phases the mapping study times
# through each: letter, words, column of mapping_study.csv.
MAPPINGS = ("shm", "resource2", "resource2_wc")
MAP_PHASES = [("A", "hot read", "hot_read_ns"), ("B", "cold read", "cold_read_ns"), ("C", "copy", "copy_ns")]
STUDY_STAGE_LABEL = "write-study variants (--write-study)"
TCG_MEMORY_TYPE_LINE = "Under TCG the memory type (UC-/WC) has no effect on speed: these are emulator timings"

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


# The two programs' waits (src/protocol.c): how each side learns that the other has written.
MODE_WORDS = {
    "polling": "each side spins on the other's state word while it waits (a core each)",
    "doorbell": "each side sleeps until the other rings it (ivshmem-doorbell interrupts, eventfds)",
}
SIDES = ("host", "guest")
CPU_FIELDS = ("user_s", "sys_s", "wall_s", "messages")  # host.cpu, guest.cpu (src/manifest.c)
BELL_FIELDS = ("peer_id", "rings_sent", "rings_received", "late_wakeups")  # host.doorbell, guest.doorbell
# getrusage counts in scheduler ticks: a one-thread program may show a tick more CPU than wall time.
CPU_SLACK_S = 0.1


class InputError(Exception):
    """A results folder or file the analysis cannot use; the message is one line for stderr."""


def warn(message):
    print(f"{PROG}: {message}", file=sys.stderr)


# ----------------------------------------------------------------------------------------------
# Loading


def read_csv_file(path, columns, optional_numeric=False, text_columns=TEXT_COLUMNS, required=()):
    """Read one CSV into a DataFrame with numeric columns, or raise InputError saying what is wrong.

    Every column in `columns` must be present. Values must be numbers (text_columns are text); empty
    fields are allowed in rows with success=0 (the writer leaves timings empty when a message failed)
    and, when optional_numeric is set, anywhere except in the `required` columns (a counter that could
    not be read, a write-path variant that did not run).
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
        more = f" and {len(missing) - 5} more" if len(missing) > 6 else ""
        raise InputError(f"{name}: wrong columns: missing {', '.join(missing[:5] if more else missing)}{more}")
    for lineno, row in enumerate(rows[1:], start=2):
        if len(row) != len(header):
            raise InputError(f"{name} line {lineno}: {len(row)} fields, the header has {len(header)}")
    table = pd.DataFrame(rows[1:], columns=header, dtype=str)
    table = table.apply(lambda col: col.str.strip())
    data = pd.DataFrame(index=table.index)
    for col in header:
        if col in text_columns or col not in columns and not optional_numeric:
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
    for col in required:
        empty = data[col].isna() if col not in text_columns else data[col] == ""
        if empty.any():
            first = empty[empty].index[0]
            raise InputError(f"{name} line {first + 2}: empty {col}")
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


def check_values(name, data, column, allowed):
    bad = ~data[column].isin(allowed)
    if bad.any():
        first = bad[bad].index[0]
        raise InputError(f"{name} line {first + 2}: {column} is {data[column][first]!r}, "
                         f"expected {', '.join(str(a) for a in allowed)}")


def load_extra(folder, filename, columns, notes, errors, what, text_columns=TEXT_COLUMNS, required=("iteration",),
               allowed=None):
    """A counter or write-study file: extra to the timings, so a broken one is skipped, reported on stderr
    and in the report, and makes the exit status 1 while the rest is still analysed. None when absent."""
    path = folder / filename
    if not path.exists():
        notes.append(f"{filename}: not found ({what})")
        return None
    try:
        data = read_csv_file(path, columns, optional_numeric=True, text_columns=text_columns, required=required)
        for column, values in (allowed or {}).items():
            check_values(filename, data, column, values)
        return data
    except InputError as err:
        warn(f"{err}; {what} skipped")
        notes.append(f"{err}; {what} skipped")
        errors.append(str(err))
        return None


def load_manifest(folder, notes, errors):
    path = folder / MANIFEST_JSON
    if not path.exists():
        notes.append(f"{MANIFEST_JSON}: not found (environment unknown)")
        return {}
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError) as err:
        warn(f"{MANIFEST_JSON}: unreadable ({err}); environment unknown")
        notes.append(f"{MANIFEST_JSON}: unreadable ({err})")
        errors.append(f"{MANIFEST_JSON}: unreadable")
        return {}
    if not isinstance(manifest, dict):
        warn(f"{MANIFEST_JSON}: not a JSON object; environment unknown")
        notes.append(f"{MANIFEST_JSON}: not a JSON object")
        errors.append(f"{MANIFEST_JSON}: not a JSON object")
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


# What names one message in each test's files. host_writer runs the reference once per frame it is given
# (the latency frame, then each bandwidth frame) and numbers each run from 1, so the same frame can occur
# twice with the same iterations: _nth (the how-manieth time a key occurs, in file order, which is
# message order in every file) tells the two apart and is part of every join.
MESSAGE_KEYS = {"latency": ["iteration"], "bandwidth": ["iteration", "frame_type"],
                "reference": ["iteration", "frame_type"]}


def number_occurrences(data, keys):
    if data is not None:
        data["_nth"] = data.groupby(keys, sort=False).cumcount() if not data.empty else pd.Series(dtype=int)


def study_time(data, study, test, keys):
    """Per timing row, the guest's time in the write-study variants other than phase C itself (0 when none
    ran): with --write-study they run inside the round trip, after phase D."""
    keys = keys + ["_nth"]
    rows = study[(study["test"] == test) & (study["variant"] != PREFAULTED)]
    per_message = rows.groupby(keys)["copy_ns"].sum(min_count=1).rename("guest_study_ns").reset_index()
    merged = data[keys].merge(per_message, on=keys, how="left")
    return merged["guest_study_ns"].fillna(0).to_numpy()


def add_derived_latency_columns(data, study):
    data["one_way_est_ns"] = data["roundtrip_ns"] / 2
    data["guest_total_ns"] = data["roundtrip_ns"] - data["notification_est_ns"]
    data["guest_other_ns"] = data["guest_total_ns"] - data[GUEST_PHASE_COLUMNS].sum(axis=1, min_count=4)
    if study is not None:
        data["guest_study_ns"] = study_time(data, study, "latency", MESSAGE_KEYS["latency"])
        data["guest_other_ns"] -= data["guest_study_ns"]


def add_derived_bandwidth_columns(data, study):
    data["roundtrip_other_ns"] = data["roundtrip_ns"] - data["guest_memcpy_ns"] - data["guest_verify_ns"]
    if study is not None:
        data["guest_study_ns"] = study_time(data, study, "bandwidth", MESSAGE_KEYS["bandwidth"])
        data["roundtrip_other_ns"] -= data["guest_study_ns"]
    for col in ("host_memcpy", "guest_memcpy", "total"):
        data[f"{col}_calc_mbps"] = mbps(data["size_bytes"], data[f"{col}_ns"])


def add_map_roles(data):
    """host_writer writes, per message, the row of the guest's usual mapping and then, when the guest has
    one, the row of its other mapping: the position in a run of consecutive rows of one message tells them
    apart (the names cannot: in loopback both are shm). _message names the message for pairing."""
    key = data[["test", "frame_type", "iteration", "size_bytes"]].astype(str).agg("/".join, axis=1)
    run_id = (key != key.shift()).cumsum()
    position = data.groupby(run_id).cumcount()
    data["role"] = np.where(position % 2 == 0, "usual", "second")
    data["_message"] = run_id.astype(str) + "/" + (position // 2).astype(str)


def with_study_stage(stages, study, before):
    """The stage list with the write-study variants as a stage of their own, just before `before`."""
    if study is None:
        return list(stages)
    out = []
    for stage in stages:
        if stage[1] == before:
            out.append((STUDY_STAGE_LABEL, "guest_study_ns", False, None))
        out.append(stage)
    return out


def load_run(folder):
    """Everything the folder holds, as a dict; raises InputError when there is nothing to analyse."""
    if not folder.exists():
        raise InputError(f"results folder not found: {folder}")
    if not folder.is_dir():
        raise InputError(f"not a folder: {folder}")
    notes, errors = [], []
    latency = load_optional_csv(folder, LATENCY_CSV, LATENCY_COLUMNS, notes)
    bandwidth = load_optional_csv(folder, BANDWIDTH_CSV, BANDWIDTH_COLUMNS, notes)
    if latency is None and bandwidth is None:
        raise InputError(f"{folder}: neither {LATENCY_CSV} nor {BANDWIDTH_CSV} found: nothing to analyse")
    if (latency is None or latency.empty) and (bandwidth is None or bandwidth.empty):
        raise InputError(f"{folder}: no iterations recorded in {LATENCY_CSV} or {BANDWIDTH_CSV}")
    reference = load_optional_csv(folder, REFERENCE_CSV, REFERENCE_COLUMNS, notes)
    manifest = load_manifest(folder, notes, errors)
    latency_counters = load_extra(folder, LATENCY_COUNTERS_CSV, LATENCY_COUNTER_COLUMNS, notes, errors, "counters")
    bandwidth_counters = load_extra(folder, BANDWIDTH_COUNTERS_CSV, BANDWIDTH_COUNTER_COLUMNS, notes, errors,
                                    "counters", required=("iteration", "frame_type"))
    phase_counters = load_extra(
        folder, PHASE_COUNTERS_CSV, PHASE_COUNTER_COLUMNS, notes, errors, "phase counters",
        text_columns={"test", "frame_type", "phase"},
        required=("test", "iteration", "frame_type", "size_bytes", "phase"),
        allowed={"test": TESTS})
    study = load_extra(
        folder, WRITE_STUDY_CSV, WRITE_STUDY_COLUMNS, notes, errors, "write study",
        text_columns={"test", "frame_type", "variant"},
        required=("test", "iteration", "frame_type", "size_bytes", "variant", "success"),
        allowed={"test": TESTS, "success": (0, 1)})
    map_study = load_extra(
        folder, MAP_STUDY_CSV, MAP_STUDY_COLUMNS, notes, errors, "mapping study",
        text_columns={"test", "frame_type", "mapping", "memory_type"},
        required=("test", "iteration", "frame_type", "size_bytes", "mapping", "memory_type", "success"),
        allowed={"test": ("latency", "bandwidth"), "mapping": MAPPINGS, "success": (0, 1)})
    if map_study is not None:
        add_map_roles(map_study)
    for data, keys in ((latency, MESSAGE_KEYS["latency"]), (bandwidth, MESSAGE_KEYS["bandwidth"]),
                       (reference, MESSAGE_KEYS["reference"]), (latency_counters, MESSAGE_KEYS["latency"]),
                       (bandwidth_counters, MESSAGE_KEYS["bandwidth"]),
                       (phase_counters, ["test", "frame_type", "iteration", "phase"]),
                       (study, ["test", "frame_type", "iteration", "variant"])):
        number_occurrences(data, keys)
    if latency is not None:
        add_derived_latency_columns(latency, study)
    if bandwidth is not None:
        add_derived_bandwidth_columns(bandwidth, study)
    return {
        "folder": folder,
        "latency": latency,
        "bandwidth": bandwidth,
        "reference": reference,
        "latency_counters": latency_counters,
        "bandwidth_counters": bandwidth_counters,
        "phase_counters": phase_counters,
        "write_study": study,
        "map_study": map_study,
        "latency_stages": with_study_stage(LATENCY_STAGES, study, "guest_other_ns"),
        "bandwidth_stages": with_study_stage(BANDWIDTH_STAGES, study, "roundtrip_other_ns"),
        "manifest": manifest,
        "latency_frame_bytes": latency_frame_bytes(manifest),
        "notes": notes,
        "input_errors": errors,
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
            f"the sum of its phases A-D{' and write-study variants' if 'guest_study_ns' in rows else ''} "
            f"in {len(short_total)} iteration(s)"
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


def study_findings(run):
    """write_study.csv: positive times, MB/s consistent and plausible, phase C the same measurement as in the
    timing CSVs, and page faults where a copy into fresh pages must take them."""
    findings = []
    study = run["write_study"]
    if study is None or study.empty:
        return findings
    rows = study[(study["success"] == 1) & study["copy_ns"].notna()]
    non_positive = rows[rows["copy_ns"] <= 0]
    if not non_positive.empty:
        first = non_positive.iloc[0]
        findings.append(f"SUSPECT: {WRITE_STUDY_CSV}: copy_ns is zero or negative in {len(non_positive)} row(s) "
                        f"({first['test']} {first['frame_type']} iteration {first['iteration']:.0f} "
                        f"{first['variant']})")
    rows = rows[rows["copy_ns"] > 0]
    rates = mbps(rows["size_bytes"], rows["copy_ns"])
    stated = rows["copy_mbps"].notna()
    check_derived_column(findings, WRITE_STUDY_CSV, rows[stated], "copy_mbps", rates[stated])
    for variant in sorted(rows["variant"].unique(), key=variant_rank):
        check_bandwidth_bound(findings, f"{WRITE_STUDY_CSV}: {variant}", rates[rows["variant"] == variant])
    for test in TESTS:
        timings = successful(run[test])
        if timings is None or timings.empty:
            continue
        keys = MESSAGE_KEYS[test] + ["_nth"]
        phase_c = rows[(rows["test"] == test) & (rows["variant"] == PREFAULTED)]
        joined = phase_c.merge(timings[keys + [PHASE_C_COLUMN[test]]], on=keys, how="inner")
        differ = joined[joined["copy_ns"] != joined[PHASE_C_COLUMN[test]]]
        if not differ.empty:
            first = differ.iloc[0]
            findings.append(
                f"SUSPECT: {WRITE_STUDY_CSV}: {PREFAULTED} is not phase C of the same message in {len(differ)} "
                f"{test} row(s) (iteration {first['iteration']:.0f}: {first['copy_ns']:.0f} ns, "
                f"{PHASE_C_COLUMN[test]} {first[PHASE_C_COLUMN[test]]:.0f} ns)")
    no_faults = rows[(rows["variant"] == FRESH_PAGES) & (rows["page_faults"] == 0)]
    if not no_faults.empty:
        findings.append(f"SUSPECT: {WRITE_STUDY_CSV}: {FRESH_PAGES} with 0 page faults in {len(no_faults)} row(s): "
                        "a copy into freshly mapped pages must fault; the count is probably unknown, not 0")
    return findings


def map_study_findings(run):
    """mapping_study.csv: positive phase times, copy_mbps consistent with copy_ns, plausible rates."""
    findings = []
    data = run["map_study"]
    if data is None or data.empty:
        return findings
    rows = successful(data)
    check_positive_durations(findings, MAP_STUDY_CSV, rows, [column for _, _, column in MAP_PHASES])
    rows = rows[rows["copy_ns"] > 0]
    rates = mbps(rows["size_bytes"], rows["copy_ns"])
    stated = rows["copy_mbps"].notna()
    check_derived_column(findings, MAP_STUDY_CSV, rows[stated], "copy_mbps", rates[stated])
    check_bandwidth_bound(findings, f"{MAP_STUDY_CSV}: copy", rates)
    return findings


def counter_bytes(run, name, data):
    """The message size of each row of a per-iteration counter file (for cycles per byte), NaN when unknown."""
    if name == LATENCY_COUNTERS_CSV:
        size = run["latency_frame_bytes"]
        return pd.Series(float(size) if size else np.nan, index=data.index)
    bandwidth = run["bandwidth"]
    sizes = bandwidth.groupby("frame_type")["size_bytes"].max() if bandwidth is not None else pd.Series(dtype=float)
    return data["frame_type"].map(sizes).astype(float)


def derived_values(data, prefix, numerator, denominator, size):
    """numerator / denominator per row where both were measured and the denominator is positive, else NaN."""
    den = size if denominator == "bytes" else data[prefix + denominator]
    den = den.astype(float)
    return data[prefix + numerator].astype(float) / den.where(den > 0)


def counter_findings(run):
    """The CSV's derived counter columns (IPC, cycles per byte, miss rates) against the raw counters."""
    findings = []
    for name, key in ((LATENCY_COUNTERS_CSV, "latency_counters"), (BANDWIDTH_COUNTERS_CSV, "bandwidth_counters")):
        data = run[key]
        if data is None or data.empty:
            continue
        size = counter_bytes(run, name, data)
        for side in ("host_", "guest_"):
            for _, suffix, numerator, denominator, _ in DERIVED_METRICS:
                column = side + suffix
                expected = derived_values(data, side, numerator, denominator, size)
                if denominator == "bytes" and size.isna().all():
                    continue
                stated = data[column]
                unmeasured = stated.notna() & expected.isna()
                if unmeasured.any():
                    findings.append(f"SUSPECT: {name}: {column} is filled in {int(unmeasured.sum())} row(s) where "
                                    f"{side}{numerator} or its denominator is not measured")
                both = stated.notna() & expected.notna()
                bad = both & ((stated - expected).abs() > DERIVED_COUNTER_TOLERANCE + 1e-4 * expected.abs())
                if bad.any():
                    first = bad[bad].index[0]
                    findings.append(f"SUSPECT: {name}: column {column} disagrees with the raw counters in "
                                    f"{int(bad.sum())} row(s) (iteration {data['iteration'][first]:.0f}: "
                                    f"{stated[first]:g}, expected {expected[first]:g})")
    return findings


def notification_findings(run):
    """run.json's mode, interval, CPU times and doorbell counts, which a user may have edited: values that
    cannot be right. Each program is one thread: its CPU time cannot exceed its wall time (beyond a tick)."""
    m = run["manifest"]
    findings = []
    mode = lookup(m, "options", "mode")
    if mode is not None and run_mode(m) is None:
        findings.append(f"{MANIFEST_JSON}: options.mode is {mode!r}, neither polling nor doorbell")
    interval = lookup(m, "options", "interval_us")
    if interval is not None and run_interval(m) is None:
        findings.append(f"{MANIFEST_JSON}: options.interval_us is {interval!r}, not a whole number of us >= 0")
    for side in SIDES:
        raw = lookup(m, side, "cpu")
        cpu = cpu_record(m, side)
        if raw is not None and cpu is None:
            findings.append(f"{MANIFEST_JSON}: {side}.cpu is not three finite non-negative times and a message "
                            f"count: {raw}")
        elif cpu is not None and cpu["user_s"] + cpu["sys_s"] > cpu["wall_s"] + CPU_SLACK_S:
            findings.append(f"{MANIFEST_JSON}: {side}.cpu: {cpu['user_s'] + cpu['sys_s']:.3f} s of CPU in "
                            f"{cpu['wall_s']:.3f} s of wall time, more than one thread can use")
        raw = lookup(m, side, "doorbell")
        if raw is not None and bell_record(m, side) is None:
            findings.append(f"{MANIFEST_JSON}: {side}.doorbell is not four whole numbers >= 0: {raw}")
    return findings


def find_suspects(run):
    return (latency_findings(run) + bandwidth_findings(run) + reference_findings(run) + study_findings(run)
            + map_study_findings(run) + counter_findings(run) + notification_findings(run))


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
    mode, interval = run_mode(m), run_interval(m)
    if mode is not None:
        lines.append(f"  Notification:    {mode}" + (f", messages started {interval} us apart" if interval else ""))
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
    """The stage with the largest share, and what the private-memory reference says about it.

    The write-study variants (--write-study) run inside the round trip but are no part of a transfer:
    they are never the bottleneck, and their share is said on a line of its own."""
    study = [s for s in stages if s["column"] == "guest_study_ns"]
    top = max((s for s in stages if s["column"] != "guest_study_ns"), key=lambda s: s["median_share"])
    lines = [f"  {what}: largest share of the end-to-end time: {top['label']}, median {fmt(top['median_share'])}% "
             f"per iteration ({fmt(top['median'] / 1e3, 3)} us median)"]
    if study:
        lines.append(f"    (the write-study variants, run inside each round trip because of --write-study and not part "
                     f"of a transfer, took a median {fmt(study[0]['median_share'])}% of it; they are left out here)")
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

    stages = stage_summaries(rows, run["latency_stages"])
    lines += section("READ/WRITE ISOLATION BREAKDOWN (successful iterations; MB/s = frame bytes / time)")
    lines += breakdown_table(stages, rows, size)
    lines += [
        "  share = mean / mean total (the means add up); median_share = median over iterations of stage / total.",
        "  host memcpy and the round trip are timed on the host clock, phases A-D on the guest clock;",
        "  guest other = guest total - (A+B+C+D"
        + (" + write-study variants" if run["write_study"] is not None else "")
        + "); notification (est.) = roundtrip - guest total",
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
        stages = stage_summaries(rows, run["bandwidth_stages"])
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
        stages = stage_summaries(region, run["bandwidth_stages"])
        for row in comparison_rows(stages, reference_for_size(data, size), size):
            comparisons.append([f"{frame} {row[0]}"] + row[1:])
    if comparisons:
        lines += section("SHARED REGION VS PRIVATE MEMORY, bandwidth frames (medians)")
        lines += fmt_table(COMPARISON_HEADER, comparisons)
    return lines


def counters_availability(run):
    """One line per side from run.json: which counters were not measured and why."""
    manifest = run["manifest"]
    if lookup(manifest, "options", "counters") is False:
        return ["  counters were off in this run (host_writer --no-counters)"]
    lines = []
    for side in ("host", "guest"):
        missing = lookup(manifest, side, "counters_missing")
        if not isinstance(missing, str):
            text = f"{MANIFEST_JSON} does not say which counters were measured"
        elif not missing.strip():
            text = "every counter measured"
        else:
            text = missing if missing.startswith("not measured") else f"not measured: {missing}"
        lines.append(f"  {side + ':':6} {text}")
    return lines


def derived_table(values_by_label, indent="    "):
    """count, mean, median, min, max of each derived metric's per-row values."""
    table = []
    for label, values in values_by_label:
        table.append([label, str(len(values))] + [fmt(v, 3) for v in (values.mean(), values.median(),
                                                                         values.min(), values.max())])
    return fmt_table(["metric", "count", "mean", "median", "min", "max"], table, indent=indent)


def counter_table(run, filename, counters, timings, keys, timing):
    """Counters of the successful iterations: the raw counters' statistics and correlation with a timing
    column, then the derived metrics computed here from the raw counters where they were measured."""
    keys = keys + ["_nth"]
    joined = successful(timings)[keys + [timing]].merge(counters, on=keys, how="inner")
    columns = [c for c in counters.columns if c not in keys and c.split("_", 1)[-1] not in DERIVED_COLUMNS]
    measured = [c for c in columns if joined[c].notna().any()]
    empty = [c for c in columns if c not in measured]
    lines = [f"  {filename}: {len(joined)} successful iterations with counters "
             "(guest_* = sum over the guest's phases A-D)"]
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
    size = counter_bytes(run, filename, joined)
    derived, unmeasured = [], []
    for side in ("host", "guest"):
        for label, _, numerator, denominator, scale in DERIVED_METRICS:
            values = (derived_values(joined, side + "_", numerator, denominator, size) * scale).dropna()
            if values.empty:
                unmeasured.append(f"{side} {label}")
            else:
                derived.append((f"{side} {label}", values))
    if derived:
        lines.append("    Derived per iteration, computed here from the raw counters (IPC = instructions / cycles, "
                     "cycles/byte = cycles / message bytes, miss% = 100 * misses / references):")
        lines += derived_table(derived, indent="      ")
    if unmeasured:
        lines.append(f"    derived metrics not measured (their counters are empty): {', '.join(unmeasured)}")
    return lines


def drop_failed_messages(run, data):
    """Rows of a per-message file whose message failed in its timing CSV are left out."""
    keep = np.ones(len(data), dtype=bool)
    for test in TESTS:
        timings = run[test]
        if timings is None or timings.empty:
            continue
        keys = MESSAGE_KEYS[test] + ["_nth"]
        failed = timings.loc[timings["success"] == 0, keys].drop_duplicates()
        if failed.empty:
            continue
        mask = (data["test"] == test).to_numpy()
        hit = data.loc[mask, keys].merge(failed.assign(_failed=True), on=keys, how="left")["_failed"].notna()
        keep[mask] = ~hit.to_numpy()
    return data[keep]


def group_order(rows):
    """(test, frame_type, size) groups in test order, then by size."""
    groups = rows.groupby(["test", "frame_type"], sort=False)["size_bytes"].max().reset_index()
    groups["rank"] = groups["test"].map({t: i for i, t in enumerate(TESTS)})
    groups = groups.sort_values(["rank", "size_bytes", "frame_type"])
    return list(groups[["test", "frame_type", "size_bytes"]].itertuples(index=False, name=None))


def phase_counter_lines(run):
    data = run["phase_counters"]
    lines = ["", f"  Per guest phase ({PHASE_COUNTERS_CSV}; medians over the successful iterations; "
                 "task_clock in us; miss% = 100 * misses / references)"]
    if data is None:
        return lines + [f"    {PHASE_COUNTERS_CSV} not found or unreadable: no per-phase counters"]
    rows = drop_failed_messages(run, data)
    if rows.empty:
        return lines + ["    no rows for successful messages"]
    measured = [c for c in PHASE_COUNTERS if rows[c].notna().any()]
    empty = [c for c in PHASE_COUNTERS if c not in measured]
    if empty:
        lines.append(f"    not measured (empty): {', '.join(empty)}")
    rows = rows.assign(task_clock_us=rows["task_clock_ns"] / 1e3)
    columns = [("task_clock_us", "task_clock_us", 1), ("page_faults", "page_faults", 1),
               ("context_switches", "ctx_switches", 1)]
    columns += [(c, c, 0) for c in ("cpu_cycles", "instructions", "tlb_misses") if c in measured]
    metrics = []
    for label, _, numerator, denominator, scale in DERIVED_METRICS:
        values = derived_values(rows, "", numerator, denominator, rows["size_bytes"]) * scale
        if values.notna().any():
            rows = rows.assign(**{label: values})
            metrics.append(label)
    table = []
    for test, frame, size in group_order(rows):
        group = rows[(rows["test"] == test) & (rows["frame_type"] == frame)]
        for phase in list(PHASES) + sorted(set(group["phase"]) - set(PHASES)):
            cells = group[group["phase"] == phase]
            if cells.empty:
                continue
            line = [f"{test} {frame} {phase}", str(len(cells))]
            line += [fmt(cells[col].median(), decimals) for col, _, decimals in columns]
            line += [fmt(cells[m].median(), 3) for m in metrics]
            table.append(line)
    lines += fmt_table(["test frame phase", "n"] + [h for _, h, _ in columns] + metrics, table, indent="    ")
    return lines


def counter_sections(run):
    lines = section("COUNTERS (perf_event_open: host around host_memcpy, guest around each phase; "
                    "joined with the timings by iteration)")
    lines += counters_availability(run)
    lines.append("  An empty field is a counter that was not measured: shown as n/a or left out, never as 0.")
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
            lines += counter_table(run, filename, counters, timings, keys, timing)
    if run["phase_counters"] is not None:
        found = True
        lines += phase_counter_lines(run)
    if not found:
        lines.append("  no counter files in this run")
    return lines


# ----------------------------------------------------------------------------------------------
# Where the copy time goes: phase C's write-path variants (write_study.csv)


def variant_rank(variant):
    return (VARIANT_ORDER.index(variant), "") if variant in VARIANT_ORDER else (len(VARIANT_ORDER), variant)


def fmt_ratio(value):
    """A speed or time ratio: two decimals, or three significant digits below 0.1 (fresh pages: 0.00572x)."""
    if value is None or pd.isna(value):
        return "n/a"
    return f"{value:.2f}x" if value >= 0.1 else f"{value:#.3g}x"


def study_table(run):
    """The successful write-study rows that timed their variant, with source = region or private."""
    study = run["write_study"]
    rows = study[(study["success"] == 1) & study["copy_ns"].notna() & (study["copy_ns"] > 0)]
    return rows.assign(source=np.where(rows["test"] == "reference", "private", "region"))


def variant_stats(rows, source, size, variant):
    """n, median copy time, MB/s from it, and median page faults per copy of one variant."""
    cells = rows[(rows["source"] == source) & (rows["size_bytes"] == size) & (rows["variant"] == variant)]
    faults = cells["page_faults"].dropna()
    median = cells["copy_ns"].median() if not cells.empty else float("nan")
    return {"n": len(cells), "median_ns": median, "mbps": mbps(size, median) if not cells.empty else float("nan"),
            "faults": faults.median() if not faults.empty else float("nan")}


def paired_counts(rows, source, size, variant):
    """Messages that timed both the variant and memcpy_prefaulted: how many, and in how many the variant
    was faster and slower (every message runs every variant, so the comparison is per message)."""
    keys = ["test", "frame_type", "iteration", "_nth"]
    cells = rows[(rows["source"] == source) & (rows["size_bytes"] == size)]
    base = cells.loc[cells["variant"] == PREFAULTED, keys + ["copy_ns"]]
    other = cells.loc[cells["variant"] == variant, keys + ["copy_ns"]]
    both = base.merge(other, on=keys, suffixes=("_base", "_variant"))
    return (len(both), int((both["copy_ns_variant"] < both["copy_ns_base"]).sum()),
            int((both["copy_ns_variant"] > both["copy_ns_base"]).sum()))


VARIANT_SUBJECT = {
    FRESH_PAGES: "fresh pages are",
    "nt_store": "non-temporal stores are",
    "memcpy_thp": "memcpy into transparent huge pages is",
    "memcpy_hugetlb": "memcpy into hugetlb pages is",
}


def clear_verdict(time_ratio, faster, slower, n):
    """The rule of every faster/slower claim: "slower" or "faster" when the median times differ by at least
    CLEAR_DIFFERENCE and at least CLEAR_AGREEMENT of the n paired iterations agree on the direction;
    "within" when the medians are closer than CLEAR_DIFFERENCE; else "inconsistent"."""
    if n and time_ratio >= CLEAR_DIFFERENCE and slower >= CLEAR_AGREEMENT * n:
        return "slower"
    if n and time_ratio <= 1 / CLEAR_DIFFERENCE and faster >= CLEAR_AGREEMENT * n:
        return "faster"
    if 1 / CLEAR_DIFFERENCE < time_ratio < CLEAR_DIFFERENCE:
        return "within"
    return "inconsistent"


def variant_conclusion(rows, source, size, variant, stats, base):
    """One sentence on a variant against memcpy_prefaulted, claiming a difference only when the medians
    show it and the iterations agree (CLEAR_DIFFERENCE, CLEAR_AGREEMENT); the counts are always given."""
    n, faster, slower = paired_counts(rows, source, size, variant)
    subject = VARIANT_SUBJECT.get(variant, f"{variant} is")
    if n == 0:
        return f"{source}: {variant}: no message timed both it and {PREFAULTED}: no comparison"
    time_ratio = stats["median_ns"] / base["median_ns"]
    speed = fmt_ratio(base["median_ns"] / stats["median_ns"])
    counts = f"faster in {faster}, slower in {slower} of {n} iterations"
    direction = clear_verdict(time_ratio, faster, slower, n)
    if direction == "slower":
        verdict = f"{fmt(time_ratio, 2)}x slower"
        agreement = f"slower in {slower} of {n} iterations"
    elif direction == "faster":
        verdict = f"{fmt(1 / time_ratio, 2)}x faster"
        agreement = f"faster in {faster} of {n} iterations"
    elif direction == "within":
        return (f"{source}: {variant}: within {round(100 * (CLEAR_DIFFERENCE - 1))}% of {PREFAULTED} "
                f"(median speed {speed}; {counts})")
    else:
        return (f"{source}: {variant}: no consistent difference from {PREFAULTED} (median speed {speed}, "
                f"but {counts})")
    if variant != FRESH_PAGES:
        return f"{source}: {subject} {verdict} than memcpy into the pre-faulted buffer ({agreement})"
    faults = stats["faults"]
    if pd.isna(faults) or faults <= 0:
        return (f"{source}: {subject} {verdict} than pre-faulted ({agreement}); no page faults were counted, "
                "so the data does not attribute the difference to them")
    cost = stats["median_ns"] - base["median_ns"]
    if cost <= 0:
        return f"{source}: {subject} {verdict} than pre-faulted ({agreement}; {faults:.0f} page faults per copy)"
    return (f"{source}: page faults cost {fmt(cost / 1e6, 3)} ms per copy ({fmt(cost / faults / 1e3, 3)} us per "
            f"fault, {faults:.0f} faults per copy, {fmt(faults / (size / 4096), 2)} per 4 KiB copied): "
            f"{subject} {verdict} than pre-faulted ({agreement})")


def region_private_conclusion(region, private, mapping):
    ratio = region["median_ns"] / private["median_ns"]
    if ratio > REGION_RATIO_THRESHOLD:
        verdict = "evidence that copying from the shared region is slower than from private memory"
    elif ratio < 1 / REGION_RATIO_THRESHOLD:
        verdict = "faster than from private memory: the shared region does not slow the copy"
    else:
        verdict = f"within {REGION_RATIO_THRESHOLD}x: no evidence that the shared region slows the copy"
    return (f"region vs private: the pre-faulted copy from the shared region ({mapping}) takes {fmt(ratio, 2)}x "
            f"the time of the same copy from private memory (medians of {region['n']} and {private['n']} "
            f"iterations): {verdict}")


def phase_c_faults_line(run, size):
    """Phase C's page faults from the phase counters: the evidence that the plain copy does not fault."""
    data = run["phase_counters"]
    if data is None:
        return []
    rows = drop_failed_messages(run, data)
    rows = rows[(rows["phase"] == "C_copy") & (rows["size_bytes"] == size)]
    parts = []
    for source, tests in (("region", ("latency", "bandwidth")), ("private", ("reference",))):
        faults = rows.loc[rows["test"].isin(tests), "page_faults"]
        if len(faults):
            parts.append(f"{source} {fmt(faults.median(), 1)}" if faults.notna().any() else f"{source} not measured")
    if not parts:
        return []
    return [f"phase C ({PREFAULTED}) page faults per copy ({PHASE_COUNTERS_CSV}, medians): {', '.join(parts)}"]


def copy_time_section(run, summary):
    manifest = run["manifest"]
    mapping = lookup(manifest, "guest", "mapping") or "unknown"
    memory_type = lookup(manifest, "guest", "memory_type") or "unknown"
    mapping_text = f"{mapping}, memory type {memory_type}"
    lines = section(f"WHERE THE COPY TIME GOES (phase C, the guest's copy region -> private buffer; {WRITE_STUDY_CSV})")
    lines.append(f"  Guest mapping: {mapping_text} ({MANIFEST_JSON} guest.mapping, guest.memory_type); "
                 f"accelerator {lookup(manifest, 'meta', 'accel') or 'unknown'}")
    if is_tcg(manifest):
        lines.append(f"  ! {TCG_MEMORY_TYPE_LINE}")
    if (run["folder"] / MAP_STUDY_CSV).exists():
        lines.append("  This run timed both of the guest's mappings of the region: "
                     f"see MAPPING STUDY ({MAP_STUDY_CSV});")
    else:
        lines.append("  One mapping per run here: mappings compare across runs (or within one with --map-study);")
    lines.append("  within this run, region/private is what copying from the shared region costs over private memory.")
    study = run["write_study"]
    if study is None:
        if lookup(manifest, "options", "write_study") is True:
            return lines + [f"  {MANIFEST_JSON} says --write-study, but {WRITE_STUDY_CSV} is missing or unreadable"]
        return lines + [f"  {WRITE_STUDY_CSV} not found: run host_writer with --write-study to time the write-path "
                        "variants of phase C"]
    rows = study_table(run)
    untimed = study[(study["success"] == 1) & study["copy_ns"].isna()]
    if rows.empty:
        return lines + [f"  {WRITE_STUDY_CSV}: no successful row with a copy time"]
    lines += [
        "  MB/s = frame bytes / median copy time * 1e3 (1 MB = 1e6 B) over the successful iterations that timed the",
        f"  variant (n). x = MB/s relative to {PREFAULTED} (phase C itself: memcpy into the pre-faulted private",
        "  buffer) from the same source and size in this run: 1.00x is the reference, above 1 is faster.",
        "  region = copies from the shared region (latency and bandwidth tests), private = from private memory",
        "  (reference test); region/private = ratio of their median times. faults = median page faults per copy",
        f"  (counted for {FRESH_PAGES} only; n/a = not measured). A variant is called faster or slower only when",
        f"  the medians differ by at least {round(100 * (CLEAR_DIFFERENCE - 1))}% and at least "
        f"{round(100 * CLEAR_AGREEMENT)}% of the iterations agree.",
    ]
    if not untimed.empty:
        counts = untimed.groupby("variant").size()
        lines.append("  successful rows without a copy time (variant not run): "
                     + ", ".join(f"{v} {counts[v]}" for v in sorted(counts.index, key=variant_rank)))
    header = ["variant", "region_n", "region_MB/s", "region_x", "private_n", "private_MB/s", "private_x",
              "region/private", "region_faults", "private_faults"]
    for size in sorted(rows["size_bytes"].unique()):
        in_size = rows[rows["size_bytes"] == size]
        frames = "/".join(sorted(in_size["frame_type"].unique()))
        tests = {source: ", ".join(t for t in TESTS if t in set(in_size.loc[in_size["source"] == source, "test"]))
                 for source in ("region", "private")}
        lines += ["", f"  Frame {frames}, {size:.0f} bytes (region: {tests['region'] or 'no'} test; "
                      f"private: {tests['private'] or 'no'} test)"]
        variants = sorted(in_size["variant"].unique(), key=variant_rank)
        stats = {(source, v): variant_stats(rows, source, size, v)
                 for source in ("region", "private") for v in variants}
        table = []
        for v in variants:
            region, private = stats[("region", v)], stats[("private", v)]
            cells = [v]
            for source, own in (("region", region), ("private", private)):
                base = stats.get((source, PREFAULTED))
                speed = base["median_ns"] / own["median_ns"] if base and own["n"] and base["n"] else float("nan")
                cells += [str(own["n"]), fmt_mbps(own["mbps"]), fmt_ratio(speed)]
            time_ratio = region["median_ns"] / private["median_ns"] if region["n"] and private["n"] else float("nan")
            cells += [fmt_ratio(time_ratio), fmt(region["faults"], 0), fmt(private["faults"], 0)]
            table.append(cells)
        lines += fmt_table(header, table, indent="    ")
        conclusions = []
        for source in ("region", "private"):
            base = stats.get((source, PREFAULTED))
            if not base or not base["n"]:
                if any(stats[(source, v)]["n"] for v in variants):
                    conclusions.append(f"{source}: no {PREFAULTED} timing: no reference to compare with")
                continue
            for v in variants:
                if v != PREFAULTED and stats[(source, v)]["n"]:
                    conclusions.append(variant_conclusion(rows, source, size, v, stats[(source, v)], base))
        region, private = stats.get(("region", PREFAULTED)), stats.get(("private", PREFAULTED))
        if region and private and region["n"] and private["n"]:
            conclusions.append(region_private_conclusion(region, private, mapping_text))
        conclusions += phase_c_faults_line(run, size)
        lines += [f"    Conclusions for {frames} (this run's data only):"] + [f"      {c}" for c in conclusions]
        source = "region" if region and region["n"] else "private"
        summary.setdefault("copy_study", []).append(
            f"{frames} {source}: " + ", ".join(
                f"{v} {fmt(stats[(source, v)]['mbps'])} MB/s" for v in variants if stats[(source, v)]["n"]))
    return lines


# ----------------------------------------------------------------------------------------------
# The guest's two mappings of the same memory: phases A-C through each (mapping_study.csv)


def same_memory_type_line(rows):
    """Whether this run can compare memory types at all: not when both mappings got the same one."""
    usual = set(rows.loc[rows["role"] == "usual", "memory_type"])
    second = set(rows.loc[rows["role"] == "second", "memory_type"])
    if not second:
        return "no row for a second mapping: the guest had none (guest_reader's stderr says why)"
    if usual != second or len(usual) != 1:
        return None
    memory_type = usual.pop()
    if memory_type == "unknown":
        return "the memory type of both mappings is unknown: this run cannot compare memory types"
    return f"both mappings got {memory_type}: this run cannot compare memory types"


def map_phase_conclusion(base, other, column, tcg):
    """One phase of a second mapping against the usual one, message by message (clear_verdict): a sentence
    when the data shows a difference, else None."""
    both = base[["_message", column]].merge(other[["_message", column]], on="_message",
                                             suffixes=("_usual", "_second")).dropna()
    n = len(both)
    faster = int((both[f"{column}_second"] < both[f"{column}_usual"]).sum())
    slower = int((both[f"{column}_second"] > both[f"{column}_usual"]).sum())
    time_ratio = other[column].median() / base[column].median()
    direction = clear_verdict(time_ratio, faster, slower, n)
    if direction not in ("faster", "slower"):
        return None
    ratio, agree = (time_ratio, slower) if direction == "slower" else (1 / time_ratio, faster)
    base_type = "/".join(sorted(set(base["memory_type"])))
    other_type = "/".join(sorted(set(other["memory_type"])))
    sentence = (f"{fmt(ratio, 2)}x {direction} through {other['mapping'].iloc[0]} (second mapping, {other_type}) "
                f"than through {base['mapping'].iloc[0]} (usual mapping, {base_type}), {direction} in {agree} of {n} "
                "messages")
    if tcg:
        sentence += "; under TCG this is not an effect of the memory type"
    elif base_type == other_type:
        sentence += "; same memory type, so not an effect of it"
    return sentence


def mapping_study_section(run):
    manifest = run["manifest"]
    data = run["map_study"]
    exists = (run["folder"] / MAP_STUDY_CSV).exists()
    if data is None and not exists and lookup(manifest, "options", "map_study") is not True:
        return []
    tcg = is_tcg(manifest)
    usual = lookup(manifest, "guest", "mapping")
    lines = section(f"MAPPING STUDY (phases A-C through each of the guest's mappings of the region; {MAP_STUDY_CSV})")
    lines.append(f"  Usual mapping: {usual or 'unknown'} ({MANIFEST_JSON} guest.mapping; the first row of each "
                 f"message); accelerator {lookup(manifest, 'meta', 'accel') or 'unknown'}")
    if tcg:
        lines.append(f"  ! {TCG_MEMORY_TYPE_LINE}")
    if data is None:
        if exists:
            return lines + [f"  {MAP_STUDY_CSV} is unreadable: see MISSING OR UNREADABLE INPUT"]
        return lines + [f"  {MANIFEST_JSON} says --map-study, but {MAP_STUDY_CSV} is missing"]
    rows = successful(data)
    if rows.empty:
        return lines + [f"  {MAP_STUDY_CSV}: no successful row"]
    named = sorted(set(rows.loc[rows["role"] == "usual", "mapping"]))
    if usual and named != [usual]:
        lines.append(f"  ! the first row of each message names {', '.join(named)}, not {usual}: "
                     "the ratios are to those rows")
    lines += [
        "  memory_type: the type the guest kernel's PAT list gave the mapping, as recorded (never inferred from the",
        "  name: Linux keeps a physical range's first memory type for later mappings of it). Medians over the",
        "  successful messages (n) of phase A (hot read), B (cold read, after clflush) and C (copy region ->",
        "  private buffer): us = ns / 1e3, MB/s = frame bytes / median time * 1e3 (1 MB = 1e6 B); x = median time",
        "  / the usual mapping's median time at the same size (1.00x = usual, above 1 = slower). A mapping is",
        f"  called faster or slower only when the medians differ by at least {round(100 * (CLEAR_DIFFERENCE - 1))}% "
        f"and at least {round(100 * CLEAR_AGREEMENT)}% of the",
        "  messages (each ran through both mappings) agree. The second mapping is always timed right after the",
        "  usual one, so an order effect (e.g. what the first pass left in the caches) counts into the difference.",
    ]
    same = same_memory_type_line(rows)
    if same:
        lines.append(f"  {same}")
    header = ["mapping", "memory_type", "n"] + [f"{letter}_{unit}" for letter, _, _ in MAP_PHASES
                                                for unit in ("us", "MB/s", "x")]
    for size in sorted(rows["size_bytes"].unique()):
        in_size = rows[rows["size_bytes"] == size]
        frames = "/".join(sorted(in_size["frame_type"].unique()))
        tests = ", ".join(t for t in ("latency", "bandwidth") if t in set(in_size["test"]))
        lines += ["", f"  Frame {frames}, {size:.0f} bytes ({tests} test)"]
        base = in_size[in_size["role"] == "usual"]
        base_median = {column: base[column].median() for _, _, column in MAP_PHASES}
        groups = sorted(in_size.groupby(["role", "mapping", "memory_type"]),
                        key=lambda item: (item[0][0] != "usual", item[0]))
        table, conclusions = [], []
        for (role, mapping, memory_type), group in groups:
            cells = [f"{mapping} ({role})", memory_type, str(len(group))]
            for _, _, column in MAP_PHASES:
                median = group[column].median()
                cells += [fmt(median / 1e3, 3), fmt_mbps(mbps(size, median)),
                          fmt_ratio(median / base_median[column])]
            table.append(cells)
            if role == "usual":
                continue
            quiet = []
            for letter, words, column in MAP_PHASES:
                sentence = map_phase_conclusion(base, group, column, tcg) if not base.empty else None
                if sentence:
                    conclusions.append(f"phase {letter} ({words}): {sentence}")
                else:
                    quiet.append(letter)
            if quiet:
                conclusions.append(f"{mapping} ({role}, {memory_type}): no difference shown in phase "
                                   f"{', '.join(quiet)} (medians within {round(100 * (CLEAR_DIFFERENCE - 1))}% "
                                   f"or fewer than {round(100 * CLEAR_AGREEMENT)}% of the messages agree)")
        lines += fmt_table(header, table, indent="    ")
        if conclusions:
            lines += [f"    Conclusions for {frames} (this run's data only):"] + [f"      {c}" for c in conclusions]
    return lines


def cpu_record(manifest, side):
    """One side's CPU time from run.json (host.cpu, guest.cpu) as floats, or None if absent or unusable."""
    raw = lookup(manifest, side, "cpu")
    if not isinstance(raw, dict) or not all(is_number(raw.get(k)) for k in CPU_FIELDS):
        return None
    values = {k: float(raw[k]) for k in CPU_FIELDS}
    if not all(math.isfinite(v) and v >= 0 for v in values.values()) or not values["messages"].is_integer():
        return None
    return values


def is_number(value):
    """A JSON number (not true or false, which Python counts as 1 and 0)."""
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def is_count(value):
    """A JSON whole number >= 0."""
    return is_number(value) and isinstance(value, int) and value >= 0


def bell_record(manifest, side):
    """One side's doorbell counts (host.doorbell, guest.doorbell), or None if absent or unusable."""
    raw = lookup(manifest, side, "doorbell")
    if not isinstance(raw, dict) or not all(is_count(raw.get(k)) for k in BELL_FIELDS):
        return None
    return raw


def run_mode(manifest):
    """options.mode ("polling" or "doorbell"), or None when absent or unusable."""
    mode = lookup(manifest, "options", "mode")
    return mode if isinstance(mode, str) and mode in MODE_WORDS else None


def run_interval(manifest):
    """options.interval_us (0: back to back), or None when absent or unusable."""
    interval = lookup(manifest, "options", "interval_us")
    return interval if is_count(interval) else None


def cpu_figures(cpu):
    """CPU per 1000 messages (= ms per message) and share of one core, from a cpu_record; None where a
    divisor is 0."""
    used = cpu["user_s"] + cpu["sys_s"]
    return {
        "used_s": used,
        "per_1000_s": used / cpu["messages"] * 1000 if cpu["messages"] else None,
        "core_share": used / cpu["wall_s"] if cpu["wall_s"] else None,
    }


def fmt_share(value):
    return "n/a" if value is None else f"{100 * value:.1f}%"


def missing_cpu(manifest, side):
    """Why a side has no usable CPU record, for the report and --compare."""
    if lookup(manifest, side, "cpu") is not None:
        return f"{side} CPU unusable (see SUSPECT FIGURES)"
    why = lookup(manifest, side, "cpu_missing")
    return f"{side} CPU not recorded" + (f": {why}" if why else "")


def latency_medians(latency):
    """(messages, median round trip us, median notification us) of the successful latency messages, or None."""
    ok = successful(latency)
    if ok is None or ok.empty:
        return None
    return len(ok), ok["roundtrip_ns"].median() / 1e3, ok["notification_est_ns"].median() / 1e3


def interval_line(interval, medians):
    """What a pause between messages makes of the core shares, as far as the latency test shows it."""
    head = f"  Messages started {interval} us apart (--interval-us)"
    if medians is None:
        return head + ": without a latency test, how much of the time is waiting is not known"
    roundtrip = medians[1]
    if roundtrip >= interval:
        return (head + f", but the median round trip ({fmt(roundtrip, 1)} us) is not shorter: the messages "
                "follow each other without a pause, so the core shares are not an idle cost")
    return (head + f": the median round trip is {fmt(roundtrip, 1)} us, so about "
            f"{fmt(100 * (1 - roundtrip / interval), 1)}% of the time between messages is waiting; the core "
            "shares above are mostly what waiting costs (idle cost)")


def bell_line(bell, side):
    return (f"  {side} doorbell: peer {bell['peer_id']}, {bell['rings_sent']} rings sent, {bell['rings_received']} "
            f"received, {bell['late_wakeups']} waits ended on a 50 ms slice instead of a ring")


def notification_section(run):
    """What each side's waiting cost: the mode, CPU time against wall time, per message, and the latency."""
    m = run["manifest"]
    mode = run_mode(m)
    shown = mode or ("not recorded" if lookup(m, "options", "mode") is None else "unknown, see SUSPECT FIGURES")
    lines = section(f"NOTIFICATION AND CPU (mode: {shown})")
    if not m:
        return lines + [f"  {MANIFEST_JSON} missing: mode and CPU time unknown"]
    if mode is not None:
        lines.append(f"  {mode}: {MODE_WORDS[mode]}")
    rows, missing = [], []
    for side in SIDES:
        cpu = cpu_record(m, side)
        if cpu is None:
            rows.append([side] + ["n/a"] * 6)
            missing.append(f"  {missing_cpu(m, side)}")
            continue
        f = cpu_figures(cpu)
        rows.append([side, fmt(cpu["user_s"], 3), fmt(cpu["sys_s"], 3), fmt(cpu["wall_s"], 3),
                     fmt_share(f["core_share"]), f"{cpu['messages']:.0f}", fmt(f["per_1000_s"], 3)])
    lines += fmt_table(["side", "user_s", "sys_s", "wall_s", "core_share", "messages", "cpu_ms/msg"], rows)
    lines += missing
    lines.append("  (getrusage of each program over its exchanges, warm-up and every test included: the host's also "
                 "covers making and hashing frames, the guest's its four phases; in a VM, the guest's is guest CPU "
                 "time. cpu_ms/msg is also the CPU seconds per 1000 messages; core_share is CPU / wall time)")
    medians = latency_medians(run["latency"])
    if medians is None:
        lines.append("  Latency test: no successful message recorded, so no round trip or notification time")
    else:
        lines.append(f"  Latency test ({medians[0]} messages): median round trip {fmt(medians[1], 3)} us, "
                     f"median notification (est.) {fmt(medians[2], 3)} us")
    interval = run_interval(m)
    if interval:
        lines.append(interval_line(interval, medians))
    for side in SIDES:
        bell = bell_record(m, side)
        if bell is None:
            if lookup(m, side, "doorbell") is not None:
                lines.append(f"  {side} doorbell counts unusable (see SUSPECT FIGURES)")
            elif mode == "doorbell":
                lines.append(f"  {side} doorbell counts not recorded")
            continue
        lines.append(bell_line(bell, side))
        if bell["late_wakeups"] > 0:
            lines.append(f"  ! {side}: {bell['late_wakeups']} waits saw the state change with no ring within "
                         "50 ms (a ring lost or late): those messages' times include up to 50 ms of waiting")
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
    lines += [
        f"  checks: durations > 0, guest phases within their round trip, notification_est >= 0, legacy duplicate "
        f"columns equal, derived us/ms/MB/MB/s columns consistent, bandwidth <= {MAX_PLAUSIBLE_MBPS:.0f} MB/s;",
        f"  {WRITE_STUDY_CSV}: copy_mbps consistent, {PREFAULTED} = phase C of the same message, {FRESH_PAGES} "
        "takes page faults; counter files: IPC, cycles/byte and miss rates consistent with the raw counters",
    ]
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
    lines += copy_time_section(run, summary)
    lines += mapping_study_section(run)
    lines += counter_sections(run)
    lines += notification_section(run)
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


def plot_time_breakdown(ax, means, frames, stages):
    names = [f for f, _ in frames]
    left = np.zeros(len(frames))
    for label, col, _, _ in stages:
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


def plot_bandwidth_analysis(data, reference, stages, path):
    rows = successful(data)
    frames = [(f, s) for f, s in frames_by_size(data) if (rows["frame_type"] == f).any()]
    means = rows.groupby("frame_type").mean(numeric_only=True)
    fig, axes = plt.subplots(2, 2, figsize=(13, 9))
    plot_bandwidth_distribution(axes[0][0], rows, frames)
    plot_bandwidth_vs_size(axes[0][1], means, frames, reference)
    plot_time_breakdown(axes[1][0], means, frames, stages)
    plot_success_rates(axes[1][1], data)
    save(fig, path)


def plot_write_study(run, path):
    """Per source (shared region, private memory), the variants' median MB/s per frame, side by side."""
    rows = study_table(run)
    sources = [s for s in ("region", "private") if (rows["source"] == s).any()]
    sizes = sorted(rows["size_bytes"].unique())
    variants = sorted(rows["variant"].unique(), key=variant_rank)
    names = ["/".join(sorted(rows.loc[rows["size_bytes"] == size, "frame_type"].unique())) for size in sizes]
    width = 0.8 / len(variants)
    fig, axes = plt.subplots(1, len(sources), figsize=(1.5 + max(6.0, 1.4 * len(sizes) * len(variants) ** 0.5)
                                                       * len(sources), 6), squeeze=False, sharey=True)
    for ax, source in zip(axes[0], sources):
        for j, variant in enumerate(variants):
            stats = [variant_stats(rows, source, size, variant) for size in sizes]
            base = [variant_stats(rows, source, size, PREFAULTED) for size in sizes]
            xs = np.arange(len(sizes)) + (j - (len(variants) - 1) / 2) * width
            shown = [(x, st, b) for x, st, b in zip(xs, stats, base) if st["n"]]
            if not shown:
                continue
            bars = ax.bar([x for x, _, _ in shown], [st["mbps"] for _, st, _ in shown], width, label=variant,
                          color=f"C{variant_rank(variant)[0]}")
            for bar, (_, st, b) in zip(bars, shown):
                speed = b["median_ns"] / st["median_ns"] if b["n"] else float("nan")
                ax.text(bar.get_x() + bar.get_width() / 2, bar.get_height(), f" {st['mbps']:.0f} ({fmt_ratio(speed)})",
                        ha="center", va="bottom", rotation=90, fontsize="x-small")
        ax.set_xticks(range(len(sizes)), [f"{n}\n{size / 1e6:.3g} MB" for n, size in zip(names, sizes)])
        ax.set_yscale("log")
        ax.set_ylim(top=ax.get_ylim()[1] * 8)  # room for the labels above the bars
        ax.set_title("copy from the shared region" if source == "region" else "copy from private memory (reference)")
        ax.set_xlabel("frame (1 MB = 1e6 B)")
        ax.set_ylabel("median MB/s (log scale); label: MB/s (speed vs memcpy_prefaulted)")
        ax.grid(True, axis="y", which="both", alpha=0.3)
        ax.legend(fontsize="small", loc="upper left")
    manifest = run["manifest"]
    title = (f"Phase C write-path variants: guest mapping {lookup(manifest, 'guest', 'mapping') or 'unknown'}, "
             f"memory type {lookup(manifest, 'guest', 'memory_type') or 'unknown'}")
    if is_tcg(manifest):
        title += "\n(TCG: emulator timings, the memory type has no effect on speed)"
    fig.suptitle(title)
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
        plot_bandwidth_analysis(run["bandwidth"], run["reference"], run["bandwidth_stages"],
                                folder / "bandwidth_analysis.png")
        written.append("bandwidth_analysis.png")
    else:
        skipped.append("bandwidth_analysis.png (no successful bandwidth iteration)")
    if run["write_study"] is not None and not study_table(run).empty:
        plot_write_study(run, folder / WRITE_STUDY_PNG)
        written.append(WRITE_STUDY_PNG)
    elif run["write_study"] is not None:
        skipped.append(f"{WRITE_STUDY_PNG} (no successful row with a copy time in {WRITE_STUDY_CSV})")
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
    for line in summary.get("copy_study", []):
        print(f"  write study {line}")
    print(f"  SUSPECT figures: {len(findings)}" + (" (see the report)" if findings else ""))
    print(f"  wrote {REPORT_TXT}" + "".join(f", {p}" for p in written))
    for item in skipped:
        print(f"  not written: {item}")

    failed = all_failed_tests(run)
    if failed:
        raise InputError(f"every {' and every '.join(failed)} iteration failed; see {folder / REPORT_TXT}")
    if run["input_errors"]:
        print(f"  unusable input files: {len(run['input_errors'])} (stderr and the report say which); exit status 1")
        return 1
    return 0


def read_compare_manifest(folder):
    """A run's run.json for --compare, or InputError naming the folder (one line, no other warning)."""
    path = folder / MANIFEST_JSON
    if not path.is_file():
        raise InputError(f"{folder}: no {MANIFEST_JSON}: not an ivshmem-bench results folder")
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError) as err:
        raise InputError(f"{folder}: {MANIFEST_JSON} unreadable ({err})")
    if not isinstance(manifest, dict):
        raise InputError(f"{folder}: {MANIFEST_JSON} is not a JSON object")
    return manifest


def compare_row(folder):
    """One run's figures for --compare and what is suspect in its run.json; raises InputError when the
    folder is not a results folder or its latency_results.csv cannot be used."""
    m = read_compare_manifest(folder)
    latency = None
    if (folder / LATENCY_CSV).exists():
        try:
            latency = read_csv_file(folder / LATENCY_CSV, LATENCY_COLUMNS)
        except InputError as err:
            raise InputError(f"{folder}: {err}")
    medians = latency_medians(latency)
    where = str(lookup(m, "meta", "vm", default="n/a"))
    accel = lookup(m, "meta", "accel")
    interval = run_interval(m)
    row = [run_mode(m) or "n/a", where + (f" ({accel})" if accel else ""),
           str(lookup(m, "options", "latency_frame", default="n/a")), "n/a" if interval is None else str(interval),
           str(medians[0]) if medians else "0",
           fmt(medians[1], 3) if medians else "n/a", fmt(medians[2], 3) if medians else "n/a"]
    shares = []
    for side in SIDES:
        cpu = cpu_record(m, side)
        f = cpu_figures(cpu) if cpu else {"per_1000_s": None, "core_share": None}
        row.append(fmt(f["per_1000_s"], 3))
        shares.append(fmt_share(f["core_share"]))
    return row + shares, notification_findings({"manifest": m})


def run_labels(folders):
    """Each run's name: its folder's (results/latest: the run it points to), or the paths as given when
    two names are the same."""
    names = [folder.resolve().name for folder in folders]
    return names if len(set(names)) == len(names) else [str(folder) for folder in folders]


def compare(folders):
    """Runs side by side: what each mode costs in latency and CPU. Printed to stdout; nothing is written."""
    results = [compare_row(folder) for folder in folders]
    header = ["run", "mode", "vm", "latency_frame", "interval_us", "n", "roundtrip_us", "notification_us",
              "host_cpu_s/1000", "guest_cpu_s/1000", "host_core", "guest_core"]
    labels = run_labels(folders)
    print(f"{PROG}: {len(results)} runs side by side (medians of the latency test; CPU from run.json)")
    print("\n".join(fmt_table(header, [[label] + row for label, (row, _) in zip(labels, results)])))
    print("  (cpu_s/1000: CPU seconds per 1000 messages, = ms per message, warm-up and every test included; "
          "core: CPU / wall time; n/a: not recorded or unusable)")
    for label, (_, findings) in zip(labels, results):
        for finding in findings:
            print(f"  SUSPECT {label}: {finding}")
    return 0


class OneLineParser(argparse.ArgumentParser):
    """Usage errors as one line on stderr (argparse adds the whole usage); exit status 2."""

    def error(self, message):
        self.exit(2, f"{PROG}: {message} (--help shows the usage)\n")


def main(argv=None):
    parser = OneLineParser(
        prog="analyze_results.py",
        description="Statistics, plots and performance_report.txt for one ivshmem-bench results folder.",
    )
    parser.add_argument("results_dir", nargs="?", default=DEFAULT_RESULTS_DIR,
                        help=f"folder with the CSVs and run.json (default: {DEFAULT_RESULTS_DIR})")
    parser.add_argument("--compare", nargs="+", metavar="DIR",
                        help="print runs side by side (mode, latency, CPU per message) instead of a report")
    args = parser.parse_args(argv)
    if args.compare is not None and args.results_dir != DEFAULT_RESULTS_DIR:
        parser.error("--compare takes the folders itself: put them after it")
    if args.compare is not None and len(args.compare) < 2:
        parser.error("--compare needs two results folders or more")
    try:
        if args.compare is not None:
            return compare([Path(d) for d in args.compare])
        return analyse(Path(args.results_dir))
    except InputError as err:
        warn(str(err))
        return 1
    except Exception as err:  # a bug here: still one line, the measurements stay untouched
        if os.environ.get("IVB_ANALYSIS_TRACEBACK"):
            raise
        warn(f"internal error: {type(err).__name__}: {err} (IVB_ANALYSIS_TRACEBACK=1 shows where)")
        return 1


if __name__ == "__main__":
    sys.exit(main())

"""Builders of synthetic results folders with known values, and readers of the report's tables.

The rows are generated here from a seeded random source and kept as plain Python numbers, so the
tests compute their expected statistics from these raw values, independently of analyze_results.py.
The CSV layout is the one host_writer writes (src/csv.c).
"""

import csv
import json
import random
import re
import statistics
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[2]
ANALYZE = REPO / "analyze_results.py"
PNGS = ["latency_histogram.png", "latency_over_time.png", "latency_percentiles.png", "bandwidth_analysis.png"]

LATENCY_COLUMNS = (
    "iteration,host_memcpy_ns,host_memcpy_us,roundtrip_ns,roundtrip_us,guest_memcpy_ns,guest_memcpy_us,"
    "guest_verify_ns,guest_verify_us,guest_hot_cache_ns,guest_hot_cache_us,guest_cold_cache_ns,"
    "guest_cold_cache_us,guest_second_pass_ns,guest_second_pass_us,guest_cached_verify_ns,"
    "guest_cached_verify_us,notification_est_ns,notification_est_us,total_ns,total_us,success"
).split(",")
BANDWIDTH_COLUMNS = (
    "iteration,frame_type,width,height,bpp,size_bytes,size_mb,host_memcpy_ns,host_memcpy_ms,host_memcpy_mbps,"
    "roundtrip_ns,roundtrip_ms,guest_memcpy_ns,guest_memcpy_ms,guest_memcpy_mbps,guest_verify_ns,"
    "guest_verify_ms,total_ns,total_ms,total_mbps,success"
).split(",")
REFERENCE_COLUMNS = (
    "iteration,frame_type,size_bytes,host_memcpy_ns,guest_hot_cache_ns,guest_cold_cache_ns,"
    "guest_second_pass_ns,guest_cached_verify_ns,success"
).split(",")

# Latency timing columns that hold their own value (the others are the seed's duplicates).
LATENCY_NS = ["host_memcpy_ns", "roundtrip_ns", "guest_memcpy_ns", "guest_verify_ns", "guest_hot_cache_ns",
              "guest_cold_cache_ns", "guest_second_pass_ns", "guest_cached_verify_ns", "notification_est_ns",
              "total_ns"]
BANDWIDTH_NS = ["host_memcpy_ns", "roundtrip_ns", "guest_memcpy_ns", "guest_verify_ns", "total_ns"]
REFERENCE_NS = ["host_memcpy_ns", "guest_hot_cache_ns", "guest_cold_cache_ns", "guest_second_pass_ns",
                "guest_cached_verify_ns"]

PERCENTILES = [50, 90, 95, 99, 99.9]
FRAMES = {"1080p": (1920, 1080, 24), "1440p": (2560, 1440, 24), "4k": (3840, 2160, 24)}


def latency_rows(n=40, seed=1, failed=(), copy_scale=1.0, phase_ns=None):
    """n latency iterations for a 4 KiB-ish frame; iterations in `failed` have success=0 and no timings.

    phase_ns optionally fixes the mean of phases A-D as {"A": ns, ...}; each iteration varies by +-20%.
    """
    rng = random.Random(seed)
    phase_ns = phase_ns or {"A": 2_000, "B": 6_000, "C": 20_000, "D": 9_000}
    rows = []
    for i in range(1, n + 1):
        if i in failed:
            rows.append({"iteration": i, "success": 0})
            continue
        a = rng.randint(int(phase_ns["A"] * 0.8), int(phase_ns["A"] * 1.2))
        b = rng.randint(int(phase_ns["B"] * 0.8), int(phase_ns["B"] * 1.2))
        c = int(rng.randint(int(phase_ns["C"] * 0.8), int(phase_ns["C"] * 1.2)) * copy_scale)
        d = rng.randint(int(phase_ns["D"] * 0.8), int(phase_ns["D"] * 1.2))
        other = rng.randint(500, 1_500)  # the flushes and bookkeeping inside the guest total
        notification = rng.randint(1_000, 60_000)
        host = rng.randint(1_000, 3_000)
        roundtrip = a + b + c + d + other + notification
        rows.append({
            "iteration": i, "host_memcpy_ns": host, "roundtrip_ns": roundtrip,
            "guest_memcpy_ns": c, "guest_verify_ns": d,
            "guest_hot_cache_ns": a, "guest_cold_cache_ns": b, "guest_second_pass_ns": c, "guest_cached_verify_ns": d,
            "notification_est_ns": notification, "total_ns": host + roundtrip, "success": 1,
        })
    return rows


def bandwidth_rows(frames=("64B", "1080p", "4k"), per_frame=6, seed=2, failed=()):
    """per_frame iterations per frame; (frame, iteration) pairs in `failed` have success=0."""
    rng = random.Random(seed)
    rows = []
    for frame in frames:
        if frame in FRAMES:
            width, height, bpp = FRAMES[frame]
        else:
            width, height, bpp = int(frame.rstrip("B")), 1, 8
        size = width * height * bpp // 8
        for i in range(1, per_frame + 1):
            row = {"iteration": i, "frame_type": frame, "width": width, "height": height, "bpp": bpp,
                   "size_bytes": size}
            if (frame, i) in failed:
                rows.append(dict(row, success=0))
                continue
            host = int(size / rng.uniform(5.0, 9.0)) + 50       # 5-9 bytes per ns: 5-9 GB/s
            copy = int(size / rng.uniform(0.08, 0.12)) + 100     # ~100 MB/s
            verify = int(size / rng.uniform(1.5, 2.5)) + 100
            roundtrip = copy + verify + int(size / 1.0) + rng.randint(1_000, 9_000)
            rows.append(dict(row, host_memcpy_ns=host, roundtrip_ns=roundtrip, guest_memcpy_ns=copy,
                             guest_verify_ns=verify, total_ns=host + roundtrip, success=1))
    return rows


def reference_rows(sizes, per_size=3, seed=3, phase_ns=None):
    """Private-memory reference iterations, one group per (frame_type, size)."""
    rng = random.Random(seed)
    phase_ns = phase_ns or {"A": 2_000, "B": 6_000, "C": 20_000, "D": 9_000, "host": 2_000}
    rows = []
    for frame, size in sizes:
        scale = max(size / 4096, 1)
        for i in range(1, per_size + 1):
            rows.append({
                "iteration": i, "frame_type": frame, "size_bytes": size,
                "host_memcpy_ns": int(rng.uniform(0.9, 1.1) * phase_ns["host"] * scale),
                "guest_hot_cache_ns": int(rng.uniform(0.9, 1.1) * phase_ns["A"] * scale),
                "guest_cold_cache_ns": int(rng.uniform(0.9, 1.1) * phase_ns["B"] * scale),
                "guest_second_pass_ns": int(rng.uniform(0.9, 1.1) * phase_ns["C"] * scale),
                "guest_cached_verify_ns": int(rng.uniform(0.9, 1.1) * phase_ns["D"] * scale),
                "success": 1,
            })
    return rows


def manifest(latency_frame="4096", accel="kvm", failures=(), planned=None, status="completed"):
    return {
        "tool": "ivshmem-bench", "protocol_version": 1, "git_revision": "test-rev", "status": status,
        "started_utc": "2026-01-01T00:00:00Z", "finished_utc": "2026-01-01T00:00:05Z",
        "options": {"shm": "/dev/shm/ivshmem", "iterations": 40, "latency_frame": latency_frame,
                    "bw_iterations": 6, "frames": "64,1080p,4k", "ref_iterations": 3, "timeout_s": 30},
        "host": {"kernel": "6.1.0-test", "machine": "x86_64", "cpu_model": "Test CPU 9000", "cores": 2,
                 "flush": "clflushopt"},
        "region": {"path": "/dev/shm/ivshmem", "size": 67108864, "header_size": 4096, "buffer_capacity": 67104768},
        "guest": {"mapping": "resource2", "memory_type": "UC-", "device": "0000:00:03.0", "kernel": "6.1.0-guest",
                  "map_size": 67108864},
        "meta": {"accel": accel, "vm": "bench", "qemu_version": "7.2.0"},
        "summary": planned or {},
        "failures": list(failures),
    }


def format_latency(row):
    out = dict(row)
    for col in LATENCY_NS:
        if col in row:
            out[col[:-3] + "_us"] = f"{row[col] / 1e3:.3f}"
    return out


def format_bandwidth(row):
    out = dict(row, size_mb=f"{row['size_bytes'] / 1e6:.6f}")
    for col in BANDWIDTH_NS:
        if col in row:
            out[col[:-3] + "_ms"] = f"{row[col] / 1e6:.6f}"
    for col in ("host_memcpy", "guest_memcpy", "total"):
        if f"{col}_ns" in row:
            out[f"{col}_mbps"] = f"{row['size_bytes'] / row[col + '_ns'] * 1e3:.3f}"
    return out


def write_csv(path, columns, rows):
    """Rows as dicts; absent keys are written as empty fields, as host_writer does for failed rows."""
    with open(path, "w", newline="") as f:
        writer = csv.writer(f, lineterminator="\n")
        writer.writerow(columns)
        for row in rows:
            writer.writerow([row.get(c, "") for c in columns])


def write_results(folder, latency=None, bandwidth=None, reference=None, run=None):
    """A results folder as host_writer leaves it; None leaves a file out."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    if latency is not None:
        write_csv(folder / "latency_results.csv", LATENCY_COLUMNS, [format_latency(r) for r in latency])
    if bandwidth is not None:
        write_csv(folder / "bandwidth_results.csv", BANDWIDTH_COLUMNS, [format_bandwidth(r) for r in bandwidth])
    if reference is not None:
        write_csv(folder / "reference_results.csv", REFERENCE_COLUMNS, reference)
    if run is not None:
        (folder / "run.json").write_text(json.dumps(run, indent=1))
    return folder


def run_analysis(folder, *, direct=False):
    """Run the script as a user would; returns the CompletedProcess (text)."""
    command = [str(ANALYZE)] if direct else [sys.executable, str(ANALYZE)]
    return subprocess.run(command + [str(folder)], capture_output=True, text=True, timeout=120)


# ---- reading the report --------------------------------------------------------------------------


def report_section(report, title_start):
    """The lines of the section whose title starts with title_start, up to the next section title."""
    lines = report.splitlines()
    for i, line in enumerate(lines):
        if line.startswith(title_start) and i + 1 < len(lines) and set(lines[i + 1]) == {"-"}:
            body = []
            for j in range(i + 2, len(lines)):
                if j + 1 < len(lines) and lines[j + 1] and set(lines[j + 1]) == {"-"} and not lines[j].startswith(" "):
                    break
                body.append(lines[j])
            return "\n".join(body)
    raise AssertionError(f"report has no section starting with {title_start!r}")


def table_row(text, label, nfields):
    """The last nfields whitespace-separated fields of the line labelled `label` (label + 2 spaces)."""
    pattern = re.compile(r"^\s+" + re.escape(label) + r"\s{2,}(.*)$")
    matches = [pattern.match(line) for line in text.splitlines()]
    found = [m.group(1) for m in matches if m]
    assert len(found) == 1, f"expected one row {label!r}, found {len(found)} in:\n{text}"
    fields = found[0].split()
    assert len(fields) >= nfields, f"row {label!r} has {len(fields)} fields: {found[0]!r}"
    return fields[-nfields:]


def number(field):
    return float(field.rstrip("%x"))


def expected_stats(values):
    """The statistics the report must print, computed with statistics and numpy from the raw values."""
    return [len(values), min(values), max(values), statistics.fmean(values), statistics.median(values),
            statistics.stdev(values)] + [float(np.percentile(values, p)) for p in PERCENTILES]


def assert_stats_row(text, label, values):
    """The report's statistics row `label` (count, min, max, mean, median, stddev, percentiles) for values."""
    printed = [number(f) for f in table_row(text, label, 11)]
    expected = expected_stats(values)
    assert printed[0] == expected[0], f"{label}: count"
    # The report prints one decimal: 0.05 of rounding, plus a little for float noise.
    assert printed[1:] == pytest.approx(expected[1:], abs=0.051), label

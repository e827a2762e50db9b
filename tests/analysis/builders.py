"""Builders of synthetic results folders with known values, and readers of the report's tables.

The rows are generated here from a seeded random source and kept as plain Python numbers, so the
tests compute their expected statistics from these raw values, independently of analyze_results.py.
The CSV layout is the one host_writer writes (schema/columns.txt).
"""

import csv
import json
import math
import os
import random
import re
import statistics
import subprocess
import sys
import uuid
from pathlib import Path

import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))
from ivbench_analysis import schema  # noqa: E402  (the package beside analyze_results.py)

ANALYZE = REPO / "analyze_results.py"
PNGS = ["latency_histogram.png", "latency_over_time.png", "latency_percentiles.png", "bandwidth_analysis.png"]

# The column lists come from schema/columns.txt, the one definition host_writer writes by.
LATENCY_COLUMNS = schema.columns("latency")
BANDWIDTH_COLUMNS = schema.columns("bandwidth")
REFERENCE_COLUMNS = schema.columns("reference")

# Latency timing columns that hold their own value (the others are the seed's duplicates).
LATENCY_NS = [c for c in LATENCY_COLUMNS if c.endswith("_ns")]
BANDWIDTH_NS = [c for c in BANDWIDTH_COLUMNS if c.endswith("_ns")]
REFERENCE_NS = [c for c in REFERENCE_COLUMNS if c.endswith("_ns")]

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


HOST_WRITER = REPO / "build" / "host_writer"
GUEST_READER = REPO / "build" / "guest_reader"
LOOPBACK_WAIT_S = 120  # generous: the machine is shared; a healthy run takes well under a second


def run_loopback(out, host_options):
    """host_writer and guest_reader on a fresh /dev/shm file, results into `out`; fails the test when
    either program fails. Builds the programs first (make knows when they are up to date)."""
    build = subprocess.run(["make", "-s", "build/host_writer", "build/guest_reader"], cwd=REPO,
                           capture_output=True, text=True, timeout=900)
    assert build.returncode == 0, f"cannot build the programs:\n{build.stdout}{build.stderr}"
    shm = Path("/dev/shm") / f"ivb-analysis-test-{os.getpid()}-{uuid.uuid4().hex[:8]}"
    common = ["--shm", str(shm), "--timeout", "30"]
    host = subprocess.Popen([str(HOST_WRITER), *common, "--out", str(out), *host_options],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        guest = subprocess.run([str(GUEST_READER), *common], capture_output=True, text=True, timeout=LOOPBACK_WAIT_S)
        host_out, host_err = host.communicate(timeout=LOOPBACK_WAIT_S)
    finally:
        if host.poll() is None:
            host.kill()
            host.wait()
        shm.unlink(missing_ok=True)
    assert guest.returncode == 0, f"guest_reader failed:\n{guest.stdout}{guest.stderr}"
    assert host.returncode == 0, f"host_writer failed:\n{host_out}{host_err}"
    return out


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


# The units the report writes a duration in (report.text.fmt_durations), in ns.
DURATION_NS = {"ns": 1.0, "us": 1e3, "ms": 1e6, "s": 1e9}


def duration_ns(unit, cell):
    return float(cell) * DURATION_NS[unit]


def cell_tolerance_ns(unit, cell):
    """Half a unit of a duration cell's last digit, in ns, and a little for float noise."""
    decimals = len(cell.split(".")[1]) if "." in cell else 0
    return 0.5 * 10 ** -decimals * DURATION_NS[unit] * 1.001


def assert_duration(unit, cell, expected_ns, what=""):
    """A duration as the report writes it: in the largest unit in which it is at least 1, three significant
    digits (227 ms, 11.1 ms, 1.65 ms)."""
    assert unit in DURATION_NS, (what, unit, cell)
    assert 1 <= abs(float(cell)) < 1000 or unit == "ns", (what, unit, cell)
    assert len(cell.lstrip("-").replace(".", "").lstrip("0")) == 3 or float(cell) == 0, (what, unit, cell)
    half_unit = 0.5 * 10 ** (math.floor(math.log10(abs(expected_ns))) - 2) if expected_ns else 0.5
    assert duration_ns(unit, cell) == pytest.approx(expected_ns, abs=half_unit * 1.001), (what, unit, cell)


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


# ---- counters and the write-path study -----------------------------------------------------------

LATENCY_PERF_COLUMNS = schema.columns("latency_perf")
BANDWIDTH_PERF_COLUMNS = schema.columns("bandwidth_perf")
PHASE_PERF_COLUMNS = schema.columns("phase_perf")
WRITE_STUDY_COLUMNS = schema.columns("write_study")
MAP_STUDY_COLUMNS = schema.columns("map_study")
HARDWARE = ["l1_cache_misses", "l1_cache_references", "llc_misses", "llc_references", "tlb_misses", "cpu_cycles",
            "instructions"]
PHASES = ["A_hot_read", "B_cold_read", "C_copy", "D_verify"]
NO_PMU = ("not measured: l1_cache_misses, l1_cache_references, llc_misses, llc_references, tlb_misses, cpu_cycles, "
          "instructions (ENOENT: no such event here (no hardware PMU, e.g. a VM or TCG))")


def raw_counters(rng, size, hardware=True):
    """One measurement's counters as host_writer's perfctr gives them; None = not measured."""
    counts = {"context_switches": rng.randint(0, 4), "page_faults": rng.randint(0, 3),
              "task_clock_ns": rng.randint(50_000, 900_000)}
    if hardware:
        refs = rng.randint(size // 64, size // 8 + 100)
        llc_refs = rng.randint(50, 5_000)
        cycles = rng.randint(2 * size + 1_000, 6 * size + 5_000)
        counts.update(l1_cache_references=refs, l1_cache_misses=rng.randint(1, refs), llc_references=llc_refs,
                      llc_misses=rng.randint(0, llc_refs), tlb_misses=rng.randint(0, 300), cpu_cycles=cycles,
                      instructions=rng.randint(cycles // 3, 3 * cycles))
    else:
        counts.update({name: None for name in HARDWARE})
    return counts


def side_fields(prefix, counts, size):
    """One side's seed columns, the derived ones printed with 4 decimals as host_writer does."""
    def ratio(a, b):
        return "" if a is None or b in (None, 0) else f"{a / b:.4f}"
    out = {f"{prefix}_{name}": ("" if counts.get(name) is None else counts[name]) for name in
           HARDWARE + ["context_switches"]}
    out[f"{prefix}_l1_miss_rate"] = ratio(counts.get("l1_cache_misses"), counts.get("l1_cache_references"))
    out[f"{prefix}_llc_miss_rate"] = ratio(counts.get("llc_misses"), counts.get("llc_references"))
    out[f"{prefix}_ipc"] = ratio(counts.get("instructions"), counts.get("cpu_cycles"))
    out[f"{prefix}_cycles_per_byte"] = ratio(counts.get("cpu_cycles"), size)
    return out


def perf_rows(messages, size_of, seed=31, hardware=True):
    """One counter row per message (latency: iteration; bandwidth: iteration and frame_type), with the raw
    counts kept in "_host" and "_guest" for the tests' own arithmetic."""
    rng = random.Random(seed)
    rows = []
    for m in messages:
        size = size_of(m)
        host, guest = raw_counters(rng, size, hardware), raw_counters(rng, size, hardware)
        row = {"iteration": m["iteration"], "_host": host, "_guest": guest, "_size": size}
        if "frame_type" in m:
            row["frame_type"] = m["frame_type"]
        row.update(side_fields("host", host, size))
        row.update(side_fields("guest", guest, size))
        row.update(host_page_faults=host["page_faults"], host_task_clock_ns=host["task_clock_ns"],
                   guest_page_faults=guest["page_faults"], guest_task_clock_ns=guest["task_clock_ns"])
        rows.append(row)
    return rows


def phase_rows(messages, seed=32, hardware=True):
    """Four phase rows per (test, frame_type, size, message); messages are (test, frame, size, iteration)."""
    rng = random.Random(seed)
    rows = []
    for test, frame, size, iteration in messages:
        for phase in PHASES:
            counts = raw_counters(rng, size, hardware)
            rows.append({"test": test, "iteration": iteration, "frame_type": frame, "size_bytes": size,
                         "phase": phase, **{k: ("" if v is None else v) for k, v in counts.items()}})
    return rows


def study_messages(latency=(), bandwidth=(), reference=(), latency_frame=("4096B", 4096)):
    """(test, frame, size, iteration, phase C ns or None, success) for each message of the timing rows."""
    out = []
    for m in latency:
        out.append(("latency", latency_frame[0], latency_frame[1], m["iteration"], m.get("guest_second_pass_ns"),
                    m["success"]))
    for m in bandwidth:
        out.append(("bandwidth", m["frame_type"], m["size_bytes"], m["iteration"], m.get("guest_memcpy_ns"),
                    m["success"]))
    for m in reference:
        out.append(("reference", m["frame_type"], m["size_bytes"], m["iteration"], m["guest_second_pass_ns"],
                    m["success"]))
    return out


def study_rows(messages, seed=33, fresh=(20.0, 30.0), nt=(0.70, 0.80), huge=(0.97, 1.03), huge_name="memcpy_thp",
               faults=True):
    """write_study.csv rows: memcpy_prefaulted is phase C itself; the others are phase C times a factor drawn
    from the given range (huge alternates between its two factors, so it is sometimes faster, sometimes
    slower). Fresh pages take one fault per 4 KiB page. Failed messages get rows with success=0 and a
    1 ns copy time that would show if they were counted."""
    rng = random.Random(seed)
    rows = []
    for test, frame, size, iteration, phase_c, success in messages:
        common = {"test": test, "iteration": iteration, "frame_type": frame, "size_bytes": size, "success": success}
        times = {"memcpy_prefaulted": phase_c if success else 1,
                 "memcpy_fresh_pages": int(phase_c * rng.uniform(*fresh)) if success else 1,
                 "nt_store": int(phase_c * rng.uniform(*nt)) if success else 1}
        if huge_name:
            times[huge_name] = int(phase_c * huge[iteration % 2]) if success else 1
        for variant, ns in times.items():
            row = dict(common, variant=variant, copy_ns=ns)
            if variant == "memcpy_fresh_pages" and faults:
                row["page_faults"] = -(-size // 4096)
            rows.append(row)
    return rows


def write_extra(folder, latency_perf=None, bandwidth_perf=None, phases=None, study=None):
    """The counter and write-study files; None leaves a file out."""
    folder = Path(folder)
    for name, columns, rows in (("latency_performance.csv", LATENCY_PERF_COLUMNS, latency_perf),
                                ("bandwidth_performance.csv", BANDWIDTH_PERF_COLUMNS, bandwidth_perf),
                                ("phase_performance.csv", PHASE_PERF_COLUMNS, phases),
                                ("write_study.csv", WRITE_STUDY_COLUMNS, study)):
        if rows is not None:
            write_csv(folder / name, columns, rows)
    return folder


def study_manifest(accel="kvm", mapping="resource2", memory_type="uncached-minus", missing=""):
    run = manifest(accel=accel)
    run["protocol_version"] = 2
    run["options"].update(counters=True, write_study=True)
    run["guest"].update(mapping=mapping, memory_type=memory_type, counters_missing=missing)
    run["host"]["counters_missing"] = missing
    return run


def add_study_time(study, latency=(), bandwidth=()):
    """The variants run inside the round trip: add their time to the round trips (and totals) of the
    successful timing rows, as a real run with --write-study measures them."""
    extra = {}
    for r in study:
        if r["success"] == 1 and r["variant"] != "memcpy_prefaulted":
            key = (r["test"], r["frame_type"] if r["test"] != "latency" else None, r["iteration"])
            extra[key] = extra.get(key, 0) + r["copy_ns"]
    for test, rows in (("latency", latency), ("bandwidth", bandwidth)):
        for row in rows:
            if row["success"] == 1:
                ns = extra.get((test, row.get("frame_type") if test != "latency" else None, row["iteration"]), 0)
                row["roundtrip_ns"] += ns
                row["total_ns"] += ns
                row["_study_ns"] = ns


# ---- reading the write-study section ------------------------------------------------------------


def source_of(row):
    return "private" if row["test"] == "reference" else "region"


def copy_times(study, source, size, variant):
    return [r["copy_ns"] for r in study if r["success"] == 1 and source_of(r) == source
            and r["size_bytes"] == size and r["variant"] == variant]


def paired(study, source, size, variant):
    """(n, faster, slower) of the variant against memcpy_prefaulted, message by message."""
    def key(r):
        return r["test"], r["frame_type"], r["iteration"]
    ok = [r for r in study if r["success"] == 1 and source_of(r) == source and r["size_bytes"] == size]
    base = {key(r): r["copy_ns"] for r in ok if r["variant"] == "memcpy_prefaulted"}
    other = {key(r): r["copy_ns"] for r in ok if r["variant"] == variant}
    both = [(base[k], other[k]) for k in base if k in other]
    return len(both), sum(o < p for p, o in both), sum(o > p for p, o in both)


def assert_ratio(field, expected, what):
    """x ratios print two decimals, or three significant digits below 0.1."""
    assert field.endswith("x"), (what, field)
    if expected >= 0.1:
        assert number(field) == pytest.approx(expected, abs=0.0051), what
    else:  # half a unit of the third significant digit, plus float noise
        assert len(field.rstrip("x").lstrip("0.")) == 3, (what, field)
        half_unit = 0.5 * 10 ** (math.floor(math.log10(expected)) - 2)
        assert number(field) == pytest.approx(expected, abs=half_unit * 1.001), what


def frame_block(section, frames):
    """The part of the copy section for one frame size: from its "Frame" line to the next one."""
    start = section.index(f"  Frame {frames}, ")
    end = section.find("\n  Frame ", start + 1)
    return section[start:end if end >= 0 else len(section)]


def assert_copy_table(block, size, study, variants):
    """Each variant's row of one frame block against figures computed here from the write-study rows:
    n, MB/s and x per source, the region/private time ratio and the median page faults."""
    for variant in variants:
        fields = table_row(block, variant, 9)
        for offset, source in ((0, "region"), (3, "private")):
            times = copy_times(study, source, size, variant)
            base = copy_times(study, source, size, "memcpy_prefaulted")
            assert fields[offset] == str(len(times)), (size, variant, source)
            if not times:
                assert fields[offset + 1:offset + 3] == ["n/a", "n/a"], (size, variant, source)
                continue
            median = statistics.median(times)
            assert number(fields[offset + 1]) == pytest.approx(size / median * 1e3, abs=0.051), (variant, source)
            assert_ratio(fields[offset + 2], statistics.median(base) / median, (size, variant, source))
        region = copy_times(study, "region", size, variant)
        private = copy_times(study, "private", size, variant)
        if region and private:
            assert_ratio(fields[6], statistics.median(region) / statistics.median(private), (size, variant))
        else:
            assert fields[6] == "n/a"
        for field, source in ((fields[7], "region"), (fields[8], "private")):
            faults = [r["page_faults"] for r in study if r["success"] == 1 and source_of(r) == source
                      and r["size_bytes"] == size and r["variant"] == variant
                      and r.get("page_faults") not in (None, "")]
            if faults:
                assert number(field) == pytest.approx(statistics.median(faults), abs=0.51), (variant, source)
            else:  # not measured for this variant: never 0
                assert field == "n/a", (size, variant, source)


# ---- the stream test -----------------------------------------------------------------------------

STREAM_COLUMNS = schema.columns("stream")
STREAM_SIZES = {name: w * h * bpp // 8 for name, (w, h, bpp) in FRAMES.items()}


def stream_rows(frame="4k", policy="block", verify="xxh3", seconds=3.5, period_ns=25_000_000, seed=51, dropped=(),
                failed=(), rings=0, times=None, consume="copy", direction="host-to-guest"):
    """One stream's rows as host_writer writes them: frame i published at i * period_ns (+ up to 1 ms), until
    `seconds`. Consumed frames get times drawn around `times` ({"write", "wait", "latency", "copy", "verify"}:
    ns, each +-20%; verify 0 under --verify none; no copy when consume is inplace); frames in `dropped` have no
    slot and no guest times; frames in `failed` have status bad_checksum and success 0. guest-to-host: the host
    took frame i at its publish time, consumed it in the guest-time columns, and wrote nothing (no host write or
    slot wait)."""
    rng = random.Random(seed)
    times = times or {"write": 2_000_000, "wait": 300_000, "latency": 6_000_000, "copy": 2_500_000, "verify": 800_000}
    size = STREAM_SIZES.get(frame) or int(frame.rstrip("B"))

    def draw(key):
        return rng.randint(int(times[key] * 0.8), int(times[key] * 1.2)) if times[key] else 0

    rows = []
    for i in range(int(seconds * 1e9 // period_ns)):
        row = {"frame_type": frame, "size_bytes": size, "policy": policy, "verify": verify, "consume": consume,
               "direction": direction, "frame": i,
               "publish_ns": i * period_ns + rng.randint(0, 1_000_000), "rings": rings, "dropped": 0, "success": 1}
        if i in dropped:
            rows.append(dict(row, status="dropped", dropped=1,
                             **({"slot_wait_ns": 0} if direction == "host-to-guest" else {})))
            continue
        row.update(slot=i % 3, host_write_ns=draw("write"), slot_wait_ns=draw("wait") if policy == "block" else 0,
                   latency_ns=draw("latency"), guest_verify_ns=draw("verify") if verify != "none" else 0,
                   status="unverified" if verify == "none" else "ok")
        if consume == "copy":
            row.update(guest_copy_ns=draw("copy"))
        # the guest copies and verifies inside the frame's latency: never longer than it
        row["latency_ns"] = max(row["latency_ns"], row.get("guest_copy_ns", 0) + row["guest_verify_ns"])
        if i in failed:
            row.update(status="bad_checksum", success=0)
        if direction == "guest-to-host":
            row.pop("host_write_ns")
            row.pop("slot_wait_ns")
        rows.append(row)
    return rows


def stream_windows(rows, duration_s):
    """Frames released (publish + latency) in each full 1-second window, as host_writer counts them."""
    releases = [r["publish_ns"] + r["latency_ns"] for r in rows if not r["dropped"]]
    return [sum(k * 10**9 <= t < (k + 1) * 10**9 for t in releases) for k in range(int(duration_s))]


def stream_record(rows, seconds=3, limit=None, host_cpu=None, guest_cpu_s=None, slots=3, fps_target=0):
    """run.json's object for the stream of `rows`: the raw facts host_writer records (counts, windows, times);
    every rate is the analysis' to compute."""
    first = rows[0]
    consumed = [r for r in rows if not r["dropped"]]
    duration = max(r.get("latency_ns", 0) + r["publish_ns"] for r in rows) / 1e9
    windows = stream_windows(rows, duration)
    size = first["size_bytes"]
    limit = limit or {"host_write_ns": 1_000_000, "guest_copy_ns": 1_200_000, "guest_verify_ns": 400_000}
    return {
        "frame_type": first["frame_type"], "size_bytes": size, "policy": first["policy"], "verify": first["verify"],
        "consume": first["consume"], "direction": first.get("direction", "host-to-guest"),
        "slots": slots, "fps_target": fps_target, "seconds": seconds, "produced": len(rows),
        "consumed": len(consumed), "dropped": len(rows) - len(consumed),
        "failed": sum(r["success"] == 0 for r in rows), "unverified": sum(r["status"] == "unverified" for r in rows),
        "duration_s": duration, "windows": windows, "pipeline_limit": limit,
        "host_cpu": host_cpu or {"user_s": 0.3, "sys_s": 0.1, "wall_s": duration},
        **({"guest_cpu_s": guest_cpu_s} if guest_cpu_s is not None else {}),
        "rings_sent": sum(r["rings"] for r in rows),
    }


def write_stream(folder, rows):
    write_csv(Path(folder) / "stream_results.csv", STREAM_COLUMNS, rows)
    return folder

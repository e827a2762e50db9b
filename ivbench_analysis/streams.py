"""The stream test: stream_results.csv (one row per frame) and run.json's `streams` list, paired stream by
stream, checked (SUSPECT findings) and summarised (StreamFigures). Pure functions of a Run.

Clocks: latency_ns, publish_ns, host_write_ns and slot_wait_ns are the host's; guest_copy_ns and
guest_verify_ns the guest's. Only durations of one clock are combined."""

import math
import re
import statistics
from dataclasses import dataclass, field
from typing import Optional

import numpy as np
import pandas as pd

from . import schema
from .checks import check_bandwidth_bound
from .stats import consecutive_runs
from .manifest import MANIFEST_JSON, is_number, lookup, run_mode

STREAM_CSV = schema.TABLES["stream"].file
POLICIES = ("block", "latest")
VERIFIES = ("sha256", "xxh3", "none")
STATUSES = ("ok", "unverified", "bad_checksum", "bad_stamp", "dropped")
FAILED_STATUSES = ("bad_checksum", "bad_stamp")
LATENCY_PERCENTILES = (50, 90, 99, 99.9)
# A stream faster than its own run's pipeline limit by more than this cannot be: a time or count is wrong.
LIMIT_SLACK = 1.10
# run.json's derived figures (fps, MB/s, the limit's fps) must match their sources within this share.
DERIVED_SLACK = 0.02
# What a consumed frame always has, and what a dropped one never has.
CONSUMED_REQUIRED = ("slot", "host_write_ns", "latency_ns", "guest_copy_ns", "guest_verify_ns")
GUEST_ONLY = ("latency_ns", "guest_copy_ns", "guest_verify_ns")
ALWAYS_REQUIRED = ("frame", "publish_ns", "status")
POSITIVE_WHEN_CONSUMED = ("host_write_ns", "latency_ns", "guest_copy_ns")
_WORD = re.compile(r"[A-Za-z0-9_.-]{1,64}\Z")


def _whole(v, least=0):
    return is_number(v) and math.isfinite(v) and float(v).is_integer() and v >= least


def _real(v, least=0.0, strict=False):
    return is_number(v) and math.isfinite(v) and (v > least if strict else v >= least)


# run.json streams[i]: dotted path, test, what the value must be (for the SUSPECT line).
RECORD_FIELDS = [
    ("frame_type", lambda v: isinstance(v, str) and _WORD.match(v) is not None, "a frame name"),
    ("size_bytes", lambda v: _whole(v, 1), "a whole number > 0"),
    ("policy", lambda v: v in POLICIES, "block or latest"),
    ("verify", lambda v: v in VERIFIES, "sha256, xxh3 or none"),
    ("slots", lambda v: _whole(v, 1), "a whole number > 0"),
    ("fps_target", _real, "a number >= 0"),
    ("seconds", _real, "a number >= 0"),
    ("duration_s", lambda v: _real(v, strict=True), "a number > 0"),
    ("windows", lambda v: isinstance(v, list) and all(_whole(x) for x in v), "a list of whole numbers >= 0"),
    ("guest_cpu_s", _real, "a number >= 0"),
] + [(name, _whole, "a whole number >= 0") for name in
     ("produced", "consumed", "dropped", "failed", "unverified", "rings_sent", "guest_skipped")] + [
    (f"{group}.{name}", _real, "a number >= 0") for group in ("fps", "mbps")
    for name in ("overall", "median_window", "slowest_window")] + [
    ("pipeline_limit.host_write_ns", lambda v: _whole(v, 1), "a whole number of ns > 0"),
    ("pipeline_limit.guest_copy_ns", lambda v: _whole(v, 1), "a whole number of ns > 0"),
    ("pipeline_limit.guest_verify_ns", _whole, "a whole number of ns >= 0"),
    ("pipeline_limit.fps", lambda v: _real(v, strict=True), "a number > 0"),
] + [(f"host_cpu.{name}", _real, "a number of seconds >= 0") for name in ("user_s", "sys_s", "wall_s")]

_ABSENT = object()


def parse_record(raw, where):
    """The usable fields of one run.json stream as a flat {dotted path: value}, and a SUSPECT line for
    each field that is present but cannot be right (it is then left out, as if not recorded)."""
    if not isinstance(raw, dict):
        return {}, [f"SUSPECT: {where} is not a JSON object: {str(raw)[:80]}"]
    fields, problems = {}, []
    for path, good, what in RECORD_FIELDS:
        value = lookup(raw, *path.split("."), default=_ABSENT)
        if value is _ABSENT or value is None:
            continue
        if good(value):
            fields[path] = value
        else:
            problems.append(f"SUSPECT: {where}.{path} is {str(value)[:80]}, expected {what}")
    return fields, problems


@dataclass
class Stream:
    """One stream of the run: its CSV rows (None: none in stream_results.csv) and its usable run.json
    fields (empty: not in run.json's streams), paired by frame, size, policy and verify in run order."""
    number: int
    frame_type: str
    size_bytes: Optional[int]
    policy: str
    verify: str
    rows: object
    record: dict
    where: str  # how findings name it

    @property
    def label(self):
        return f"{self.frame_type} {self.policy} {self.verify}"


@dataclass
class StreamSet:
    """Every stream of a run, and what loading them noticed (SUSPECT lines, notes for the report)."""
    streams: list = field(default_factory=list)
    findings: list = field(default_factory=list)
    has_block: bool = False  # run.json has a `streams` list


def csv_blocks(table):
    """The CSV's rows cut into streams: a stream is a run of consecutive rows with the same frame, size,
    policy and verify (host_writer runs the streams one after the other)."""
    if table is None or table.empty:
        return []
    run_id = consecutive_runs(table, ["frame_type", "size_bytes", "policy", "verify"])
    return [rows for _, rows in table.groupby(run_id, sort=False)]


def block_key(rows):
    first = rows.iloc[0]
    return first["frame_type"], int(first["size_bytes"]), first["policy"], first["verify"]


def load_streams(run):
    """The run's streams from stream_results.csv (run.stream) and run.json's `streams`, paired and checked;
    made once per run (the report's sections, the plots and the headline figures all ask)."""
    if run.streams is None:
        run.streams = pair_streams(run)
    return run.streams


def pair_streams(run):
    out = StreamSet()
    raw = lookup(run.manifest, "streams", default=_ABSENT)
    records = []
    if raw is not _ABSENT:
        if isinstance(raw, list):
            out.has_block = True
            for i, item in enumerate(raw):
                fields, problems = parse_record(item, f"{MANIFEST_JSON}: streams[{i}]")
                records.append(fields)
                out.findings += problems
        else:
            out.findings.append(f"SUSPECT: {MANIFEST_JSON}: streams is not a list: {str(raw)[:80]}")
    blocks = csv_blocks(run.stream)
    used = set()
    for i, rec in enumerate(records):
        match = None
        for j, rows in enumerate(blocks):
            if j in used:
                continue
            ft, size, policy, verify = block_key(rows)
            if all(rec.get(k) in (None, v) for k, v in
                   (("frame_type", ft), ("size_bytes", size), ("policy", policy), ("verify", verify))):
                match = j
                break
        rows = None
        if match is not None:
            used.add(match)
            rows = blocks[match]
        key = block_key(rows) if rows is not None else (
            rec.get("frame_type", "unknown"), rec.get("size_bytes"), rec.get("policy", "unknown"),
            rec.get("verify", "unknown"))
        out.streams.append(Stream(len(out.streams) + 1, *key, rows, rec, f"stream {len(out.streams) + 1} ({key[0]})"))
    for j, rows in enumerate(blocks):
        if j not in used:
            key = block_key(rows)
            out.streams.append(Stream(len(out.streams) + 1, *key, rows, {}, f"stream {len(out.streams) + 1} ({key[0]})"))
    for stream in out.streams:
        out.findings += stream_findings(stream)
    return out


# ---- checks ------------------------------------------------------------------------------------------

def first_frame(rows, mask):
    frame = rows.loc[mask, "frame"].iloc[0]
    return "?" if pd.isna(frame) else f"{frame:.0f}"


def row_findings(stream):
    """The CSV rows of one stream: empty, negative, non-whole and contradictory fields."""
    rows, name, found = stream.rows, f"{STREAM_CSV}: {stream.where}", []

    def flag(mask, what):
        if mask.any():
            found.append(f"SUSPECT: {name}: {what} in {int(mask.sum())} row(s) (first: frame {first_frame(rows, mask)})")

    for col in schema.TABLES["stream"].of_kind("int"):
        values = rows[col]
        flag(values < 0, f"{col} is negative")
        flag(values.notna() & (values != values.round()), f"{col} is not a whole number")
    consumed = rows["dropped"] == 0
    for col in ALWAYS_REQUIRED:
        flag(rows[col].isna() if col != "status" else rows[col] == "", f"{col} is empty")
    for col in CONSUMED_REQUIRED:
        flag(consumed & rows[col].isna(), f"{col} is empty for a consumed frame")
    for col in POSITIVE_WHEN_CONSUMED:
        flag(consumed & (rows[col] == 0), f"{col} is zero for a consumed frame")
    for col in GUEST_ONLY:
        flag(~consumed & rows[col].notna(), f"a dropped frame has a {col}")
    flag(rows["status"].ne("") & ~rows["status"].isin(STATUSES), "status is not one of " + ", ".join(STATUSES))
    flag(consumed == (rows["status"] == "dropped"), "dropped and status disagree")
    flag((rows["success"] == 0) != rows["status"].isin(FAILED_STATUSES), "success and status disagree")
    if stream.policy == "block":
        flag(~consumed, "policy block, yet the frame was dropped")
    if stream.verify == "none":
        flag(rows["status"] == "ok", "verify none, yet status ok (verified)")
    flag(rows["frame"].notna() & rows["frame"].duplicated(), "frame number given twice")
    ok = rows[consumed]
    for col in ("host_write_ns", "guest_copy_ns"):
        positive = ok[ok[col] > 0]
        check_bandwidth_bound(found, f"{name}: {col}", stream.size_bytes / positive[col] * 1e3)
    return found


def close(stated, expected, slack=DERIVED_SLACK, absolute=0.05):
    return abs(stated - expected) <= absolute + slack * abs(expected)


def record_findings(stream):
    """run.json's counts and derived figures of one stream against each other and against the CSV."""
    rec, name, found = stream.record, f"{MANIFEST_JSON}: {stream.where}", []
    get = rec.get
    counts = [get(k) for k in ("produced", "consumed", "dropped")]
    if None not in counts and counts[1] + counts[2] != counts[0]:
        found.append(f"SUSPECT: {name}: consumed + dropped = {counts[1] + counts[2]}, but produced = {counts[0]}")
    for key in ("failed", "unverified"):
        if get(key) is not None and get("consumed") is not None and get(key) > get("consumed"):
            found.append(f"SUSPECT: {name}: {key} {get(key)} > consumed {get('consumed')}")
    if stream.policy == "block" and get("dropped"):
        found.append(f"SUSPECT: {name}: policy block, yet {get('dropped')} frames dropped")
    if stream.verify == "none" and get("unverified") is not None and get("consumed") is not None \
            and get("unverified") != get("consumed"):
        found.append(f"SUSPECT: {name}: verify none, yet {get('unverified')} of {get('consumed')} consumed frames "
                     "counted as unverified")
    windows = get("windows")
    if windows:
        for key, expected in (("fps.median_window", statistics.median(windows)),
                              ("fps.slowest_window", min(windows))):
            if get(key) is not None and not close(get(key), expected):
                found.append(f"SUSPECT: {name}: {key} is {get(key)}, but the windows give {expected:g}")
        if get("consumed") is not None and sum(windows) > get("consumed"):
            found.append(f"SUSPECT: {name}: the windows count {sum(windows)} frames, more than the "
                         f"{get('consumed')} consumed")
        if get("duration_s") is not None and len(windows) > get("duration_s") + 0.01:
            found.append(f"SUSPECT: {name}: {len(windows)} full 1-second windows in {get('duration_s')} s")
    if get("consumed") is not None and get("duration_s") and get("fps.overall") is not None \
            and not close(get("fps.overall"), get("consumed") / get("duration_s"), slack=0.1):
        found.append(f"SUSPECT: {name}: fps.overall is {get('fps.overall')}, but consumed / duration_s is "
                     f"{get('consumed') / get('duration_s'):.1f}")
    if stream.size_bytes:
        for which in ("overall", "median_window", "slowest_window"):
            fps, rate = get(f"fps.{which}"), get(f"mbps.{which}")
            if fps is not None and rate is not None and not close(rate, fps * stream.size_bytes / 1e6):
                found.append(f"SUSPECT: {name}: mbps.{which} is {rate}, but fps.{which} x frame size is "
                             f"{fps * stream.size_bytes / 1e6:.1f} MB/s")
    limit = pipeline_limit(rec)
    if limit is not None and get("pipeline_limit.fps") is not None and not close(get("pipeline_limit.fps"), limit):
        found.append(f"SUSPECT: {name}: pipeline_limit.fps is {get('pipeline_limit.fps')}, but its times give "
                     f"{limit:.1f} (1e9 / max(host write, guest copy + verify))")
    if stream.rows is not None:
        rows = stream.rows
        for key, actual in (("produced", len(rows)), ("consumed", int((rows["dropped"] == 0).sum())),
                            ("dropped", int((rows["dropped"] == 1).sum())), ("failed", int((rows["success"] == 0).sum())),
                            ("unverified", int((rows["status"] == "unverified").sum()))):
            if get(key) is not None and get(key) != actual:
                found.append(f"SUSPECT: {name}: {key} is {get(key)}, but {STREAM_CSV} has {actual} such rows")
    return found


def stream_findings(stream):
    found = row_findings(stream) if stream.rows is not None else []
    found += record_findings(stream)
    figures = stream_figures(stream)
    limit = figures.limit_fps
    if limit is not None:
        above = [f"{what} {fps:.1f}" for what, fps in (("sustained", figures.fps_sustained),
                                                       ("overall", figures.fps_overall))
                 if fps is not None and fps > LIMIT_SLACK * limit]
        if above:
            found.append(f"SUSPECT: {stream.where}: {' and '.join(above)} frames/s above the same run's pipeline "
                         f"limit ({limit:.1f} frames/s) by more than {100 * (LIMIT_SLACK - 1):.0f}%")
    return found


# ---- figures -----------------------------------------------------------------------------------------

def pipeline_limit(rec):
    """Frames/s the slower side manages alone on private memory: 1e9 / max(host write, guest copy + verify)."""
    parts = [rec.get(f"pipeline_limit.{k}") for k in ("host_write_ns", "guest_copy_ns", "guest_verify_ns")]
    if None in parts:
        return None
    return 1e9 / max(parts[0], parts[1] + parts[2])


def csv_windows(rows, duration_s):
    """Frames released in each full 1-second window from the stream's start (host clock: publish + latency)."""
    consumed = rows[(rows["dropped"] == 0) & rows["latency_ns"].notna() & rows["publish_ns"].notna()]
    release = consumed["publish_ns"] + consumed["latency_ns"]
    if duration_s is None:
        ends = pd.concat([release, rows["publish_ns"].dropna()])
        duration_s = ends.max() / 1e9 if not ends.empty else 0
    full = int(math.floor(duration_s + 1e-9)) if duration_s > 0 else 0
    return [int(((release >= k * 1e9) & (release < (k + 1) * 1e9)).sum()) for k in range(full)]


def median_of(rows, col):
    if rows is None:
        return None
    values = rows[col].dropna()
    return float(values.median()) if not values.empty else None


@dataclass
class StreamFigures:
    """What the report says of one stream; None: not known in this run. Times in ns, rates per second."""
    produced: Optional[int] = None
    consumed: Optional[int] = None
    dropped: Optional[int] = None
    failed: Optional[int] = None
    unverified: Optional[int] = None
    windows: list = field(default_factory=list)
    windows_from: str = ""
    duration_s: Optional[float] = None
    fps_sustained: Optional[float] = None
    fps_slowest: Optional[float] = None
    fps_overall: Optional[float] = None
    limit_fps: Optional[float] = None
    latency: dict = field(default_factory=dict)  # percentile -> ns
    latency_n: int = 0
    guest_copy: Optional[float] = None
    guest_verify: Optional[float] = None
    host_write: Optional[float] = None
    slot_wait: Optional[float] = None
    waited_share: Optional[float] = None  # frames whose slot wait was > 0, of those with one recorded
    host_cpu_per_frame_s: Optional[float] = None
    guest_cpu_per_frame_s: Optional[float] = None
    rings: Optional[int] = None


def count_or(rows, mask_fn, rec_value):
    return int(mask_fn(rows).sum()) if rows is not None else rec_value


def stream_figures(stream):
    """The figures of one stream: counts and latencies from its CSV rows where it has them (the per-frame
    record), else from run.json; windows from run.json, else computed from the rows."""
    rows, rec = stream.rows, stream.record
    f = StreamFigures()
    f.produced = len(rows) if rows is not None else rec.get("produced")
    f.consumed = count_or(rows, lambda r: r["dropped"] == 0, rec.get("consumed"))
    f.dropped = count_or(rows, lambda r: r["dropped"] == 1, rec.get("dropped"))
    f.failed = count_or(rows, lambda r: r["success"] == 0, rec.get("failed"))
    f.unverified = count_or(rows, lambda r: r["status"] == "unverified", rec.get("unverified"))
    f.duration_s = rec.get("duration_s")
    if rec.get("windows") is not None:
        f.windows, f.windows_from = list(rec["windows"]), MANIFEST_JSON
    elif rows is not None:
        f.windows, f.windows_from = csv_windows(rows, f.duration_s), STREAM_CSV
    if f.windows:
        f.fps_sustained, f.fps_slowest = float(statistics.median(f.windows)), float(min(f.windows))
    if f.duration_s and f.consumed is not None:
        f.fps_overall = f.consumed / f.duration_s
    f.limit_fps = pipeline_limit(rec)
    if rows is not None:
        consumed = rows[rows["dropped"] == 0]
        latency = consumed["latency_ns"].dropna()
        f.latency_n = len(latency)
        if not latency.empty:
            f.latency = {p: float(np.percentile(latency, p)) for p in LATENCY_PERCENTILES}
        f.guest_copy, f.guest_verify = median_of(consumed, "guest_copy_ns"), median_of(consumed, "guest_verify_ns")
        f.host_write, f.slot_wait = median_of(rows, "host_write_ns"), median_of(rows, "slot_wait_ns")
        waits = rows["slot_wait_ns"].dropna()
        f.waited_share = float((waits > 0).mean()) if not waits.empty else None
        f.rings = int(rows["rings"].sum()) if rows["rings"].notna().any() else None
    if f.rings is None:
        f.rings = rec.get("rings_sent")
    cpu = [rec.get(f"host_cpu.{k}") for k in ("user_s", "sys_s")]
    if None not in cpu and f.produced:
        f.host_cpu_per_frame_s = sum(cpu) / f.produced
    if rec.get("guest_cpu_s") is not None and f.consumed:
        f.guest_cpu_per_frame_s = rec["guest_cpu_s"] / f.consumed
    return f


def lockstep_fps(bandwidth, stream):
    """Frames/s of the lock-step bandwidth test of the same frame in the same run: 1e9 / median(total_ns)
    over its successful rows of that frame_type and size; None when there is none."""
    if bandwidth is None or bandwidth.empty:
        return None
    rows = bandwidth[(bandwidth["success"] == 1) & (bandwidth["frame_type"] == stream.frame_type)
                     & (bandwidth["size_bytes"] == stream.size_bytes)]
    total = rows["total_ns"].dropna()
    total = total[total > 0]
    return 1e9 / float(total.median()) if not total.empty else None


def is_doorbell(run):
    return run_mode(run.manifest) == "doorbell"

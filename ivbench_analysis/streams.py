"""The stream test: stream_results.csv (one row per frame) and run.json's `streams` list, paired stream by
stream, checked (SUSPECT findings) and summarised (StreamFigures). Pure functions of a Run.

Clocks, per direction (schema/columns.txt): host-to-guest: latency_ns, publish_ns, host_write_ns and slot_wait_ns
are the host's, guest_copy_ns and guest_verify_ns the guest's (the consumer's). guest-to-host: the guest produced,
the host consumed: publish_ns is the host's take, latency_ns its hold of the slot (take to release),
guest_copy_ns and guest_verify_ns the host's copy and check, all on the host clock; host_write_ns and slot_wait_ns
are empty. Only durations of one clock are combined."""

import math
import re
import statistics
from dataclasses import dataclass, field
from typing import Optional

import numpy as np
import pandas as pd

from . import schema
from .checks import check_bandwidth_bound, not_inside
from .manifest import CPU_SLACK_S, MANIFEST_JSON, is_number, lookup, run_mode
from .run_schema import check_path
from .stats import MAX_PLAUSIBLE_MBPS, consecutive_runs

STREAM_CSV = schema.TABLES["stream"].file
POLICIES = ("block", "latest")
VERIFIES = ("sha256", "xxh3", "none")
# How the consumer read each frame: verified where it lies in its slot, or copied out first and the copy verified.
CONSUMES = ("inplace", "copy")
# Who produced the frames: the host (the guest consumed them) or the guest (the host consumed them).
H2G, G2H = DIRECTIONS = ("host-to-guest", "guest-to-host")
DIRECTION_ARROWS = {H2G: "host -> guest", G2H: "guest -> host"}
# How one consumer of a stream ended (run.json's streams[].consumer_end).
CONSUMER_ENDS = ("finished", "dropped", "lost", "failed")
STATUSES = ("ok", "unverified", "bad_checksum", "bad_stamp", "implausible_timing", "accepted_corrupted_frame", "dropped")
# A frame whose check failed; besides, an unverified frame fails when the host asked for a verification.
FAILED_STATUSES = ("bad_checksum", "bad_stamp", "implausible_timing", "accepted_corrupted_frame")
LATENCY_PERCENTILES = (50, 90, 99, 99.9)
# A stream faster than its own run's pipeline limit by more than this cannot be: a time or count is wrong.
LIMIT_SLACK = 1.10
# What a consumed frame always has (a copied one: its copy time too; a host-to-guest one its host write), and what
# a dropped one never has.
CONSUMED_REQUIRED = ("slot", "latency_ns", "guest_verify_ns")
# The host's write of a frame: measured in host-to-guest only (in guest-to-host the guest wrote it).
HOST_PRODUCER_ONLY = ("host_write_ns", "slot_wait_ns")
GUEST_ONLY = ("latency_ns", "guest_copy_ns", "guest_verify_ns")
ALWAYS_REQUIRED = ("frame", "publish_ns", "status", "direction")
POSITIVE_WHEN_CONSUMED = ("latency_ns",)
# The guest's times of a frame: it copies and verifies between seeing the frame and releasing it, so both lie
# inside the frame's latency (publish to release, host clock).
GUEST_FRAME_TIMES = ["guest_copy_ns", "guest_verify_ns"]
_WORD = re.compile(r"[A-Za-z0-9_.-]{1,64}\Z")


def failed_frames(rows):
    """The rows of frames whose check failed, as host_writer judges them (success=0)."""
    return rows["status"].isin(FAILED_STATUSES) | ((rows["status"] == "unverified") & (rows["verify"] != "none"))


def _whole(v, least=0):
    return is_number(v) and math.isfinite(v) and float(v).is_integer() and v >= least


def _real(v, least=0.0, strict=False):
    return is_number(v) and math.isfinite(v) and (v > least if strict else v >= least)


# run.json streams[i]: dotted path, test, what the value must be (for the SUSPECT line). Only raw facts: every
# rate, median and percentile of a stream is computed here from them (stream_figures), never read.
RECORD_FIELDS = [
    ("frame_type", lambda v: isinstance(v, str) and _WORD.match(v) is not None, "a frame name"),
    ("size_bytes", lambda v: _whole(v, 1), "a whole number > 0"),
    ("policy", lambda v: v in POLICIES, "block or latest"),
    ("verify", lambda v: v in VERIFIES, "sha256, xxh3 or none"),
    ("consume", lambda v: v in CONSUMES, "inplace or copy"),
    ("direction", lambda v: v in DIRECTIONS, "host-to-guest or guest-to-host"),
    ("consumer", _whole, "a whole number >= 0"),
    ("consumers", lambda v: _whole(v, 1), "a whole number > 0"),
    ("consumer_end", lambda v: v in CONSUMER_ENDS, ", ".join(CONSUMER_ENDS)),
    ("duplex", lambda v: isinstance(v, bool), "true or false"),
    ("slots", lambda v: _whole(v, 1), "a whole number > 0"),
    ("fps_target", _real, "a number >= 0"),
    ("seconds", _real, "a number >= 0"),
    ("duration_s", lambda v: _real(v, strict=True), "a number > 0"),
    ("windows", lambda v: isinstance(v, list) and all(_whole(x) for x in v), "a list of whole numbers >= 0"),
    ("guest_cpu_s", _real, "a number >= 0"),
] + [(name, _whole, "a whole number >= 0") for name in
     ("produced", "consumed", "dropped", "failed", "unverified", "rings_sent")] + [
    ("pipeline_limit.host_write_ns", lambda v: _whole(v, 1), "a whole number of ns > 0"),
    ("pipeline_limit.guest_copy_ns", lambda v: _whole(v, 1), "a whole number of ns > 0"),
    ("pipeline_limit.guest_verify_ns", _whole, "a whole number of ns >= 0"),
] + [(f"host_cpu.{name}", _real, "a number of seconds >= 0") for name in ("user_s", "sys_s", "wall_s")]
RECORD = "streams[]"  # the fields' place in schema/run.txt
for _path, _, _ in RECORD_FIELDS:
    check_path(f"{RECORD}.{_path}")

_ABSENT = object()


def parse_record(raw, where):
    """The usable fields of one run.json stream as a flat {dotted path: value}, and a SUSPECT line for
    each field that is present but cannot be right (it is then left out, as if not recorded)."""
    if not isinstance(raw, dict):
        return {}, [f"SUSPECT: {where} is not a JSON object: {str(raw)[:80]}"]
    fields, problems = {}, []
    for path, good, what in RECORD_FIELDS:
        value = lookup(raw, *path.split("."), default=_ABSENT, under=RECORD)
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
    fields (empty: not in run.json's streams), paired by frame, size, policy, verify, consume mode and direction
    in run order."""
    number: int
    frame_type: str
    size_bytes: Optional[int]
    policy: str
    verify: str
    consume: str  # inplace or copy ("unknown" when neither file says)
    direction: str  # host-to-guest or guest-to-host ("unknown" when neither file says)
    consumer: int  # the ring's consumer these rows and figures are for (0 of 1 unless --consumers)
    rows: object
    record: dict
    where: str  # how findings name it
    checks: list = field(default_factory=list)  # SUSPECT lines on its CSV rows (frame_checks)
    totals: dict = field(default_factory=dict)  # its rows' counts and medians (block_totals)
    figures: object = None  # its StreamFigures, made once (stream_figures)

    @property
    def label(self):
        """Its name in one line; a host-to-guest stream keeps the name it had before streams had a direction, and a
        stream of one consumer the name it had before several."""
        name = f"{self.frame_type} {self.policy} {self.verify} {self.consume}"
        name = name if self.direction == H2G and not self.duplex else f"{name} {self.direction}"
        name = f"{name} consumer {self.consumer}" if self.several_consumers else name
        return f"{name} duplex" if self.duplex else name

    @property
    def duplex(self):
        """It ran at the same time as the other direction's stream (--stream-direction both)."""
        return self.record.get("duplex") is True

    @property
    def several_consumers(self):
        return (self.record.get("consumers") or 1) > 1 or self.consumer > 0

    @property
    def guest_produced(self):
        return self.direction == G2H


@dataclass
class StreamSet:
    """Every stream of a run, and what loading them noticed (SUSPECT lines, notes for the report)."""
    streams: list = field(default_factory=list)
    findings: list = field(default_factory=list)
    has_block: bool = False  # run.json has a `streams` list
    table: object = None  # stream_results.csv with _stream and _kept (frame_checks), None without one


# What tells one stream from the next in stream_results.csv (and pairs it with its run.json record).
STREAM_COLUMNS = ["frame_type", "size_bytes", "policy", "verify", "consume", "direction"]
KEY_COLUMNS = STREAM_COLUMNS + ["consumer"]


def block_keys(table):
    """The CSV's streams: a stream is a run of consecutive rows with the same frame, size, policy, verify, consume
    mode and duplex flag (host_writer runs the streams one after the other), one per direction and consumer (the
    rows of several consumers of a stream interleave, and so do the two directions of a duplex stream). Returns the table
    with _stream (the block's number) and [(block number, (frame, size, policy, verify, consume, direction,
    consumer))] in file order."""
    if table is None or table.empty:
        return None, []
    if "consumer" not in table.columns:
        table = table.assign(consumer=0)  # written before several consumers: consumer 0
    if "duplex" not in table.columns:
        table = table.assign(duplex=0)  # written before duplex streams: each alone
    table = table.assign(consumer=table["consumer"].fillna(0).astype(int), duplex=table["duplex"].fillna(0))
    table = table.assign(_block=consecutive_runs(table, [c for c in STREAM_COLUMNS if c != "direction"] + ["duplex"]))
    table = table.assign(_stream=table.groupby(["_block", "direction", "consumer"], sort=False).ngroup() + 1)
    table = table.drop(columns="_block")
    firsts = table.drop_duplicates("_stream")
    return table, [(sid, (ft, int(size), *words[:-1], int(words[-1]))) for sid, ft, size, *words in
                   zip(firsts["_stream"], *(firsts[c] for c in KEY_COLUMNS))]


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
    table, keys = block_keys(run.stream)
    used, start, paired = set(), 0, {}
    for rec in records:
        match = None
        for j in range(start, len(keys)):
            if j not in used and all(rec.get(k) in (None, v) for k, v in zip(KEY_COLUMNS, keys[j][1])):
                match = j
                break
        if match is not None:
            used.add(match)
            while start in used:
                start += 1
        key = keys[match][1] if match is not None else (
            rec.get("frame_type", "unknown"), rec.get("size_bytes"), rec.get("policy", "unknown"),
            rec.get("verify", "unknown"), rec.get("consume", "unknown"), rec.get("direction", "unknown"),
            rec.get("consumer", 0))
        stream = Stream(len(out.streams) + 1, *key, None, rec, f"stream {len(out.streams) + 1} ({key[0]})")
        out.streams.append(stream)
        if match is not None:
            paired[keys[match][0]] = stream
    for j, (sid, key) in enumerate(keys):
        if j not in used:
            stream = Stream(len(out.streams) + 1, *key, None, {}, f"stream {len(out.streams) + 1} ({key[0]})")
            out.streams.append(stream)
            paired[sid] = stream
    if table is not None:
        table, checks = frame_checks(table, paired)
        totals = block_totals(table)
        out.table = table
        for sid, rows in table.groupby("_stream", sort=False):
            stream = paired[sid]
            stream.rows, stream.checks, stream.totals = rows, checks.get(sid, []), totals.get(sid, {})
    for stream in out.streams:
        out.findings += stream_findings(stream)
    return out


# ---- checks ------------------------------------------------------------------------------------------

def frame_checks(table, streams):
    """The CSV rows of every stream at once: empty, negative, non-whole and contradictory fields, and frames
    whose times cannot be (the guest's copy and verify longer than the frame's latency that holds them, a
    latency longer than the stream's duration). Returns the table with _kept (a consumed frame whose times
    fit: the ones the latency figures use) and {block number: [SUSPECT line]}. streams: block number ->
    Stream."""
    found = {}

    def flag(mask, what):
        if not mask.any():
            return
        hits = table.loc[mask, ["_stream", "frame"]]
        firsts = hits.drop_duplicates("_stream").set_index("_stream")["frame"]
        for sid, n in hits.groupby("_stream", sort=False).size().items():
            frame = "?" if pd.isna(firsts[sid]) else f"{firsts[sid]:.0f}"
            found.setdefault(sid, []).append(
                f"SUSPECT: {STREAM_CSV}: {streams[sid].where}: {what} in {n} row(s) (first: frame {frame})")

    for col in schema.TABLES["stream"].of_kind("int"):
        values = table[col]
        flag(values < 0, f"{col} is negative")
        flag(values.notna() & (values != values.round()), f"{col} is not a whole number")
    consumed = table["dropped"] == 0
    for col in ALWAYS_REQUIRED:
        flag(table[col].isna() if col not in ("status", "direction") else table[col] == "", f"{col} is empty")
    for col in CONSUMED_REQUIRED:
        flag(consumed & table[col].isna(), f"{col} is empty for a consumed frame")
    host_wrote = table["direction"] == H2G
    flag(host_wrote & consumed & table["host_write_ns"].isna(), "host_write_ns is empty for a consumed frame")
    flag(host_wrote & consumed & (table["host_write_ns"] == 0), "host_write_ns is zero for a consumed frame")
    for col in HOST_PRODUCER_ONLY:
        flag((table["direction"] == G2H) & table[col].notna(),
             f"a guest-to-host frame (the guest wrote it) has a {col}")
    flag(table["direction"].ne("") & ~table["direction"].isin(DIRECTIONS),
         "direction is not one of " + ", ".join(DIRECTIONS))
    for col in POSITIVE_WHEN_CONSUMED:
        flag(consumed & (table[col] == 0), f"{col} is zero for a consumed frame")
    copied = consumed & (table["consume"] == "copy")
    flag(copied & table["guest_copy_ns"].isna(), "guest_copy_ns is empty for a copied frame")
    flag(copied & (table["guest_copy_ns"] == 0), "guest_copy_ns is zero for a copied frame")
    flag((table["consume"] == "inplace") & table["guest_copy_ns"].notna(), "a frame read in place has a guest_copy_ns")
    for col in GUEST_ONLY:
        flag(~consumed & table[col].notna(), f"a dropped frame has a {col}")
    flag(table["status"].ne("") & ~table["status"].isin(STATUSES), "status is not one of " + ", ".join(STATUSES))
    flag(consumed == (table["status"] == "dropped"), "dropped and status disagree")
    flag((table["success"] == 0) != failed_frames(table), "success and status disagree")
    flag((table["policy"] == "block") & ~consumed, "policy block, yet the frame was dropped")
    flag((table["verify"] == "none") & (table["status"] == "ok"), "verify none, yet status ok (verified)")
    flag(table["frame"].notna() & table.duplicated(["_stream", "frame"]), "frame number given twice")
    longer = consumed & not_inside(table, GUEST_FRAME_TIMES, "latency_ns")
    flag(longer, "the guest's copy + verify (guest clock) longer than the frame's latency (host clock) that holds "
                 "them: left out of the latency figures")
    duration_s = table["_stream"].map({sid: s.record.get("duration_s") for sid, s in streams.items()})
    duration_ns = duration_s.astype(float) * 1e9
    beyond = consumed & (table["latency_ns"] > duration_ns)
    flag(beyond, "latency_ns longer than the stream's duration_s: left out of the latency figures")
    table = table.assign(_kept=consumed & table["latency_ns"].notna() & ~longer & ~beyond)
    for col in ("host_write_ns", "guest_copy_ns"):
        ok = table[consumed & (table[col] > 0)]
        rates = ok["size_bytes"] / ok[col] * 1e3
        for sid in ok.loc[rates > MAX_PLAUSIBLE_MBPS, "_stream"].unique():
            check_bandwidth_bound(found.setdefault(sid, []), f"{STREAM_CSV}: {streams[sid].where}: {col}",
                                  rates[ok["_stream"] == sid])
    return table, found


def block_totals(table):
    """Per block number, its rows' counts, the latency percentiles of its kept frames (_kept) and the medians
    of its times, as a dict (a figure without a value is absent)."""
    by = table["_stream"]
    out = pd.DataFrame({
        "produced": by.groupby(by, sort=False).size(),
        "consumed": (table["dropped"] == 0).groupby(by, sort=False).sum(),
        "dropped": (table["dropped"] == 1).groupby(by, sort=False).sum(),
        "failed": (table["success"] == 0).groupby(by, sort=False).sum(),
        "unverified": (table["status"] == "unverified").groupby(by, sort=False).sum(),
        "latency_n": table["_kept"].groupby(by, sort=False).sum(),
    })
    kept = table[table["_kept"]]
    for col in ("guest_copy_ns", "guest_verify_ns"):
        out[col] = kept.groupby("_stream", sort=False)[col].median()
    for col in ("host_write_ns", "slot_wait_ns"):
        out[col] = table.groupby("_stream", sort=False)[col].median()
    waits = table[table["slot_wait_ns"].notna()]
    out["waited_share"] = (waits["slot_wait_ns"] > 0).groupby(waits["_stream"], sort=False).mean()
    rings = table[table["rings"].notna()]
    out["rings"] = rings.groupby("_stream", sort=False)["rings"].sum()
    release = kept["publish_ns"] + kept["latency_ns"]
    ends = pd.concat([release, table["publish_ns"]], ignore_index=True)
    out["end_ns"] = ends.groupby(np.concatenate([kept["_stream"].to_numpy(), by.to_numpy()]), sort=False).max()
    seconds = {}  # block number -> {whole second from the start: frames released in it}
    released = pd.DataFrame({"sid": kept["_stream"], "second": release // 1e9})[release >= 0]
    for (sid, second), n in released.groupby(["sid", "second"]).size().items():
        seconds.setdefault(sid, {})[int(second)] = int(n)
    if not kept.empty:
        quantiles = kept.groupby("_stream", sort=False)["latency_ns"].quantile([p / 100 for p in LATENCY_PERCENTILES])
        for p in LATENCY_PERCENTILES:
            out[f"p{p}"] = quantiles.xs(p / 100, level=1)
    return {sid: dict({k: v for k, v in row.items() if not pd.isna(v)}, seconds=seconds.get(sid, {}))
            for sid, row in out.to_dict("index").items()}


def guest_cpu_limit(stream):
    """The most CPU the guest can have used in the stream: guest_reader is one thread, so its CPU time is at most
    the stream's duration, plus a tick; None when the duration is not known."""
    duration = stream.record.get("duration_s")
    return duration + CPU_SLACK_S if duration is not None else None


def record_findings(stream):
    """run.json's counts of one stream against each other and against the CSV."""
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
        if get("consumed") is not None and sum(windows) > get("consumed"):
            found.append(f"SUSPECT: {name}: the windows count {sum(windows)} frames, more than the "
                         f"{get('consumed')} consumed")
        if get("duration_s") is not None and len(windows) > get("duration_s") + 0.01:
            found.append(f"SUSPECT: {name}: {len(windows)} full 1-second windows in {get('duration_s')} s")
    if stream.rows is not None:
        for key in ("produced", "consumed", "dropped", "failed", "unverified"):
            actual = int(stream.totals.get(key, 0))
            if get(key) is not None and get(key) != actual:
                found.append(f"SUSPECT: {name}: {key} is {get(key)}, but {STREAM_CSV} has {actual} such rows")
    limit = guest_cpu_limit(stream)
    if limit is not None and get("guest_cpu_s") is not None and get("guest_cpu_s") > limit:
        found.append(f"SUSPECT: {name}: guest_cpu_s {get('guest_cpu_s')} s in a stream of {get('duration_s')} s: "
                     "more CPU than guest_reader (one thread) can use; not reported per frame")
    return found


def stream_findings(stream):
    found = list(stream.checks)
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

def guest_work(consume):
    """What the consumer does with each frame, in the words of the report."""
    return "verify" if consume == "inplace" else "copy + verify"


def pipeline_limit(rec, consume):
    """Frames/s the slower side manages alone on private memory: 1e9 / max(the producer's write, the consumer's
    work per frame), by role whatever the direction (run.json keeps them under host_write_ns and guest_copy_ns /
    guest_verify_ns: see schema/run.txt). Both consume modes measure the consumer's copy and verify the same way;
    in place the frame is not copied, so only the verify counts. None when a time is missing or the mode is not
    known."""
    parts = [rec.get(f"pipeline_limit.{k}") for k in ("host_write_ns", "guest_copy_ns", "guest_verify_ns")]
    if None in parts or consume not in CONSUMES:
        return None
    guest = parts[2] + (parts[1] if consume == "copy" else 0)
    return 1e9 / max(parts[0], guest)


def csv_windows(totals, duration_s):
    """Frames released in each full 1-second window from the stream's start (host clock: publish + latency)
    of its kept frames; the stream lasts duration_s, else until its last publish or release."""
    if duration_s is None:
        duration_s = totals.get("end_ns", 0) / 1e9
    full = int(math.floor(duration_s + 1e-9)) if duration_s > 0 else 0
    seconds = totals.get("seconds", {})
    return [int(seconds.get(k, 0)) for k in range(full)]


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
    guest_cpu_beyond: bool = False  # run.json's guest CPU is more than the guest had (SUSPECT): not per frame
    rings: Optional[int] = None


def stream_figures(stream):
    """The figures of one stream, made once: counts and latencies from its CSV rows where it has them (the
    per-frame record; latencies and guest times of its kept frames only), else from run.json; windows from
    run.json, else counted from the rows."""
    if stream.figures is None:
        stream.figures = make_figures(stream)
    return stream.figures


def make_figures(stream):
    rows, rec, totals = stream.rows, stream.record, stream.totals
    f = StreamFigures()
    for key in ("produced", "consumed", "dropped", "failed", "unverified"):
        setattr(f, key, int(totals.get(key, 0)) if rows is not None else rec.get(key))
    f.duration_s = rec.get("duration_s")
    if rec.get("windows") is not None:
        f.windows, f.windows_from = list(rec["windows"]), MANIFEST_JSON
    elif rows is not None:
        f.windows, f.windows_from = csv_windows(totals, f.duration_s), STREAM_CSV
    if f.windows:
        f.fps_sustained, f.fps_slowest = float(statistics.median(f.windows)), float(min(f.windows))
    if f.duration_s and f.consumed is not None:
        f.fps_overall = f.consumed / f.duration_s
    f.limit_fps = pipeline_limit(rec, stream.consume)
    if rows is not None:
        f.latency_n = int(totals.get("latency_n", 0))
        if f.latency_n:
            f.latency = {p: float(totals[f"p{p}"]) for p in LATENCY_PERCENTILES}
        f.guest_copy, f.guest_verify, f.host_write, f.slot_wait, f.waited_share = (
            totals.get(k) for k in ("guest_copy_ns", "guest_verify_ns", "host_write_ns", "slot_wait_ns",
                                    "waited_share"))
        # guest-to-host rows carry no rings (the host's rings are counted in run.json only)
        f.rings = int(totals["rings"]) if "rings" in totals and not stream.guest_produced else None
    if f.rings is None:
        f.rings = rec.get("rings_sent")
    # Each side's CPU per frame it handled: the producer's per frame produced, the consumer's per frame consumed.
    host_frames, guest_frames = (f.consumed, f.produced) if stream.guest_produced else (f.produced, f.consumed)
    cpu = [rec.get(f"host_cpu.{k}") for k in ("user_s", "sys_s")]
    if None not in cpu and host_frames:
        f.host_cpu_per_frame_s = sum(cpu) / host_frames
    limit = guest_cpu_limit(stream)
    f.guest_cpu_beyond = rec.get("guest_cpu_s") is not None and limit is not None and rec["guest_cpu_s"] > limit
    if rec.get("guest_cpu_s") is not None and guest_frames and not f.guest_cpu_beyond:
        f.guest_cpu_per_frame_s = rec["guest_cpu_s"] / guest_frames
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

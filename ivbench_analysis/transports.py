"""The transport comparison: transport_results.csv (one row per frame or message a transport carried) and
run.json's `transports` block (which transports ran or were skipped, and each test's counts, 1-second
windows and CPU), plus ivshmem's frames from the stream test. Pure functions: figures and ratios.

Clocks: latency_ns is the host's (start of the send to the consumer's acknowledgement); CPU per frame is
each side's getrusage over the test divided by the frames it carried. Rates are medians of the raw
1-second window counts host_writer records."""

import math
import statistics
from dataclasses import dataclass, field
from typing import Optional

import numpy as np

from .load import TRANSPORT_SPEC, load_extra
from .manifest import lookup
from .model import TRANSPORT_NAMES as TRANSPORTS, TRANSPORT_TESTS as TESTS
from .streams import LATENCY_PERCENTILES, load_streams, stream_figures

TRANSPORT_CSV = TRANSPORT_SPEC.filename
# What one unit of each test is called in the report.
UNITS = {"frames": "frames", "messages": "messages", "pingpong": "round trips"}


@dataclass
class TransportFigures:
    """One test on one transport; None: not known in this run. Times in ns, rates per second."""
    transport: str
    test: str
    size_bytes: int
    window: Optional[int] = None
    sent: Optional[int] = None
    acked: Optional[int] = None
    failed: Optional[int] = None
    windows: list = field(default_factory=list)
    rate_sustained: Optional[float] = None  # median of the full 1-second windows
    rate_slowest: Optional[float] = None
    rate_overall: Optional[float] = None  # acknowledged / duration
    latency: dict = field(default_factory=dict)  # percentile -> ns
    host_cpu_per_frame_s: Optional[float] = None
    guest_cpu_per_frame_s: Optional[float] = None

    @property
    def rate(self):
        """The rate the comparison uses: sustained, else overall (a test shorter than a window)."""
        return self.rate_sustained if self.rate_sustained is not None else self.rate_overall

    @property
    def mbps(self):
        return None if self.rate is None else self.rate * self.size_bytes / 1e6

    @property
    def cpu_per_frame_s(self):
        """Both sides' CPU per frame, or None when either is unknown."""
        if self.host_cpu_per_frame_s is None or self.guest_cpu_per_frame_s is None:
            return None
        return self.host_cpu_per_frame_s + self.guest_cpu_per_frame_s


@dataclass
class TransportSet:
    """The run's transport tests, its transports' status (name -> (status, reason)), and what loading noticed."""
    figures: list = field(default_factory=list)
    entries: dict = field(default_factory=dict)
    notes: list = field(default_factory=list)


def _number(value, whole=False):
    """value when it is a finite number >= 0 (a whole one with whole), else None: run.json is untrusted."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value < 0:
        return None
    if whole and not float(value).is_integer():
        return None
    return int(value) if whole else float(value)


def rates(figures, windows, duration_s):
    figures.windows = windows
    if windows:
        figures.rate_sustained = float(statistics.median(windows))
        figures.rate_slowest = float(min(windows))
    if duration_s and figures.acked is not None:
        figures.rate_overall = figures.acked / duration_s


def percentiles(latency_ns):
    values = [v for v in latency_ns if v is not None and not math.isnan(v)]
    return {p: float(np.percentile(values, p)) for p in LATENCY_PERCENTILES} if values else {}


def from_record(rec, rows):
    """A test's figures from its run.json record and its rows of transport_results.csv (None: no rows)."""
    size = _number(rec.get("size_bytes"), whole=True)
    transport, test = rec.get("transport"), rec.get("test")
    if transport not in TRANSPORTS or test not in TESTS or not size:
        return None
    f = TransportFigures(transport, test, size, window=_number(rec.get("window"), whole=True),
                         sent=_number(rec.get("sent"), whole=True), acked=_number(rec.get("acked"), whole=True),
                         failed=_number(rec.get("failed"), whole=True))
    raw = rec.get("windows")
    windows = [int(w) for w in raw if _number(w, whole=True) is not None] if isinstance(raw, list) else []
    rates(f, windows, _number(rec.get("duration_s")))
    if rows is not None and not rows.empty:
        mine = rows[(rows["transport"] == transport) & (rows["test"] == test) & (rows["size_bytes"] == size)]
        f.latency = percentiles(mine["latency_ns"].tolist())
    cpu = [_number(lookup(rec, "host_cpu", k, under="transports.tests[]")) for k in ("user_s", "sys_s")]
    if None not in cpu and f.sent:
        f.host_cpu_per_frame_s = sum(cpu) / f.sent
    guest = _number(rec.get("guest_cpu_s"))
    if guest is not None and f.acked:
        f.guest_cpu_per_frame_s = guest / f.acked
    return f


def ivshmem_frames(run, verify):
    """ivshmem's side of the frames comparison: its block streams of the same verification (the stream test)."""
    out = []
    for stream in load_streams(run).streams:
        if stream.policy != "block" or stream.verify != verify or not stream.size_bytes:
            continue
        s = stream_figures(stream)
        f = TransportFigures("ivshmem", "frames", stream.size_bytes, window=_number(stream.record.get("slots"), True),
                             sent=s.produced, acked=s.consumed, failed=s.failed)
        f.windows, f.rate_sustained, f.rate_slowest, f.rate_overall = (s.windows, s.fps_sustained, s.fps_slowest,
                                                                        s.fps_overall)
        f.latency = dict(s.latency)
        f.host_cpu_per_frame_s, f.guest_cpu_per_frame_s = s.host_cpu_per_frame_s, s.guest_cpu_per_frame_s
        out.append(f)
    return out


def load_rows(folder, notes):
    """transport_results.csv, or None (absent, or unusable: a note says why; rows left out are named)."""
    return load_extra(folder, TRANSPORT_SPEC, notes, [], [])


def load_transports(run):
    """The run's transport comparison, or None when run.json has no `transports` block of a comparison."""
    block = lookup(run.manifest, "transports")
    if not isinstance(block, dict):
        return None
    out = TransportSet()
    for e in block.get("entries", []) if isinstance(block.get("entries"), list) else []:
        if isinstance(e, dict) and isinstance(e.get("name"), str) and isinstance(e.get("status"), str):
            out.entries[e["name"]] = (e["status"], e.get("reason") if isinstance(e.get("reason"), str) else None)
    if set(out.entries) <= {"ivshmem"}:
        return None  # ivshmem alone: today's run, no comparison
    rows = load_rows(run.folder, out.notes)
    tests = block.get("tests") if isinstance(block.get("tests"), list) else []
    for rec in tests:
        f = from_record(rec, rows) if isinstance(rec, dict) else None
        if f is not None:
            out.figures.append(f)
    verify = next((r.get("verify") for r in tests if isinstance(r, dict)), None)
    if "ivshmem" in out.entries:
        out.figures = ivshmem_frames(run, verify) + out.figures
    return out


def find(figures, transport, test, size):
    return next((f for f in figures if (f.transport, f.test, f.size_bytes) == (transport, test, size)), None)


def ratio(a, b):
    return None if a is None or b is None or b == 0 else a / b


def ratio_sentences(figures, fmt_ratio):
    """ivshmem over each other transport, one sentence per test and size that both ran."""
    lines = []
    for f in figures:
        if f.transport == "ivshmem":
            continue
        mine = find(figures, "ivshmem", f.test, f.size_bytes)
        if mine is None:
            continue
        size = f"{f.size_bytes}B"
        if f.test == "pingpong":
            lines.append(f"{size} ping-pong: ivshmem's round trip p50 is {fmt_ratio(ratio(mine.latency.get(50), f.latency.get(50)))}"
                         f" that of {f.transport}")
            continue
        unit = UNITS[f.test]
        lines.append(f"{size} {unit}: ivshmem {fmt_ratio(ratio(mine.rate, f.rate))} the {unit}/s of {f.transport} "
                     f"at {fmt_ratio(ratio(mine.cpu_per_frame_s, f.cpu_per_frame_s))} the CPU per {unit[:-1]}")
    return lines

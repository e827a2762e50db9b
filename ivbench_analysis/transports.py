"""The transport comparison: transport_results.csv (one row per frame or message a transport carried) and
run.json's `transports` block (which transports ran or were skipped, and each test's counts, 1-second
windows and CPU), plus ivshmem's frames from the stream test. Pure functions: figures and ratios.

Clocks: latency_ns is the host's (start of the send to the consumer's acknowledgement); CPU per frame is
each side's getrusage over the test divided by the frames it carried. Rates are medians of the raw
1-second window counts host_writer records.

ivshmem's ratio over another transport is a ratio of medians of samples measured in the same run (rates:
the 1-second windows; ping-pong: the round trips; CPU: one figure per run), with its 95% interval from
intervals.same_run_ratio over the runs of a set (one run: over its windows or round trips)."""

import math
import statistics
from dataclasses import dataclass, field
from typing import Optional

import numpy as np

from . import intervals
from .load import TRANSPORT_SPEC, load_extra
from .manifest import lookup
from .model import TRANSPORT_NAMES as TRANSPORTS, TRANSPORT_TESTS as TESTS
from .streams import H2G, LATENCY_PERCENTILES, load_streams, stream_figures

TRANSPORT_CSV = TRANSPORT_SPEC.filename
# The samples per run and side that a ratio's interval resamples at most (thinned).
RATIO_SAMPLES = 2000
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
    latencies: tuple = ()  # every acknowledged frame's latency_ns, for the ratios' intervals
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


def finite(latency_ns):
    return tuple(float(v) for v in latency_ns if v is not None and not math.isnan(v))


def percentiles(values):
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
        f.latencies = finite(mine["latency_ns"].tolist())
        f.latency = percentiles(f.latencies)
    cpu = [_number(lookup(rec, "host_cpu", k, under="transports.tests[]")) for k in ("user_s", "sys_s")]
    if None not in cpu and f.sent:
        f.host_cpu_per_frame_s = sum(cpu) / f.sent
    guest = _number(rec.get("guest_cpu_s"))
    if guest is not None and f.acked:
        f.guest_cpu_per_frame_s = guest / f.acked
    return f


def ivshmem_frames(run, verify):
    """ivshmem's side of the frames comparison: its block streams of the same verification (the stream test) in
    the direction every other transport carries its frames, host to guest (a guest-to-host stream of the same
    run is another question, answered in STREAMING)."""
    out = []
    for stream in load_streams(run).streams:
        if (stream.direction != H2G or stream.policy != "block" or stream.verify != verify
                or not stream.size_bytes):
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


# run.transports of a run that compared no transports (load_transports returns None for it).
NO_COMPARISON = TransportSet()


def load_transports(run):
    """The run's transport comparison, or None when run.json has no `transports` block of a comparison; made
    once per run (the section, the plot and the answer all ask)."""
    if run.transports is None:
        run.transports = read_transports(run) or NO_COMPARISON
    return None if run.transports is NO_COMPARISON else run.transports


def read_transports(run):
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


@dataclass(frozen=True)
class TransportRatio:
    """ivshmem over one other transport in one test and size: of its rate (frames or messages) or, for the
    ping-pong, of its round trip p50 (intervals.Ratio: the interval None below MIN_INTERVAL_SAMPLES); cpu:
    of both sides' CPU per frame (None where a run lacks it); runs: how many runs had both."""
    transport: str
    test: str
    size_bytes: int
    ratio: Optional[intervals.Ratio]
    cpu: Optional[intervals.Ratio]
    runs: int


def samples(f):
    """The samples of the figure a ratio is of: the round trips of a ping-pong, else the 1-second windows
    (the overall rate when the test was shorter than a window)."""
    if f.test == "pingpong":
        return f.latencies
    return tuple(float(w) for w in f.windows) if f.windows else (() if not f.rate else (f.rate,))


def thinned(runs):
    """Each run's samples as evenly spaced quantiles of them, at most RATIO_SAMPLES in the longest run and as
    many in each other as its share (runs keep their weight; the median of one run is kept exactly): a
    ping-pong gives 100,000 round trips a run, and resampling them all would cost seconds for a ratio. The
    interval comes out a little wider, not narrower."""
    step = max(1.0, max(len(r) for r in runs) / RATIO_SAMPLES)
    out = []
    for r in runs:
        count = int(len(r) / step) | 1  # odd: the middle quantile is the median
        out.append(tuple(np.quantile(r, np.linspace(0, 1, count))) if count < len(r) else r)
    return out


def paired_ratio(pairs, pick):
    """ivshmem's samples over the other's, over the runs where both have some: the ratio of the medians of all
    samples, with the interval of intervals.same_run_ratio over each run's thinned samples."""
    kept = [(pick(mine), pick(other)) for mine, other in pairs]
    kept = [(a, b) for a, b in kept if a and b]
    if not kept:
        return None
    top, bottom = [a for a, _ in kept], [b for _, b in kept]
    try:
        point = intervals.pooled_median(top) / intervals.pooled_median(bottom)
        spread = intervals.same_run_ratio(thinned(top), thinned(bottom))
    except (ValueError, ZeroDivisionError):  # a median of 0: no ratio
        return None
    if not math.isfinite(point) or point <= 0:
        return None
    return intervals.Ratio(point, spread.low, spread.high, spread.method)


def transport_ratios(runs_figures):
    """ivshmem over each other transport, per test and size that both ran in a run; runs_figures: each
    run's list of TransportFigures (one list for a single run)."""
    keys = list(dict.fromkeys((f.transport, f.test, f.size_bytes) for figures in runs_figures for f in figures
                              if f.transport != "ivshmem"))
    out = []
    for transport, test, size in keys:
        pairs = [(find(figures, "ivshmem", test, size), find(figures, transport, test, size))
                 for figures in runs_figures]
        pairs = [(mine, other) for mine, other in pairs if mine is not None and other is not None]
        if not pairs:
            continue
        cpu = None
        if test != "pingpong":
            cpu = paired_ratio(pairs, lambda f: () if f.cpu_per_frame_s is None else (f.cpu_per_frame_s,))
        out.append(TransportRatio(transport, test, size, paired_ratio(pairs, samples), cpu, len(pairs)))
    return out


NO_INTERVAL = f"[no interval: fewer than {intervals.MIN_INTERVAL_SAMPLES} samples]"


def ratio_words(r, fmt_ratio, say_none=True):
    """A ratio with its 95% interval in brackets, "3.10x [2.80-3.40]"; without one, NO_INTERVAL when say_none."""
    if r is None:
        return fmt_ratio(None)
    if r.low is None or r.high is None:
        return f"{fmt_ratio(r.ratio)} {NO_INTERVAL}" if say_none else fmt_ratio(r.ratio)
    return f"{fmt_ratio(r.ratio)} [{fmt_ratio(r.low)[:-1]}-{fmt_ratio(r.high)[:-1]}]"


def ratio_sentence(r, fmt_ratio):
    """A TransportRatio in words: "4096B frames: ivshmem 3.10x [2.80-3.40] the frames/s of unix at 0.60x the
    CPU per frame" (the CPU's interval only where there is one: a run gives one sample of it)."""
    size = f"{r.size_bytes}B"
    if r.test == "pingpong":
        return f"{size} ping-pong: ivshmem's round trip p50 is {ratio_words(r.ratio, fmt_ratio)} that of {r.transport}"
    unit = UNITS[r.test]
    return (f"{size} {unit}: ivshmem {ratio_words(r.ratio, fmt_ratio)} the {unit}/s of {r.transport} "
            f"at {ratio_words(r.cpu, fmt_ratio, say_none=False)} the CPU per {unit[:-1]}")


def ratio_sentences(runs_figures, fmt_ratio):
    """One sentence per TransportRatio of transport_ratios(runs_figures)."""
    return [ratio_sentence(r, fmt_ratio) for r in transport_ratios(runs_figures)]

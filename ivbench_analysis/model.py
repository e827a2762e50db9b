"""What the analysis knows about a run: the files and their columns (read from schema/columns.txt, their
one definition), the tests, phases and stages, the write-path variants and mappings, and the typed records
the loader fills (Run) and the report sections fill (StageSummary, Summary)."""

from dataclasses import dataclass, field
from pathlib import Path
from typing import NamedTuple, Optional

from . import schema

LATENCY_CSV = schema.TABLES["latency"].file
BANDWIDTH_CSV = schema.TABLES["bandwidth"].file
REFERENCE_CSV = schema.TABLES["reference"].file
LATENCY_COUNTERS_CSV = schema.TABLES["latency_perf"].file
BANDWIDTH_COUNTERS_CSV = schema.TABLES["bandwidth_perf"].file
PHASE_COUNTERS_CSV = schema.TABLES["phase_perf"].file
WRITE_STUDY_CSV = schema.TABLES["write_study"].file
MAP_STUDY_CSV = schema.TABLES["map_study"].file

# The columns host_writer writes; the analysis needs every one of them.
LATENCY_COLUMNS = schema.columns("latency")
BANDWIDTH_COLUMNS = schema.columns("bandwidth")
REFERENCE_COLUMNS = schema.columns("reference")
# The timing files' text columns; every other column of theirs is a number.
TEXT_COLUMNS = schema.text_columns("latency") | schema.text_columns("bandwidth") | schema.text_columns("reference")
LATENCY_COUNTER_COLUMNS = schema.columns("latency_perf")
BANDWIDTH_COUNTER_COLUMNS = schema.columns("bandwidth_perf")
PHASE_COUNTER_COLUMNS = schema.columns("phase_perf")
# The counters of phase_performance.csv: its columns after the ones that name the message and the phase.
PHASE_COUNTERS = PHASE_COUNTER_COLUMNS[PHASE_COUNTER_COLUMNS.index("phase") + 1:]
WRITE_STUDY_COLUMNS = schema.columns("write_study")
MAP_STUDY_COLUMNS = schema.columns("map_study")

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

# Phase C's source column in each timing CSV: memcpy_prefaulted must be the same measurement.
PHASE_C_COLUMN = {"latency": "guest_second_pass_ns", "bandwidth": "guest_memcpy_ns",
                  "reference": "guest_second_pass_ns"}

# The guest's mappings of the region (src/shared/region.c ivb_map_kind_name), and the phases the mapping study times
# through each: letter, words, column of mapping_study.csv.
MAPPINGS = ("shm", "resource2", "resource2_wc", "ivshmem_region")

MAP_PHASES = [("A", "hot read", "hot_read_ns"), ("B", "cold read", "cold_read_ns"), ("C", "copy", "copy_ns"),
              ("W", "write", "write_ns")]

STUDY_STAGE_LABEL = "write-study variants (--write-study)"

LATENCY_TIMING_COLUMNS = [c for c in LATENCY_COLUMNS if c.endswith("_ns")]

BANDWIDTH_TIMING_COLUMNS = [c for c in BANDWIDTH_COLUMNS if c.endswith("_ns")]

REFERENCE_TIMING_COLUMNS = [c for c in REFERENCE_COLUMNS if c.endswith("_ns")]

NAMED_FRAMES = {"1080p": 1920 * 1080 * 3, "1440p": 2560 * 1440 * 3, "4k": 3840 * 2160 * 3}

# The latency test's stages, in time order: label, column, whether bytes/time is a bandwidth,
# the reference column that ran the same work on private memory.
class Stage(NamedTuple):
    """One stage of a message's time: label, column, whether bytes/time is a bandwidth, and the reference
    column that ran the same work on private memory (None: no counterpart)."""
    label: str
    column: str
    is_bandwidth: bool
    reference: Optional[str]


LATENCY_STAGES = [
    Stage("host memcpy (host -> region)", "host_memcpy_ns", True, "host_memcpy_ns"),
    Stage("A hot read (region)", "guest_hot_cache_ns", True, "guest_hot_cache_ns"),
    Stage("B cold read (region, flushed)", "guest_cold_cache_ns", True, "guest_cold_cache_ns"),
    Stage("C copy (region -> private)", "guest_second_pass_ns", True, "guest_second_pass_ns"),
    Stage("D verify (SHA-256 of copy)", "guest_cached_verify_ns", True, "guest_cached_verify_ns"),
    Stage("guest other (flushes etc.)", "guest_other_ns", False, None),
    Stage("notification (est.)", "notification_est_ns", False, None),
]

GUEST_PHASE_COLUMNS = ["guest_hot_cache_ns", "guest_cold_cache_ns", "guest_second_pass_ns", "guest_cached_verify_ns"]

# The bandwidth test records fewer guest phases: the rest of the round trip is A, B, flushes, signalling.
BANDWIDTH_STAGES = [
    Stage("host memcpy (host -> region)", "host_memcpy_ns", True, "host_memcpy_ns"),
    Stage("C copy (region -> private)", "guest_memcpy_ns", True, "guest_second_pass_ns"),
    Stage("D verify (SHA-256 of copy)", "guest_verify_ns", True, "guest_cached_verify_ns"),
    Stage("rest of round trip (A, B, signalling)", "roundtrip_other_ns", False, None),
]

# What names one message in each test's files. host_writer runs the reference once per frame it is given
# (the latency frame, then each bandwidth frame) and numbers each run from 1, so the same frame can occur
# twice with the same iterations: _nth (the how-manieth time a key occurs, in file order, which is
# message order in every file) tells the two apart and is part of every join.
MESSAGE_KEYS = {"latency": ["iteration"], "bandwidth": ["iteration", "frame_type"],
                "reference": ["iteration", "frame_type"]}


def variant_rank(variant):
    return (VARIANT_ORDER.index(variant), "") if variant in VARIANT_ORDER else (len(VARIANT_ORDER), variant)


@dataclass
class StageSummary:
    """A stage over the successful messages: its mean and median time (ns), and the median over messages
    of its share of the total (%)."""
    label: str
    column: str
    is_bandwidth: bool
    reference: Optional[str]
    mean: float
    median: float
    median_share: float


@dataclass
class Summary:
    """What the report sections hand to the short summary on stdout (None / empty: not in this run)."""
    latency: Optional[str] = None
    bandwidth: Optional[str] = None
    bandwidth_frames: list = field(default_factory=list)
    bottleneck_latency: list = field(default_factory=list)
    bottleneck_bandwidth: list = field(default_factory=list)
    copy_study: list = field(default_factory=list)
    transports: list = field(default_factory=list)  # (transports.TransportRatio, its sentence), for the answer


@dataclass
class Run:
    """Everything a results folder holds, loaded and checked: each table a pandas DataFrame with numeric
    columns (None: the file is absent or, for an extra file, unusable), run.json as parsed (empty when
    absent), and what the loader noticed. The timing tables carry derived columns (one_way_est_ns,
    guest_other_ns, roundtrip_other_ns, *_calc_mbps, guest_study_ns) and _nth (see MESSAGE_KEYS)."""
    folder: Path
    latency: object
    bandwidth: object
    reference: object
    latency_counters: object
    bandwidth_counters: object
    phase_counters: object
    write_study: object
    map_study: object
    latency_stages: list
    bandwidth_stages: list
    manifest: dict
    latency_frame_bytes: Optional[int]
    notes: list
    input_errors: list
    stream: object = None  # stream_results.csv (ivbench_analysis/streams.py pairs it with run.json's streams)
    rejected_rows: list = field(default_factory=list)  # load.RejectedRow: rows left out, not clean CSV
    streams: object = None  # streams.StreamSet: made once, by streams.load_streams
    transports: object = None  # transports.TransportSet: made once, by transports.load_transports

    def timings(self, test):
        """The timing table of a test in TESTS."""
        return {"latency": self.latency, "bandwidth": self.bandwidth, "reference": self.reference}[test]


# The transport comparison (transport_results.csv, run.json's transports): host_writer's --transport names and
# the tests each carries (src/shared/transport.c).
TRANSPORT_NAMES = ("ivshmem", "unix", "tcp", "pipe", "vsock", "virtio-serial", "virtio-net")
TRANSPORT_TESTS = ("frames", "messages", "pingpong")

"""run.json's fields as the analysis reads them: lookups that tolerate a missing level, frame sizes,
the mode and interval, CPU and doorbell records (None when a value cannot be right)."""

import math

from .model import NAMED_FRAMES
from .run_schema import check_path


MANIFEST_JSON = "run.json"

TCG_WARNING = "TCG: timings are functional only, not hardware performance"

# The two programs' waits (src/shared/protocol.c): how each side learns that the other has written.
MODE_WORDS = {
    "polling": "each side spins on the other's state word while it waits (a core each)",
    "doorbell": "each side sleeps until the other rings it (ivshmem-doorbell interrupts, eventfds)",
}

SIDES = ("host", "guest")

CPU_FIELDS = ("user_s", "sys_s", "wall_s", "messages")  # host.cpu, guest.cpu (src/host/manifest.c)

BELL_FIELDS = ("peer_id", "rings_sent", "rings_received", "late_wakeups")  # host.doorbell, guest.doorbell

# getrusage counts in scheduler ticks: a one-thread program may show a tick more CPU than wall time.
CPU_SLACK_S = 0.1


def is_tcg(manifest):
    return str(lookup(manifest, "meta", "accel", default="")).lower() == "tcg"


def lookup(mapping, *keys, default=None, under=""):
    """mapping[k1][k2]... or default when a level is missing or not an object. mapping is run.json, or the
    value at the schema path `under` (e.g. "streams[]"); a path schema/run.txt does not declare is a
    ValueError, so the analysis cannot ask for a key nothing writes."""
    check_path(".".join((under, *keys)) if under else ".".join(keys))
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
    for key in ("latency_frame_bytes", "latency_frame"):
        size = parse_frame_bytes(lookup(manifest, "options", key))
        if size:
            return size
    return None


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

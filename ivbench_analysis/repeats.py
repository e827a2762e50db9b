"""Repeated runs: a folder of run-* folders loaded as one set, and the headline figures of a set (each
stage's time, with MB/s where it moves a frame; stream latency and frames/s) with their 95% intervals
over runs (intervals.median_interval), the phases left out as switched out, and each run's noise verdict.

A headline figure pools the successful samples of every run that has it. A guest phase during which the
guest was switched out or migrated (phase_performance.csv: context_switches or migrations > 0 for that
message and phase) measured the scheduler, not the memory: its sample is left out and counted. A sample
whose counters are empty or missing is kept (nothing says it was disturbed)."""

import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional

import numpy as np

from . import intervals, noise
from .load import STREAM_SPEC, InputError, load_run, warn
from .manifest import lookup
from .model import BANDWIDTH_CSV, LATENCY_CSV, MESSAGE_KEYS
from .safe_io import inside
from .stats import frames_by_size, successful
from .streams import H2G, load_streams, stream_figures

RUN_FOLDER = re.compile(r"run-([0-9]+)\Z")

# run.json fields that change what a set's figures mean: runs that differ in one of them measured different
# things, and pooling their samples would give a figure of neither. A run that differs from the set's first
# run in a field both recorded is refused. Fields that only change how many samples a run has (iterations,
# warm-up, timeout) or how it was built may differ.
ALIKE_FIELDS = [("protocol_version",), ("meta", "accel"), ("guest", "mapping"), ("guest", "memory_type")] + [
    ("options", name) for name in ("latency_frame_bytes", "frames", "mode", "interval_us", "write_study",
                                   "map_study", "stream_frames", "stream_policy", "stream_consume",
                                   "stream_direction", "verify", "slots", "fps")]
# The files whose rows are a run's samples: a file that is also another run's counts that run twice.
SAMPLE_FILES = (LATENCY_CSV, BANDWIDTH_CSV, STREAM_SPEC.filename)


# Guest phases as phase_performance.csv names them, the timing column of each test that holds the
# phase, and what one sample of it is called in "3 of 30 copies left out".
PHASE_OF_COLUMN = {
    "guest_hot_cache_ns": "A_hot_read", "guest_cold_cache_ns": "B_cold_read",
    "guest_second_pass_ns": "C_copy", "guest_cached_verify_ns": "D_verify", "guest_memcpy_ns": "C_copy",
    "guest_verify_ns": "D_verify",
}
SAMPLE_WORDS = {"A_hot_read": "reads", "B_cold_read": "reads", "C_copy": "copies", "D_verify": "verifications"}

# The headline stages of each test: timing column, label. Phases A-D are filtered as above.
LATENCY_FIGURES = [
    ("host_memcpy_ns", "host memcpy"), ("roundtrip_ns", "roundtrip"),
    ("guest_hot_cache_ns", "A hot read"), ("guest_cold_cache_ns", "B cold read"),
    ("guest_second_pass_ns", "C copy"), ("guest_cached_verify_ns", "D verify"),
    ("notification_est_ns", "notification (est.)"),
]
# Stages that move the whole frame: the ones MB/s is given for (roundtrip and notification do not).
LATENCY_FRAME_STAGES = {"host_memcpy_ns", "guest_hot_cache_ns", "guest_cold_cache_ns", "guest_second_pass_ns",
                        "guest_cached_verify_ns"}
BANDWIDTH_FIGURES = [("host_memcpy_ns", "host memcpy"), ("guest_memcpy_ns", "C copy"), ("total_ns", "total")]
REFERENCE_FIGURES = [("host_memcpy_ns", "host memcpy"), ("guest_hot_cache_ns", "A hot read"),
                     ("guest_cold_cache_ns", "B cold read"), ("guest_second_pass_ns", "C copy"),
                     ("guest_cached_verify_ns", "D verify")]

# Stream frames/s is counted per whole second of the stream (publish_ns from its start), so that a run
# gives one sample per second to resample; a stream shorter than that gives one sample (its mean rate).


@dataclass(frozen=True)
class FigureSpec:
    """One headline figure: key (the same in every run and result set), label, TIME or RATE, its unit,
    and the bytes each sample moved (MB/s is shown beside a time; None: not a frame transfer)."""
    key: str
    label: str
    kind: str
    unit: str
    size: Optional[int] = None


@dataclass(frozen=True)
class Samples:
    """One run's samples of a figure (ns, or per second for a rate), and how many were left out as
    switched out of how many successful ones (their values in left_out_values)."""
    values: tuple
    left_out: int = 0
    total: int = 0
    phase: Optional[str] = None
    left_out_values: tuple = ()


@dataclass
class RunSet:
    """The runs of a result set (one folder, or the run-* folders of a repeated run), their labels, the
    ones that could not be loaded (label, one-line error), and whether it is a folder of runs."""
    folder: Path
    runs: list
    labels: list
    failed: list = field(default_factory=list)
    repeated: bool = False


@dataclass(frozen=True)
class FigureResult:
    """A figure over a set: the interval (None when no run had a sample), the per-run samples, the
    switched-out count, and the labels of the noisy runs whose samples it holds. all_switched: every
    sample was switched out, and the figure is over all of them (a phase longer than a scheduler tick
    under TCG always is): shown, never reliable, never compared."""
    spec: FigureSpec
    figure: Optional[intervals.Figure]
    per_run: tuple
    left_out: int
    total: int
    noisy_runs: tuple
    all_switched: bool = False

    @property
    def reliable(self) -> bool:
        return self.figure is not None and self.figure.reliable and not self.all_switched


def run_folders(folder):
    """The run-N folders of a folder of repeated runs, in N order; None when the folder holds a run
    itself (its own timing CSVs) or no run-N folder."""
    if (folder / LATENCY_CSV).exists() or (folder / BANDWIDTH_CSV).exists() or not folder.is_dir():
        return None
    found = [(int(m.group(1)), p) for p in folder.iterdir() if p.is_dir() and (m := RUN_FOLDER.match(p.name))]
    return [p for _, p in sorted(found)] or None


def identity(path):
    st = os.stat(path)
    return st.st_dev, st.st_ino


def admit_folders(folder, folders):
    """The run folders of a set that may be pooled, and the refused ones as (label, why): a run-N that is a
    symlink leading out of the set's folder (its files are not the set's, and its report would be written
    out there), and a second name of a run already in the set (a symlink, or the same folder or sample file
    reached by another path: its samples would count twice)."""
    root = os.path.realpath(folder)
    seen, kept, refused = {}, [], []
    for path in folders:
        real = os.path.realpath(path)
        if path.is_symlink() and not inside(root, real):
            refused.append((path.name, "a symlink that leads out of the folder of repeated runs; refused"))
            continue
        names = [(real, "folder")] + [(os.path.join(real, f), f) for f in SAMPLE_FILES
                                      if os.path.isfile(os.path.join(real, f))]
        try:
            ids = [(identity(name), what) for name, what in names]
        except OSError as err:
            refused.append((path.name, f"cannot be read ({err.strerror})"))
            continue
        twice = next(((seen[i], what) for i, what in ids if i in seen), None)
        if twice is not None:
            other, what = twice
            thing = "the same folder" if what == "folder" else f"the same {what}"
            refused.append((path.name, f"{thing} as {other} (two names for one run: its samples would count "
                                        "twice); refused"))
            continue
        seen.update((i, path.name) for i, _ in ids)
        kept.append(path)
    return kept, refused


def unlike_runs(runs, labels):
    """The indexes of the runs that differ from the first in a field of ALIKE_FIELDS both recorded, each with
    why (the field and both values)."""
    out = []
    first = runs[0].manifest
    for i, run in enumerate(runs[1:], start=1):
        differ = []
        for path in ALIKE_FIELDS:
            a, b = lookup(first, *path), lookup(run.manifest, *path)
            if a is not None and b is not None and a != b:
                differ.append(f"{'.'.join(path)} {str(b)[:40]!r} (not {str(a)[:40]!r})")
        if differ:
            out.append((i, f"differs from {labels[0]} in {', '.join(differ)}: it measured something else; "
                           "refused"))
    return out


def refuse_unlike(run_set):
    """run_set without the runs unlike its first (unlike_runs), which move to its failed list; returns
    their indexes in the original list."""
    unlike = unlike_runs(run_set.runs, run_set.labels)
    gone = {i for i, _ in unlike}
    run_set.failed += [(run_set.labels[i], why) for i, why in unlike]
    run_set.runs = [r for i, r in enumerate(run_set.runs) if i not in gone]
    run_set.labels = [label for i, label in enumerate(run_set.labels) if i not in gone]
    return gone


def single_set(run):
    """A RunSet of one loaded run, labelled by its folder's name."""
    return RunSet(run.folder, [run], [run.folder.resolve().name])


def load_set(folder, loaded=None):
    """The RunSet of a folder: its run-N folders (a run that fails to load is kept in `failed` with its
    error) or the folder itself as one run (InputError when it cannot be loaded). loaded: runs already
    loaded, by folder, to reuse."""
    loaded = loaded or {}
    folders = run_folders(folder)
    if folders is None:
        return single_set(loaded.get(folder) or load_run(folder))
    admitted, failed = admit_folders(folder, folders)
    runs, labels = [], []
    for path in admitted:
        try:
            runs.append(loaded.get(path) or load_run(path))
            labels.append(path.name)
        except InputError as err:
            failed.append((path.name, str(err)))
    if not runs:
        raise InputError(f"{folder}: none of its {len(folders)} run folders could be loaded "
                         f"({failed[0][0]}: {failed[0][1]})")
    run_set = RunSet(folder, runs, labels, failed, repeated=True)
    refuse_unlike(run_set)
    return run_set


def disturbed(run, test, rows, keys, phase):
    """Per row of a timing table, whether its message's phase was switched out or migrated."""
    counters = run.phase_counters
    if counters is None or rows.empty:
        return np.zeros(len(rows), dtype=bool)
    chosen = counters[(counters["test"] == test) & (counters["phase"] == phase)]
    flags = chosen["context_switches"].fillna(0) > 0
    if "migrations" in chosen.columns:
        flags |= chosen["migrations"].fillna(0) > 0
    join = [k for k in keys if k in chosen.columns] + ["_nth"]
    table = chosen[join].assign(_disturbed=flags).drop_duplicates(join)
    merged = rows[join].merge(table, on=join, how="left")
    return merged["_disturbed"].fillna(False).to_numpy(dtype=bool)


def stage_samples(run, test, rows, column, keys):
    """The samples of a timing column (successful rows); guest phases without the switched-out ones."""
    values = rows[column].to_numpy(dtype=float)
    phase = PHASE_OF_COLUMN.get(column)
    if phase is None:
        return Samples(tuple(values), 0, len(values))
    out = disturbed(run, test, rows, keys, phase)
    return Samples(tuple(values[~out]), int(out.sum()), len(values), phase, tuple(values[out]))


def kept_values(samples_per_run):
    """The samples a figure is over, one sequence per run that has some: the kept ones; when no run kept one,
    every switched-out one instead (all_switched True: shown, never reliable, never compared)."""
    kept = [s.values for s in samples_per_run if s.values]
    if kept:
        return kept, False
    return [s.left_out_values for s in samples_per_run if s.left_out_values], True


def stream_samples(run):
    """(FigureSpec, Samples) of the stream test: per-frame latency and frames/s per whole second, per frame
    type, policy, checksum and direction; the STREAMING section's own figures (streams.stream_figures), so that
    the two never differ. A host-to-guest stream keeps the key it had before streams had a direction
    (stream/<frame>/<policy>/<check>); a guest-to-host one adds /guest-to-host (its latency is the host's hold
    of a frame, not a publish-to-release: a figure of its own), and each consumer of a stream with several its
    own /consumer-N. A duplex stream's two directions (--stream-direction both) are figures of their own too, each
    its direction and /duplex (both ways at once is not the same measurement as one way alone)."""
    latency, rates, sizes, several = {}, {}, {}, set()
    streams = load_streams(run)
    for stream in streams.streams:
        key = (stream.frame_type, stream.policy, stream.verify, stream.direction, stream.consumer, stream.duplex)
        rates.setdefault(key, []).extend(float(w) for w in stream_figures(stream).windows)
        sizes[key] = stream.size_bytes
        if stream.several_consumers:
            several.add(key)
        if streams.table is not None and stream.rows is not None:
            kept = stream.rows[stream.rows["_kept"]]["latency_ns"].to_numpy(dtype=float)
            latency[key] = np.concatenate([latency[key], kept]) if key in latency else kept
    out = []
    for key in sorted(rates):
        # Each consumer of a stream with several has figures of its own: /consumer-N; a duplex stream /duplex.
        words = (key[:3] if key[3] == H2G and not key[5] else key[:4]) + \
            ((f"consumer-{key[4]}",) if key in several else ()) + (("duplex",) if key[5] else ())
        name, path = "stream " + " ".join(words), "stream/" + "/".join(words)
        values = tuple(latency.get(key, ()))
        if values:
            what = "latency" if key[3] == H2G else "host hold (take to release)"
            out.append((FigureSpec(f"{path}/latency", f"{name} {what}", intervals.TIME, "us", None),
                        Samples(values, 0, len(values))))
        if rates[key]:
            out.append((FigureSpec(f"{path}/fps", f"{name} frames/s", intervals.RATE, "frames/s", sizes[key]),
                        Samples(tuple(rates[key]), 0, len(rates[key]))))
    return out


def run_samples(run):
    """Every headline figure of one run: ([(FigureSpec, Samples)] in report order, figures the run did
    not measure absent; [what could not be used, one line each])."""
    out, problems = [], []
    latency = successful(run.latency)
    if latency is not None and not latency.empty:
        size = run.latency_frame_bytes
        for column, label in LATENCY_FIGURES:
            spec = FigureSpec(f"latency/{column}", f"latency {label}", intervals.TIME, "us",
                              size if column in LATENCY_FRAME_STAGES else None)
            out.append((spec, stage_samples(run, "latency", latency, column, MESSAGE_KEYS["latency"])))
    for test, figures in (("bandwidth", BANDWIDTH_FIGURES), ("reference", REFERENCE_FIGURES)):
        rows = successful(run.timings(test))
        if rows is None or rows.empty:
            continue
        for frame, size in frames_by_size(rows):
            frame_rows = rows[rows["frame_type"] == frame]
            for column, label in figures:
                spec = FigureSpec(f"{test}/{frame}/{column}", f"{test} {frame} {label}", intervals.TIME, "us",
                                  int(size))
                out.append((spec, stage_samples(run, test, frame_rows, column, MESSAGE_KEYS[test])))
    out += stream_samples(run)
    return out, problems


def run_noise(run):
    """The noise verdict of one run from run.json's noise block and its phase counters; ValueError when
    either is malformed."""
    switches = None
    if run.phase_counters is not None:
        switches = noise.phase_switches(noise.phase_counters(run.phase_counters.to_dict("records")))
    block = run.manifest.get("noise") if isinstance(run.manifest, dict) else None
    return noise.noise_verdict(noise.inputs_from_manifest(block, switches))


@dataclass(frozen=True)
class NoiseResult:
    """A run's verdict (None when its inputs were unusable: error says why)."""
    label: str
    verdict: Optional[noise.NoiseVerdict]
    error: Optional[str] = None

    @property
    def noisy(self):
        return self.verdict is not None and self.verdict.state == noise.NOISY


def set_noise(run_set, record=True):
    """Each run's NoiseResult. A malformed noise block or phase counter is an unusable input of that run:
    with record, named on stderr and counted in its input_errors (exit status 1), as the loader does."""
    out = []
    for run, label in zip(run_set.runs, run_set.labels):
        try:
            out.append(NoiseResult(label, run_noise(run)))
        except ValueError as err:
            out.append(NoiseResult(label, None, str(err)))
            if record:
                warn(f"{run.folder}: {err}; no noise verdict")
                run.input_errors.append(str(err))
    return out


def set_figures(run_set, noise_results=(), resamples=intervals.RESAMPLES):
    """The FigureResult of every headline figure of a set, in report order, and what could not be used
    ("label: problem")."""
    noisy = {r.label for r in noise_results if r.noisy}
    specs, per_key, problems = {}, {}, []
    for run, label in zip(run_set.runs, run_set.labels):
        samples_of_run, trouble = run_samples(run)
        problems += [f"{label}: {t}" for t in trouble]
        for spec, samples in samples_of_run:
            specs.setdefault(spec.key, spec)
            per_key.setdefault(spec.key, []).append((label, samples))
    results = []
    for key, spec in specs.items():
        runs = per_key[key]
        kept, all_switched = kept_values([s for _, s in runs])
        figure = intervals.median_interval(kept, resamples=resamples) if kept else None
        results.append(FigureResult(spec, figure, tuple(runs), sum(s.left_out for _, s in runs),
                                    sum(s.total for _, s in runs),
                                    tuple(label for label, s in runs if label in noisy and (s.values or all_switched)),
                                    all_switched and figure is not None))
    return results, problems

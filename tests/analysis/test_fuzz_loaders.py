"""Fuzzing the analysis' loaders: a valid synthetic results folder, mutated by bytes, lines,
fields and run.json values, must give a report or the package's InputError, never another exception.

In `make check-analysis` the examples are few and derandomized (reproducible in CI); `make fuzz` runs many
more with HYPOTHESIS_PROFILE=long (random, and the plots too). A crash found is added to CRASHES below."""

import json
import os
import tempfile
from pathlib import Path

import numpy as np
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from hypothesis.configuration import set_hypothesis_home_dir

import builders as b
from ivbench_analysis.checks import find_suspects
from ivbench_analysis.load import InputError, load_run
from ivbench_analysis.model import Summary
from ivbench_analysis.report import build_report

# Hypothesis writes its caches (a Unicode table) under .hypothesis/ in the current folder, the source tree, even
# without an example database: they go to the build folder unless HYPOTHESIS_STORAGE_DIRECTORY says where.
set_hypothesis_home_dir(os.environ.get("HYPOTHESIS_STORAGE_DIRECTORY")
                        or str(Path(__file__).resolve().parents[2] / "build" / "hypothesis"))
settings.register_profile("check", max_examples=12, derandomize=True, deadline=None, database=None,
                          suppress_health_check=[HealthCheck.too_slow])
settings.register_profile("long", max_examples=int(os.environ.get("FUZZ_EXAMPLES", "2000")), deadline=None, database=None,
                          suppress_health_check=[HealthCheck.too_slow])
PROFILE = os.environ.get("HYPOTHESIS_PROFILE", "check")
settings.load_profile(PROFILE)


def valid_folder():
    """{file name: bytes} of a small valid results folder with every file the analysis reads."""
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        latency = b.latency_rows(6, seed=71, failed={2})
        bandwidth = b.bandwidth_rows(("64B", "1080p"), per_frame=3, seed=72)
        reference = b.reference_rows([("4096B", 4096)], per_size=2, seed=73)
        b.write_results(folder, latency, bandwidth, reference, b.study_manifest())
        messages = b.study_messages(latency=latency, bandwidth=bandwidth, reference=reference)
        b.write_extra(folder, latency_perf=b.perf_rows(latency, lambda m: 4096),
                      bandwidth_perf=b.perf_rows(bandwidth, lambda m: m["size_bytes"]),
                      phases=b.phase_rows([m[:4] for m in messages]), study=b.study_rows(messages))
        rows = [{"test": "latency", "iteration": r["iteration"], "frame_type": "4096B", "size_bytes": 4096,
                 "mapping": mapping, "memory_type": "write-back", "hot_read_ns": 2000, "cold_read_ns": 6000,
                 "copy_ns": 20000, "success": r["success"]}
                for r in latency for mapping in ("resource2", "ivshmem_region")]
        b.write_csv(folder / "mapping_study.csv", b.MAP_STUDY_COLUMNS, rows)
        return {p.name: p.read_bytes() for p in sorted(folder.iterdir())}


VALID = valid_folder()
CSV_FILES = sorted(n for n in VALID if n.endswith(".csv"))

# Field values a hostile writer would try: separators, quotes, line breaks, signs, exponents, huge and odd numbers.
FIELD_TEXT = st.one_of(
    st.sampled_from(["", "0", "-1", "3.5", "1e300", "nan", "inf", "-0", str(2 ** 64), str(2 ** 64 - 1), "1" * 400,
                     '"', '","', "\n", "\r", "a,b", "0x10", " 1", "1 ", "\x00", "é", "\u202e", "A_hot_read",
                     "memcpy_thp", "ivshmem_region", "reference", "latency", "1080p"]),
    st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=12))
JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers(min_value=-2 ** 70, max_value=2 ** 70) | st.floats() | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=3),
    max_leaves=8)


def mutate_bytes(data, draw):
    """Flip, insert or delete a few bytes."""
    data = bytearray(data)
    for _ in range(draw(st.integers(1, 4))):
        at = draw(st.integers(0, max(len(data) - 1, 0)))
        how = draw(st.sampled_from(["flip", "insert", "delete"]))
        if how == "flip" and data:
            data[at] ^= draw(st.integers(1, 255))
        elif how == "insert":
            data[at:at] = draw(st.binary(min_size=1, max_size=4))
        elif data:
            del data[at]
    return bytes(data)


def mutate_lines(data, draw):
    """Drop, repeat, swap or cut lines (the header too)."""
    lines = data.split(b"\n")
    at = draw(st.integers(0, len(lines) - 1))
    how = draw(st.sampled_from(["drop", "repeat", "swap", "cut"]))
    if how == "drop":
        del lines[at]
    elif how == "repeat":
        lines[at:at] = [lines[at]] * draw(st.integers(1, 3))
    elif how == "swap":
        other = draw(st.integers(0, len(lines) - 1))
        lines[at], lines[other] = lines[other], lines[at]
    else:
        lines[at] = lines[at][:draw(st.integers(0, len(lines[at])))]
    return b"\n".join(lines)


def mutate_fields(data, draw):
    """Replace fields of data rows with hostile text."""
    lines = data.decode("utf-8").split("\n")
    for _ in range(draw(st.integers(1, 3))):
        at = draw(st.integers(1, max(len(lines) - 2, 1)))
        fields = lines[at].split(",")
        fields[draw(st.integers(0, len(fields) - 1))] = draw(FIELD_TEXT)
        lines[at] = ",".join(fields)
    return "\n".join(lines).encode("utf-8", "surrogatepass")


def mutate_json(data, draw):
    """Replace a value anywhere in run.json (or the whole of it) with random JSON."""
    manifest = json.loads(data)
    node, key = manifest, None
    while True:
        keys = list(node) if isinstance(node, dict) else list(range(len(node))) if isinstance(node, list) else []
        if not keys or draw(st.integers(0, 3)) == 0:
            break
        parent, key = node, draw(st.sampled_from(keys))
        node = node[key]
    value = draw(JSON_VALUES)
    if key is None:
        manifest = value
    else:
        parent[key] = value
    return json.dumps(manifest).encode()


MUTATIONS = {"bytes": mutate_bytes, "lines": mutate_lines, "fields": mutate_fields}


@st.composite
def mutated_folders(draw):
    """{file name: bytes} of VALID with one to three files mutated (or removed)."""
    files = dict(VALID)
    for _ in range(draw(st.integers(1, 3))):
        name = draw(st.sampled_from(sorted(VALID)))
        how = draw(st.sampled_from(["json" if name == "run.json" else "fields", "bytes", "lines", "remove"]))
        if how == "remove":
            files.pop(name, None)
        elif name in files:
            files[name] = mutate_json(files[name], draw) if how == "json" else MUTATIONS[how](files[name], draw)
    return files


def analyse_in_process(files, plots=False):
    """What analyze_results.py does with a folder holding `files`, in this process: InputError is an
    answer; any other exception fails the test."""
    with tempfile.TemporaryDirectory(prefix="ivb-fuzz-") as tmp:
        folder = Path(tmp)
        for name, data in files.items():
            (folder / name).write_bytes(data)
        try:
            run = load_run(folder)
        except InputError:
            return
        with np.errstate(all="ignore"):
            report = build_report(run, find_suspects(run), Summary())
            if plots:
                from ivbench_analysis.plots import write_plots
                write_plots(run)
        assert report.startswith("ivshmem-bench performance report")


def edited_json(change):
    def edit(files):
        manifest = json.loads(files["run.json"])
        change(manifest)
        return dict(files, **{"run.json": json.dumps(manifest).encode()})
    return edit


def zero_times(files):
    lines = files["latency_results.csv"].decode().split("\n")
    header = lines[0].split(",")
    for i in range(1, len(lines) - 1):
        fields = lines[i].split(",")
        for col in ("guest_hot_cache_ns", "guest_hot_cache_us"):
            fields[header.index(col)] = "0"
        lines[i] = ",".join(fields)
    return dict(files, **{"latency_results.csv": "\n".join(lines).encode()})


def huge_roundtrip(files):
    """A round trip of 2^64-1 ns in a file without failed rows: read as uint64, the SUSPECT checks' arithmetic
    could not mix it with int64."""
    lines = [line for line in files["latency_results.csv"].decode().split("\n") if not line.endswith(",0")]
    header, fields = lines[0].split(","), lines[1].split(",")
    for column in ("roundtrip_ns", "total_ns"):
        fields[header.index(column)] = str(2 ** 64 - 1)
    lines[1] = ",".join(fields)
    return dict(files, **{"latency_results.csv": "\n".join(lines).encode()})


# Inputs that crashed the analysis before (found by hand and by this fuzzer; "internal error" on the main branch
# of the first hardening round): each stays a case.
CRASHES = {
    "zero-times": zero_times,
    "meta-a-list": edited_json(lambda m: m.update(meta=[m["meta"]])),
    "failure-iteration-a-list": edited_json(lambda m: m.update(failures=[{"test": "latency", "iteration": [2]}])),
    "nested-run-json": lambda files: dict(files, **{"run.json": b'{"a": ' + b"[" * 50_000 + b"]" * 50_000 + b"}"}),
    "roundtrip-2^64": huge_roundtrip,
}


def crash_case(name):
    return CRASHES[name](VALID)


def test_the_valid_folder_is_analysed():
    analyse_in_process(VALID)


def test_known_crashes_stay_fixed():
    for name in sorted(CRASHES):
        analyse_in_process(crash_case(name))


@given(mutated_folders())
@example(crash_case("zero-times"))
def test_mutated_folders_give_a_report_or_an_input_error(files):
    analyse_in_process(files, plots=PROFILE == "long")

"""Reading a results folder: each CSV checked against its columns (schema/columns.txt) and its values,
run.json, and the derived columns the report needs; the result is a Run. A file that cannot be used is
an InputError (timing files) or a note and a skipped table (extra files)."""

import csv
import json
import sys
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from . import PROG, schema
from .manifest import MANIFEST_JSON, latency_frame_bytes
from .model import (
    BANDWIDTH_COLUMNS, BANDWIDTH_CSV, BANDWIDTH_STAGES, GUEST_PHASE_COLUMNS, LATENCY_COLUMNS, LATENCY_CSV,
    LATENCY_STAGES, MAPPINGS, MESSAGE_KEYS, PREFAULTED, REFERENCE_COLUMNS, REFERENCE_CSV, STUDY_STAGE_LABEL, TESTS,
    TEXT_COLUMNS, Run, Stage,
)
from .stats import mbps
from .streams import POLICIES, VERIFIES


class InputError(Exception):
    """A results folder or file the analysis cannot use; the message is one line for stderr."""


def warn(message):
    print(f"{PROG}: {message}", file=sys.stderr)


def read_csv_file(path, columns, optional_numeric=False, text_columns=TEXT_COLUMNS, required=()):
    """Read one CSV into a DataFrame with numeric columns, or raise InputError saying what is wrong.

    Every column in `columns` must be present. Values must be numbers (text_columns are text); empty
    fields are allowed in rows with success=0 (the writer leaves timings empty when a message failed)
    and, when optional_numeric is set, anywhere except in the `required` columns (a counter that could
    not be read, a write-path variant that did not run).
    """
    name = path.name
    try:
        with open(path, newline="", encoding="utf-8") as f:
            rows = [row for row in csv.reader(f) if row]
    except UnicodeDecodeError:
        raise InputError(f"{name}: not a text CSV file")
    except csv.Error as err:
        raise InputError(f"{name}: cannot be parsed as CSV ({err})")
    except OSError as err:
        raise InputError(f"{name}: cannot be read ({err.strerror})")
    if not rows:
        raise InputError(f"{name}: file is empty (no header line)")
    header = [h.strip() for h in rows[0]]
    duplicates = sorted({h for h in header if header.count(h) > 1})
    if duplicates:
        raise InputError(f"{name}: wrong columns: {', '.join(duplicates)} more than once")
    missing = [c for c in columns if c not in header]
    if missing:
        more = f" and {len(missing) - 5} more" if len(missing) > 6 else ""
        raise InputError(f"{name}: wrong columns: missing {', '.join(missing[:5] if more else missing)}{more}")
    for lineno, row in enumerate(rows[1:], start=2):
        if len(row) != len(header):
            raise InputError(f"{name} line {lineno}: {len(row)} fields, the header has {len(header)}")
    table = pd.DataFrame(rows[1:], columns=header, dtype=str)
    table = table.apply(lambda col: col.str.strip())
    data = pd.DataFrame(index=table.index)
    for col in header:
        if col in text_columns or col not in columns and not optional_numeric:
            data[col] = table[col]
            continue
        values = pd.to_numeric(table[col].where(table[col] != ""), errors="coerce")
        bad = (table[col] != "") & ~np.isfinite(values)
        if bad.any():
            first = bad[bad].index[0]
            raise InputError(f"{name} line {first + 2}, column {col}: {table[col][first]!r} is not a number")
        data[col] = values
    if not optional_numeric:
        check_required_fields(name, data, columns)
    for col in required:
        empty = data[col].isna() if col not in text_columns else data[col] == ""
        if empty.any():
            first = empty[empty].index[0]
            raise InputError(f"{name} line {first + 2}: empty {col}")
    return data


def check_required_fields(name, data, columns):
    """iteration and success are always set; every other field is set in successful rows."""
    for col in ("iteration", "success"):
        if col in columns and data[col].isna().any():
            first = data[col][data[col].isna()].index[0]
            raise InputError(f"{name} line {first + 2}: empty {col}")
    if not data["success"].isin([0, 1]).all():
        first = data.index[~data["success"].isin([0, 1])][0]
        raise InputError(f"{name} line {first + 2}: success is {data['success'][first]:g}, expected 0 or 1")
    succeeded = data[data["success"] == 1]
    for col in columns:
        empty = succeeded[col].isna() if col not in TEXT_COLUMNS else succeeded[col] == ""
        if empty.any():
            first = empty[empty].index[0]
            raise InputError(f"{name} line {first + 2}: empty {col} in a successful row")


@dataclass(frozen=True)
class TableSpec:
    """How one CSV file of the schema is loaded. A timing file (what is empty) must be usable or the
    analysis stops; an extra file (counters, studies: what names it) is skipped when broken. required:
    the fields that may never be empty in an extra file; allowed: the values some of its columns may take."""
    table: str
    what: str = ""
    required: tuple = ("iteration",)
    allowed: dict = field(default_factory=dict)

    @property
    def filename(self):
        return schema.TABLES[self.table].file

    @property
    def columns(self):
        return schema.columns(self.table)

    @property
    def text_columns(self):
        return schema.text_columns(self.table)


TIMING_SPECS = [TableSpec("latency"), TableSpec("bandwidth"), TableSpec("reference")]
# In the order load_run reads them.
EXTRA_SPECS = [
    TableSpec("latency_perf", "counters"),
    TableSpec("bandwidth_perf", "counters", required=("iteration", "frame_type")),
    TableSpec("phase_perf", "phase counters", required=("test", "iteration", "frame_type", "size_bytes", "phase"),
              allowed={"test": TESTS}),
    TableSpec("write_study", "write study",
              required=("test", "iteration", "frame_type", "size_bytes", "variant", "success"),
              allowed={"test": TESTS, "success": (0, 1)}),
    TableSpec("map_study", "mapping study",
              required=("test", "iteration", "frame_type", "size_bytes", "mapping", "memory_type", "success"),
              allowed={"test": ("latency", "bandwidth"), "mapping": MAPPINGS, "success": (0, 1)}),
]
# The stream test's frames: rows that do not say which stream they belong to or what became of them are unusable.
STREAM_SPEC = TableSpec("stream", "stream test", required=("frame_type", "size_bytes", "policy", "verify", "dropped",
                                                           "success"),
                        allowed={"policy": POLICIES, "verify": VERIFIES, "dropped": (0, 1), "success": (0, 1)})
TABLE_SPECS = TIMING_SPECS + EXTRA_SPECS + [STREAM_SPEC]


def load_optional_csv(folder, filename, columns, notes):
    """The table, or None with a note when the file is absent. Raises InputError when it is broken."""
    path = folder / filename
    if not path.exists():
        notes.append(f"{filename}: not found")
        return None
    return read_csv_file(path, columns)


def check_values(name, data, column, allowed):
    bad = ~data[column].isin(allowed)
    if bad.any():
        first = bad[bad].index[0]
        raise InputError(f"{name} line {first + 2}: {column} is {data[column][first]!r}, "
                         f"expected {', '.join(str(a) for a in allowed)}")


def load_extra(folder, spec, notes, errors):
    """A counter or study file: extra to the timings, so a broken one is skipped, reported on stderr
    and in the report, and makes the exit status 1 while the rest is still analysed. None when absent."""
    path = folder / spec.filename
    if not path.exists():
        notes.append(f"{spec.filename}: not found ({spec.what})")
        return None
    try:
        data = read_csv_file(path, spec.columns, optional_numeric=True, text_columns=spec.text_columns,
                             required=spec.required)
        for column, values in spec.allowed.items():
            check_values(spec.filename, data, column, values)
        return data
    except InputError as err:
        warn(f"{err}; {spec.what} skipped")
        notes.append(f"{err}; {spec.what} skipped")
        errors.append(str(err))
        return None


def load_manifest(folder, notes, errors):
    path = folder / MANIFEST_JSON
    if not path.exists():
        notes.append(f"{MANIFEST_JSON}: not found (environment unknown)")
        return {}
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError) as err:
        warn(f"{MANIFEST_JSON}: unreadable ({err}); environment unknown")
        notes.append(f"{MANIFEST_JSON}: unreadable ({err})")
        errors.append(f"{MANIFEST_JSON}: unreadable")
        return {}
    if not isinstance(manifest, dict):
        warn(f"{MANIFEST_JSON}: not a JSON object; environment unknown")
        notes.append(f"{MANIFEST_JSON}: not a JSON object")
        errors.append(f"{MANIFEST_JSON}: not a JSON object")
        return {}
    return manifest


def number_occurrences(data, keys):
    if data is not None:
        data["_nth"] = data.groupby(keys, sort=False).cumcount() if not data.empty else pd.Series(dtype=int)


def study_time(data, study, test, keys):
    """Per timing row, the guest's time in the write-study variants other than phase C itself (0 when none
    ran): with --write-study they run inside the round trip, after phase D."""
    keys = keys + ["_nth"]
    rows = study[(study["test"] == test) & (study["variant"] != PREFAULTED)]
    per_message = rows.groupby(keys)["copy_ns"].sum(min_count=1).rename("guest_study_ns").reset_index()
    merged = data[keys].merge(per_message, on=keys, how="left")
    return merged["guest_study_ns"].fillna(0).to_numpy()


def add_derived_latency_columns(data, study):
    data["one_way_est_ns"] = data["roundtrip_ns"] / 2
    data["guest_total_ns"] = data["roundtrip_ns"] - data["notification_est_ns"]
    data["guest_other_ns"] = data["guest_total_ns"] - data[GUEST_PHASE_COLUMNS].sum(axis=1, min_count=4)
    if study is not None:
        data["guest_study_ns"] = study_time(data, study, "latency", MESSAGE_KEYS["latency"])
        data["guest_other_ns"] -= data["guest_study_ns"]


def add_derived_bandwidth_columns(data, study):
    data["roundtrip_other_ns"] = data["roundtrip_ns"] - data["guest_memcpy_ns"] - data["guest_verify_ns"]
    if study is not None:
        data["guest_study_ns"] = study_time(data, study, "bandwidth", MESSAGE_KEYS["bandwidth"])
        data["roundtrip_other_ns"] -= data["guest_study_ns"]
    for col in ("host_memcpy", "guest_memcpy", "total"):
        data[f"{col}_calc_mbps"] = mbps(data["size_bytes"], data[f"{col}_ns"])


def add_map_messages(data):
    """host_writer writes, per message, one row per mapping the guest measured, in the order it ran them:
    _message names the message (a run of consecutive rows of one test, frame and iteration) for pairing the
    mappings; order is the position in that message's rotation (0 went first), from the column when the CSV
    has it, else from the row's position."""
    key = data[["test", "frame_type", "iteration", "size_bytes"]].astype(str).agg("/".join, axis=1)
    run_id = (key != key.shift()).cumsum()
    data["_message"] = run_id.astype(str)
    if "order" not in data.columns or data["order"].isna().all():
        data["order"] = data.groupby(run_id).cumcount()


def with_study_stage(stages, study, before):
    """The stage list with the write-study variants as a stage of their own, just before `before`."""
    if study is None:
        return list(stages)
    out = []
    for stage in stages:
        if stage.column == before:
            out.append(Stage(STUDY_STAGE_LABEL, "guest_study_ns", False, None))
        out.append(stage)
    return out


def load_run(folder):
    """Everything the folder holds, as a Run; raises InputError when there is nothing to analyse."""
    if not folder.exists():
        raise InputError(f"results folder not found: {folder}")
    if not folder.is_dir():
        raise InputError(f"not a folder: {folder}")
    notes, errors = [], []
    latency = load_optional_csv(folder, LATENCY_CSV, LATENCY_COLUMNS, notes)
    bandwidth = load_optional_csv(folder, BANDWIDTH_CSV, BANDWIDTH_COLUMNS, notes)
    if latency is None and bandwidth is None:
        raise InputError(f"{folder}: neither {LATENCY_CSV} nor {BANDWIDTH_CSV} found: nothing to analyse")
    if (latency is None or latency.empty) and (bandwidth is None or bandwidth.empty):
        raise InputError(f"{folder}: no iterations recorded in {LATENCY_CSV} or {BANDWIDTH_CSV}")
    reference = load_optional_csv(folder, REFERENCE_CSV, REFERENCE_COLUMNS, notes)
    manifest = load_manifest(folder, notes, errors)
    latency_counters, bandwidth_counters, phase_counters, study, map_study = (
        load_extra(folder, spec, notes, errors) for spec in EXTRA_SPECS)
    if map_study is not None:
        add_map_messages(map_study)
    for data, keys in ((latency, MESSAGE_KEYS["latency"]), (bandwidth, MESSAGE_KEYS["bandwidth"]),
                       (reference, MESSAGE_KEYS["reference"]), (latency_counters, MESSAGE_KEYS["latency"]),
                       (bandwidth_counters, MESSAGE_KEYS["bandwidth"]),
                       (phase_counters, ["test", "frame_type", "iteration", "phase"]),
                       (study, ["test", "frame_type", "iteration", "variant"])):
        number_occurrences(data, keys)
    if latency is not None:
        add_derived_latency_columns(latency, study)
    if bandwidth is not None:
        add_derived_bandwidth_columns(bandwidth, study)
    return Run(
        folder=folder,
        latency=latency,
        bandwidth=bandwidth,
        reference=reference,
        latency_counters=latency_counters,
        bandwidth_counters=bandwidth_counters,
        phase_counters=phase_counters,
        write_study=study,
        map_study=map_study,
        stream=load_extra(folder, STREAM_SPEC, notes, errors),
        latency_stages=with_study_stage(LATENCY_STAGES, study, "guest_other_ns"),
        bandwidth_stages=with_study_stage(BANDWIDTH_STAGES, study, "roundtrip_other_ns"),
        manifest=manifest,
        latency_frame_bytes=latency_frame_bytes(manifest),
        notes=notes,
        input_errors=errors,
    )

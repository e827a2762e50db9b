"""Reading a results folder: each CSV checked against its columns (schema/columns.txt) and its values,
run.json, and the derived columns the report needs; the result is a Run. A file that cannot be used is
an InputError (timing files) or a note and a skipped table (extra files)."""

import json
import re
import sys
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from . import PROG, run_schema, schema
from .manifest import MANIFEST_JSON, latency_frame_bytes
from .run_schema import TYPE_WORDS, fits, json_type
from .model import (
    BANDWIDTH_COLUMNS, BANDWIDTH_CSV, BANDWIDTH_STAGES, GUEST_PHASE_COLUMNS, LATENCY_COLUMNS, LATENCY_CSV,
    LATENCY_STAGES, MAPPINGS, MESSAGE_KEYS, PHASES, PREFAULTED, REFERENCE_COLUMNS, REFERENCE_CSV, STUDY_STAGE_LABEL, TESTS,
    TEXT_COLUMNS, TRANSPORT_NAMES, TRANSPORT_TESTS, VARIANT_ORDER, Run, Stage,
)
from .checks import LISTED_REJECTS
from .safe_io import InputError, exists, read_input
from .stats import consecutive_runs, mbps
from .streams import CONSUMES, POLICIES, VERIFIES


def warn(message):
    print(f"{PROG}: {message}", file=sys.stderr)


# schema/columns.txt's kinds as the writer prints them: text from a safe character set (no separator, quote or
# line break can hide in it), integers in decimal digits, reals with fixed decimals, flags 0 or 1. A field of
# another form was not written by host_writer: a peer's attack or a corruption, never data.
FIELD_FORMS = {
    "text": re.compile(r"[A-Za-z0-9_.:/+ -]*\Z"),
    "int": re.compile(r"[0-9]{1,20}\Z"),
    "sint": re.compile(r"-?[0-9]{1,19}\Z"),
    "real": re.compile(r"-?[0-9]{1,300}(\.[0-9]{1,300})?\Z"),
    "flag": re.compile(r"[01]\Z"),
}
KIND_WORDS = {
    "text": "is not text (letters, digits, _-.:/+ and space)",
    "int": "is not a number of kind int (a whole number from 0 to 2^64-1)",
    "sint": "is not a number of kind sint (a whole number from -2^63 to 2^63-1)",
    "real": "is not a number of kind real (decimal digits with an optional fraction)",
    "flag": "is not a number of kind flag (0 or 1)",
}
INT_LIMITS = {"int": (0, 2 ** 64 - 1), "sint": (-2 ** 63, 2 ** 63 - 1)}


@dataclass(frozen=True)
class RejectedRow:
    """A row left out of a table because it does not parse cleanly: where (line, column) and why."""
    file: str
    where: str
    why: str

    def __str__(self):
        return f"{self.file} {self.where}: {self.why}"


def shown(value):
    """A field as the messages quote it: repr (so no control character or line break gets through), cut short."""
    return repr(value[:40]) + ("..." if len(value) > 40 else "")


def column_kinds(name, header, columns, text_columns, optional_numeric):
    """Each header column's kind: the schema's for its file, else text for the text columns and the
    columns the caller does not need, real for the rest."""
    table = next((t for t in schema.TABLES.values() if t.file == name), None)
    kinds = {c.name: c.kind for c in table.columns} if table is not None else {}
    out = {}
    for col in header:
        if col in text_columns or col not in columns:
            out[col] = "text" if col in kinds or col in text_columns else None
        else:
            out[col] = kinds.get(col, "real")
    return out


def split_lines(name, raw):
    """(line number, fields) of each non-empty line, and the lines left out because they are not UTF-8. One
    line is one row: quotes are not CSV syntax here (the writer never quotes), so they cannot join lines."""
    rows, rejected = [], []
    for lineno, line in enumerate(raw.split(b"\n"), start=1):
        if line.endswith(b"\r"):
            line = line[:-1]
        if not line:
            continue
        try:
            text = line.decode("utf-8")
        except UnicodeDecodeError:
            if lineno == 1:
                raise InputError(f"{name}: not a text CSV file")
            rejected.append(RejectedRow(name, f"line {lineno}", "not UTF-8 text"))
            continue
        rows.append((lineno, text.split(",")))
    return rows, rejected


def field_rejects(name, table, kinds):
    """Per row (index: line number) the first field that is not of its column's kind, as a RejectedRow."""
    found = {}
    for col, kind in kinds.items():
        if kind is None:
            continue
        values = table[col]
        bad = ~values.str.fullmatch(FIELD_FORMS[kind]) & ((values != "") | (kind == "text"))
        if kind in INT_LIMITS:
            lo, hi = INT_LIMITS[kind]
            ok = ~bad & (values != "")
            bad |= ok & values.where(ok, "0").map(lambda v: not lo <= int(v) <= hi)
        for line in bad[bad].index:
            found.setdefault(line, RejectedRow(name, f"line {line}, column {col}", f"{shown(values[line])} {KIND_WORDS[kind]}"))
    return found


def empty_rejects(name, data, columns, text_columns, optional_numeric, required):
    """Rows with a field empty that may not be: iteration and success always and, in a timing file, every
    column of a successful row; in an extra file the `required` columns."""
    found = {}

    def empty(col, rows):
        return rows[col].isna() if col not in text_columns else rows[col] == ""

    if not optional_numeric:
        for col in ("iteration", "success"):
            for line in data.index[empty(col, data)]:
                found.setdefault(line, RejectedRow(name, f"line {line}, column {col}", "empty"))
        succeeded = data[data["success"] == 1]
        for col in columns:
            for line in succeeded.index[empty(col, succeeded)]:
                found.setdefault(line, RejectedRow(name, f"line {line}, column {col}", "empty in a successful row"))
    for col in required:
        for line in data.index[empty(col, data)]:
            found.setdefault(line, RejectedRow(name, f"line {line}, column {col}", "empty"))
    return found


def value_rejects(name, data, allowed):
    """Rows whose value in a column with a known set of values (test, phase, variant, mapping) is not one."""
    found = {}
    for col, values in allowed.items():
        bad = ~data[col].isin(values)
        for line in data.index[bad]:
            value = data[col][line]
            found.setdefault(line, RejectedRow(
                name, f"line {line}, column {col}",
                f"{shown(value) if isinstance(value, str) else f'{value:g}'} is not one of "
                f"{', '.join(str(a) for a in values)}"))
    return found


def read_csv_file(path, columns, optional_numeric=False, text_columns=TEXT_COLUMNS, required=(), allowed=None,
                  rejects=None):
    """Read one CSV into a DataFrame indexed by line number, with numeric columns, or raise InputError
    saying what is wrong with the file as a whole (not a regular file, not text, no header, wrong columns).

    A row that does not parse cleanly (a wrong number of fields, a field not of its column's kind in
    schema/columns.txt, an empty field where one is needed, a value outside `allowed`) is left out and
    appended to `rejects` as a RejectedRow; with rejects None the first such row is an InputError.
    Empty fields are allowed in rows with success=0 (the writer leaves timings empty when a message
    failed) and, when optional_numeric is set, anywhere except in the `required` columns.
    """
    name = path.name
    lines, rejected = split_lines(name, read_input(path.parent, name))
    if not lines:
        raise InputError(f"{name}: file is empty (no header line)")
    if not ",".join(lines[0][1]).isprintable():  # control characters in the header: binary, not a CSV
        raise InputError(f"{name}: not a text CSV file")
    header = [h.strip() for h in lines[0][1]]
    duplicates = sorted({h for h in header if header.count(h) > 1})
    if duplicates:
        raise InputError(f"{name}: wrong columns: {', '.join(duplicates)} more than once")
    missing = [c for c in columns if c not in header]
    if missing:
        more = f" and {len(missing) - 5} more" if len(missing) > 6 else ""
        raise InputError(f"{name}: wrong columns: missing {', '.join(missing[:5] if more else missing)}{more}")
    rows = []
    for lineno, fields in lines[1:]:
        if len(fields) != len(header):
            rejected.append(RejectedRow(name, f"line {lineno}", f"{len(fields)} fields, the header has {len(header)}"))
        else:
            rows.append((lineno, fields))
    table = pd.DataFrame([f for _, f in rows], columns=header, index=[n for n, _ in rows], dtype=str)
    found = field_rejects(name, table, column_kinds(name, header, columns, text_columns, optional_numeric))
    table = table.drop(index=list(found))
    data = pd.DataFrame(index=table.index)
    for col in header:
        if col in text_columns or col not in columns:
            data[col] = table[col]
        else:  # every value is of its kind now: only empty fields become NaN
            data[col] = pd.to_numeric(table[col].where(table[col] != ""), errors="coerce").astype(float)
    for more in (empty_rejects(name, data, columns, text_columns, optional_numeric, required),
                 value_rejects(name, data, allowed or {})):
        more = {line: r for line, r in more.items() if line not in found}
        found.update(more)
        data = data.drop(index=list(more))
    rejected = sorted(rejected + list(found.values()), key=lambda r: int(r.where.split()[1].rstrip(",")))
    if rejected and rejects is None:
        raise InputError(str(rejected[0]))
    if rejects is not None:
        rejects += rejected
    return data


def rejects_line(name, rejected):
    """The one line that says which rows of a file were left out."""
    first = [r for r in rejected if r.file == name]
    if not first:
        return None
    more = f" (the report lists the first {LISTED_REJECTS})" if len(first) > LISTED_REJECTS else (
        " (the report lists them)" if len(first) > 1 else "")
    return f"{first[0]}; {len(first)} row{'s' if len(first) > 1 else ''} left out{more}"


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
              allowed={"test": TESTS, "phase": PHASES}),
    TableSpec("write_study", "write study",
              required=("test", "iteration", "frame_type", "size_bytes", "variant", "success"),
              allowed={"test": TESTS, "variant": VARIANT_ORDER}),
    TableSpec("map_study", "mapping study",
              required=("test", "iteration", "frame_type", "size_bytes", "mapping", "memory_type", "success"),
              allowed={"test": ("latency", "bandwidth", "reference"), "mapping": MAPPINGS}),
]
# The stream test's frames: rows that do not say which stream they belong to or what became of them are unusable.
STREAM_SPEC = TableSpec("stream", "stream test", required=("frame_type", "size_bytes", "policy", "verify", "consume",
                                                           "dropped", "success"),
                        allowed={"policy": POLICIES, "verify": VERIFIES, "consume": CONSUMES, "dropped": (0, 1),
                                 "success": (0, 1)})
# The transport comparison's frames and messages: rows that do not say which test they belong to are unusable.
TRANSPORT_SPEC = TableSpec("transport", "transport comparison",
                           required=("transport", "test", "size_bytes", "frame", "latency_ns", "success"),
                           allowed={"transport": TRANSPORT_NAMES, "test": TRANSPORT_TESTS, "success": (0, 1)})
TABLE_SPECS = TIMING_SPECS + EXTRA_SPECS + [STREAM_SPEC, TRANSPORT_SPEC]


def load_optional_csv(folder, filename, columns, notes, errors, rejects):
    """A timing table, or None with a note when the file is absent. Raises InputError when it is unusable
    as a whole; rows that do not parse cleanly are left out, named on stderr and counted in rejects."""
    if not exists(folder, filename):
        notes.append(f"{filename}: not found")
        return None
    found = []
    data = read_csv_file(folder / filename, columns, rejects=found)
    note_rejects(filename, found, notes, errors, rejects)
    return data


def note_rejects(filename, found, notes, errors, rejects):
    line = rejects_line(filename, found)
    if line is not None:
        warn(line)
        notes.append(line)
        errors.append(line)
        rejects += found


def load_extra(folder, spec, notes, errors, rejects):
    """A counter or study file: extra to the timings, so a broken one is skipped, reported on stderr
    and in the report, and makes the exit status 1 while the rest is still analysed. None when absent.
    Rows that do not parse cleanly are left out, as in the timing files."""
    if not exists(folder, spec.filename):
        notes.append(f"{spec.filename}: not found ({spec.what})")
        return None
    found = []
    try:
        data = read_csv_file(folder / spec.filename, spec.columns, optional_numeric=True,
                             text_columns=spec.text_columns, required=spec.required, allowed=spec.allowed,
                             rejects=found)
    except InputError as err:
        warn(f"{err}; {spec.what} skipped")
        notes.append(f"{err}; {spec.what} skipped")
        errors.append(str(err))
        return None
    note_rejects(spec.filename, found, notes, errors, rejects)
    return data


# run.json's keys and their types come from its schema (schema/run.txt, run_schema.py). A field of another type
# is left out (the report treats it as not recorded) and named; a key the schema does not declare is kept as it
# is (a run of an older or newer format). Left out of this check: the values the analysis judges itself, with a
# SUSPECT line each (options.mode and interval_us, host/guest cpu and doorbell: checks.py; streams: streams.py;
# noise: noise.py; map_study: report/mapping.py).
SELF_CHECKED = ("options.mode", "options.interval_us", "host.cpu", "guest.cpu", "host.doorbell", "guest.doorbell",
                "streams", "noise", "map_study")
MANIFEST_SHAPE = run_schema.SCHEMA.shape(skip=SELF_CHECKED)

# run.json is three levels deep; anything much deeper is not ours (and a deep enough one exhausts the parser).
MAX_JSON_DEPTH = 16
MAX_MANIFEST_BYTES = 16 << 20  # host_writer's run.json holds tens of kilobytes


def checked_shape(value, shape, where, problems):
    """value with every field that does not have its type in shape left out; problems gets one line each."""
    if isinstance(shape, dict):
        if not isinstance(value, dict):
            problems.append(f"{where} is {json_type(value)}, expected an object")
            return None
        out = {}
        for key, item in value.items():
            sub = shape.get(key, shape.get("*"))
            if sub is None:
                out[key] = item
                continue
            item = checked_shape(item, sub, f"{where}.{key}" if where else key, problems)
            if item is not None:
                out[key] = item
        return out
    if isinstance(shape, list):
        if not isinstance(value, list):
            problems.append(f"{where} is {json_type(value)}, expected a list")
            return None
        items = (checked_shape(item, shape[0], f"{where}[{i}]", problems) for i, item in enumerate(value))
        return [item for item in items if item is not None]
    if not fits(value, shape):
        problems.append(f"{where} is {json_type(value)}, expected {TYPE_WORDS[shape]}")
        return None
    return value


def json_depth(value):
    """How deeply containers nest in value (0: a scalar), without recursion."""
    deepest, todo = 0, [(value, 1)]
    while todo:
        item, depth = todo.pop()
        children = item.values() if isinstance(item, dict) else item if isinstance(item, list) else None
        if children is not None:
            deepest = max(deepest, depth)
            todo += [(child, depth + 1) for child in children]
    return deepest


def read_manifest(folder):
    """run.json parsed, or InputError naming what is wrong with it as a whole."""
    raw = read_input(folder, MANIFEST_JSON, MAX_MANIFEST_BYTES)
    try:
        manifest = json.loads(raw.decode("utf-8"))
    except RecursionError:
        raise InputError(f"{MANIFEST_JSON}: nested deeper than {MAX_JSON_DEPTH} levels")
    except (UnicodeDecodeError, ValueError) as err:
        raise InputError(f"{MANIFEST_JSON}: unreadable ({err})")
    if not isinstance(manifest, dict):
        raise InputError(f"{MANIFEST_JSON}: not a JSON object")
    if json_depth(manifest) > MAX_JSON_DEPTH:
        raise InputError(f"{MANIFEST_JSON}: nested deeper than {MAX_JSON_DEPTH} levels")
    return manifest


def load_manifest(folder, notes, errors):
    """run.json with its fields of the wrong type left out ({} when absent or unusable); each problem is a
    note, and the first is the one line on stderr."""
    if not exists(folder, MANIFEST_JSON):
        notes.append(f"{MANIFEST_JSON}: not found (environment unknown)")
        return {}
    try:
        manifest = read_manifest(folder)
    except InputError as err:
        warn(f"{err}; environment unknown")
        notes.append(str(err))
        errors.append(str(err))
        return {}
    version = manifest.get("format_version", run_schema.FIRST_VERSION)
    if run_schema.fits(version, run_schema.COUNT) and version > run_schema.SCHEMA.version:
        notes.append(f"{MANIFEST_JSON}: format version {version}, newer than the {run_schema.SCHEMA.version} this "
                     "analysis reads: keys it does not know are ignored")
    problems = []
    manifest = checked_shape(manifest, MANIFEST_SHAPE, "", problems)
    if problems:
        more = f" ({len(problems) - 1} more fields of the wrong type ignored: see the report)" if problems[1:] else ""
        warn(f"{MANIFEST_JSON}: {problems[0]}; the field is ignored{more}")
        notes += [f"{MANIFEST_JSON}: {p}; ignored" for p in problems]
        errors.append(f"{MANIFEST_JSON}: fields of the wrong type")
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
    run_id = consecutive_runs(data, ["test", "frame_type", "iteration", "size_bytes"])
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
    notes, errors, rejects = [], [], []
    latency = load_optional_csv(folder, LATENCY_CSV, LATENCY_COLUMNS, notes, errors, rejects)
    bandwidth = load_optional_csv(folder, BANDWIDTH_CSV, BANDWIDTH_COLUMNS, notes, errors, rejects)
    # A run of streams alone (host_writer --iterations 0 --bw-iterations 0 ...) has only the stream's file.
    stream = load_extra(folder, STREAM_SPEC, notes, errors, rejects)
    streamed = stream is not None and not stream.empty
    if latency is None and bandwidth is None and not streamed:
        raise InputError(f"{folder}: neither {LATENCY_CSV} nor {BANDWIDTH_CSV} found: nothing to analyse")
    if (latency is None or latency.empty) and (bandwidth is None or bandwidth.empty) and not streamed:
        raise InputError(f"{folder}: no iterations recorded in {LATENCY_CSV} or {BANDWIDTH_CSV}")
    reference = load_optional_csv(folder, REFERENCE_CSV, REFERENCE_COLUMNS, notes, errors, rejects)
    manifest = load_manifest(folder, notes, errors)
    latency_counters, bandwidth_counters, phase_counters, study, map_study = (
        load_extra(folder, spec, notes, errors, rejects) for spec in EXTRA_SPECS)
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
        stream=stream,
        latency_stages=with_study_stage(LATENCY_STAGES, study, "guest_other_ns"),
        bandwidth_stages=with_study_stage(BANDWIDTH_STAGES, study, "roundtrip_other_ns"),
        manifest=manifest,
        latency_frame_bytes=latency_frame_bytes(manifest),
        notes=notes,
        input_errors=errors,
        rejected_rows=rejects,
    )

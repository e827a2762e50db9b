"""Results folders written by older host_writers: write_study.csv and mapping_study.csv with the copy_mbps
column they carried then (MB/s, a figure the analysis derives from copy_ns and size_bytes itself) load as
before, and the column is not read: the report is the one of the same folder without it, whatever it holds.
The reports are made in this process (no plots, few resamples): fast."""

import builders as b
from ivbench_analysis.checks import find_suspects
from ivbench_analysis.load import load_run
from ivbench_analysis.model import Summary
from ivbench_analysis.report import make_report
from test_map_study import MAPPINGS, map_rows

LEGACY = "copy_mbps"
# What an older host_writer's column could hold: here a value no derivation gives, so that reading it would show.
LEGACY_VALUE = "99999.000"


def with_legacy(columns):
    """The columns as older host_writers wrote them: copy_mbps right after copy_ns."""
    at = columns.index("copy_ns") + 1
    return columns[:at] + [LEGACY] + columns[at:]


def write_folder(folder, legacy):
    latency = b.latency_rows(10, seed=71)
    reference = b.reference_rows([("4096B", 4096)], per_size=4, seed=72)
    run = b.study_manifest()
    run["options"]["map_study"] = True
    run["map_study"] = {"reported": True, "mappings": [m[0] for m in MAPPINGS], "missing": []}
    b.write_results(folder, latency=latency, reference=reference, run=run)
    messages = b.study_messages(latency=latency, reference=reference)
    study = b.study_rows(messages)
    maps = map_rows([m[:4] + (m[5],) for m in messages if m[0] != "reference"], MAPPINGS)
    study_columns, map_columns = b.WRITE_STUDY_COLUMNS, b.MAP_STUDY_COLUMNS
    if legacy:
        study_columns, map_columns = with_legacy(study_columns), with_legacy(map_columns)
        study = [dict(row, **{LEGACY: LEGACY_VALUE}) for row in study]
        maps = [dict(row, **{LEGACY: LEGACY_VALUE}) for row in maps]
    b.write_csv(folder / "write_study.csv", study_columns, study)
    b.write_csv(folder / "mapping_study.csv", map_columns, maps)
    return folder


def report_of(folder):
    run = load_run(folder)
    assert run.input_errors == [] and run.rejected_rows == [], (run.input_errors, run.rejected_rows)
    assert run.write_study is not None and run.map_study is not None
    text = make_report(run, find_suspects(run), Summary(), 200).text
    return text.replace(str(folder.resolve()), "<folder>")


def test_the_studies_carry_no_derived_rate():
    assert LEGACY not in b.WRITE_STUDY_COLUMNS and LEGACY not in b.MAP_STUDY_COLUMNS


def test_an_old_folder_with_copy_mbps_reads_as_one_without_it(tmp_path):
    old = report_of(write_folder(tmp_path / "old" / "run", legacy=True))
    new = report_of(write_folder(tmp_path / "new" / "run", legacy=False))
    assert "WHERE THE COPY TIME GOES" in new and "MAPPING STUDY" in new
    assert "SUSPECT FIGURES" in new and "99999" not in old
    assert old == new

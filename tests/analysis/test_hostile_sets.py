"""Hand-made hostile folders of repeated runs: a run-N that is a symlink leading out of the set, a run linked
into the set twice, and runs that measured different things are refused by name, never pooled, and nothing is
written outside the set's folder."""

import json
import os
import shutil

import pytest

import builders as b
from builders import report_section
from test_repeats import analyse, compare, figure_row, write_set


def report_of(folder):
    return (folder / "performance_report.txt").read_text()


def runs_line(report, start):
    found = [ln.strip() for ln in report_section(report, "RUNS").splitlines() if ln.strip().startswith(start)]
    assert len(found) == 1, report_section(report, "RUNS")
    return found[0]


def test_a_run_folder_linked_from_outside_the_set_is_refused_and_nothing_is_written_there(tmp_path):
    """run-3 leads to a run outside the set: its samples are not pooled, and neither its report nor its plots
    are written into the outside folder (a file of the same name there stays as it was)."""
    root = tmp_path / "set"
    write_set(root, seeds=(41, 42))
    outside = tmp_path / "elsewhere"
    write_set(outside, seeds=(43,))
    (outside / "run-1" / "performance_report.txt").write_text("someone else's file\n")
    os.symlink(outside / "run-1", root / "run-3")
    proc = analyse(root)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert proc.stderr.splitlines() == ["analyze_results: run-3: a symlink that leads out of the folder of repeated "
                                        "runs; refused"], proc.stderr
    assert (outside / "run-1" / "performance_report.txt").read_text() == "someone else's file\n"
    assert sorted(p.name for p in (outside / "run-1").iterdir() if p.suffix == ".png") == []
    report = report_of(root)
    assert runs_line(report, "analysed:").startswith("analysed: run-1, run-2 ")
    assert "left out: run-3: a symlink that leads out" in report_section(report, "RUNS")
    assert figure_row(report_section(report, "HEADLINE FIGURES"), "latency C copy")["runs"] == "2"


def test_compare_refuses_the_outside_link_as_well(tmp_path):
    root = tmp_path / "set"
    write_set(root, seeds=(41, 42))
    write_set(tmp_path / "other", seeds=(43, 44))
    write_set(tmp_path / "elsewhere", seeds=(45,))
    os.symlink(tmp_path / "elsewhere" / "run-1", root / "run-3")
    proc = compare(root, tmp_path / "other")
    assert proc.returncode == 1, proc.stderr
    assert len(proc.stderr.splitlines()) == 1 and "run-3: a symlink that leads out" in proc.stderr, proc.stderr
    assert "latency C copy" in proc.stdout
    assert not (tmp_path / "elsewhere" / "run-1" / "performance_report.txt").exists()


@pytest.mark.parametrize("how", ["relative link", "absolute link", "hard-linked CSV"])
def test_a_run_linked_into_the_set_twice_is_refused_naming_both(tmp_path, how):
    write_set(tmp_path, seeds=(41, 42))
    if how == "relative link":
        os.symlink("run-1", tmp_path / "run-3")
    elif how == "absolute link":
        os.symlink(tmp_path / "run-1", tmp_path / "run-3")
    else:  # a copy of the folder whose latency samples are the same file
        shutil.copytree(tmp_path / "run-2", tmp_path / "run-3")
        (tmp_path / "run-3" / "latency_results.csv").unlink()
        os.link(tmp_path / "run-1" / "latency_results.csv", tmp_path / "run-3" / "latency_results.csv")
    proc = analyse(tmp_path)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    what = "latency_results.csv" if how == "hard-linked CSV" else "folder"
    assert proc.stderr.splitlines() == [f"analyze_results: run-3: the same {what} as run-1 (two names for one run: its "
                                        "samples would count twice); refused"], proc.stderr
    report = report_of(tmp_path)
    assert figure_row(report_section(report, "HEADLINE FIGURES"), "latency C copy")["runs"] == "2"


@pytest.mark.parametrize("path, value", [(("options", "latency_frame_bytes"), 65536),
                                         (("options", "frames"), "64,1M"),
                                         (("protocol_version",), 99)])
def test_runs_that_measured_different_things_are_not_pooled(tmp_path, path, value):
    """A run whose run.json differs from the first run's in what the figures mean is refused, naming the run
    and the field; the set's figures are over the runs alike."""
    write_set(tmp_path, seeds=(41, 42, 43))
    for name in ("run-1", "run-2", "run-3"):
        run = json.loads((tmp_path / name / "run.json").read_text())
        run["options"]["latency_frame_bytes"] = 4096
        target = run
        for key in path[:-1]:
            target = target[key]
        if name == "run-2":
            target[path[-1]] = value
        (tmp_path / name / "run.json").write_text(json.dumps(run))
    proc = analyse(tmp_path)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    lines = proc.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"analyze_results: run-2: differs from run-1 in {'.'.join(path)} "), \
        proc.stderr
    assert lines[0].endswith("refused")
    report = report_of(tmp_path)
    assert runs_line(report, "analysed:").startswith("analysed: run-1, run-3 ")
    assert figure_row(report_section(report, "HEADLINE FIGURES"), "latency C copy")["runs"] == "2"
    assert (tmp_path / "run-2" / "performance_report.txt").exists()  # its own report is still written

"""Folders of repeated runs, the HEADLINE FIGURES and NOISE sections, and `--compare A B` with ratios:
on synthetic runs whose phases differ by a known factor (or not), with switched-out phases, recorded
noise blocks and a broken run. The statistics themselves are tested in test_intervals.py; these tests
use few resamples to stay fast."""

import json
import statistics
import subprocess
import sys

import pytest

import builders as b
from builders import report_section
from test_noise import LOADAVG_IDLE, STAT_AFTER, STAT_BEFORE, stat_with_steal

RESAMPLES = "300"
FRAME = 4096
PHASE_NS = {"A": 2_000, "B": 6_000, "C": 20_000, "D": 9_000}
PHASE_NAMES = {"A": "A_hot_read", "B": "B_cold_read", "C": "C_copy", "D": "D_verify"}
PHASE_COLUMNS = {"A": "guest_hot_cache_ns", "B": "guest_cold_cache_ns", "C": "guest_second_pass_ns",
                 "D": "guest_cached_verify_ns"}
PHASE_LABELS = {"A": "latency A hot read", "B": "latency B cold read", "C": "latency C copy", "D": "latency D verify"}
QUIET = {"before": {"stat": STAT_BEFORE, "loadavg": LOADAVG_IDLE}, "after": {"stat": STAT_AFTER, "loadavg": LOADAVG_IDLE}}
STEAL_12 = {"before": {"stat": stat_with_steal(1000, 0)}, "after": {"stat": stat_with_steal(1880, 120)}}


def phase_counter_rows(latency, switched=()):
    """phase_performance.csv rows for the latency messages: context_switches 1 for (iteration, letter)
    in switched, else 0; the other counters not measured."""
    return [{"test": "latency", "iteration": r["iteration"], "frame_type": "4096B", "size_bytes": FRAME,
             "phase": PHASE_NAMES[p], "context_switches": int((r["iteration"], p) in switched)}
            for r in latency for p in "ABCD"]


def write_run(folder, seed, scale=1.0, switched=(), noise=None, counters=True, n=30):
    """One run of the latency test with every phase's mean scaled by `scale`; returns its rows."""
    latency = b.latency_rows(n, seed=seed, phase_ns={k: v * scale for k, v in PHASE_NS.items()})
    run = b.manifest(latency_frame=str(FRAME))
    if noise is not None:
        run["noise"] = noise
    b.write_results(folder, latency=latency, run=run)
    if counters:
        b.write_extra(folder, phases=phase_counter_rows(latency, switched))
    return latency


def write_set(folder, seeds, scales=None, **per_run):
    """run-1 ... run-N; per_run: keyword -> one value per run."""
    runs = []
    for i, seed in enumerate(seeds):
        options = {k: v[i] for k, v in per_run.items()}
        runs.append(write_run(folder / f"run-{i + 1}", seed, scales[i] if scales else 1.0, **options))
    return runs


def analyse(*args):
    return subprocess.run([sys.executable, str(b.ANALYZE), "--no-plots", "--resamples", RESAMPLES, *map(str, args)],
                          capture_output=True, text=True, timeout=300)


def compare(a, c):
    return subprocess.run([sys.executable, str(b.ANALYZE), "--resamples", RESAMPLES, "--compare", str(a), str(c)],
                          capture_output=True, text=True, timeout=300)


def labelled(text, label):
    """The fields after `label` on its line (label followed by two spaces)."""
    found = [line[len(label) + 4:].split() for line in text.splitlines() if line.startswith(f"  {label}  ")]
    assert len(found) == 1, f"expected one row {label!r} in:\n{text}"
    return found[0]


def figure_row(text, label):
    """A HEADLINE FIGURES row as a dict."""
    fields = labelled(text, label)
    names = ["unit", "median", "low", "high", "spread", "mbps", "mbps_low", "mbps_high", "cv", "runs", "n",
             "left_out"]
    row = dict(zip(names, fields))
    row["reliable"] = " ".join(fields[len(names):])
    return row


def ratio_row(text, label):
    fields = labelled(text, label)
    return {"ratio": float(fields[3].rstrip("x")), "low": fields[4], "high": fields[5], "verdict": " ".join(fields[6:])}


def kept(latency, letter, switched=()):
    return [r[PHASE_COLUMNS[letter]] for r in latency if r["success"] == 1 and (r["iteration"], letter) not in switched]


# ---- --compare A B ----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def sets(tmp_path_factory):
    root = tmp_path_factory.mktemp("sets")
    write_set(root / "base", seeds=(101, 102, 103))
    write_set(root / "slow", seeds=(201, 202, 203), scales=(1.5, 1.5, 1.5))
    write_set(root / "same", seeds=(301, 302, 303))
    return root


def test_phases_half_as_slow_again_are_slower_with_the_factor_inside_the_interval(sets):
    proc = compare(sets / "base", sets / "slow")
    assert proc.returncode == 0, proc.stderr
    assert "A = base: 3 run(s), B = slow: 3 run(s)" in proc.stdout
    for letter in "ABCD":
        row = ratio_row(proc.stdout, PHASE_LABELS[letter])
        assert row["verdict"] == "slower", (letter, proc.stdout)
        assert float(row["low"].rstrip("x")) <= 1.5 <= float(row["high"].rstrip("x")), (letter, row)
    back = compare(sets / "slow", sets / "base")
    for letter in "ABCD":
        row = ratio_row(back.stdout, PHASE_LABELS[letter])
        assert row["verdict"] == "faster", (letter, back.stdout)
        assert float(row["low"].rstrip("x")) <= 1 / 1.5 <= float(row["high"].rstrip("x")), (letter, row)


def test_sets_from_the_same_distribution_show_no_measurable_difference(sets):
    proc = compare(sets / "base", sets / "same")
    assert proc.returncode == 0, proc.stderr
    for label in list(PHASE_LABELS.values()) + ["latency host memcpy", "latency roundtrip"]:
        row = ratio_row(proc.stdout, label)
        assert row["verdict"] == "no measurable difference", (label, proc.stdout)
        assert float(row["low"].rstrip("x")) <= 1 <= float(row["high"].rstrip("x")), (label, row)


def test_two_single_runs_get_the_side_by_side_table_then_the_ratios(sets):
    proc = compare(sets / "base" / "run-1", sets / "slow" / "run-1")
    assert proc.returncode == 0, proc.stderr
    table, ratios = proc.stdout.split("\n\n", 1)
    assert table.splitlines()[1].split()[:2] == ["run", "mode"]
    assert "A = run-1: 1 run(s)" not in ratios  # both are named run-1: the paths name them
    assert ratio_row(ratios, "latency C copy")["verdict"] == "slower"


def test_more_than_two_folders_take_single_runs_only(sets):
    proc = subprocess.run([sys.executable, str(b.ANALYZE), "--compare", str(sets / "base" / "run-1"),
                           str(sets / "base"), str(sets / "same" / "run-1")], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 1 and proc.stdout == ""
    assert len(proc.stderr.splitlines()) == 1 and "a folder of repeated runs" in proc.stderr


# ---- a folder of repeated runs: HEADLINE FIGURES ------------------------------------------------

SWITCHED = {(2, "C"), (5, "C"), (9, "C")}


@pytest.fixture(scope="module")
def repeated(tmp_path_factory):
    root = tmp_path_factory.mktemp("repeated")
    runs = write_set(root, seeds=(11, 12, 13), scales=(1.0, 1.2, 0.9), switched=(SWITCHED, (), ()))
    proc = analyse(root)
    return root, runs, proc, (root / "performance_report.txt").read_text()


def test_repeated_folder_gets_one_report_over_its_runs_and_one_per_run(repeated):
    root, _, proc, report = repeated
    assert proc.returncode == 0, proc.stderr
    assert "3 of 3 runs analysed together" in proc.stdout
    assert report.startswith("ivshmem-bench performance report: 3 repeated runs\n")
    assert "  analysed: run-1, run-2, run-3" in report_section(report, "RUNS")
    for i in (1, 2, 3):
        own = (root / f"run-{i}" / "performance_report.txt").read_text()
        figures = report_section(own, "HEADLINE FIGURES (median over 1 run,")
        assert "bootstrap over iterations (one run)" in figures
        assert figure_row(figures, "latency roundtrip")["cv"] == "n/a"
        assert "LATENCY TEST" in own  # the rest of a run's report as before


def test_figures_give_the_median_over_runs_its_interval_and_the_run_to_run_cv(repeated):
    _, runs, _, report = repeated
    figures = report_section(report, "HEADLINE FIGURES (median over 3 runs,")
    assert "bootstrap over runs, then over iterations within each run" in figures
    for letter in "ABD":
        per_run = [kept(r, letter) for r in runs]
        row = figure_row(figures, PHASE_LABELS[letter])
        pooled = [v for run in per_run for v in run]
        median = statistics.median(pooled)
        b.assert_duration(row["unit"], row["median"], median, letter)
        assert float(row["low"]) <= float(row["median"]) <= float(row["high"]), row
        assert (row["runs"], row["n"], row["left_out"]) == ("3", str(len(pooled)), "0")
        medians = [statistics.median(run) for run in per_run]
        cv = statistics.stdev(medians) / statistics.fmean(medians)
        assert float(row["cv"].rstrip("%")) == pytest.approx(100 * cv, abs=0.051), letter
        assert float(row["mbps"]) == pytest.approx(FRAME / median * 1e3, abs=0.051)
        high = b.duration_ns(row["unit"], row["high"])  # 3 significant digits: the rates' cells are finer
        assert float(row["mbps_low"]) == pytest.approx(FRAME / high * 1e3, abs=b.cell_tolerance_ns(
            row["unit"], row["high"]) / high * float(row["mbps_low"]) + 0.051)


def test_not_reliable_marks_exactly_the_intervals_wider_than_ten_percent(sets):
    proc = analyse(sets / "base")
    assert proc.returncode == 0, proc.stderr
    figures = report_section((sets / "base" / "performance_report.txt").read_text(), "HEADLINE FIGURES")
    # The figures before rounding (the table shows three significant digits; summary.json the values themselves).
    summary = {f["label"]: f for f in json.loads((sets / "base" / "summary.json").read_text())["figures"]}
    labels = ["latency host memcpy", "latency roundtrip", "latency notification (est.)"] + list(PHASE_LABELS.values())
    marks = set()
    for label in labels:
        row = figure_row(figures, label)
        median, low, high = (summary[label][k] for k in ("median", "low", "high"))
        wide = max(median - low, high - median) > 0.1 * median * 1.0001
        assert (row["reliable"] == "not reliable") == wide, (label, row)
        marks.add(wide)
    assert marks == {True, False}, "the synthetic runs should give both kinds"


def test_switched_out_phases_are_left_out_and_counted(repeated):
    _, runs, _, report = repeated
    figures = report_section(report, "HEADLINE FIGURES")
    row = figure_row(figures, "latency C copy")
    pooled = kept(runs[0], "C", SWITCHED) + kept(runs[1], "C") + kept(runs[2], "C")
    assert (row["left_out"], row["n"]) == ("3/90", "87")
    b.assert_duration(row["unit"], row["median"], statistics.median(pooled))
    assert "  latency C copy: 3 of 90 copies left out: switched out" in figures
    noise = report_section(report, "NOISE")
    assert "  run-1: quiet" in noise  # 3 of 120 phases: under the 10% the verdict allows
    assert "    switched out, left out: latency C copy 3 of 30" in noise


def test_a_figure_whose_every_sample_was_switched_out_is_shown_over_all_and_not_reliable(tmp_path):
    """A phase longer than a scheduler tick is switched out every time (SHA-256 of 4K frames under TCG):
    the figure is not dropped but taken over every sample and marked, and --compare leaves it out."""
    every_d = {(i, "D") for i in range(1, 31)}
    latency = write_run(tmp_path / "a", 41, switched=every_d)
    write_run(tmp_path / "b", 42)
    proc = analyse(tmp_path / "a")
    assert proc.returncode == 0, proc.stderr
    figures = report_section((tmp_path / "a" / "performance_report.txt").read_text(), "HEADLINE FIGURES")
    row = figure_row(figures, "latency D verify")
    assert (row["left_out"], row["n"], row["reliable"]) == ("30/30", "30", "not reliable"), row
    b.assert_duration(row["unit"], row["median"], statistics.median(kept(latency, "D")))
    assert ("  latency D verify: 30 of 30 verifications left out: switched out "
            "(none left: the figure is over all of them, not reliable)") in figures
    assert figure_row(figures, "latency C copy")["left_out"] == "0"
    proc = subprocess.run([sys.executable, str(b.ANALYZE), "--resamples", RESAMPLES, "--compare",
                           str(tmp_path / "a"), str(tmp_path / "b")], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert ratio_row(proc.stdout, "latency C copy")["verdict"]
    assert not [line for line in proc.stdout.splitlines() if line.startswith("  latency D verify")], proc.stdout
    assert "  not compared, every sample switched out in A: latency D verify" in proc.stdout.splitlines()
    assert "only in" not in proc.stdout


# ---- NOISE on recorded run.json noise blocks ----------------------------------------------------


def test_noise_section_gives_each_run_its_verdict_and_the_figures_it_affected(tmp_path):
    noisy_switches = {(i, "C") for i in range(1, 23)}
    write_set(tmp_path, seeds=(21, 22, 23), switched=((), noisy_switches, ()), noise=(QUIET, STEAL_12, None),
              counters=(True, True, False))
    proc = analyse(tmp_path)
    assert proc.returncode == 0, proc.stderr
    report = (tmp_path / "performance_report.txt").read_text()
    noise = report_section(report, "NOISE")
    lines = noise.splitlines()
    assert lines[0].startswith("  run-1: quiet (not recorded: ")
    assert lines[1] == "  run-2: noisy: steal 12%, 22 of 120 timed phases switched out " \
                       "(not recorded: run queue, busy processes, CPU frequency)"
    affected = " ".join(line.strip() for line in lines[2:] if line.startswith("    ") or line.startswith("      "))
    assert "affects 7 figures (its samples are in them): latency host memcpy" in affected
    assert "switched out, left out: latency C copy 22 of 30" in affected
    assert "  run-3: not recorded" in lines
    assert "1 of 3 runs noisy" in noise
    figures = report_section(report, "HEADLINE FIGURES")
    assert "phase counters not recorded (run-3)" in figures
    assert "latency C copy: 22 of 90 copies left out: switched out" in figures


def test_malformed_noise_block_is_named_and_the_report_still_written(tmp_path):
    write_run(tmp_path, 31, noise={"before": {"stat": "cpu 1 2\n"}})
    proc = analyse(tmp_path)
    assert proc.returncode == 1
    assert len(proc.stderr.splitlines()) == 1 and "field 'system' missing" in proc.stderr, proc.stderr
    noise = report_section((tmp_path / "performance_report.txt").read_text(), "NOISE")
    assert "noise inputs unusable: /proc/stat: field 'system' missing" in noise


# ---- a broken run --------------------------------------------------------------------------------


def test_a_run_that_cannot_be_loaded_is_named_once_and_left_out(tmp_path):
    write_set(tmp_path, seeds=(41, 42, 43))
    (tmp_path / "run-2" / "latency_results.csv").write_text("iteration,success\n1,1\n")
    proc = analyse(tmp_path)
    assert proc.returncode == 1
    assert [line for line in proc.stderr.splitlines() if "run-2" in line] == proc.stderr.splitlines()
    assert len(proc.stderr.splitlines()) == 1 and "run left out" in proc.stderr
    report = (tmp_path / "performance_report.txt").read_text()
    assert "  left out: run-2: latency_results.csv: wrong columns" in report_section(report, "RUNS")
    assert figure_row(report_section(report, "HEADLINE FIGURES (median over 2 runs,"), "latency C copy")["runs"] == "2"
    assert (tmp_path / "run-3" / "performance_report.txt").exists()


def test_a_folder_with_no_usable_run_is_one_line(tmp_path):
    (tmp_path / "run-1").mkdir()
    proc = analyse(tmp_path)
    assert proc.returncode == 1
    assert proc.stderr.splitlines()[-1].endswith("none of its 1 run folders could be analysed")


# ---- stream figures ------------------------------------------------------------------------------


def test_stream_latency_and_frames_per_second(tmp_path):
    folder = tmp_path / "run"
    write_run(folder, 51)
    columns = b.schema.columns("stream")
    rows, latencies = [], []
    for k in range(400):  # 100 frames/s for 4 s; every tenth dropped
        dropped = k % 10 == 9
        row = {"frame_type": "1080p", "size_bytes": 6220800, "policy": "latest", "verify": "xxh3", "consume": "copy",
               "direction": "host-to-guest", "frame": k,
               "publish_ns": k * 10_000_000, "host_write_ns": 500_000, "slot_wait_ns": 0, "rings": 0,
               "status": "dropped" if dropped else "ok", "dropped": int(dropped), "success": 1}
        if not dropped:
            row.update(slot=k % 4, latency_ns=1_000_000 + 1_000 * (k % 37), guest_copy_ns=400_000,
                       guest_verify_ns=100_000)
            latencies.append(row["latency_ns"])
        rows.append(row)
    b.write_csv(folder / "stream_results.csv", columns, rows)
    proc = analyse(folder)
    assert proc.returncode == 0, proc.stderr
    figures = report_section((folder / "performance_report.txt").read_text(), "HEADLINE FIGURES")
    latency = figure_row(figures, "stream 1080p latest xxh3 latency")
    b.assert_duration(latency["unit"], latency["median"], statistics.median(latencies))
    fps = figure_row(figures, "stream 1080p latest xxh3 frames/s")
    assert (fps["unit"], fps["median"], fps["n"]) == ("frames/s", "90.0", "3")  # three whole seconds
    assert float(fps["mbps"]) == pytest.approx(90 * 6220800 / 1e6, abs=0.051)
    assert "no stream_results.csv" not in figures


def test_too_few_samples_for_an_interval_is_said_so_not_called_no_difference(tmp_path):
    write_run(tmp_path / "a", 61, n=4)
    write_run(tmp_path / "b", 62, scale=1.5, n=4)
    proc = compare(tmp_path / "a", tmp_path / "b")
    assert proc.returncode == 0, proc.stderr
    row = ratio_row(proc.stdout.split("\n\n", 1)[1], "latency C copy")
    assert (row["low"], row["high"], row["verdict"]) == ("n/a", "n/a", "no interval (fewer than 6 samples)")

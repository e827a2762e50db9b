"""analyze_results.py on synthetic results folders: the report's numbers against statistics computed
here from the generated values, the plots, the bottleneck and SUSPECT lines, and bad input."""

import os
import re
import statistics
import sys

import numpy as np
import pytest

import builders as b
from builders import assert_stats_row, number, report_section, table_row

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Debian 12 has 3.11
    tomllib = None

LATENCY_FRAME = 4096
LATENCY_FAILED = {5, 17}
BANDWIDTH_FAILED = {("1080p", 3)}
FAILURES = [
    {"test": "latency", "frame": "4096B", "iteration": 5, "error": "sha256_mismatch"},
    {"test": "latency", "frame": "4096B", "iteration": 17, "error": "timeout"},
    {"test": "bandwidth", "frame": "1080p", "iteration": 3, "error": "sha256_mismatch"},
]
PERCENTILES = b.PERCENTILES


class Analysed:
    """A results folder built from raw rows, and what the analysis made of it."""

    def __init__(self, folder, latency=None, bandwidth=None, reference=None, run=None, write=True):
        self.folder = folder
        self.latency = latency
        self.bandwidth = bandwidth
        self.reference = reference
        if write:
            b.write_results(folder, latency, bandwidth, reference, run)
        self.proc = b.run_analysis(folder)
        report = folder / "performance_report.txt"
        self.report = report.read_text() if report.exists() else ""

    def ok_latency(self, column):
        return [r[column] for r in self.latency if r["success"] == 1]


def ok_rows(rows, frame=None):
    return [r for r in rows if r["success"] == 1 and (frame is None or r["frame_type"] == frame)]


@pytest.fixture(scope="module")
def standard(tmp_path_factory):
    latency = b.latency_rows(40, seed=11, failed=LATENCY_FAILED)
    bandwidth = b.bandwidth_rows(("64B", "1080p", "4k"), per_frame=6, seed=12, failed=BANDWIDTH_FAILED)
    reference = b.reference_rows([("4096B", LATENCY_FRAME), ("1080p", 6220800)], per_size=3, seed=13)
    run = b.manifest(latency_frame="4096", failures=FAILURES,
                     planned={"latency": {"planned": 40, "iterations": 40, "succeeded": 38}})
    return Analysed(tmp_path_factory.mktemp("standard"), latency, bandwidth, reference, run)


# ---- a partial run with every input: numbers ----------------------------------------------------


def test_standard_run_succeeds_quietly(standard):
    assert standard.proc.returncode == 0, standard.proc.stderr
    assert standard.proc.stderr == ""
    assert "latency: 38/40 iterations succeeded" in standard.proc.stdout
    assert "bandwidth: 17/18 iterations succeeded" in standard.proc.stdout


def test_every_plot_is_a_non_empty_png(standard):
    for name in b.PNGS:
        path = standard.folder / name
        assert path.exists(), name
        data = path.read_bytes()
        assert data[:8] == b"\x89PNG\r\n\x1a\n", name
        assert len(data) > 10_000, f"{name} is suspiciously small ({len(data)} bytes)"


def test_latency_counts_and_failures(standard):
    text = report_section(standard.report, "LATENCY TEST")
    assert "40 recorded, 38 succeeded, 2 failed; success rate 95.0%" in text
    assert "Failed iterations: 5 (sha256_mismatch), 17 (timeout)" in text
    assert "Frame: 4096 bytes (0.004096 MB, 0.003906 MiB)" in text


def test_latency_statistics_for_every_timing_column(standard):
    text = report_section(standard.report, "LATENCY TEST")
    for column in b.LATENCY_NS:
        assert_stats_row(text, column, standard.ok_latency(column))
    assert_stats_row(text, "one_way_est_ns", [v / 2 for v in standard.ok_latency("roundtrip_ns")])


def latency_stage_values(analysed):
    """Per breakdown stage, its value in each successful iteration, and the totals."""
    ok = [r for r in analysed.latency if r["success"] == 1]
    stages = {
        "host memcpy (host -> region)": [r["host_memcpy_ns"] for r in ok],
        "A hot read (region)": [r["guest_hot_cache_ns"] for r in ok],
        "B cold read (region, flushed)": [r["guest_cold_cache_ns"] for r in ok],
        "C copy (region -> private)": [r["guest_second_pass_ns"] for r in ok],
        "D verify (SHA-256 of copy)": [r["guest_cached_verify_ns"] for r in ok],
        "guest other (flushes etc.)": [r["roundtrip_ns"] - r["notification_est_ns"] - r["guest_hot_cache_ns"]
                                       - r["guest_cold_cache_ns"] - r["guest_second_pass_ns"]
                                       - r["guest_cached_verify_ns"] for r in ok],
        "notification (est.)": [r["notification_est_ns"] for r in ok],
    }
    return stages, [r["total_ns"] for r in ok]


def test_read_write_isolation_breakdown(standard):
    text = report_section(standard.report, "READ/WRITE ISOLATION BREAKDOWN")
    stages, totals = latency_stage_values(standard)
    total = statistics.fmean(totals)
    for label, values in stages.items():
        mean, median = statistics.fmean(values), statistics.median(values)
        median_share = statistics.median(100 * v / t for v, t in zip(values, totals))
        fields = table_row(text, label, 7)
        assert number(fields[0]) == pytest.approx(mean, abs=0.051), label
        assert number(fields[1]) == pytest.approx(mean / 1e3, abs=0.00051), label
        assert number(fields[2]) == pytest.approx(100 * mean / total, abs=0.051), label
        assert number(fields[4]) == pytest.approx(median, abs=0.051), label
        assert number(fields[5]) == pytest.approx(median_share, abs=0.051), label
        if label.startswith(("guest other", "notification")):
            assert fields[3] == fields[6] == "-"
        else:  # MB/s = bytes / ns * 1e3
            assert number(fields[3]) == pytest.approx(LATENCY_FRAME / mean * 1e3, abs=0.051), label
            assert number(fields[6]) == pytest.approx(LATENCY_FRAME / median * 1e3, abs=0.051), label
    shares = sum(number(table_row(text, label, 7)[2]) for label in stages)
    assert shares == pytest.approx(100, abs=0.5)
    fields = table_row(text, "total (host memcpy + roundtrip)", 7)
    assert number(fields[0]) == pytest.approx(total, abs=0.051)
    assert number(fields[3]) == pytest.approx(LATENCY_FRAME / total * 1e3, abs=0.051)
    assert number(fields[4]) == pytest.approx(statistics.median(totals), abs=0.051)


def parse_ratio_line(text, name):
    pattern = (re.escape(name) + r" \((\w) vs (\w)\): \w - \w = (-?[\d.]+) ns \((-?[\d.]+) us, (-?[\d.]+)% of \w\); "
               r"ratio of means ([\d.]+)x; per iteration median ([\d.]+)x, range ([\d.]+)x-([\d.]+)x")
    match = re.search(pattern, text)
    assert match, f"no {name!r} line in:\n{text}"
    return [float(v) for v in match.groups()[2:]]


def test_write_overhead_and_cache_effect(standard):
    text = report_section(standard.report, "READ/WRITE ISOLATION BREAKDOWN")
    ok = [r for r in standard.latency if r["success"] == 1]
    for name, slow, fast in (("Write overhead", "guest_second_pass_ns", "guest_cold_cache_ns"),
                             ("Cache effect", "guest_cold_cache_ns", "guest_hot_cache_ns")):
        slow_mean = statistics.fmean(r[slow] for r in ok)
        fast_mean = statistics.fmean(r[fast] for r in ok)
        ratios = [r[slow] / r[fast] for r in ok]
        diff_ns, diff_us, percent, ratio, median, lo, hi = parse_ratio_line(text, f"  {name}")
        assert diff_ns == pytest.approx(slow_mean - fast_mean, abs=0.051)
        assert diff_us == pytest.approx((slow_mean - fast_mean) / 1e3, abs=0.00051)
        assert percent == pytest.approx(100 * (slow_mean - fast_mean) / fast_mean, abs=0.051)
        assert ratio == pytest.approx(slow_mean / fast_mean, abs=0.0051)
        assert median == pytest.approx(statistics.median(ratios), abs=0.0051)
        assert (lo, hi) == pytest.approx((min(ratios), max(ratios)), abs=0.0051)


def test_percentile_table_in_microseconds(standard):
    text = report_section(standard.report, "PERCENTILES (us")
    rows = {"roundtrip": "roundtrip_ns", "host memcpy": "host_memcpy_ns", "A hot read": "guest_hot_cache_ns",
            "B cold read": "guest_cold_cache_ns", "C copy": "guest_second_pass_ns",
            "D verify": "guest_cached_verify_ns",
            "notification (est.)": "notification_est_ns", "total": "total_ns"}
    for label, column in rows.items():
        expected = [np.percentile(standard.ok_latency(column), p) / 1e3 for p in PERCENTILES]
        assert [number(f) for f in table_row(text, label, 5)] == pytest.approx(expected, abs=0.00051), label
    one_way = [np.percentile([v / 2 for v in standard.ok_latency("roundtrip_ns")], p) / 1e3 for p in PERCENTILES]
    assert [number(f) for f in table_row(text, "one-way est. (roundtrip/2)", 5)] == pytest.approx(one_way, abs=0.00051)


def test_min_max_ranges(standard):
    text = report_section(standard.report, "MIN/MAX RANGES")
    for label, column in (("B cold read (region, flushed)", "guest_cold_cache_ns"),
                          ("C copy (region -> private)", "guest_second_pass_ns")):
        values = standard.ok_latency(column)
        min_us, max_us, slow_rate, dash, fast_rate = table_row(text, label, 5)
        assert number(min_us) == pytest.approx(min(values) / 1e3, abs=0.00051)
        assert number(max_us) == pytest.approx(max(values) / 1e3, abs=0.00051)
        assert dash == "-"
        assert number(slow_rate) == pytest.approx(LATENCY_FRAME / max(values) * 1e3, abs=0.051)
        assert number(fast_rate) == pytest.approx(LATENCY_FRAME / min(values) * 1e3, abs=0.051)


def test_bandwidth_per_frame(standard):
    text = report_section(standard.report, "BANDWIDTH TEST")
    assert "18 recorded, 17 succeeded, 1 failed" in text
    assert "Failed iterations: 1080p 3 (sha256_mismatch)" in text
    text = text[text.index("Times per frame"):text.index("Bandwidth per frame")]
    for frame in ("64B", "1080p", "4k"):
        everything = [r for r in standard.bandwidth if r["frame_type"] == frame]
        ok = ok_rows(standard.bandwidth, frame)
        size = ok[0]["size_bytes"]
        means = {c: statistics.fmean(r[c] for r in ok) for c in b.BANDWIDTH_NS}
        fields = table_row(text, frame, 10)  # the times table: size_bytes MB MiB ok/total success% + 5 times
        assert fields[0] == str(size)
        assert number(fields[1]) == pytest.approx(size / 1e6, abs=5e-7)
        assert number(fields[2]) == pytest.approx(size / 2**20, abs=5e-7)
        assert fields[3] == f"{len(ok)}/{len(everything)}"
        assert number(fields[4]) == pytest.approx(100 * len(ok) / len(everything), abs=0.051)
        for field, column in zip(fields[5:], b.BANDWIDTH_NS):
            assert number(field) == pytest.approx(means[column] / 1e6, abs=5.1e-7), (frame, column)


def test_bandwidth_megabytes_per_second(standard):
    text = report_section(standard.report, "BANDWIDTH TEST")
    rate_table = text[text.index("Bandwidth per frame"):text.index("Statistics over successful")]
    for frame in ("64B", "1080p", "4k"):
        ok = ok_rows(standard.bandwidth, frame)
        size = ok[0]["size_bytes"]
        fields = table_row(rate_table, frame, 6)
        for i, column in enumerate(("host_memcpy_ns", "guest_memcpy_ns", "total_ns")):
            rates = [size / r[column] * 1e3 for r in ok]
            mean_rate = size / statistics.fmean(r[column] for r in ok) * 1e3
            assert number(fields[2 * i]) == pytest.approx(mean_rate, abs=0.051)
            lo, hi = fields[2 * i + 1].split("-")
            assert (float(lo), float(hi)) == pytest.approx((min(rates), max(rates)), abs=0.051)


def test_bandwidth_statistics_per_frame(standard):
    text = report_section(standard.report, "BANDWIDTH TEST")
    for frame in ("64B", "1080p", "4k"):
        for column in b.BANDWIDTH_NS:
            assert_stats_row(text, f"{frame} {column}", [r[column] for r in ok_rows(standard.bandwidth, frame)])


def test_reference_statistics_and_comparison(standard):
    text = report_section(standard.report, "REFERENCE:")
    for frame in ("4096B", "1080p"):
        for column in b.REFERENCE_NS:
            values = [r[column] for r in standard.reference if r["frame_type"] == frame]
            assert_stats_row(text, f"{frame} {column}", values)
    comparison = report_section(standard.report, "SHARED REGION VS PRIVATE MEMORY, latency frame")
    stages, _ = latency_stage_values(standard)
    for label, column in (("C copy (region -> private)", "guest_second_pass_ns"),
                          ("B cold read (region, flushed)", "guest_cold_cache_ns")):
        region = statistics.median(stages[label])
        reference = statistics.median(r[column] for r in standard.reference if r["frame_type"] == "4096B")
        region_ns, private_ns, ratio, region_rate, private_rate = table_row(comparison, label, 5)
        assert number(region_ns) == pytest.approx(region, abs=0.051)
        assert number(private_ns) == pytest.approx(reference, abs=0.051)
        assert number(ratio) == pytest.approx(region / reference, abs=0.0051)
        assert number(region_rate) == pytest.approx(LATENCY_FRAME / region * 1e3, abs=0.051)
        assert number(private_rate) == pytest.approx(LATENCY_FRAME / reference * 1e3, abs=0.051)


def test_environment_from_manifest(standard):
    text = report_section(standard.report, "ENVIRONMENT")
    assert "Accelerator:     kvm" in text
    assert "resource2, memory type UC-, device 0000:00:03.0" in text
    assert "Test CPU 9000, 2 cores, kernel 6.1.0-test" in text
    assert "QEMU 7.2.0" in text
    assert "TCG" not in standard.report


def test_clean_data_has_no_suspect_figures(standard):
    assert report_section(standard.report, "SUSPECT FIGURES").rstrip().endswith("none found")
    assert "SUSPECT figures: 0" in standard.proc.stdout


def test_run_directly_through_the_shebang(standard, tmp_path):
    assert b.ANALYZE.read_text().startswith("#!/usr/bin/python3\n")
    assert os.access(b.ANALYZE, os.X_OK)
    b.write_results(tmp_path, latency=b.latency_rows(5), run=b.manifest())
    proc = b.run_analysis(tmp_path, direct=True)
    assert proc.returncode == 0, proc.stderr


# ---- the bottleneck line follows the data -------------------------------------------------------


def bottleneck_text(tmp_path, latency_phases, reference_phases=None):
    latency = b.latency_rows(30, seed=21, phase_ns=latency_phases)
    reference = None
    if reference_phases:
        reference = b.reference_rows([("4096B", LATENCY_FRAME)], per_size=3, seed=22, phase_ns=reference_phases)
    analysed = Analysed(tmp_path, latency, reference=reference, run=b.manifest())
    assert analysed.proc.returncode == 0, analysed.proc.stderr
    return report_section(analysed.report, "BOTTLENECK")


def test_bottleneck_attributed_to_the_mapping_when_the_region_is_slower(tmp_path):
    text = bottleneck_text(tmp_path, {"A": 50_000, "B": 150_000, "C": 400_000, "D": 20_000},
                           {"A": 50_000, "B": 50_000, "C": 100_000, "D": 20_000, "host": 2_000})
    assert "largest share of the end-to-end time: C copy (region -> private)" in text
    assert "evidence that the shared mapping slows this stage" in text
    ratio = float(re.search(r"takes ([\d.]+)x as long", text).group(1))
    assert 3 < ratio < 5  # 400k vs 100k, each +-20 %
    assert re.search(r"slower on the shared region than on private memory: B cold read .*x, C copy", text)


def test_no_evidence_against_the_mapping_when_private_memory_is_as_slow(tmp_path):
    phases = {"A": 50_000, "B": 150_000, "C": 400_000, "D": 20_000}
    text = bottleneck_text(tmp_path, phases, dict(phases, host=2_000))
    assert "largest share of the end-to-end time: C copy (region -> private)" in text
    assert "no evidence that the shared mapping is the bottleneck" in text
    assert "slower on the shared region than on private memory: none" in text


def test_bottleneck_names_the_largest_stage_whichever_it_is(tmp_path):
    text = bottleneck_text(tmp_path, {"A": 50_000, "B": 60_000, "C": 70_000, "D": 900_000})
    assert "largest share of the end-to-end time: D verify (SHA-256 of copy)" in text
    assert "not part of a transfer" in text
    assert "cannot say whether the shared mapping makes it slow" in text


def test_one_slow_iteration_does_not_decide_the_bottleneck(tmp_path):
    latency = b.latency_rows(30, seed=23, phase_ns={"A": 50_000, "B": 150_000, "C": 400_000, "D": 20_000})
    first = latency[0]  # a warm-up iteration: a 50 ms wait before the guest saw the message
    first["notification_est_ns"] += 50_000_000
    first["roundtrip_ns"] += 50_000_000
    first["total_ns"] += 50_000_000
    analysed = Analysed(tmp_path, latency, run=b.manifest())
    assert analysed.proc.returncode == 0, analysed.proc.stderr
    breakdown = report_section(analysed.report, "READ/WRITE ISOLATION")
    assert number(table_row(breakdown, "notification (est.)", 7)[2]) > 50  # the mean share: the outlier dominates
    bottleneck = report_section(analysed.report, "BOTTLENECK")
    assert "largest share of the end-to-end time: C copy (region -> private)" in bottleneck


def test_tcg_runs_are_labelled(tmp_path):
    analysed = Analysed(tmp_path, b.latency_rows(10), run=b.manifest(accel="tcg"))
    assert analysed.proc.returncode == 0, analysed.proc.stderr
    line = "TCG: timings are functional only, not hardware performance"
    assert line in report_section(analysed.report, "ENVIRONMENT")
    assert line in report_section(analysed.report, "BOTTLENECK")
    assert line in analysed.proc.stdout


# ---- SUSPECT: implausible figures are flagged ---------------------------------------------------


def suspect_lines(analysed):
    assert analysed.proc.returncode == 0, analysed.proc.stderr
    text = report_section(analysed.report, "SUSPECT FIGURES")
    return [line.strip() for line in text.splitlines() if "SUSPECT:" in line]


def test_guest_phase_longer_than_the_round_trip_is_suspect(tmp_path):
    latency = b.latency_rows(10)
    too_long = latency[3]["roundtrip_ns"] + 1000
    latency[3].update(guest_second_pass_ns=too_long, guest_memcpy_ns=too_long)
    lines = suspect_lines(Analysed(tmp_path, latency, run=b.manifest()))
    expected = "guest_second_pass_ns is longer than the round trip that contains it in 1 iteration(s) (iteration 4:"
    assert any(expected in line for line in lines), lines


def test_negative_notification_estimate_is_suspect(tmp_path):
    latency = b.latency_rows(10)
    for row in latency[:2]:
        row["notification_est_ns"] = -700
    lines = suspect_lines(Analysed(tmp_path, latency, run=b.manifest()))
    assert any("notification_est_ns is negative in 2 iteration(s) (min -700 ns)" in line for line in lines), lines


def test_bandwidth_above_the_bound_is_suspect(tmp_path):
    bandwidth = b.bandwidth_rows(("4k",), per_frame=3)
    bandwidth[0]["host_memcpy_ns"] = 100_000  # 24.9 MB in 100 us: 248,832 MB/s
    bandwidth[0]["total_ns"] = bandwidth[0]["host_memcpy_ns"] + bandwidth[0]["roundtrip_ns"]
    analysed = Analysed(tmp_path, bandwidth=bandwidth, run=b.manifest())
    lines = suspect_lines(analysed)
    assert any("host_memcpy: 1 iteration(s) above 200000 MB/s (max 248832.0 MB/s)" in line for line in lines), lines


def test_latency_stage_above_the_bound_is_marked_in_the_breakdown(tmp_path):
    latency = b.latency_rows(5, phase_ns={"A": 15, "B": 6_000, "C": 20_000, "D": 9_000})  # 4096 B in ~15 ns
    analysed = Analysed(tmp_path, latency, run=b.manifest())
    assert any("A hot read (region)" in line for line in suspect_lines(analysed))
    # mean_ns mean_us share MB/s SUSPECT median_ns median_share median_MB/s SUSPECT
    fields = table_row(report_section(analysed.report, "READ/WRITE ISOLATION"), "A hot read (region)", 9)
    mean_rate = 4096 / statistics.fmean(r["guest_hot_cache_ns"] for r in latency) * 1e3
    assert fields[3:5] == [f"{mean_rate:.1f}", "SUSPECT"]
    assert fields[8] == "SUSPECT"


def test_unit_error_in_a_derived_column_is_suspect(tmp_path):
    latency = [b.format_latency(r) for r in b.latency_rows(6)]
    for row in latency:
        row["roundtrip_us"] = str(row["roundtrip_ns"])  # the seed's kind of mistake: ns printed as us
    b.write_csv(tmp_path / "latency_results.csv", b.LATENCY_COLUMNS, latency)
    lines = suspect_lines(Analysed(tmp_path, run=None, write=False))
    assert any("column roundtrip_us disagrees with its source in 6 row(s)" in line for line in lines), lines


# ---- counters -----------------------------------------------------------------------------------


def test_counters_are_joined_by_iteration(tmp_path):
    latency = b.latency_rows(12, failed={4})
    counters = b.perf_rows(latency, lambda m: LATENCY_FRAME, hardware=False)
    for i, row in enumerate(counters, start=1):
        row["host_context_switches"] = (i * 7) % 5
    b.write_results(tmp_path, latency, run=b.manifest())
    b.write_extra(tmp_path, latency_perf=counters)
    analysed = Analysed(tmp_path, latency, write=False)
    assert analysed.proc.returncode == 0, analysed.proc.stderr
    text = report_section(analysed.report, "COUNTERS")
    assert "latency_performance.csv: 11 successful iterations with counters" in text
    assert "not measured (empty): host_l1_cache_misses, host_l1_cache_references" in text
    joined = [(c["host_context_switches"], r["roundtrip_ns"]) for c, r in zip(counters, latency) if r["success"] == 1]
    switches = [s for s, _ in joined]
    corr = np.corrcoef(switches, [t for _, t in joined])[0, 1]
    fields = [number(f) for f in table_row(text, "host_context_switches", 6)]
    assert fields == pytest.approx([len(switches), statistics.fmean(switches), statistics.median(switches),
                                    min(switches), max(switches), corr], abs=0.0051)


# ---- bad input: one clear line on stderr, never a traceback ----------------------------------------


def assert_one_line_error(proc, expected):
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "Traceback" not in proc.stderr
    lines = proc.stderr.splitlines()
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith("analyze_results: ")
    assert expected in lines[0], lines[0]


def test_missing_folder(tmp_path):
    assert_one_line_error(b.run_analysis(tmp_path / "nowhere"), "results folder not found")


def test_folder_is_a_file(tmp_path):
    (tmp_path / "file").write_text("x")
    assert_one_line_error(b.run_analysis(tmp_path / "file"), "not a folder")


def test_folder_without_csv_files(tmp_path):
    (tmp_path / "run.json").write_text("{}")
    assert_one_line_error(b.run_analysis(tmp_path), "nothing to analyse")


def test_csv_files_with_a_header_only(tmp_path):
    b.write_results(tmp_path, latency=[], bandwidth=[], run=b.manifest())
    assert_one_line_error(b.run_analysis(tmp_path), "no iterations recorded")


def test_empty_csv_file(tmp_path):
    b.write_results(tmp_path, bandwidth=b.bandwidth_rows(("64B",)), run=b.manifest())
    (tmp_path / "latency_results.csv").write_text("")
    assert_one_line_error(b.run_analysis(tmp_path), "latency_results.csv: file is empty")


def test_wrong_columns(tmp_path):
    columns = [c for c in b.LATENCY_COLUMNS if c != "roundtrip_ns"]
    b.write_csv(tmp_path / "latency_results.csv", columns, [b.format_latency(r) for r in b.latency_rows(3)])
    assert_one_line_error(b.run_analysis(tmp_path), "latency_results.csv: wrong columns: missing roundtrip_ns")


def test_non_numeric_value(tmp_path):
    rows = [b.format_latency(r) for r in b.latency_rows(5)]
    rows[2]["roundtrip_ns"] = "12x3"
    b.write_csv(tmp_path / "latency_results.csv", b.LATENCY_COLUMNS, rows)
    expected = "latency_results.csv line 4, column roundtrip_ns: '12x3' is not a number"
    assert_one_line_error(b.run_analysis(tmp_path), expected)


def test_row_with_missing_fields(tmp_path):
    b.write_results(tmp_path, latency=b.latency_rows(3))
    with open(tmp_path / "latency_results.csv", "a") as f:
        f.write("4,1000,1.000\n")  # a row cut short, e.g. by a full disk
    assert_one_line_error(b.run_analysis(tmp_path), "latency_results.csv line 5: 3 fields, the header has 22")


def test_success_that_is_not_0_or_1(tmp_path):
    rows = b.latency_rows(3)
    rows[1]["success"] = 2
    b.write_results(tmp_path, latency=rows)
    assert_one_line_error(b.run_analysis(tmp_path), "latency_results.csv line 3, column success: '2' is not a number "
                                                    "of kind flag (0 or 1); 1 row left out")


def test_empty_timing_in_a_successful_row(tmp_path):
    rows = [b.format_latency(r) for r in b.latency_rows(3)]
    rows[0]["guest_cold_cache_ns"] = ""
    b.write_csv(tmp_path / "latency_results.csv", b.LATENCY_COLUMNS, rows)
    assert_one_line_error(b.run_analysis(tmp_path),
                          "line 2, column guest_cold_cache_ns: empty in a successful row; 1 row left out")


def test_binary_file_instead_of_csv(tmp_path):
    (tmp_path / "bandwidth_results.csv").write_bytes(bytes(range(256)) * 4)
    assert_one_line_error(b.run_analysis(tmp_path), "bandwidth_results.csv: not a text CSV file")


def test_every_iteration_failed(tmp_path):
    failures = [{"test": "latency", "frame": "4096B", "iteration": i, "error": "timeout"} for i in (1, 2, 3)]
    analysed = Analysed(tmp_path, b.latency_rows(3, failed={1, 2, 3}), run=b.manifest(failures=failures))
    assert_one_line_error(analysed.proc, "every latency iteration failed")
    text = report_section(analysed.report, "LATENCY TEST")  # the report still says what happened
    assert "3 recorded, 0 succeeded, 3 failed; success rate 0.0%" in text
    assert "Failed iterations: 1 (timeout), 2 (timeout), 3 (timeout)" in text
    assert "every iteration failed" in text
    assert not any((tmp_path / name).exists() for name in b.PNGS)


def test_partial_input_is_reported_and_the_rest_analysed(tmp_path):
    """Only the bandwidth test's CSV, a broken run.json and a broken counters file: a report saying so, a
    line on stderr for each broken file, and exit status 1."""
    bandwidth = b.bandwidth_rows(("64B", "1080p"))
    b.write_results(tmp_path, bandwidth=bandwidth)
    (tmp_path / "run.json").write_text('{"status": "compl')
    counters = b.perf_rows(bandwidth, lambda m: m["size_bytes"])
    counters[0]["host_cpu_cycles"] = "many"
    b.write_extra(tmp_path, bandwidth_perf=counters)
    analysed = Analysed(tmp_path, write=False)
    assert analysed.proc.returncode == 1, analysed.proc.stderr
    assert "unusable input files: 2" in analysed.proc.stdout
    assert "Traceback" not in analysed.proc.stderr
    warnings = analysed.proc.stderr.splitlines()
    assert len(warnings) == 2 and all(w.startswith("analyze_results: ") for w in warnings), warnings
    assert "run.json: unreadable" in warnings[0]
    expected = ("bandwidth_performance.csv line 2, column host_cpu_cycles: 'many' is not a number of kind int (a whole number from 0 to 2^64-1); "
                "1 row left out")
    assert expected in warnings[1]
    missing = report_section(analysed.report, "MISSING OR UNREADABLE INPUT")
    assert "latency_results.csv: not found" in missing
    assert "run.json: unreadable" in missing
    assert "latency_results.csv not found: no latency analysis" in analysed.report
    assert (tmp_path / "bandwidth_analysis.png").stat().st_size > 10_000
    assert not (tmp_path / "latency_histogram.png").exists()
    assert "not written: latency_histogram.png (no successful latency iteration)" in analysed.proc.stdout


def test_unknown_latency_frame_size_gives_times_without_rates(tmp_path):
    analysed = Analysed(tmp_path, b.latency_rows(5), run=None)
    assert analysed.proc.returncode == 0, analysed.proc.stderr
    assert "Frame size unknown" in analysed.report
    fields = table_row(report_section(analysed.report, "READ/WRITE ISOLATION"), "C copy (region -> private)", 7)
    assert fields[3] == fields[6] == "n/a"


# ---- packaging ----------------------------------------------------------------------------------


def test_inline_script_metadata_matches_requirements():
    # The reference regular expression of PEP 723.
    pattern = r"(?m)^# /// (?P<type>[a-zA-Z0-9-]+)$\s(?P<content>(^#(| .*)$\s)+)^# ///$"
    blocks = [m for m in re.finditer(pattern, b.ANALYZE.read_text()) if m.group("type") == "script"]
    assert len(blocks) == 1
    content = "".join(line[2:] if line.startswith("# ") else line[1:]
                      for line in blocks[0].group("content").splitlines(keepends=True))
    if tomllib is None:
        pytest.fail("tomllib needs Python 3.11")
    metadata = tomllib.loads(content)
    names = lambda specs: {re.split(r"[<>=!~ ]", s)[0].lower() for s in specs}  # noqa: E731
    lines = (b.REPO / "requirements.txt").read_text().splitlines()
    requirements = [line for line in lines if line and not line.startswith("#")]
    assert names(metadata["dependencies"]) == names(requirements) == {"numpy", "pandas", "matplotlib"}


def test_help_and_usage_errors():
    proc = b.subprocess.run([sys.executable, str(b.ANALYZE), "--help"], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0 and "results_dir" in proc.stdout
    proc = b.subprocess.run([sys.executable, str(b.ANALYZE), "a", "b"], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr

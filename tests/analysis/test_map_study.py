"""The MAPPING STUDY section: phases A-C through the guest's usual mapping and its second mapping of the
same memory (mapping_study.csv, host_writer --map-study), on synthetic folders with known values. The
expected medians, ratios and verdicts are computed here from the raw rows with statistics, independently
of analyze_results.py."""

import random
import statistics

import pytest

import builders as b
from builders import number, report_section, table_row

MAP_STUDY_COLUMNS = b.MAP_STUDY_COLUMNS
PHASES = [("A", "hot_read_ns"), ("B", "cold_read_ns"), ("C", "copy_ns")]
LATENCY_N = 10
FAILED_LATENCY = 3
BW_FRAMES = ("64B", "1080p")
BW_N = 5


def map_rows(messages, second_type="write-combining", seed=7):
    """Per message the usual row (resource2) then the second one (resource2_wc), as host_writer writes them.
    The second mapping reads hot (A) at about half the time in every message, reads cold (B) within 3%,
    and copies (C) 1.3x slower in 3 of 5 messages and 5% faster in the others: only A is a clear difference."""
    rng = random.Random(seed)
    rows = []
    for test, frame, size, iteration, success in messages:
        scale = max(size / 4096, 1)
        usual = {"hot_read_ns": int(rng.uniform(2_000, 3_000) * scale),
                 "cold_read_ns": int(rng.uniform(5_000, 7_000) * scale),
                 "copy_ns": int(rng.uniform(15_000, 25_000) * scale)}
        second = {"hot_read_ns": int(usual["hot_read_ns"] * rng.uniform(0.45, 0.55)),
                  "cold_read_ns": int(usual["cold_read_ns"] * rng.uniform(0.97, 1.03)),
                  "copy_ns": int(usual["copy_ns"] * (1.3 if iteration % 5 in (0, 1, 2) else 0.95))}
        common = {"test": test, "iteration": iteration, "frame_type": frame, "size_bytes": size,
                  "success": success}
        for mapping, memory_type, times in (("resource2", "uncached-minus", usual),
                                            ("resource2_wc", second_type, second)):
            if not success:  # a failed message: times that must not count
                times = {column: 1 for _, column in PHASES}
            rows.append(dict(common, mapping=mapping, memory_type=memory_type, **times,
                             copy_mbps=f"{size / times['copy_ns'] * 1e3:.3f}"))
    return rows


def make_folder(folder, accel="kvm", second_type="write-combining", map_study=True):
    """A results folder with latency (4096 bytes, iteration 3 failed) and bandwidth tests; returns the
    mapping-study rows (None when the folder has no mapping_study.csv)."""
    latency = b.latency_rows(n=LATENCY_N, failed=(FAILED_LATENCY,))
    bandwidth = b.bandwidth_rows(frames=BW_FRAMES, per_frame=BW_N)
    run = b.manifest(latency_frame="4096", accel=accel)
    run["guest"].update(mapping="resource2", memory_type="uncached-minus")
    run["options"]["map_study"] = map_study
    b.write_results(folder, latency=latency, bandwidth=bandwidth, run=run)
    if not map_study:
        return None
    messages = [("latency", "4096B", 4096, r["iteration"], r["success"]) for r in latency]
    messages += [("bandwidth", r["frame_type"], r["size_bytes"], r["iteration"], r["success"]) for r in bandwidth]
    rows = map_rows(messages, second_type)
    b.write_csv(folder / "mapping_study.csv", MAP_STUDY_COLUMNS, rows)
    return rows


def analysed(folder):
    proc = b.run_analysis(folder)
    report = (folder / "performance_report.txt").read_text()
    return proc, report


def times(rows, size, mapping, column):
    return [r[column] for r in rows if r["success"] == 1 and r["size_bytes"] == size and r["mapping"] == mapping]


def expected_verdict(rows, size, column):
    """The 10% / 80% rule, computed here: "slower", "faster" or None, with the ratio and the agreeing count."""
    ok = [r for r in rows if r["success"] == 1 and r["size_bytes"] == size]
    usual = {(r["test"], r["iteration"]): r[column] for r in ok if r["mapping"] == "resource2"}
    second = {(r["test"], r["iteration"]): r[column] for r in ok if r["mapping"] == "resource2_wc"}
    pairs = [(usual[k], second[k]) for k in usual]
    slower = sum(s > u for u, s in pairs)
    faster = sum(s < u for u, s in pairs)
    ratio = statistics.median(second.values()) / statistics.median(usual.values())
    if ratio >= 1.1 and slower >= 0.8 * len(pairs):
        return "slower", ratio, slower, len(pairs)
    if ratio <= 1 / 1.1 and faster >= 0.8 * len(pairs):
        return "faster", 1 / ratio, faster, len(pairs)
    return None, ratio, None, len(pairs)


def assert_map_table(block, rows, size, second_type):
    """Both rows of one frame block: memory type, n, and per phase the median in us, MB/s and x."""
    for mapping, role, memory_type in (("resource2", "usual", "uncached-minus"),
                                       ("resource2_wc", "second", second_type)):
        fields = table_row(block, f"{mapping} ({role})", 11)
        n = LATENCY_N - 1 if size == 4096 else BW_N
        assert fields[:2] == [memory_type, str(n)], (size, mapping, fields)
        for i, (letter, column) in enumerate(PHASES):
            median = statistics.median(times(rows, size, mapping, column))
            base = statistics.median(times(rows, size, "resource2", column))
            us, rate, x = fields[2 + 3 * i:5 + 3 * i]
            assert number(us) == pytest.approx(median / 1e3, abs=0.00051), (size, mapping, letter)
            assert number(rate) == pytest.approx(size / median * 1e3, abs=0.051), (size, mapping, letter)
            assert number(x) == pytest.approx(median / base, abs=0.0051), (size, mapping, letter)


def sizes():
    return {"4096B": 4096, "64B": 64, "1080p": 1920 * 1080 * 3}


def test_synthetic_table_and_conclusions(tmp_path):
    rows = make_folder(tmp_path)
    proc, report = analysed(tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr == ""
    text = report_section(report, "MAPPING STUDY")
    assert "Usual mapping: resource2 (run.json guest.mapping" in text
    assert "cannot compare memory types" not in text
    assert "Under TCG" not in text
    for frame, size in sizes().items():
        block = b.frame_block(text, frame)
        assert_map_table(block, rows, size, "write-combining")
        conclusions = block[block.index("Conclusions for"):]
        quiet = []
        for letter, column in PHASES:
            verdict, ratio, agree, n = expected_verdict(rows, size, column)
            phase_lines = [line for line in conclusions.splitlines() if line.strip().startswith(f"phase {letter} ")]
            if verdict is None:
                assert phase_lines == [], (frame, letter, phase_lines)
                quiet.append(letter)
                continue
            assert len(phase_lines) == 1, (frame, letter, conclusions)
            assert (f"{ratio:.2f}x {verdict} through resource2_wc (second mapping, write-combining) than through "
                    f"resource2 (usual mapping, uncached-minus), {verdict} in {agree} of {n} messages"
                    in phase_lines[0]), phase_lines[0]
        # the values are built so that A differs clearly and B, C do not
        assert quiet == ["B", "C"], (frame, quiet)
        assert ("resource2_wc (second, write-combining): no difference shown in phase B, C (medians within 10% "
                "or fewer than 80% of the messages agree)") in conclusions
    copy = report_section(report, "WHERE THE COPY TIME GOES")
    assert "see MAPPING STUDY (mapping_study.csv)" in copy
    assert "compare across runs" not in copy


def test_without_the_file_there_is_no_section(tmp_path):
    make_folder(tmp_path, map_study=False)
    proc, report = analysed(tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert "\nMAPPING STUDY" not in report
    copy = report_section(report, "WHERE THE COPY TIME GOES")
    assert "mappings compare across runs (or within one with --map-study)" in copy
    assert "see MAPPING STUDY" not in copy


def test_same_memory_type_is_said_and_shown_as_recorded(tmp_path):
    # As in the TCG bench VM: resource2_wc got uncached-minus too, because the range was mapped UC- first.
    rows = make_folder(tmp_path, second_type="uncached-minus")
    proc, report = analysed(tmp_path)
    assert proc.returncode == 0, proc.stderr
    text = report_section(report, "MAPPING STUDY")
    assert "\n  both mappings got uncached-minus: this run cannot compare memory types\n" in text
    assert "write-combining" not in text and " WC" not in text
    block = b.frame_block(text, "1080p")
    assert_map_table(block, rows, 1920 * 1080 * 3, "uncached-minus")
    phase_a = next(line for line in block.splitlines() if line.strip().startswith("phase A "))
    assert "(second mapping, uncached-minus)" in phase_a
    assert phase_a.endswith("; same memory type, so not an effect of it"), phase_a


def test_tcg_run_says_the_memory_type_has_no_effect(tmp_path):
    make_folder(tmp_path, accel="tcg")
    proc, report = analysed(tmp_path)
    assert proc.returncode == 0, proc.stderr
    text = report_section(report, "MAPPING STUDY")
    assert "accelerator tcg" in text
    assert "  ! Under TCG the memory type (UC-/WC) has no effect on speed: these are emulator timings" in text
    phase_a = [line for line in text.splitlines() if line.strip().startswith("phase A ")]
    assert len(phase_a) == len(sizes())
    assert all(line.endswith("; under TCG this is not an effect of the memory type") for line in phase_a), phase_a


BAD_INPUT = {
    "missing column": (lambda header, rows: ([c for c in header if c != "cold_read_ns"], rows),
                       "mapping_study.csv: wrong columns: missing cold_read_ns; mapping study skipped"),
    "non-numeric": (lambda header, rows: (header, [dict(rows[0], copy_ns="fast")] + rows[1:]),
                    "mapping_study.csv line 2, column copy_ns: 'fast' is not a number of kind int (a whole number from 0 to 2^64-1); 1 row left out"),
    "unknown mapping": (lambda header, rows: (header, rows[:3] + [dict(rows[3], mapping="bar2_uc")] + rows[4:]),
                        "mapping_study.csv line 5, column mapping: 'bar2_uc' is not one of shm, resource2, "
                        "resource2_wc, ivshmem_region; 1 row left out"),
}


@pytest.mark.parametrize("case", sorted(BAD_INPUT))
def test_bad_input_is_one_line_and_the_report_is_still_written(tmp_path, case):
    rows = make_folder(tmp_path)
    change, message = BAD_INPUT[case]
    header, rows = change(MAP_STUDY_COLUMNS, rows)
    b.write_csv(tmp_path / "mapping_study.csv", header, rows)
    proc, report = analysed(tmp_path)
    assert proc.returncode == 1
    assert proc.stderr.splitlines() == [f"analyze_results: {message}"], proc.stderr
    # the rest is analysed as usual
    assert f"latency: {LATENCY_N - 1}/{LATENCY_N} iterations succeeded" in proc.stdout
    assert "median" in report_section(report, "LATENCY TEST")
    assert message in report_section(report, "MISSING OR UNREADABLE INPUT")
    text = report_section(report, "MAPPING STUDY")
    if message.endswith("skipped"):  # else only the row is left out
        assert "mapping_study.csv is unreadable: see MISSING OR UNREADABLE INPUT" in text
        assert "(usual)" not in text

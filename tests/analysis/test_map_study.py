"""The MAPPING STUDY section: phases A-C and W through each of the guest's mappings of the same memory (uc, wc, wb;
mapping_study.csv, host_writer --map-study) against private memory (the reference messages), on synthetic
folders with known values. The expected medians, ratios and verdicts are computed here from the raw rows
with statistics, independently of analyze_results.py."""

import json
import random
import statistics

import pytest

import builders as b
from builders import number, report_section, table_row

MAP_STUDY_COLUMNS = b.MAP_STUDY_COLUMNS
PHASES = [("A", "hot_read_ns"), ("B", "cold_read_ns"), ("C", "copy_ns"), ("W", "write_ns")]
# Phase W's private counterpart is the reference's phase C: a memcpy from one private buffer to another.
PRIVATE = {"hot_read_ns": "guest_hot_cache_ns", "cold_read_ns": "guest_cold_cache_ns", "copy_ns": "guest_second_pass_ns",
           "write_ns": "guest_second_pass_ns"}
LATENCY_N = 10
FAILED_LATENCY = 3
BW_FRAMES = ("64B", "1080p")
BW_N = 5
# name in the CSV, label in the report, memory type, time factor against wb
MAPPINGS = [("resource2", "uc (resource2)", "uncached-minus", 50.0),
            ("resource2_wc", "wc (resource2_wc)", "uncached-minus", 1.0),
            ("ivshmem_region", "wb (ivshmem_region)", "write-back", 1.0)]
NO_DRIVER = "no /dev/ivshmem-region (the ivshmem_doorbell driver is not loaded)"


def map_rows(messages, mappings, rotate=True, seed=7):
    """Per message one row per mapping in the order the guest ran them (rotating: message m starts with
    mapping m mod 3). uc is 50x slower than wb in every phase; wc is within 3% of wb: only uc differs."""
    rng = random.Random(seed)
    rows = []
    for m, (test, frame, size, iteration, success) in enumerate(messages):
        scale = max(size / 4096, 1)
        wb = {"hot_read_ns": int(rng.uniform(2_000, 3_000) * scale),
              "cold_read_ns": int(rng.uniform(5_000, 7_000) * scale),
              "copy_ns": int(rng.uniform(15_000, 25_000) * scale),
              "write_ns": int(rng.uniform(10_000, 20_000) * scale)}
        first = m % len(mappings) if rotate else 0
        for order in range(len(mappings)):
            mapping, _, memory_type, factor = mappings[(first + order) % len(mappings)]
            times = {column: int(ns * factor * rng.uniform(0.97, 1.03)) for column, ns in wb.items()}
            if not success:  # a failed message: times that must not count
                times = {column: 1 for _, column in PHASES}
            rows.append({"test": test, "iteration": iteration, "frame_type": frame, "size_bytes": size,
                         "mapping": mapping, "memory_type": memory_type, **times,
                         "order": order, "success": success})
    return rows


def make_folder(folder, accel="kvm", mappings=MAPPINGS, missing=(), rotate=True, map_study=True):
    """A results folder with latency (4096 bytes, iteration 3 failed), bandwidth and reference messages;
    returns (mapping-study rows, reference rows); rows are None when the folder has no mapping_study.csv."""
    latency = b.latency_rows(n=LATENCY_N, failed=(FAILED_LATENCY,))
    bandwidth = b.bandwidth_rows(frames=BW_FRAMES, per_frame=BW_N)
    reference = b.reference_rows(list(sizes().items()))
    run = b.manifest(latency_frame="4096", accel=accel)
    run["guest"].update(mapping="resource2", memory_type="uncached-minus")
    run["options"]["map_study"] = map_study
    if map_study:
        run["map_study"] = {"reported": True, "mappings": [m[0] for m in mappings],
                            "missing": [{"mapping": name, "errno": 2, "why": why} for name, why in missing]}
    b.write_results(folder, latency=latency, bandwidth=bandwidth, reference=reference, run=run)
    if not map_study:
        return None, reference
    messages = [("latency", "4096B", 4096, r["iteration"], r["success"]) for r in latency]
    messages += [("bandwidth", r["frame_type"], r["size_bytes"], r["iteration"], r["success"]) for r in bandwidth]
    rows = map_rows(messages, mappings, rotate)
    b.write_csv(folder / "mapping_study.csv", MAP_STUDY_COLUMNS, rows)
    return rows, reference


def analysed(folder):
    proc = b.run_analysis(folder)
    report = (folder / "performance_report.txt").read_text()
    return proc, report


def sizes():
    return {"4096B": 4096, "64B": 64, "1080p": 1920 * 1080 * 3}


def times(rows, size, mapping, column):
    return [r[column] for r in rows if r["success"] == 1 and r["size_bytes"] == size and r["mapping"] == mapping]


def private_median(reference, size, column):
    return statistics.median(r[PRIVATE[column]] for r in reference if r["size_bytes"] == size)


def assert_map_table(block, rows, reference, size, mappings, n=None):
    """Each mapping's row of one frame block, and private memory's: memory type, n (default: the messages of
    the latency or bandwidth test), per phase MB/s and x_priv."""
    if n is None:
        n = LATENCY_N - 1 if size == 4096 else BW_N
    for mapping, label, memory_type, _ in mappings:
        fields = table_row(block, label, 10)
        assert fields[:2] == [memory_type, str(n)], (size, mapping, fields)
        for i, (letter, column) in enumerate(PHASES):
            median = statistics.median(times(rows, size, mapping, column))
            private = private_median(reference, size, column)
            rate, x = fields[2 + 2 * i:4 + 2 * i]
            assert number(rate) == pytest.approx(size / median * 1e3, rel=0.001, abs=0.051), (size, mapping, letter)
            assert number(x) == pytest.approx(private / median, abs=0.0051), (size, mapping, letter)
    fields = table_row(block, "private (reference)", 10)
    assert fields[:2] == ["write-back", "3"]
    for i, (_, column) in enumerate(PHASES):
        private = private_median(reference, size, column)
        assert number(fields[2 + 2 * i]) == pytest.approx(size / private * 1e3, rel=0.001, abs=0.051)
        assert fields[3 + 2 * i] == "1.00x"


def expected_uc_sentence(rows, size, column):
    """The 10% / 80% rule for uc against wb, computed here: the sentence the report must give."""
    ok = [r for r in rows if r["success"] == 1 and r["size_bytes"] == size]
    wb = {(r["test"], r["iteration"]): r[column] for r in ok if r["mapping"] == "ivshmem_region"}
    uc = {(r["test"], r["iteration"]): r[column] for r in ok if r["mapping"] == "resource2"}
    slower = sum(uc[k] > wb[k] for k in wb)
    ratio = statistics.median(uc.values()) / statistics.median(wb.values())
    assert ratio >= 1.1 and slower >= 0.8 * len(wb)
    return (f"{ratio:.2f}x slower through uc (resource2) than through wb (ivshmem_region), slower in {slower} of "
            f"{len(wb)} messages")


def test_three_mappings_against_private_memory(tmp_path):
    rows, reference = make_folder(tmp_path)
    proc, report = analysed(tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr == ""
    text = report_section(report, "MAPPING STUDY")
    assert "is missing from the study" not in text
    for frame, size in sizes().items():
        block = b.frame_block(text, frame)
        assert_map_table(block, rows, reference, size, MAPPINGS)
        conclusions = block[block.index("Conclusions for"):]
        for letter, column in PHASES:
            lines = [line.strip() for line in conclusions.splitlines() if line.strip().startswith(f"phase {letter} ")]
            # uc differs clearly in every phase; wc (within 3% of wb) in none
            assert lines == [f"phase {letter} ({ {'A': 'hot read', 'B': 'cold read', 'C': 'copy', 'W': 'write'}[letter]}): "
                             f"{expected_uc_sentence(rows, size, column)}"], (frame, letter, conclusions)
        assert "wc (resource2_wc) than" not in conclusions


def test_the_order_rotates_or_is_flagged(tmp_path):
    make_folder(tmp_path / "rotating")
    _, report = analysed(tmp_path / "rotating")
    text = report_section(report, "MAPPING STUDY")
    assert "the order rotates, so no mapping always goes first" in text
    assert "did not rotate" not in text
    make_folder(tmp_path / "fixed", rotate=False)
    _, report = analysed(tmp_path / "fixed")
    text = report_section(report, "MAPPING STUDY")
    assert "  ! went first (order 0): " in text and "the order did not rotate" in text


@pytest.mark.parametrize("accel, words", [
    ("tcg", "Accelerator tcg: under TCG the memory type does not change speed"),
    ("kvm", "Accelerator kvm: here the memory type can change speed by orders of magnitude"),
    ("", "Accelerator unknown: under TCG the memory type does not change speed; on KVM it can by orders of magnitude"),
])
def test_one_sentence_on_what_the_figures_mean_here(tmp_path, accel, words):
    make_folder(tmp_path, accel=accel)
    proc, report = analysed(tmp_path)
    assert proc.returncode == 0, proc.stderr
    text = report_section(report, "MAPPING STUDY")
    assert sum(line.startswith("  Accelerator ") for line in text.splitlines()) == 1
    assert any(line.startswith(f"  {words}") for line in text.splitlines())
    phase_a = [line for line in text.splitlines() if line.strip().startswith("phase A ")]
    assert len(phase_a) == len(sizes())
    tcg_words = "; under TCG this is not an effect of the memory type"
    assert all(line.endswith(tcg_words) == (accel == "tcg") for line in phase_a), phase_a


def test_missing_driver_names_wb_and_why(tmp_path):
    # As a bench VM without the driver: uc and wc rows only, run.json says why wb is missing.
    two = [m for m in MAPPINGS if m[0] != "ivshmem_region"]
    rows, reference = make_folder(tmp_path, mappings=two, missing=[("ivshmem_region", NO_DRIVER)])
    proc, report = analysed(tmp_path)
    assert proc.returncode == 0, proc.stderr
    text = report_section(report, "MAPPING STUDY")
    assert f"  ! wb (ivshmem_region) is missing from the study: {NO_DRIVER}" in text
    block = b.frame_block(text, "1080p")
    assert_map_table(block, rows, reference, 1920 * 1080 * 3, two)
    assert "wb (ivshmem_region)  " not in block


def test_without_the_file_there_is_no_section(tmp_path):
    make_folder(tmp_path, map_study=False)
    proc, report = analysed(tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert "\nMAPPING STUDY" not in report
    copy = report_section(report, "WHERE THE COPY TIME GOES")
    assert "mappings compare across runs (or within one with --map-study)" in copy
    assert "see MAPPING STUDY" not in copy


def test_without_reference_messages_there_is_no_private_column(tmp_path):
    make_folder(tmp_path)
    (tmp_path / "reference_results.csv").unlink()
    proc, report = analysed(tmp_path)
    assert proc.returncode == 0, proc.stderr
    block = b.frame_block(report_section(report, "MAPPING STUDY"), "1080p")
    assert "no successful reference message of this size: no comparison with private memory" in block
    assert "private (reference)" not in block


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
    rows, _ = make_folder(tmp_path)
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
        assert "x_priv" not in text


def test_a_study_on_reference_messages_is_read_as_one(tmp_path):
    """run_test.sh's default, --map-study=reference: the rows' test is reference, and the table says so."""
    _, reference = make_folder(tmp_path, map_study=False)
    messages = [("reference", r["frame_type"], r["size_bytes"], r["iteration"], r["success"]) for r in reference]
    rows = map_rows(messages, MAPPINGS)
    b.write_csv(tmp_path / "mapping_study.csv", MAP_STUDY_COLUMNS, rows)
    run = json.loads((tmp_path / "run.json").read_text())
    run["options"]["map_study"] = True
    run["map_study"] = {"reported": True, "mappings": [m[0] for m in MAPPINGS], "missing": []}
    (tmp_path / "run.json").write_text(json.dumps(run))
    proc, report = analysed(tmp_path)
    assert proc.returncode == 0, proc.stderr
    text = report_section(report, "MAPPING STUDY")
    block = b.frame_block(text, "4096B")
    assert "(reference test)" in block
    assert_map_table(block, rows, reference, 4096, MAPPINGS, n=3)

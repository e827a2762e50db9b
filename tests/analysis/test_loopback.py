"""A real loopback run analysed end to end: host_writer and guest_reader share a /dev/shm file on this
machine (no VM), then analyze_results.py reads what host_writer wrote. The run has the counters (on by
default), the write-path study (--write-study) and the mapping study (--map-study: in loopback the
second mapping is a second mmap of the same file). The expected statistics are computed here from the
CSVs with the csv module, statistics and numpy."""

import csv
import json
import statistics

import pytest

import builders as b
from builders import assert_stats_row, number, report_section, table_row

ITERATIONS = 20
BW_ITERATIONS = 3
# --frames 64,4096,1M: 4096 is also the latency frame; the reference measures each size once
FRAMES = {"64B": 64, "4096B": 4096, "1048576B": 1 << 20}


@pytest.fixture(scope="module")
def loopback(tmp_path_factory):
    out = b.run_loopback(tmp_path_factory.mktemp("loopback"), [
        "--size", "8M", "--iterations", str(ITERATIONS), "--latency-frame", "4096",
        "--bw-iterations", str(BW_ITERATIONS), "--frames", "64,4096,1M", "--ref-iterations", "2",
        "--write-study", "--map-study", "--meta", "vm=loopback", "--meta", "accel=none"])
    proc = b.run_analysis(out)
    report = (out / "performance_report.txt").read_text() if (out / "performance_report.txt").exists() else ""
    return out, proc, report


def read_rows(path):
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def test_loopback_run_is_analysed(loopback):
    out, proc, report = loopback
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr == ""
    assert f"latency: {ITERATIONS}/{ITERATIONS} iterations succeeded" in proc.stdout
    for name in b.PNGS:
        assert (out / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n", name
        assert (out / name).stat().st_size > 10_000, name
    environment = report_section(report, "ENVIRONMENT")
    assert "Guest mapping:   shm, memory type write-back" in environment
    assert "VM:              loopback" in environment
    assert "Frame: 4096 bytes" in report


def test_loopback_statistics_match_the_csv(loopback):
    out, _, report = loopback
    latency = [r for r in read_rows(out / "latency_results.csv") if r["success"] == "1"]
    assert len(latency) == ITERATIONS
    text = report_section(report, "LATENCY TEST")
    for column in b.LATENCY_NS:
        assert_stats_row(text, column, [int(r[column]) for r in latency])
    bandwidth = [r for r in read_rows(out / "bandwidth_results.csv") if r["success"] == "1"]
    text = report_section(report, "BANDWIDTH TEST")
    for frame, size in FRAMES.items():
        rows = [r for r in bandwidth if r["frame_type"] == frame]
        assert len(rows) == BW_ITERATIONS and all(int(r["size_bytes"]) == size for r in rows), frame
        for column in b.BANDWIDTH_NS:
            assert_stats_row(text, f"{frame} {column}", [int(r[column]) for r in rows])


def test_loopback_has_a_reference_and_no_suspect_figure(loopback):
    _, _, report = loopback
    # One clock on both sides and real memory: nothing may be implausible or inconsistent.
    suspects = report_section(report, "SUSPECT FIGURES")
    assert suspects.rstrip().endswith("none found"), suspects
    comparison = report_section(report, "SHARED REGION VS PRIVATE MEMORY, latency frame")
    assert "C copy (region -> private)" in comparison
    bottleneck = report_section(report, "BOTTLENECK")
    assert "Latency frame: largest share of the end-to-end time: " in bottleneck
    verdicts = ("as long as on private memory in the same run (medians)", "no private-memory counterpart")
    assert any(verdict in bottleneck for verdict in verdicts), bottleneck


def numeric(row):
    """A CSV row with its numeric fields as numbers and its empty fields as None."""
    out = {}
    for key, value in row.items():
        try:
            out[key] = int(value)
        except ValueError:
            out[key] = None if value == "" else value
    return out


def test_loopback_copy_section_matches_the_write_study_csv(loopback):
    out, proc, report = loopback
    study = [numeric(r) for r in read_rows(out / "write_study.csv")]
    variants = {r["variant"] for r in study}
    assert {"memcpy_prefaulted", "memcpy_fresh_pages", "nt_store"} <= variants, variants
    text = report_section(report, "WHERE THE COPY TIME GOES")
    assert "Guest mapping: shm, memory type write-back" in text
    assert "Under TCG" not in text
    sizes = {r["size_bytes"] for r in study}
    assert sizes == {4096, *FRAMES.values()}
    for size in sizes:
        names = "/".join(sorted({r["frame_type"] for r in study if r["size_bytes"] == size}))
        block = b.frame_block(text, names)
        assert block.startswith(f"  Frame {names}, {size} bytes"), block
        b.assert_copy_table(block, size, study, sorted(variants))
        assert f"Conclusions for {names} (this run's data only):" in block
        # region and private memory each compare every other variant with the plain copy of the same message
        expected = {"region": BW_ITERATIONS + (ITERATIONS if size == 4096 else 0),
                    "private": 2}
        for source, n in expected.items():
            sentences = [line.strip() for line in block.splitlines() if line.strip().startswith(f"{source}: ")]
            assert len(sentences) == len(variants) - 1, sentences
            assert all(s.endswith(f"of {n} iterations)") for s in sentences), (size, source, sentences)
        assert "region vs private: the pre-faulted copy from the shared region (shm, memory type write-back)" in block
    assert (out / "write_study.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "write_study.png" in proc.stdout


def test_loopback_counters_section(loopback):
    out, _, report = loopback
    manifest = json.loads((out / "run.json").read_text())
    text = report_section(report, "COUNTERS")
    for side in ("host", "guest"):
        missing = manifest[side]["counters_missing"]
        assert f"  {side + ':':6} {missing or 'every counter measured'}" in text.splitlines()
    phases = [numeric(r) for r in read_rows(out / "phase_performance.csv")]
    assert {r["phase"] for r in phases} == {"A_hot_read", "B_cold_read", "C_copy", "D_verify"}
    table = text[text.index("  Per guest phase"):]
    header = next(line for line in table.splitlines() if line.strip().startswith("test frame phase")).split()[3:]
    assert header[:4] == ["n", "task_clock_us", "page_faults", "ctx_switches"]
    for test, frame, phase in {(r["test"], r["frame_type"], r["phase"]) for r in phases}:
        cells = [r for r in phases if (r["test"], r["frame_type"], r["phase"]) == (test, frame, phase)]
        n, task_clock_us, page_faults, switches = table_row(table, f"{test} {frame} {phase}", len(header))[:4]
        assert int(n) == len(cells)
        assert number(task_clock_us) == pytest.approx(statistics.median(r["task_clock_ns"] for r in cells) / 1e3,
                                                      abs=0.051)
        assert number(page_faults) == pytest.approx(statistics.median(r["page_faults"] for r in cells), abs=0.051)
        assert number(switches) == pytest.approx(statistics.median(r["context_switches"] for r in cells), abs=0.051)
    not_measured = [line for line in table.splitlines() if "not measured (empty)" in line]
    for hardware in ("cpu_cycles", "instructions", "tlb_misses"):
        if any(r[hardware] is not None for r in phases):
            assert hardware in header
        else:  # this machine has no PMU: said, and no column of zeros
            assert hardware not in header and hardware in not_measured[0]


def test_loopback_mapping_study_matches_the_csv(loopback):
    out, _, report = loopback
    rows = [numeric(r) for r in read_rows(out / "mapping_study.csv")]
    assert {(r["mapping"], r["memory_type"]) for r in rows} == {("shm", "write-back")}
    text = report_section(report, "MAPPING STUDY")
    assert "Guest's usual mapping: shm (run.json guest.mapping" in text
    # host_writer writes per message one row per mapping (the file three times), in a rotating order
    assert len(rows) == 3 * (ITERATIONS + BW_ITERATIONS * len(FRAMES))
    for i in range(0, len(rows), 3):
        message = rows[i:i + 3]
        assert len({(r["test"], r["frame_type"], r["iteration"]) for r in message}) == 1
        assert [r["order"] for r in message] == [0, 1, 2]
    assert "the order rotates" not in text  # one name for all three: nothing to rotate between in the report
    reference = [numeric(r) for r in read_rows(out / "reference_results.csv")]
    private_columns = {"hot_read_ns": "guest_hot_cache_ns", "cold_read_ns": "guest_cold_cache_ns",
                       "copy_ns": "guest_second_pass_ns", "write_ns": "guest_second_pass_ns"}
    for size in {r["size_bytes"] for r in rows}:
        names = "/".join(sorted({r["frame_type"] for r in rows if r["size_bytes"] == size}))
        block = b.frame_block(text, names)
        mine = [r for r in rows if r["size_bytes"] == size and r["success"] == 1]
        private = [r for r in reference if r["size_bytes"] == size and r["success"] == 1]
        fields = table_row(block, "loopback file (shm)", 10)
        assert fields[:2] == ["write-back", str(len(mine))], size
        assert len(mine) == 3 * (BW_ITERATIONS + (ITERATIONS if size == 4096 else 0))
        for i, column in enumerate(("hot_read_ns", "cold_read_ns", "copy_ns", "write_ns")):
            median = statistics.median(r[column] for r in mine)
            rate, x = fields[2 + 2 * i:4 + 2 * i]
            assert number(rate) == pytest.approx(size / median * 1e3, rel=0.001, abs=0.051), (size, column)
            ratio = statistics.median(r[private_columns[column]] for r in private) / median
            assert number(x) == pytest.approx(ratio, abs=0.0051), (size, column)

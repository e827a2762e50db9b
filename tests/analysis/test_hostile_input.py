"""Hand-made hostile results folders: rows that do not parse cleanly are left
out, counted and named; run.json of the wrong shape is named, never a crash; outputs are written without
following symlinks; inputs that are not regular files are refused without blocking."""

import json
import os
import subprocess
import sys

import pytest

import builders as b
import test_map_study as map_study
from builders import report_section

TIMEOUT_S = 60  # a hang (a FIFO read) fails the test instead of blocking the suite


def analyse(folder, *options):
    return subprocess.run([sys.executable, str(b.ANALYZE), *options, str(folder)], capture_output=True, text=True,
                          timeout=TIMEOUT_S)


def standard_folder(folder, run=None):
    latency = b.latency_rows(10, seed=5)
    bandwidth = b.bandwidth_rows(("64B", "1080p"), per_frame=4, seed=6)
    b.write_results(folder, latency=latency, bandwidth=bandwidth, run=run if run is not None else b.manifest())
    return latency, bandwidth


def csv_lines(path):
    return path.read_text().splitlines(keepends=True)


def replace_field(path, line, column, value):
    """Field `column` of physical line `line` (1 = header) replaced by `value` as raw text."""
    lines = csv_lines(path)
    header = lines[0].rstrip("\n").split(",")
    fields = lines[line - 1].rstrip("\n").split(",")
    fields[header.index(column)] = value
    lines[line - 1] = ",".join(fields) + "\n"
    path.write_text("".join(lines))


def report_of(folder):
    path = folder / "performance_report.txt"
    return path.read_text() if path.exists() else ""


def assert_rows_left_out(proc, folder, filename, where, count=1):
    """Exit 1, one line on stderr naming the file and `where` (line and column), the report written, its
    SUSPECT section naming the row, and its input section counting the rows left out."""
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "Traceback" not in proc.stderr and "internal error" not in proc.stderr, proc.stderr
    lines = proc.stderr.splitlines()
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith(f"analyze_results: {filename} line ") and where in lines[0], lines[0]
    rows = "row" if count == 1 else "rows"
    assert f"{count} {rows} left out" in lines[0], lines[0]
    report = report_of(folder)
    assert f"SUSPECT: input: {filename} {where}" in report_section(report, "SUSPECT FIGURES")
    assert f"{count} {rows} left out" in report_section(report, "MISSING OR UNREADABLE INPUT")
    return report


# ---- item 1: a row that does not parse cleanly is left out, counted and named ---------------------


def test_quotes_cannot_merge_two_rows_into_a_well_formed_fake_one(tmp_path):
    """The issue's attack: a peer-written text field opens a quote that the next row's closes; a CSV reader
    that honours quotes reads one well-formed row made of two, with the second row's timings."""
    _, bandwidth = standard_folder(tmp_path)
    path = tmp_path / "bandwidth_results.csv"
    replace_field(path, 2, "frame_type", '"64B')
    replace_field(path, 3, "frame_type", '64B"')
    proc = analyse(tmp_path, "--no-plots")
    report = assert_rows_left_out(proc, tmp_path, "bandwidth_results.csv", "line 2, column frame_type", count=2)
    assert "line 3, column frame_type" in report_section(report, "SUSPECT FIGURES")
    assert "6 recorded, 6 succeeded" in report_section(report, "BANDWIDTH TEST")


def test_quotes_in_the_mapping_studys_memory_type_merge_nothing(tmp_path):
    standard_folder(tmp_path)
    header = b.MAP_STUDY_COLUMNS
    rows = [{"test": "latency", "iteration": i, "frame_type": "4096B", "size_bytes": 4096, "mapping": mapping,
             "memory_type": memory_type, "hot_read_ns": 2000 + i, "cold_read_ns": 6000, "copy_ns": 20000,
             "success": 1}
            for i in range(1, 6) for mapping, memory_type in (("resource2", "uncached-minus"),
                                                               ("resource2_wc", "write-combining"))]
    b.write_csv(tmp_path / "mapping_study.csv", header, rows)
    path = tmp_path / "mapping_study.csv"
    replace_field(path, 4, "memory_type", '"write-back')
    replace_field(path, 5, "memory_type", 'x"')
    proc = analyse(tmp_path, "--no-plots")
    assert_rows_left_out(proc, tmp_path, "mapping_study.csv", "line 4, column memory_type", count=2)


@pytest.mark.parametrize("column, value, why", [
    ("frame_type", "4k,4k", "fields, the header has"),
    ("frame_type", "4k;rm", "is not text"),
    ("frame_type", "4k\tx", "is not text"),
    ("iteration", "3.5", "is not a number of kind int"),
    ("iteration", "-3", "is not a number of kind int"),
    ("host_memcpy_ns", "1e300", "is not a number of kind int"),
    ("host_memcpy_ns", str(2 ** 64), "is not a number of kind int"),
    ("host_memcpy_ns", "nan", "is not a number of kind int"),
    ("host_memcpy_mbps", "inf", "is not a number of kind real"),
    ("success", "2", "is not a number of kind flag (0 or 1)"),
], ids=["comma", "semicolon", "tab", "fractional-iteration", "negative-count", "exponent", "huge", "nan", "inf",
        "flag"])
def test_a_field_of_the_wrong_kind_leaves_its_row_out(tmp_path, column, value, why):
    standard_folder(tmp_path)
    replace_field(tmp_path / "bandwidth_results.csv", 4, column, value)
    proc = analyse(tmp_path, "--no-plots")
    where = "line 4" if why.startswith("fields") else f"line 4, column {column}"
    report = assert_rows_left_out(proc, tmp_path, "bandwidth_results.csv", where)
    assert why in report_section(report, "SUSPECT FIGURES")
    assert "7 recorded" in report_section(report, "BANDWIDTH TEST")


def test_a_line_that_is_not_utf8_is_left_out(tmp_path):
    standard_folder(tmp_path)
    path = tmp_path / "latency_results.csv"
    data = path.read_bytes().split(b"\n")
    data[3] = data[3].replace(b",1", b",\xff1", 1)
    path.write_bytes(b"\n".join(data))
    proc = analyse(tmp_path, "--no-plots")
    assert_rows_left_out(proc, tmp_path, "latency_results.csv", "line 4")


def test_many_bad_rows_are_counted_and_the_report_stays_short(tmp_path):
    standard_folder(tmp_path)
    path = tmp_path / "latency_results.csv"
    lines = csv_lines(path)
    path.write_text("".join(lines + ['1,"x\n'] * 5000))
    proc = analyse(tmp_path, "--no-plots")
    report = assert_rows_left_out(proc, tmp_path, "latency_results.csv", "line 12", count=5000)
    assert len(report_section(report, "SUSPECT FIGURES").splitlines()) < 40


# ---- item 7: each of these names the input, never "internal error" --------------------------------


def test_phase_times_of_zero_do_not_divide_by_zero(tmp_path):
    latency = b.latency_rows(10, seed=5)
    for row in latency:
        row.update(guest_hot_cache_ns=0, guest_cold_cache_ns=0)
    b.write_results(tmp_path, latency=latency, run=b.manifest())
    proc = analyse(tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr == ""
    assert "guest_hot_cache_ns is zero or negative in 10 successful row(s)" in report_of(tmp_path)


def test_totals_of_zero_do_not_divide_by_zero(tmp_path):
    latency = b.latency_rows(10, seed=5)
    for row in latency:
        row.update({c: 0 for c in b.LATENCY_NS})
    b.write_results(tmp_path, latency=latency, run=b.manifest())
    proc = analyse(tmp_path)
    assert "internal error" not in proc.stderr and "Traceback" not in proc.stderr, proc.stderr
    assert "total_ns is zero or negative" in report_of(tmp_path)


@pytest.mark.parametrize("mapping, column", [("ivshmem_region", "cold_read_ns"), ("resource2", "copy_ns")],
                         ids=["baseline", "other"])
def test_mapping_study_times_of_zero_are_suspect_and_the_report_is_written(tmp_path, mapping, column):
    """A phase time of 0 ns in every message through one mapping (the baseline every other is compared with,
    or another): the median is 0, so there is no rate and no ratio; the time is SUSPECT, the rest reported."""
    rows, _ = map_study.make_folder(tmp_path)
    for row in rows:
        if row["mapping"] == mapping:
            row[column] = 0
    b.write_csv(tmp_path / "mapping_study.csv", b.MAP_STUDY_COLUMNS, rows)
    proc = analyse(tmp_path, "--no-plots")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert proc.stderr == ""
    report = report_of(tmp_path)
    assert f"SUSPECT: mapping_study.csv: {column} is zero or negative in" in report_section(report, "SUSPECT FIGURES")
    table = report_section(report, "MAPPING STUDY")
    assert "n/a" in b.frame_block(table, "4096B")
    assert "median" in report_section(report, "LATENCY TEST")


@pytest.mark.parametrize("column, value", [("mapping", "bar2_uc"), ("order", "first")])
def test_a_mapping_study_whose_every_row_is_left_out_is_counted(tmp_path, column, value):
    rows, _ = map_study.make_folder(tmp_path)
    b.write_csv(tmp_path / "mapping_study.csv", b.MAP_STUDY_COLUMNS, [dict(r, **{column: value}) for r in rows])
    proc = analyse(tmp_path, "--no-plots")
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "Traceback" not in proc.stderr and "internal error" not in proc.stderr, proc.stderr
    assert len(proc.stderr.splitlines()) == 1 and f"{len(rows)} rows left out" in proc.stderr, proc.stderr
    report = report_of(tmp_path)
    assert f"{len(rows)} rows left out" in report_section(report, "MISSING OR UNREADABLE INPUT")
    assert "mapping_study.csv: no successful row" in report_section(report, "MAPPING STUDY")
    assert "median" in report_section(report, "LATENCY TEST")


def test_times_near_the_64_bit_limit_still_plot(tmp_path):
    latency = b.latency_rows(10, seed=5)
    latency[3]["roundtrip_ns"] = 2 ** 64 - 1
    latency[3]["total_ns"] = 2 ** 64 - 1
    b.write_results(tmp_path, latency=latency, run=b.manifest())
    proc = analyse(tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert (tmp_path / "latency_histogram.png").stat().st_size > 1000
    assert "18446744073709551616.0" in report_section(report_of(tmp_path), "LATENCY TEST")


def test_duplicate_iterations_are_suspect(tmp_path):
    latency = b.latency_rows(10, seed=5)
    latency[4]["iteration"] = 4
    bandwidth = b.bandwidth_rows(("64B",), per_frame=4, seed=6)
    bandwidth[2]["iteration"] = 1
    b.write_results(tmp_path, latency=latency, bandwidth=bandwidth, run=b.manifest())
    proc = analyse(tmp_path)
    assert proc.returncode == 0, proc.stderr
    text = report_section(report_of(tmp_path), "SUSPECT FIGURES")
    assert "SUSPECT: latency_results.csv: iteration 4 occurs 2 times (line 6)" in text
    assert "SUSPECT: bandwidth_results.csv: iteration 1 of 64B occurs 2 times (line 4)" in text


@pytest.mark.parametrize("table, column, value", [
    ("phase_performance.csv", "phase", "E_exfiltrate"),
    ("write_study.csv", "variant", "memcpy_magic"),
    ("mapping_study.csv", "mapping", "bar2_uc"),
], ids=["phase", "variant", "mapping"])
def test_unknown_names_leave_their_row_out(tmp_path, table, column, value):
    latency, _ = standard_folder(tmp_path)
    messages = [("latency", "4096B", 4096, r["iteration"]) for r in latency]
    b.write_extra(tmp_path, phases=b.phase_rows(messages),
                  study=b.study_rows(b.study_messages(latency=latency)))
    rows = [{"test": "latency", "iteration": i, "frame_type": "4096B", "size_bytes": 4096, "mapping": mapping,
             "memory_type": "write-back", "hot_read_ns": 2000, "cold_read_ns": 6000, "copy_ns": 20000,
             "success": 1} for i in range(1, 4) for mapping in ("resource2", "ivshmem_region")]
    b.write_csv(tmp_path / "mapping_study.csv", b.MAP_STUDY_COLUMNS, rows)
    replace_field(tmp_path / table, 3, column, value)
    proc = analyse(tmp_path, "--no-plots")
    report = assert_rows_left_out(proc, tmp_path, table, f"line 3, column {column}")
    assert f"{value!r} is not one of" in report_section(report, "SUSPECT FIGURES")


def test_the_fourth_mapping_is_known(tmp_path):
    standard_folder(tmp_path)
    rows = [{"test": "latency", "iteration": i, "frame_type": "4096B", "size_bytes": 4096, "mapping": mapping,
             "memory_type": "write-back", "hot_read_ns": 2000, "cold_read_ns": 6000, "copy_ns": 20000,
             "success": 1} for i in range(1, 4) for mapping in ("resource2", "ivshmem_region")]
    b.write_csv(tmp_path / "mapping_study.csv", b.MAP_STUDY_COLUMNS, rows)
    proc = analyse(tmp_path, "--no-plots")
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr == ""


WRONG_TYPES = {
    "meta-list": (lambda m: m.update(meta=["kvm"]), "run.json: meta is a list, expected an object"),
    "failures-object": (lambda m: m.update(failures={"test": "latency"}), "run.json: failures is an object, "
                                                                          "expected a list"),
    "failure-list-iteration": (lambda m: m.update(failures=[{"test": "latency", "iteration": [5]}]),
                               "run.json: failures[0].iteration is a list, expected a whole number"),
    "failure-string": (lambda m: m.update(failures=["timeout"]), "run.json: failures[0] is a string, expected an object"),
    "options-string": (lambda m: m.update(options="fast"), "run.json: options is a string, expected an object"),
    "planned-string": (lambda m: m.update(summary={"latency": {"planned": "10"}}),
                       "run.json: summary.latency.planned is a string, expected a whole number"),
    "summary-test-list": (lambda m: m.update(summary={"latency": [10]}),
                          "run.json: summary.latency is a list, expected an object"),
    "region-size-string": (lambda m: m["region"].update(size="64M"),
                           "run.json: region.size is a string, expected a whole number"),
    "protocol-float": (lambda m: m.update(protocol_version=1.5), "run.json: protocol_version is a number 1.5, "
                                                                 "expected a whole number"),
    "host-cores-object": (lambda m: m["host"].update(cores={"n": 2}),
                          "run.json: host.cores is an object, expected a whole number"),
    "kernel-number": (lambda m: m["guest"].update(kernel=6.1), "run.json: guest.kernel is a number 6.1, expected a string"),
    "counters-string": (lambda m: m["options"].update(counters="yes"),
                        "run.json: options.counters is a string, expected true or false"),
}


@pytest.mark.parametrize("case", sorted(WRONG_TYPES))
def test_run_json_fields_of_the_wrong_type_are_named(tmp_path, case):
    change, message = WRONG_TYPES[case]
    run = b.manifest()
    change(run)
    latency = b.latency_rows(10, seed=5, failed={5})
    b.write_results(tmp_path, latency=latency, run=run)
    proc = analyse(tmp_path, "--no-plots")
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert proc.stderr.splitlines() == [f"analyze_results: {message}; the field is ignored"], proc.stderr
    report = report_of(tmp_path)
    assert message in report_section(report, "MISSING OR UNREADABLE INPUT")
    assert "9 succeeded" in report_section(report, "LATENCY TEST")


@pytest.mark.parametrize("depth", [100, 100_000])
def test_deeply_nested_run_json_is_refused(tmp_path, depth):
    b.write_results(tmp_path, latency=b.latency_rows(10, seed=5))
    (tmp_path / "run.json").write_text('{"meta": ' + "[" * depth + "]" * depth + "}")
    proc = analyse(tmp_path, "--no-plots")
    assert proc.returncode == 1, proc.stdout + proc.stderr
    lines = proc.stderr.splitlines()
    assert len(lines) == 1 and "run.json: nested deeper than" in lines[0], proc.stderr
    assert "median" in report_section(report_of(tmp_path), "LATENCY TEST")


# ---- item 6: outputs never follow a symlink, inputs must be regular files -------------------------


def test_outputs_replace_symlinks_instead_of_following_them(tmp_path):
    folder = tmp_path / "results"
    standard_folder(folder)
    outside = tmp_path / "precious"
    outside.write_text("keep me\n")
    for name in ("performance_report.txt", "latency_histogram.png", "bandwidth_analysis.png"):
        (folder / name).symlink_to(outside)
    proc = analyse(folder)
    assert proc.returncode == 0, proc.stderr
    assert outside.read_text() == "keep me\n"
    for name in ("performance_report.txt", "latency_histogram.png", "bandwidth_analysis.png"):
        assert not (folder / name).is_symlink() and (folder / name).is_file(), name
        assert oct((folder / name).stat().st_mode & 0o777) == oct(0o644), name
    assert report_of(folder).startswith("ivshmem-bench performance report")
    assert not [p for p in folder.iterdir() if p.name.startswith(".")], "temporary files left behind"


def test_an_output_that_is_a_folder_is_one_line(tmp_path):
    standard_folder(tmp_path)
    (tmp_path / "performance_report.txt").mkdir()
    proc = analyse(tmp_path, "--no-plots")
    assert proc.returncode == 1
    lines = proc.stderr.splitlines()
    assert len(lines) == 1 and "performance_report.txt" in lines[0], proc.stderr
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")], "temporary files left behind"


def make_fifo(path):
    path.unlink(missing_ok=True)
    os.mkfifo(path)


@pytest.mark.parametrize("name, skipped", [("latency_results.csv", False), ("run.json", True),
                                           ("write_study.csv", True)])
def test_a_fifo_input_is_refused_without_blocking(tmp_path, name, skipped):
    standard_folder(tmp_path)
    make_fifo(tmp_path / name)
    proc = analyse(tmp_path, "--no-plots")  # a read would block forever: the timeout fails the test
    assert proc.returncode == 1, proc.stdout + proc.stderr
    lines = proc.stderr.splitlines()
    assert len(lines) == 1 and f"{name}: not a regular file (a FIFO)" in lines[0], proc.stderr
    assert (tmp_path / "performance_report.txt").exists() == skipped


def test_a_device_input_is_refused(tmp_path):
    standard_folder(tmp_path)
    (tmp_path / "bandwidth_results.csv").unlink()
    (tmp_path / "bandwidth_results.csv").symlink_to("/dev/zero")
    proc = analyse(tmp_path, "--no-plots")
    assert proc.returncode == 1
    lines = proc.stderr.splitlines()
    assert len(lines) == 1 and "bandwidth_results.csv: a symlink to outside the results folder" in lines[0], lines


def test_a_symlink_to_a_file_outside_the_folder_is_refused(tmp_path):
    folder = tmp_path / "results"
    standard_folder(folder)
    secret = tmp_path / "secret.json"
    secret.write_text(json.dumps({"meta": {"accel": "top-secret"}}))
    (folder / "run.json").unlink()
    (folder / "run.json").symlink_to(secret)
    proc = analyse(folder, "--no-plots")
    assert proc.returncode == 1
    assert proc.stderr.splitlines() == [
        "analyze_results: run.json: a symlink to outside the results folder; environment unknown"], proc.stderr
    assert "top-secret" not in report_of(folder)


def test_a_symlink_inside_the_folder_and_a_linked_folder_are_read(tmp_path):
    run_folder = tmp_path / "20260101T000000Z"
    standard_folder(run_folder)
    (run_folder / "latency_results.csv").rename(run_folder / "latency.orig")
    (run_folder / "latency_results.csv").symlink_to("latency.orig")
    (tmp_path / "latest").symlink_to(run_folder.name)  # as run_test.sh leaves results/latest
    proc = analyse(tmp_path / "latest", "--no-plots")
    assert proc.returncode == 0, proc.stderr
    assert "10 recorded" in report_section(report_of(run_folder), "LATENCY TEST")


def test_a_folder_where_a_file_is_expected_is_one_line(tmp_path):
    standard_folder(tmp_path)
    (tmp_path / "latency_results.csv").unlink()
    (tmp_path / "latency_results.csv").mkdir()
    proc = analyse(tmp_path, "--no-plots")
    assert proc.returncode == 1
    lines = proc.stderr.splitlines()
    assert len(lines) == 1 and "latency_results.csv: not a regular file (a folder)" in lines[0], proc.stderr


def test_an_input_beyond_the_limit_is_refused_unread(tmp_path):
    from ivbench_analysis import safe_io

    (tmp_path / "big.csv").write_bytes(b"x" * 101)
    with pytest.raises(safe_io.InputError, match=r"^big.csv: larger than 100 bytes"):
        safe_io.read_input(tmp_path, "big.csv", limit=100)
    assert safe_io.read_input(tmp_path, "big.csv", limit=101) == b"x" * 101


def test_a_huge_run_json_is_one_line_and_the_tables_are_still_reported(tmp_path):
    standard_folder(tmp_path)
    with open(tmp_path / "run.json", "r+b") as f:
        f.truncate(64 << 20)  # sparse: costs no disk, and reading it whole would cost 64 MB of memory
    proc = analyse(tmp_path, "--no-plots")
    assert proc.returncode == 1
    lines = proc.stderr.splitlines()
    assert len(lines) == 1 and "run.json: larger than 16777216 bytes" in lines[0], proc.stderr
    assert "10 recorded" in report_section(report_of(tmp_path), "LATENCY TEST")


@pytest.mark.parametrize("attack", ["outside", "fifo"])
def test_compare_reads_run_json_as_the_report_does(tmp_path, attack):
    """--compare once read run.json with a plain open: a FIFO blocked it, a symlink leaked another file."""
    runs = []
    for name in ("a", "b"):
        runs.append(tmp_path / name)
        standard_folder(runs[-1])
    target = runs[1] / "run.json"
    target.unlink()
    if attack == "fifo":
        os.mkfifo(target)
        why = "run.json: not a regular file (a FIFO)"
    else:
        secret = tmp_path / "secret.json"
        secret.write_text(json.dumps({"meta": {"vm": "top-secret"}}))
        target.symlink_to(secret)
        why = "run.json: a symlink to outside the results folder"
    proc = subprocess.run([sys.executable, str(b.ANALYZE), "--compare", *map(str, runs)], capture_output=True,
                          text=True, timeout=TIMEOUT_S)
    assert proc.returncode != 0
    lines = proc.stderr.splitlines()
    assert len(lines) == 1 and why in lines[0], proc.stderr
    assert "top-secret" not in proc.stdout

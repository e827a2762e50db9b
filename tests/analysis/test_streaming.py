"""The report's STREAMING section, streaming.png and the stream checks, on synthetic stream_results.csv and
run.json streams whose expected figures are computed here from the raw rows."""

import json
import re
import statistics

import numpy as np
import pytest

import builders as b
from builders import report_section

# The guest's verify is the larger part of its time, and the guest is slower than the host's write.
SLOW_VERIFY = {"write": 1_000_000, "wait": 200_000, "latency": 4_000_000, "copy": 1_000_000, "verify": 2_000_000}
LIMIT = {"host_write_ns": 900_000, "guest_copy_ns": 1_000_000, "guest_verify_ns": 500_000}


def analyse(folder, streams, records, run=None, bandwidth=None, status=0):
    """A results folder with a latency test, the given bandwidth rows, the streams' rows and run.json whose
    `streams` are `records` (None: no streams list)."""
    run = run or b.manifest()
    if records is not None:
        run["streams"] = records
    b.write_results(folder, latency=b.latency_rows(8), bandwidth=bandwidth, run=run)
    if streams is not None:
        b.write_stream(folder, [row for rows in streams for row in rows])
    proc = b.run_analysis(folder)
    assert proc.returncode == status, proc.stdout + proc.stderr
    report = (folder / "performance_report.txt").read_text()
    return proc, report, report_section(report, "STREAMING")


def block(section, number):
    """The lines of one stream in the section."""
    start = section.index(f"  Stream {number}: ")
    end = section.find("\n  Stream ", start + 1)
    return section[start:end if end >= 0 else len(section)]


def line(text, start):
    found = [ln.strip() for ln in text.splitlines() if ln.strip().startswith(start)]
    assert len(found) == 1, (start, text)
    return found[0]


def field(text, start, pattern):
    match = re.search(pattern, line(text, start))
    assert match, (pattern, line(text, start))
    return float(match.group(1))


def consumed(rows):
    return [r for r in rows if not r["dropped"]]


def suspects(report):
    return [ln.strip() for ln in report_section(report, "SUSPECT FIGURES").splitlines() if "SUSPECT:" in ln]


def test_block_stream_figures_against_the_limit_lockstep_and_latency(tmp_path):
    rows = b.stream_rows(frame="4k", verify="xxh3", seconds=3.4, period_ns=20_000_000, failed=(5, 77), rings=1,
                         times=SLOW_VERIFY)
    record = b.stream_record(rows, limit=LIMIT, host_cpu={"user_s": 0.5, "sys_s": 0.25, "wall_s": 3.4},
                             guest_cpu_s=0.6)
    bandwidth = b.bandwidth_rows(frames=("1080p", "4k"), per_frame=5)
    run = b.manifest()
    run["options"]["mode"] = "doorbell"
    proc, report, section = analyse(tmp_path, [rows], [record], run=run, bandwidth=bandwidth)
    text = block(section, 1)
    size = b.STREAM_SIZES["4k"]
    ok = consumed(rows)
    assert line(text, "Stream 1:") == ("Stream 1: 4k, 24883200 bytes (24.88 MB), host to guest, policy block, "
                                       "verify xxh3, copied out "
                                       f"(the copy verified), 3 slots, unpaced, 3 s planned, {record['duration_s']:.3f} s "
                                       "measured")

    # Windows counted here from publish + latency, not taken from the record.
    releases = [r["publish_ns"] + r["latency_ns"] for r in ok]
    duration = max(releases) / 1e9
    windows = [sum(k * 1e9 <= t < (k + 1) * 1e9 for t in releases) for k in range(int(duration))]
    sustained = statistics.median(windows)
    assert field(text, "frames/s:", r"sustained ([\d.]+) \(median of 3 one-second") == pytest.approx(sustained, abs=0.05)
    assert field(text, "frames/s:", r"slowest window ([\d.]+)") == pytest.approx(min(windows), abs=0.05)
    assert field(text, "frames/s:", r"overall ([\d.]+)") == pytest.approx(len(ok) / duration, abs=0.05)
    assert field(text, "MB/s:", r"sustained ([\d.]+)") == pytest.approx(sustained * size / 1e6, abs=0.05)
    assert field(text, "MB/s:", r"slowest window ([\d.]+)") == pytest.approx(min(windows) * size / 1e6, abs=0.05)

    limit = 1e9 / max(900_000, 1_000_000 + 500_000)
    assert field(text, "pipeline limit", r": ([\d.]+) frames/s") == pytest.approx(limit, abs=0.05)
    b.assert_ratio(re.search(r"reaches (\S+) of it", line(text, "pipeline limit")).group(1), sustained / limit,
                   "fps against the limit")
    totals = [r["total_ns"] for r in bandwidth if r["frame_type"] == "4k" and r["success"] == 1]
    lockstep = 1e9 / statistics.median(totals)
    assert field(text, "lock-step", r"this run\): ([\d.]+) frames/s") == pytest.approx(lockstep, abs=0.05)
    b.assert_ratio(re.search(r"the stream is (\S+) of it", line(text, "lock-step")).group(1), sustained / lockstep,
                   "speed-up over lock-step")

    latencies = [r["latency_ns"] for r in ok]
    assert f"{len(ok)} consumed frames" in line(text, "latency")
    for p in (50, 90, 99, 99.9):
        assert field(text, "latency", rf"p{p:g} ([\d.]+)") == pytest.approx(np.percentile(latencies, p) / 1e6,
                                                                               abs=0.0005)
    copy = statistics.median(r["guest_copy_ns"] for r in ok)
    verify = statistics.median(r["guest_verify_ns"] for r in ok)
    write = statistics.median(r["host_write_ns"] for r in rows)
    wait = statistics.median(r["slot_wait_ns"] for r in rows)
    assert field(text, "guest per frame", r"copy ([\d.]+) ms") == pytest.approx(copy / 1e6, abs=0.0005)
    assert field(text, "guest per frame", r"verify ([\d.]+) ms") == pytest.approx(verify / 1e6, abs=0.0005)
    assert field(text, "host per frame", r"write ([\d.]+) ms") == pytest.approx(write / 1e6, abs=0.0005)
    assert field(text, "host per frame", r"slot ([\d.]+) ms") == pytest.approx(wait / 1e6, abs=0.0005)

    assert line(text, "drops:") == f"drops: 0 of {len(rows)} produced (0.0%); consumed {len(rows)}; failed verifications: 2"
    assert "! 2 frame(s) arrived corrupted (failed verification)" in text
    assert line(text, "unverified:") == "unverified: 0"
    assert field(text, "CPU per frame", r"host ([\d.]+) ms") == pytest.approx(0.75 / len(rows) * 1e3, abs=0.0005)
    assert field(text, "CPU per frame", r"guest ([\d.]+) ms") == pytest.approx(0.6 / len(ok) * 1e3, abs=0.0005)
    assert line(text, "rings per frame") == f"rings per frame (doorbell): 1.000 ({len(rows)} rings for {len(rows)} frames)"

    assert (f"-> the guest is the slower side: copy + verify per frame {(copy + verify) / 1e6:.3f} ms (medians), "
            f"the host's write {write / 1e6:.3f} ms") in text
    assert f"-> the guest's verify takes {100 * verify / (copy + verify):.0f}% of its time per frame" in text
    assert "runs at the pipeline limit" not in text and "-> paced" not in text
    assert not suspects(report), suspects(report)
    assert (f"stream 4k block xxh3 copy: {sustained:.1f} frames/s" in proc.stdout)
    assert (tmp_path / "streaming.png").stat().st_size > 10_000


def test_latest_with_drops_paced_and_not_verified(tmp_path):
    dropped = (3, 4, 90, 91, 92)
    rows = b.stream_rows(frame="1080p", policy="latest", verify="none", seconds=3.3, period_ns=1_000_000_000 // 60,
                         dropped=dropped)
    record = b.stream_record(rows, fps_target=60)
    _, report, section = analyse(tmp_path, [rows], [record])
    text = block(section, 1)
    assert "policy latest, verify none, copied out (the copy verified), 3 slots, paced at 60 frames/s" in text
    n = len(rows)
    assert line(text, "drops:") == (f"drops: 5 of {n} produced ({100 * 5 / n:.1f}%); consumed {n - 5}; "
                                    "failed verifications: 0")
    assert line(text, "unverified:") == f"unverified: {n - 5}: frames were not verified (--verify none)"
    assert "verify none (--verify none)" in line(text, "guest per frame")
    assert f"{n - 5} consumed frames" in line(text, "latency")
    target = re.search(r"the stream reaches (\S+) of the target", text).group(1)
    b.assert_ratio(target, statistics.median(record["windows"]) / 60, "paced")
    assert "n/a: no bandwidth test of this frame" in line(text, "lock-step")
    assert "verify takes" not in text
    assert "rings per frame" not in text  # polling
    assert not suspects(report), suspects(report)


def test_stream_without_a_streams_list_in_run_json(tmp_path):
    rows = b.stream_rows(seconds=2.6, period_ns=50_000_000)
    _, report, section = analyse(tmp_path, [rows], None)
    assert "run.json has no streams list" in section
    text = block(section, 1)
    assert "not in run.json's streams" in text
    releases = [r["publish_ns"] + r["latency_ns"] for r in rows]
    windows = [sum(k * 1e9 <= t < (k + 1) * 1e9 for t in releases) for k in range(int(max(releases) / 1e9))]
    assert len(windows) == 2
    assert field(text, "frames/s:", r"sustained ([\d.]+) \(median of 2 one-second windows, from stream_results.csv\)") \
        == pytest.approx(statistics.median(windows), abs=0.05)
    assert line(text, "pipeline limit") == "pipeline limit: n/a (not recorded in run.json)"
    assert line(text, "CPU per frame") == "CPU per frame: host not recorded, guest not recorded"
    assert "overall n/a (no duration)" in line(text, "frames/s:")
    assert not suspects(report), suspects(report)


def test_streams_in_run_json_without_a_csv(tmp_path):
    record = b.stream_record(b.stream_rows(seconds=2.2))
    _, report, section = analyse(tmp_path, None, [record])
    assert "stream_results.csv: not found (stream test)" in report_section(report, "MISSING OR UNREADABLE INPUT")
    text = block(section, 1)
    assert "no rows in stream_results.csv: latency and the times per frame are not known" in text
    assert field(text, "frames/s:", r"sustained ([\d.]+)") == statistics.median(record["windows"])
    assert line(text, "latency") == "latency: n/a (no consumed frame with a latency)"
    assert line(text, "drops:").startswith(f"drops: 0 of {record['produced']} produced (0.0%)")


def test_no_stream_test_no_plot(tmp_path):
    proc, report, section = analyse(tmp_path, None, None)
    assert section.strip() == "no stream test in this run (host_writer --stream-seconds S runs one)"
    assert not (tmp_path / "streaming.png").exists()
    assert "stream " not in proc.stdout.replace("stream test", "")


def test_tcg_says_functional_only_and_names_no_bottleneck(tmp_path):
    rows = b.stream_rows(seconds=2.1, times=SLOW_VERIFY)
    _, _, section = analyse(tmp_path, [rows], [b.stream_record(rows, limit=LIMIT)], run=b.manifest(accel="tcg"))
    assert "! TCG: timings are functional only, not hardware performance: the stream's figures say that it works" \
        in section
    assert "(TCG: no bottleneck is derived from emulator timings)" in section
    assert "->" not in section


def test_a_stream_at_its_limit_and_one_above_it(tmp_path):
    rows = b.stream_rows(seconds=2.5, period_ns=10_000_000)  # ~100 frames/s
    at_limit = b.stream_record(rows, limit={"host_write_ns": 9_500_000, "guest_copy_ns": 6_000_000,
                                            "guest_verify_ns": 3_000_000})
    rows2 = b.stream_rows(frame="1080p", seconds=2.5, period_ns=10_000_000, seed=53)
    above = b.stream_record(rows2, limit={"host_write_ns": 1_000_000, "guest_copy_ns": 8_000_000,
                                          "guest_verify_ns": 4_000_000})
    _, report, section = analyse(tmp_path, [rows, rows2], [at_limit, above])
    sustained = statistics.median(at_limit["windows"])
    assert (f"-> the stream runs at the pipeline limit ({sustained / (1e9 / 9_500_000):.2f}x): the host's write on "
            "private memory sets the rate") in block(section, 1)
    found = suspects(report)
    limit = 1e9 / 12_000_000
    overall = above["consumed"] / above["duration_s"]
    assert (f"SUSPECT: stream 2 (1080p): sustained {statistics.median(above['windows']):.1f} and overall {overall:.1f} "
            f"frames/s above the same run's pipeline limit ({limit:.1f} frames/s) by more than 10%") in found
    assert len(found) == 1, found


# The guest's copy is three times its verify: a stream at 100 frames/s is above the limit of copying (83.3) and
# well below the limit of reading in place (333.3).
COPY_HEAVY = {"host_write_ns": 2_000_000, "guest_copy_ns": 9_000_000, "guest_verify_ns": 3_000_000}


def test_inplace_stream_is_said_and_its_limit_leaves_the_copy_out(tmp_path):
    rows = b.stream_rows(seconds=2.5, period_ns=10_000_000, consume="inplace", times=SLOW_VERIFY)
    record = b.stream_record(rows, limit=COPY_HEAVY)
    proc, report, section = analyse(tmp_path, [rows], [record])
    text = block(section, 1)
    assert "policy block, verify xxh3, read in place (verified in its slot, no copy), 3 slots" in line(text, "Stream 1:")
    limit = 1e9 / 3_000_000
    assert line(text, "pipeline limit") .startswith(
        f"pipeline limit of this run (each side alone on private memory): {limit:.1f} frames/s (host write 2.000 ms; "
        "guest verify 3.000 ms; its copy, 9.000 ms, is not part of reading in place)")
    ok = consumed(rows)
    verify = statistics.median(r["guest_verify_ns"] for r in ok)
    assert line(text, "guest per frame") == ("guest per frame (guest clock, medians): copy none (read in place), "
                                             f"verify in the slot {verify / 1e6:.3f} ms")
    write = statistics.median(r["host_write_ns"] for r in rows)
    assert (f"-> the guest is the slower side: verify per frame {verify / 1e6:.3f} ms (medians), the host's write "
            f"{write / 1e6:.3f} ms") in text
    assert "copy out of the slot" not in text
    # Above what copying would allow, within what reading in place allows: not suspect.
    assert not suspects(report), suspects(report)
    assert "stream 4k block xxh3 inplace: " in proc.stdout


def test_the_same_stream_copied_is_above_its_limit(tmp_path):
    """The figures of the test above with the frames copied: the copy's limit applies, and the stream exceeds it."""
    rows = b.stream_rows(seconds=2.5, period_ns=10_000_000, times=SLOW_VERIFY)
    _, report, section = analyse(tmp_path, [rows], [b.stream_record(rows, limit=COPY_HEAVY)])
    assert "copied out (the copy verified)" in line(block(section, 1), "Stream 1:")
    found = suspects(report)
    assert len(found) == 1 and "above the same run's pipeline limit (83.3 frames/s)" in found[0], found


def test_hostile_consume_fields_are_suspect_or_left_out(tmp_path):
    rows = b.stream_rows(seconds=1.5, period_ns=40_000_000, seed=62, consume="inplace")
    rows[4]["guest_copy_ns"] = 1_000_000
    rows[7]["consume"] = "zerocopy"
    record = b.stream_record(rows, limit=LIMIT)
    record["consume"] = "zerocopy"
    proc, report, section = analyse(tmp_path, [rows], [record], status=1)
    assert "stream_results.csv line 9, column consume: 'zerocopy' is not one of" in proc.stderr
    found = suspects(report)
    assert any("a frame read in place has a guest_copy_ns in 1 row(s) (first: frame 4)" in f for f in found), found
    assert "SUSPECT: run.json: streams[0].consume is zerocopy, expected inplace or copy" in found
    assert "Stream 1: 4k" in section


def hostile_record(change):
    rows = b.stream_rows(seconds=2.2, period_ns=40_000_000, seed=60)
    record = json.loads(json.dumps(b.stream_record(rows, limit=LIMIT)))
    change(record)
    return rows, record


@pytest.mark.parametrize("change, expected", [
    (lambda r: r.update(produced=-3), "SUSPECT: run.json: streams[0].produced is -3, expected a whole number >= 0"),
    (lambda r: r["pipeline_limit"].update(host_write_ns="fast"),
     "SUSPECT: run.json: streams[0].pipeline_limit.host_write_ns is fast, expected a whole number of ns > 0"),
    (lambda r: r.update(windows=[40, -1]), "SUSPECT: run.json: streams[0].windows is [40, -1], expected a list"),
    (lambda r: r.update(dropped=2), "SUSPECT: run.json: stream 1 (4k): consumed + dropped = "),
    (lambda r: r.update(policy=True), "SUSPECT: run.json: streams[0].policy is True, expected block or latest"),
    (lambda r: r.update(windows=[10 ** 6]), "SUSPECT: run.json: stream 1 (4k): the windows count 1000000 frames"),
    (lambda r: r.update(failed=1), "SUSPECT: run.json: stream 1 (4k): failed is 1, but stream_results.csv has 0"),
    (lambda r: r.update(duration_s=0), "SUSPECT: run.json: streams[0].duration_s is 0, expected a number > 0"),
])
def test_hostile_run_json_streams_are_suspect(tmp_path, change, expected):
    rows, record = hostile_record(change)
    _, report, section = analyse(tmp_path, [rows], [record])
    found = suspects(report)
    assert any(f.startswith(expected) for f in found), found
    assert "Stream 1: 4k" in section


def test_streams_that_is_not_a_list_or_holds_no_objects(tmp_path):
    rows = b.stream_rows(seconds=1.5)
    _, report, section = analyse(tmp_path, [rows], [7])
    assert "SUSPECT: run.json: streams[0] is not a JSON object: 7" in suspects(report)
    _, report, section = analyse(tmp_path, [rows], {"4k": 1})
    assert "SUSPECT: run.json: streams is not a list: {'4k': 1}" in suspects(report)
    assert "Stream 1: 4k" in section


def hostile_rows(change):
    rows = b.stream_rows(seconds=1.5, period_ns=40_000_000, seed=61, dropped=(6,))
    change(rows)
    return rows


@pytest.mark.parametrize("policy, change, expected", [
    ("latest", lambda rows: rows[6].update(latency_ns=5), "a dropped frame has a latency_ns in 1 row(s) (first: frame 6)"),
    ("latest", lambda rows: rows[3].pop("guest_copy_ns"), "guest_copy_ns is empty for a copied frame in 1 row(s)"),
    ("latest", lambda rows: rows[4].update(status="dropped"), "dropped and status disagree in 1 row(s) (first: frame 4)"),
    ("latest", lambda rows: rows[5].update(success=0), "success and status disagree in 1 row(s) (first: frame 5)"),
    ("latest", lambda rows: rows[7].update(frame=1), "frame number given twice in 1 row(s) (first: frame 1)"),
    ("latest", lambda rows: rows[8].update(status="great"), "status is not one of ok, unverified, bad_checksum"),
    ("latest", lambda rows: rows[9].update(guest_copy_ns=1), "guest_copy_ns: 1 iteration(s) above 200000 MB/s"),
    ("block", lambda rows: None, "policy block, yet the frame was dropped in 1 row(s) (first: frame 6)"),
])
def test_hostile_stream_rows_are_suspect(tmp_path, policy, change, expected):
    rows = [dict(r, policy=policy) for r in hostile_rows(change)]
    _, report, section = analyse(tmp_path, [rows], None)
    found = suspects(report)
    assert any(f.startswith("SUSPECT: stream_results.csv: stream 1 (4k): ") and expected in f for f in found), found
    assert "Stream 1: 4k" in section


@pytest.mark.parametrize("value", ["soon", -40])  # latency_ns is of kind int: a negative one is not clean CSV
def test_a_stream_row_that_does_not_parse_is_left_out_and_named(tmp_path, value):
    rows = b.stream_rows(seconds=1.2)
    rows[3]["latency_ns"] = value
    proc, report, section = analyse(tmp_path, [rows], None, status=1)
    assert (f"stream_results.csv line 5, column latency_ns: {str(value)!r} is not a number of kind int "
            "(a whole number from 0 to 2^64-1); 1 row left out") in proc.stderr
    assert "Stream 1: 4k" in section  # the rest of the stream and of the run is analysed
    assert "LATENCY TEST" in report


def test_a_run_of_streams_alone_is_analysed(tmp_path):
    """host_writer --iterations 0 --bw-iterations 0 --ref-iterations 0 --stream-seconds S: the lock-step files
    hold their header only; the stream is the run."""
    rows = b.stream_rows(seconds=2.6, period_ns=50_000_000)
    run = b.manifest()
    run["streams"] = [b.stream_record(rows)]
    b.write_results(tmp_path, latency=[], bandwidth=[], run=run)
    b.write_stream(tmp_path, rows)
    proc = b.run_analysis(tmp_path)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    section = report_section((tmp_path / "performance_report.txt").read_text(), "STREAMING")
    assert f"drops: 0 of {len(rows)} produced" in block(section, 1)


@pytest.mark.parametrize("verify, status, success, suspect", [
    # host_writer fails a frame whose guest times do not fit its window, and the deliberately corrupted frame
    # the guest accepted: success 0 with these statuses is what it writes, not a disagreement
    ("xxh3", "implausible_timing", 0, False),
    ("xxh3", "accepted_corrupted_frame", 0, False),
    # a frame the guest did not verify fails when the host asked for a verification, and only then
    ("xxh3", "unverified", 0, False),
    ("xxh3", "unverified", 1, True),
    ("none", "unverified", 1, False),
    ("none", "unverified", 0, True),
    ("xxh3", "implausible_timing", 1, True),
])
def test_a_frame_the_host_failed_agrees_with_its_status(tmp_path, verify, status, success, suspect):
    rows = [dict(r, verify=verify, status="unverified" if verify == "none" else r["status"])
            for r in b.stream_rows(seconds=1.2, seed=71)]
    rows[4].update(status=status, success=success)
    _, report, _ = analyse(tmp_path, [rows], None)
    found = [f for f in suspects(report) if "success and status disagree" in f or "status is not one of" in f]
    assert bool(found) == suspect, found

"""Hand-made hostile stream results: per-frame times that cannot fit the frame's latency, latencies longer than
the stream, guest CPU beyond what the guest had. Each is SUSPECT and left out of the figures; the rest of the
report stands. And the cost of many small streams stays linear."""

import cProfile
import pstats

import pytest

import builders as b
from builders import report_section
from test_repeats import figure_row
from test_streaming import analyse, block, consumed, field, line, suspects

from ivbench_analysis import cli

FRAME_LABEL = "stream 4k block xxh3"
# Calls the analysis may make per small stream (its report lines, its record checks): a few thousand.
CALLS_PER_STREAM = 5_000


def headline_n(report):
    return int(figure_row(report_section(report, "HEADLINE FIGURES"), f"{FRAME_LABEL} latency")["n"])


@pytest.mark.parametrize("lying", ["one frame", "every frame"])
def test_a_guest_time_that_does_not_fit_the_frames_latency_is_suspect_and_left_out(tmp_path, lying):
    """The guest reports a copy of 3,599 s for frames whose latency the host measured in milliseconds."""
    rows = b.stream_rows(frame="4k", seconds=3.4)
    record = b.stream_record(rows)
    liars = [rows[10]] if lying == "one frame" else consumed(rows)
    for row in liars:
        row["guest_copy_ns"] = 3_599 * 10**9
    _, report, section = analyse(tmp_path, [rows], [record])
    expected = (f"SUSPECT: stream_results.csv: stream 1 (4k): the guest's copy + verify (guest clock) longer than "
                f"the frame's latency (host clock) that holds them: left out of the latency figures in {len(liars)} "
                f"row(s) (first: frame {liars[0]['frame']})")
    assert expected in suspects(report), suspects(report)
    text = block(section, 1)
    honest = [r for r in consumed(rows) if r not in liars]
    if honest:
        assert headline_n(report) == len(honest)
        assert f"{len(honest)} consumed frames" in line(text, "latency")
        assert field(text, "guest per frame", r"copy ([\d.]+) ms") < 10  # ms: the 3,599 s copies are not in it
    else:
        assert line(text, "latency") == "latency: n/a (no consumed frame with a latency)"
        assert "the guest is the slower side" not in text
        assert f"{FRAME_LABEL} latency" not in report_section(report, "HEADLINE FIGURES")


def test_a_latency_longer_than_the_stream_is_suspect_and_left_out(tmp_path):
    rows = b.stream_rows(frame="4k", seconds=3.4)
    record = b.stream_record(rows)  # its duration_s: the stream as it ran, about 3.4 s
    rows[5]["latency_ns"] = 3_600 * 10**9
    _, report, section = analyse(tmp_path, [rows], [record])
    assert ("SUSPECT: stream_results.csv: stream 1 (4k): latency_ns longer than the stream's duration_s: left out of "
            "the latency figures in 1 row(s) (first: frame 5)") in suspects(report), suspects(report)
    assert headline_n(report) == len(consumed(rows)) - 1
    assert field(block(section, 1), "latency", r"p99.9 ([\d.]+)") < 100  # ms


# guest_reader is one thread: over a stream it cannot use more CPU than the stream's duration (plus a tick).
@pytest.mark.parametrize("cpu_s, suspect", [(3_599.0, True), (3.6, True), (3.0, False)])
def test_guest_cpu_beyond_the_stream_is_suspect_and_not_reported(tmp_path, cpu_s, suspect):
    rows = b.stream_rows(frame="4k", seconds=3.4)
    record = b.stream_record(rows, guest_cpu_s=cpu_s)
    _, report, section = analyse(tmp_path, [rows], [record])
    cpu = line(block(section, 1), "CPU per frame")
    found = [s for s in suspects(report) if "guest_cpu_s" in s]
    if suspect:
        assert found == [f"SUSPECT: run.json: stream 1 (4k): guest_cpu_s {cpu_s} s in a stream of "
                         f"{record['duration_s']} s: more CPU than guest_reader (one thread) can use; not reported "
                         "per frame"]
        assert "guest n/a (SUSPECT" in cpu, cpu
    else:
        assert not found
        assert field(block(section, 1), "CPU per frame", r"guest ([\d.]+) ms") == pytest.approx(
            cpu_s / len(consumed(rows)) * 1e3, abs=0.0005)


def one_frame_streams(n):
    """n one-frame streams, 64B and 4096B in turn (so that each is a stream of its own), without run.json."""
    rows = []
    for i in range(n):
        rows += b.stream_rows(frame=("64B", "4096B")[i % 2], seconds=0.02, period_ns=20_000_000, seed=i)
    return rows


def analysis_calls(folder, streams):
    """Python function calls (cProfile's count: the same on a loaded machine as on an idle one) of the analysis
    of a folder of `streams` one-frame streams, without plots."""
    b.write_results(folder, latency=b.latency_rows(8), run=b.manifest())
    b.write_stream(folder, one_frame_streams(streams))
    profile = cProfile.Profile()
    status = profile.runcall(cli.main, ["--no-plots", str(folder)])
    assert status == 0
    return pstats.Stats(profile).total_calls


def test_many_small_streams_cost_little_each(tmp_path, capsys):
    """The analysis of one more small stream costs a bounded number of calls, whatever the number of streams:
    the rows are checked and summed for every stream at once. Before, each stream cost ~64,000 calls (pandas
    operations on its own rows, repeated by each part of the report: 57 s for 3,000 one-frame streams)."""
    small, large = analysis_calls(tmp_path / "a", 200), analysis_calls(tmp_path / "b", 400)
    capsys.readouterr()
    per_stream = (large - small) / 200
    assert per_stream < CALLS_PER_STREAM, f"{per_stream:.0f} calls per stream"

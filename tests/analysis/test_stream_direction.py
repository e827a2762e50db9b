"""Streams in both directions: a guest-to-host stream (the guest produced, the host consumed and checked) beside a
host-to-guest one of the same frame in one run: the STREAMING section shows each with its own words (the host's
hold, not a publish-to-release latency; the host's copy and check; CPU per frame by role), the two side by side,
and the answer, the headline figures and summary.json keep them apart."""

import json
import re

import builders as b
from builders import report_section
from test_streaming import LIMIT, analyse, block, consumed, field, line, suspects

G2H = "guest-to-host"
# The host's consumption of a frame (take to release) is its copy and check plus a little.
HOST_TIMES = {"write": 0, "wait": 0, "latency": 3_000_000, "copy": 1_000_000, "verify": 1_500_000}


def both_ways(seconds=3.4, period_ns=20_000_000):
    h2g = b.stream_rows(frame="4k", seconds=seconds, period_ns=period_ns, seed=71)
    g2h = b.stream_rows(frame="4k", seconds=seconds, period_ns=2 * period_ns, seed=72, times=HOST_TIMES,
                        direction=G2H)
    records = [b.stream_record(h2g, limit=LIMIT, host_cpu={"user_s": 0.4, "sys_s": 0.2, "wall_s": 3.4},
                               guest_cpu_s=0.9),
               b.stream_record(g2h, limit=LIMIT, host_cpu={"user_s": 0.6, "sys_s": 0.3, "wall_s": 3.4},
                               guest_cpu_s=1.2)]
    return h2g, g2h, records


def test_each_direction_in_its_own_words_and_side_by_side(tmp_path):
    h2g, g2h, records = both_ways()
    proc, report, section = analyse(tmp_path, [h2g, g2h], records)
    one, two = block(section, 1), block(section, 2)
    assert ", host to guest, " in line(one, "Stream 1:") and ", guest to host, " in line(two, "Stream 2:")
    # host -> guest: publish to release; guest -> host: the host's hold, the same percentiles of its rows
    assert line(one, "latency").startswith("latency (ms, host clock from publish to release")
    hold = sorted(r["latency_ns"] for r in consumed(g2h))
    assert line(two, "host hold").startswith("host hold (ms, host clock from the host's take")
    assert field(two, "host hold", r"p50 ([\d.]+)") > 0 and f"{len(hold)} consumed frames" in line(two, "host hold")
    copy = sorted(r["guest_copy_ns"] for r in consumed(g2h))[len(hold) // 2]
    assert abs(field(two, "host per frame", r"copy ([\d.]+) ms") - copy / 1e6) < 0.05
    assert "its write is not recorded per frame" in line(two, "guest per frame")
    # the pipeline limit by role: the guest writes, the host copies and checks
    assert "(guest write 0.900 ms; host copy 1.000 + verify 0.500 ms)" in line(two, "pipeline limit")
    # CPU per frame by role: the guest per frame produced, the host per frame consumed
    cpu = line(two, "CPU per frame")
    assert f"host {(0.9 / len(consumed(g2h))) * 1e3:.3f} ms (user+sys per consumed frame)" in cpu
    assert f"guest {(1.2 / len(g2h)) * 1e3:.3f} ms (per produced frame)" in cpu
    side = line(section, "Directions side by side")
    fps = [field(text, "frames/s:", r"sustained ([\d.]+)") for text in (two, one)]
    b.assert_ratio(re.search(r"runs at (\S+) the frames/s", side).group(1), fps[0] / fps[1], "g2h against h2g")
    assert not suspects(report), suspects(report)


def test_answer_headline_and_summary_keep_the_directions_apart(tmp_path):
    h2g, g2h, records = both_ways()
    analyse(tmp_path, [h2g, g2h], records)
    summary = json.loads((tmp_path / "summary.json").read_text())
    keys = [f["key"] for f in summary["figures"] if f["key"].startswith("stream/")]
    # the host-to-guest keys are the ones they were before streams had a direction
    assert "stream/4k/block/xxh3/fps" in keys and "stream/4k/block/xxh3/guest-to-host/fps" in keys
    assert "stream/4k/block/xxh3/guest-to-host/latency" in keys
    answer = [text for text in summary["answer"] if text.startswith("Stream 4k block xxh3")]
    assert any(", host -> guest: " in text and "; latency " in text for text in answer), answer
    assert any(", guest -> host: " in text and "; host hold " in text for text in answer), answer
    # every line about a stream names it as the stream lines do (not by its number in STREAMING)
    streams = [text for text in summary["answer"] if text.startswith("Stream")]
    assert len(streams) == 3 and all(text.startswith("Stream 4k block xxh3, ") for text in streams), streams
    assert (tmp_path / "streaming.png").stat().st_size > 0


def test_guest_to_host_rows_with_a_host_write_are_suspect(tmp_path):
    _, g2h, records = both_ways(seconds=1.5)
    g2h[3]["host_write_ns"] = 1000
    _, report, section = analyse(tmp_path, [g2h], records[1:])
    assert any("a guest-to-host frame (the guest wrote it) has a host_write_ns in 1 row(s) (first: frame 3)" in f
               for f in suspects(report)), suspects(report)
    assert "Stream 1: 4k" in section


def test_an_unknown_direction_is_suspect(tmp_path):
    _, g2h, records = both_ways(seconds=1.5)
    records[1]["direction"] = "sideways"
    _, report, _ = analyse(tmp_path, [g2h], records[1:])
    assert "SUSPECT: run.json: streams[0].direction is sideways, expected host-to-guest or guest-to-host" in \
        suspects(report)


def test_a_host_to_guest_stream_alone_has_no_side_by_side_line(tmp_path):
    h2g, _, records = both_ways(seconds=1.5)
    _, _, section = analyse(tmp_path, [h2g], records[:1])
    assert "Directions side by side" not in section
    assert report_section((tmp_path / "performance_report.txt").read_text(), "STREAMING")

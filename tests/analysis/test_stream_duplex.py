"""A duplex stream (host_writer --stream-direction both): one ring each way at the same time, its two directions'
rows interleaved in stream_results.csv and an entry each in run.json marked duplex. The STREAMING section shows
both directions side by side and says they ran at the same time (against one after the other for streams run
alone), and each direction of the duplex stream against the same direction alone; the headline figures keep the
duplex ones apart from the ones alone."""

import json
import re

import builders as b
from test_stream_direction import HOST_TIMES
from test_streaming import LIMIT, analyse, block, line, suspects

G2H = "guest-to-host"


def interleaved(*streams):
    """The rows of streams that ran at once, in the order their fates were learnt (publish time), marked duplex."""
    return sorted((dict(row, duplex=1) for rows in streams for row in rows), key=lambda r: r["publish_ns"])


def record(rows, duplex):
    return dict(b.stream_record(rows, limit=LIMIT, guest_cpu_s=0.5), duplex=duplex)


def alone_then_both():
    """host-to-guest alone, guest-to-host alone, then both at once, slower each way (one 4k frame each time)."""
    h2g = b.stream_rows(frame="4k", seconds=3.4, period_ns=20_000_000, seed=91)
    g2h = b.stream_rows(frame="4k", seconds=3.4, period_ns=20_000_000, seed=92, times=HOST_TIMES, direction=G2H)
    both_h2g = b.stream_rows(frame="4k", seconds=3.4, period_ns=25_000_000, seed=93)
    both_g2h = b.stream_rows(frame="4k", seconds=3.4, period_ns=40_000_000, seed=94, times=HOST_TIMES, direction=G2H)
    rows = [h2g, g2h, interleaved(both_h2g, both_g2h)]
    records = [record(h2g, False), record(g2h, False), record(both_h2g, True), record(both_g2h, True)]
    return rows, records


def sustained(text):
    return float(re.search(r"frames/s: sustained ([\d.]+)", text).group(1))


def test_both_directions_at_once_side_by_side(tmp_path):
    rows, records = alone_then_both()
    _, report, section = analyse(tmp_path, rows, records)
    assert not suspects(report), suspects(report)
    blocks = [block(section, n) for n in (1, 2, 3, 4)]
    # each direction of the duplex stream is a stream of its own, with all its rows, and says it ran beside the other
    for text, rec in zip(blocks, records):
        assert (", both ways at once (the other direction's ring ran at the same time)" in text) == rec["duplex"]
        assert f"drops: 0 of {rec['produced']} produced" in text, text
    assert ", host to guest, " in line(blocks[2], "Stream 3:") and ", guest to host, " in line(blocks[3], "Stream 4:")
    fps = [sustained(text) for text in blocks]
    at_once = line(section, "Directions side by side, at the same time (both ways at once): stream 4")
    b.assert_ratio(re.search(r"runs at (\S+) the frames/s of stream 3", at_once).group(1), fps[3] / fps[2], "duplex")
    apart = line(section, "Directions side by side, one after the other: stream 2")
    b.assert_ratio(re.search(r"runs at (\S+) the frames/s of stream 1", apart).group(1), fps[1] / fps[0], "alone")
    # each direction both ways at once against the same direction alone
    h2g = line(section, "Both ways at once against alone: stream 3 (host to guest")
    b.assert_ratio(re.search(r"runs at (\S+) the frames/s of stream 1 ", h2g).group(1), fps[2] / fps[0], "h2g")
    g2h = line(section, "Both ways at once against alone: stream 4 (guest to host")
    b.assert_ratio(re.search(r"runs at (\S+) the frames/s of stream 2 ", g2h).group(1), fps[3] / fps[1], "g2h")


def test_duplex_figures_are_kept_apart_from_alone(tmp_path):
    rows, records = alone_then_both()
    analyse(tmp_path, rows, records)
    summary = json.loads((tmp_path / "summary.json").read_text())
    keys = [f["key"] for f in summary["figures"] if f["key"].startswith("stream/")]
    for key in ("stream/4k/block/xxh3/fps", "stream/4k/block/xxh3/guest-to-host/fps",
                "stream/4k/block/xxh3/host-to-guest/duplex/fps", "stream/4k/block/xxh3/guest-to-host/duplex/fps",
                "stream/4k/block/xxh3/host-to-guest/duplex/latency"):
        assert key in keys, keys
    # the answer names a duplex stream's direction and says duplex (it shows the first three streams only)
    answer = [text for text in summary["answer"] if text.startswith("Stream 4k block xxh3")]
    assert any(", guest -> host duplex: " in text and "; host hold " in text for text in answer), answer


def test_streams_one_after_the_other_are_not_said_at_once(tmp_path):
    rows, records = alone_then_both()
    _, _, section = analyse(tmp_path, rows[:2], records[:2])
    assert "side by side, at the same time" not in section and "both ways at once (the other" not in section
    assert "Both ways at once against alone" not in section
    line(section, "Directions side by side, one after the other: stream 2")


def test_a_duplex_flag_that_is_not_a_bool_is_suspect(tmp_path):
    rows, records = alone_then_both()
    records[0]["duplex"] = "yes"
    _, report, _ = analyse(tmp_path, rows[:1], records[:1])
    assert "SUSPECT: run.json: streams[0].duplex is yes, expected true or false" in suspects(report), suspects(report)

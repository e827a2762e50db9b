"""Several host consumers of one guest-to-host stream (host_writer --consumers): their rows interleave in
stream_results.csv, told apart by the consumer column, and each has its own run.json entry. The STREAMING
section shows each consumer side by side with its own figures; the headline figures, the answer and
summary.json name the consumer."""

import json

import builders as b
from test_stream_direction import HOST_TIMES
from test_streaming import LIMIT, analyse, block, field, line, suspects

G2H = "guest-to-host"


def two_consumers():
    """Consumer 0 takes every frame for 3.4 s; consumer 1 is dropped after 40 frames (its rows stop there)."""
    first = b.stream_rows(frame="4k", seconds=3.4, period_ns=20_000_000, seed=81, times=HOST_TIMES, direction=G2H)
    second = b.stream_rows(frame="4k", seconds=3.4, period_ns=20_000_000, seed=82, times=HOST_TIMES,
                           direction=G2H)[:40]
    for r in first:
        r["consumer"] = 0
    for r in second:
        r["consumer"] = 1
    # The guest's CPU is the producer's over the stream: only a consumer that lasted the stream has it.
    records = [dict(b.stream_record(rows, limit=LIMIT, host_cpu={"user_s": cpu, "sys_s": 0.1, "wall_s": 3.4},
                                    guest_cpu_s=1.0 if end == "finished" else None),
                    consumer=k, consumers=2, consumer_end=end)
               for k, (rows, cpu, end) in enumerate(((first, 0.5, "finished"), (second, 0.05, "dropped")))]
    # The parent writes the rows as they arrive: the two consumers' rows interleave.
    rows = [r for pair in zip(first, second) for r in pair] + first[len(second):]
    return first, second, rows, records


def test_each_consumer_side_by_side_with_its_own_figures(tmp_path):
    first, second, rows, records = two_consumers()
    _, report, section = analyse(tmp_path, [rows], records)
    one, two = block(section, 1), block(section, 2)
    assert "consumer 0 of 2 (finished)" in line(one, "Stream 1:"), line(one, "Stream 1:")
    assert "consumer 1 of 2 (dropped)" in line(two, "Stream 2:"), line(two, "Stream 2:")
    assert f"drops: 0 of {len(first)} produced" in line(one, "drops:")
    assert "drops: 0 of 40 produced" in line(two, "drops:")
    assert f"{len(first)} consumed frames" in line(one, "host hold") and "40 consumed frames" in line(two, "host hold")
    assert field(one, "frames/s:", r"sustained ([\d.]+)") > 0 and "sustained n/a" in line(two, "frames/s:")
    cpu = [line(text, "CPU per frame") for text in (one, two)]
    assert f"host {(0.6 / len(first)) * 1e3:.3f} ms" in cpu[0] and f"host {(0.15 / 40) * 1e3:.3f} ms" in cpu[1]
    assert not suspects(report), suspects(report)


def test_headline_answer_and_summary_name_the_consumer(tmp_path):
    _, _, rows, records = two_consumers()
    analyse(tmp_path, [rows], records)
    summary = json.loads((tmp_path / "summary.json").read_text())
    keys = [f["key"] for f in summary["figures"] if f["key"].startswith("stream/")]
    assert "stream/4k/block/xxh3/guest-to-host/consumer-0/fps" in keys, keys
    assert "stream/4k/block/xxh3/guest-to-host/consumer-1/latency" in keys, keys
    assert not any(k.startswith("stream/4k/block/xxh3/guest-to-host/fps") for k in keys), keys
    assert any(", guest -> host consumer 0: " in text for text in summary["answer"]), summary["answer"]


def test_one_consumer_keeps_its_keys_and_words(tmp_path):
    first, _, _, records = two_consumers()
    record = {k: v for k, v in records[0].items() if k not in ("consumer", "consumers", "consumer_end")}
    for r in first:
        r.pop("consumer")
    _, report, section = analyse(tmp_path, [first], [record])
    assert "consumer" not in line(block(section, 1), "Stream 1:")
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert "stream/4k/block/xxh3/guest-to-host/fps" in [f["key"] for f in summary["figures"]]
    assert not suspects(report), suspects(report)


def test_a_consumer_end_out_of_its_words_is_suspect(tmp_path):
    _, _, rows, records = two_consumers()
    records[1]["consumer_end"] = "vanished"
    _, report, _ = analyse(tmp_path, [rows], records)
    assert any("consumer_end is vanished" in f for f in suspects(report)), suspects(report)

"""The TRANSPORTS section and transports.png: figures from run.json's `transports` block and
transport_results.csv (ivshmem's frames from the stream test), ivshmem's ratio over each transport in one
sentence, the transports that did not run with their reason, hostile records, TCG."""

import numpy as np
import pytest

import builders as b
from builders import report_section
from ivbench_analysis import intervals, schema
from ivbench_analysis.report.text import fmt_ratio
from ivbench_analysis.report.transports import plot_transports, transports_lines
from ivbench_analysis.transports import TransportFigures, TransportSet, from_record, ratio_sentences

COLUMNS = schema.columns("transport")
SIZE = 4096


def rows_of(transport, test, size, latencies, window=3):
    return [{"transport": transport, "test": test, "size_bytes": size, "verify": "xxh3", "window": window, "frame": i,
             "send_ns": i * 1000, "host_send_ns": 500, "latency_ns": lat, "guest_copy_ns": 300,
             "guest_verify_ns": 100, "status": "ok", "success": 1} for i, lat in enumerate(latencies)]


def record(transport, test, size, n, windows, host_cpu_s, guest_cpu_s, window=3):
    return {"transport": transport, "test": test, "size_bytes": size, "verify": "xxh3", "window": window,
            "seconds": len(windows), "completed": True, "sent": n, "acked": n, "failed": 0, "unverified": 0,
            "duration_s": float(len(windows)), "windows": windows,
            "host_cpu": {"user_s": host_cpu_s / 2, "sys_s": host_cpu_s / 2, "wall_s": float(len(windows))},
            "guest_cpu_s": guest_cpu_s, "guest_taken": n, "guest_verified": n}


def comparison_folder(folder, accel="kvm", entries=None, unix_windows=(10, 10, 10), guest_to_host=False):
    """ivshmem's 4096-byte stream (3 windows of 40 frames) beside unix frames (10/s) and 64-byte messages on both;
    with `guest_to_host`, a faster stream the other way too (the run streamed both ways)."""
    stream = b.stream_rows(frame=f"{SIZE}B", seconds=3.0, period_ns=25_000_000,
                           times={"write": 1000, "wait": 0, "latency": 20_000, "copy": 1000, "verify": 500})
    srec = b.stream_record(stream, seconds=3, host_cpu={"user_s": 0.06, "sys_s": 0.0, "wall_s": 3.0},
                           guest_cpu_s=0.06)
    streams, records = list(stream), [srec]
    if guest_to_host:
        g2h = b.stream_rows(frame=f"{SIZE}B", seconds=3.0, period_ns=5_000_000, direction="guest-to-host",
                            times={"write": 1000, "wait": 0, "latency": 20_000, "copy": 1000, "verify": 500})
        streams += g2h
        records.append(b.stream_record(g2h, seconds=3, host_cpu={"user_s": 0.01, "sys_s": 0.0, "wall_s": 3.0},
                                       guest_cpu_s=0.01))
    unix_lat = [100_000 + 1000 * i for i in range(30)]
    tests = [record("unix", "frames", SIZE, 30, list(unix_windows), host_cpu_s=0.03, guest_cpu_s=0.03),
             record("unix", "pingpong", 64, 30, [10, 10, 10], 0.03, 0.03, window=1),
             record("ivshmem", "pingpong", 64, 30, [10, 10, 10], 0.03, 0.03, window=1)]
    rows = (rows_of("unix", "frames", SIZE, unix_lat) + rows_of("unix", "pingpong", 64, [40_000] * 30, 1)
            + rows_of("ivshmem", "pingpong", 64, [2_000] * 30, 1))
    run = b.manifest(accel=accel)
    run["streams"] = records
    run["transports"] = {"list": "ivshmem,unix,vsock", "message_sizes": "64",
                         "entries": entries or [{"name": "ivshmem", "status": "ran"},
                                                {"name": "unix", "status": "ran", "address": "/tmp/x.sock"}],
                         "tests": tests}
    b.write_results(folder, latency=b.latency_rows(8), run=run)
    b.write_stream(folder, streams)
    b.write_csv(folder / "transport_results.csv", COLUMNS, rows)
    return stream, srec, unix_lat


@pytest.mark.parametrize("guest_to_host", [False, True], ids=["one-direction", "both-directions"])
def test_section_figures_and_ratio_sentences(tmp_path, guest_to_host):
    """The other transports carry frames host to guest: ivshmem's row and ratio are its host-to-guest stream's
    alone, whatever else the run streamed."""
    stream, srec, unix_lat = comparison_folder(tmp_path, guest_to_host=guest_to_host)
    proc = b.run_analysis(tmp_path)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    text = report_section((tmp_path / "performance_report.txt").read_text(), "TRANSPORTS")
    ivshmem_rate = float(np.median(srec["windows"]))
    # ivshmem: its stream's windows over unix's 10 frames/s; CPU per frame: (0.06 + 0.06) / 120 over 0.06 / 30.
    ivshmem_cpu = 0.06 / srec["produced"] + 0.06 / srec["consumed"]
    expected = (f"{SIZE}B frames: ivshmem {fmt_ratio(ivshmem_rate / 10)} [no interval: fewer than 6 samples] the "
                f"frames/s of unix at "
                f"{fmt_ratio(ivshmem_cpu / (0.06 / 30))} the CPU per frame")
    assert expected in text, text
    assert "64B ping-pong: ivshmem's round trip p50 is 0.0500x [0.0500-0.0500] that of unix" in text, text
    unix_row = next(line for line in text.splitlines() if line.split()[:3] == ["frames", str(SIZE), "unix"])
    assert f"{np.percentile(unix_lat, 99) / 1e3:.1f}" in unix_row.split(), unix_row
    assert (tmp_path / "transports.png").stat().st_size > 0
    assert "TCG" not in text
    ivshmem_rows = [line for line in text.splitlines() if line.split()[:3] == ["frames", str(SIZE), "ivshmem"]]
    assert len(ivshmem_rows) == 1, text
    assert text.count("frames: ivshmem ") == 1, text


def set_of_comparisons(folder, accel="kvm"):
    """Three runs of comparison_folder whose unix frames ran at different rates; returns (ivshmem's windows,
    unix's windows) per run."""
    ivshmem, unix = [], []
    for index, windows in enumerate(((10, 10, 10), (8, 9, 10), (12, 11, 10)), start=1):
        _, srec, _ = comparison_folder(folder / f"run-{index}", accel=accel, unix_windows=windows)
        ivshmem.append([float(w) for w in srec["windows"]])
        unix.append([float(w) for w in windows])
    return ivshmem, unix


def test_repeated_runs_give_each_ratio_with_its_interval_over_the_runs(tmp_path):
    ivshmem, unix = set_of_comparisons(tmp_path)
    proc = b.run_analysis(tmp_path)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    report = (tmp_path / "performance_report.txt").read_text()
    text = report_section(report, "TRANSPORTS")
    expected = intervals.same_run_ratio(ivshmem, unix)
    assert expected.low < expected.ratio < expected.high
    frames = next(line.strip() for line in text.splitlines() if line.strip().startswith(f"{SIZE}B frames"))
    assert frames.startswith(f"{SIZE}B frames: ivshmem {fmt_ratio(expected.ratio)} [{fmt_ratio(expected.low)[:-1]}-"
                             f"{fmt_ratio(expected.high)[:-1]}] the frames/s of unix at "), frames
    assert "64B ping-pong: ivshmem's round trip p50 is 0.0500x [0.0500-0.0500] that of unix" in text, text
    assert "functional only" not in text
    answer = next(line for line in report.splitlines() if line.strip().startswith("Transports:"))
    assert frames in answer, answer


def test_repeated_runs_under_tcg_are_functional_only(tmp_path):
    set_of_comparisons(tmp_path, accel="tcg")
    proc = b.run_analysis(tmp_path)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    text = report_section((tmp_path / "performance_report.txt").read_text(), "TRANSPORTS")
    assert "TCG: timings are functional only, not hardware performance: the comparison is functional only" in text


def test_not_run_transports_named_and_tcg_functional_only(tmp_path):
    comparison_folder(tmp_path, accel="tcg", entries=[
        {"name": "ivshmem", "status": "ran"}, {"name": "unix", "status": "ran"},
        {"name": "vsock", "status": "skipped", "reason": "no /dev/vhost-vsock on this host"},
        {"name": "tcp", "status": "failed", "reason": "tcp frames of 4096B: the guest closed the connection"}])
    proc = b.run_analysis(tmp_path)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    text = report_section((tmp_path / "performance_report.txt").read_text(), "TRANSPORTS")
    assert "vsock: skipped: no /dev/vhost-vsock on this host" in text
    assert "tcp: failed: tcp frames of 4096B: the guest closed the connection" in text
    assert "functional only" in text


def test_ivshmem_alone_has_no_section(tmp_path):
    b.write_results(tmp_path, latency=b.latency_rows(8),
                    run=dict(b.manifest(), transports={"list": "ivshmem", "entries": [{"name": "ivshmem",
                                                                                        "status": "ran"}],
                                                         "tests": []}))
    proc = b.run_analysis(tmp_path)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "TRANSPORTS" not in (tmp_path / "performance_report.txt").read_text()
    assert not (tmp_path / "transports.png").exists()


def test_hostile_records_are_left_out_or_unknown():
    good = record("tcp", "messages", 64, 10, [5, 5], 0.01, 0.01)
    assert from_record(dict(good, transport="carrier-pigeon"), None) is None
    assert from_record(dict(good, test="frames; rm -rf"), None) is None
    assert from_record(dict(good, size_bytes=-1), None) is None
    assert from_record(dict(good, size_bytes="64"), None) is None
    f = from_record(dict(good, windows=[5, "x", -3, 1.5, 7], sent=True, duration_s=float("nan"),
                         guest_cpu_s=-1.0, host_cpu={"user_s": "a"}), None)
    assert f.windows == [5, 7] and f.sent is None and f.rate_overall is None
    assert f.rate_sustained == 6.0 and f.host_cpu_per_frame_s is None and f.guest_cpu_per_frame_s is None
    assert f.cpu_per_frame_s is None


def test_sentences_only_for_tests_both_ran():
    figs = [TransportFigures("ivshmem", "messages", 64, rate_sustained=3000.0, host_cpu_per_frame_s=1e-6,
                             guest_cpu_per_frame_s=1e-6),
            TransportFigures("pipe", "messages", 64, rate_sustained=1000.0, host_cpu_per_frame_s=2e-6,
                             guest_cpu_per_frame_s=3e-6),
            TransportFigures("pipe", "messages", 4096, rate_sustained=1000.0)]
    assert ratio_sentences([figs], fmt_ratio) == [
        "64B messages: ivshmem 3.00x [no interval: fewer than 6 samples] the messages/s of pipe at 0.40x the CPU "
        "per message"]
    lines = transports_lines(TransportSet(figures=figs, entries={"ivshmem": ("ran", None)}), tcg=False)
    assert any(line.split()[:3] == ["messages", "4096", "pipe"] for line in lines)


def test_plot_with_a_missing_transport(tmp_path):
    figs = [TransportFigures("ivshmem", "pingpong", 64, latency={50: 2000.0}),
            TransportFigures("tcp", "pingpong", 64, latency={}),
            TransportFigures("tcp", "frames", SIZE, rate_sustained=10.0)]
    plot_transports(TransportSet(figures=figs), tmp_path / "transports.png", tcg=True)
    assert (tmp_path / "transports.png").stat().st_size > 0

"""The report's NOTIFICATION AND CPU section and `--compare`: the mode, each side's CPU time against its wall
time and per message (run.json host.cpu, guest.cpu), the doorbell counts, what is missing, and implausible
CPU figures, on synthetic results folders whose expected figures are computed here."""

import statistics
import subprocess
import sys

import builders as b
from builders import report_section

HOST_CPU = {"user_s": 1.25, "sys_s": 0.25, "wall_s": 3.0, "messages": 500}
GUEST_CPU = {"user_s": 0.5, "sys_s": 0.1, "wall_s": 2.5, "messages": 500}
HOST_BELL = {"peer_id": 1, "rings_sent": 1001, "rings_received": 998, "late_wakeups": 0}
GUEST_BELL = {"peer_id": 0, "rings_sent": 1002, "rings_received": 501, "late_wakeups": 3}


def doorbell_manifest(host_cpu=HOST_CPU, guest_cpu=GUEST_CPU, interval_us=0, mode="doorbell", **guest_extra):
    run = b.manifest()
    run["options"].update(mode=mode, interval_us=interval_us)
    if host_cpu is not None:
        run["host"]["cpu"] = host_cpu
    if guest_cpu is not None:
        run["guest"]["cpu"] = guest_cpu
    if mode == "doorbell":
        run["host"]["doorbell"] = HOST_BELL
        run["guest"]["doorbell"] = GUEST_BELL
    run["guest"].update(guest_extra)
    return run


def analyse(tmp_path, run, latency=None):
    latency = latency if latency is not None else b.latency_rows(20, seed=41)
    folder = b.write_results(tmp_path, latency=latency, run=run)
    proc = b.run_analysis(folder)
    assert proc.returncode == 0, proc.stderr
    return (folder / "performance_report.txt").read_text(), latency


def side_row(section, side):
    rows = [line.split() for line in section.splitlines()
            if line.split()[:1] == [side] and line.split()[1] != "doorbell:"]
    assert len(rows) == 1, section
    return rows[0]


def test_cpu_per_side_against_wall_time_and_per_message(tmp_path):
    report, latency = analyse(tmp_path, doorbell_manifest())
    section = report_section(report, "NOTIFICATION AND CPU (mode: doorbell)")
    assert "each side sleeps until the other rings it" in section
    for side, cpu in (("host", HOST_CPU), ("guest", GUEST_CPU)):
        row = side_row(section, side)
        used = cpu["user_s"] + cpu["sys_s"]
        assert float(row[1]) == cpu["user_s"] and float(row[2]) == cpu["sys_s"] and float(row[3]) == cpu["wall_s"]
        assert row[4] == f"{100 * used / cpu['wall_s']:.1f}%"
        assert int(row[5]) == cpu["messages"]
        assert float(row[6]) == round(used / cpu["messages"] * 1000, 3)
    ok = [r for r in latency if r["success"] == 1]
    roundtrip = statistics.median(r["roundtrip_ns"] for r in ok) / 1e3
    assert f"median round trip {roundtrip:.3f} us" in section


def test_doorbell_counts_and_late_rings(tmp_path):
    report, _ = analyse(tmp_path, doorbell_manifest())
    section = report_section(report, "NOTIFICATION AND CPU")
    assert "host doorbell: peer 1, 1001 rings sent, 998 woke it, 0 waits ended on a 50 ms slice" in section
    assert "guest doorbell: peer 0, 1002 rings sent, 501 woke it, 3 waits ended on a 50 ms slice" in section
    assert "! guest: 3 rings were lost or late" in section
    assert "! host:" not in section


def test_mode_and_interval_in_the_environment(tmp_path):
    report, _ = analyse(tmp_path, doorbell_manifest(interval_us=16667))
    assert "Notification:    doorbell, messages 16667 us apart" in report_section(report, "ENVIRONMENT")
    assert "most of the wall time is waiting" in report_section(report, "NOTIFICATION AND CPU")


def test_polling_run_without_guest_cpu_says_why(tmp_path):
    report, _ = analyse(tmp_path, doorbell_manifest(guest_cpu=None, mode="polling",
                                                    cpu_missing="the guest did not report its CPU time within 5 s"))
    section = report_section(report, "NOTIFICATION AND CPU (mode: polling)")
    assert "each side spins on the other's state word" in section
    row = side_row(section, "guest")
    assert row[1:7] == ["n/a"] * 6
    assert "(the guest did not report its CPU time within 5 s)" in section
    assert "doorbell:" not in section
    assert side_row(section, "host")[4] == "50.0%"


def test_old_manifest_without_mode_or_cpu(tmp_path):
    report, _ = analyse(tmp_path, b.manifest())
    section = report_section(report, "NOTIFICATION AND CPU (mode: not recorded)")
    assert side_row(section, "host")[-2:] == ["(not", "recorded)"]
    assert "Notification:" not in report_section(report, "ENVIRONMENT")


def test_impossible_cpu_is_suspect(tmp_path):
    run = doorbell_manifest(host_cpu={"user_s": 5.0, "sys_s": 1.0, "wall_s": 2.0, "messages": 10},
                            guest_cpu={"user_s": "x", "sys_s": 0, "wall_s": 1, "messages": 1})
    report, _ = analyse(tmp_path, run)
    suspects = report_section(report, "SUSPECT FIGURES")
    assert "host.cpu: 6.000 s of CPU in 2.000 s of wall time" in suspects
    assert "guest.cpu is not four finite non-negative numbers" in suspects
    # A plausible record is not flagged.
    report, _ = analyse(tmp_path / "fine", doorbell_manifest())
    assert ".cpu" not in report_section(report, "SUSPECT FIGURES")


def compare(*folders):
    return subprocess.run([sys.executable, str(b.ANALYZE), "--compare", *map(str, folders)],
                          capture_output=True, text=True, timeout=120)


def test_compare_puts_runs_side_by_side(tmp_path):
    polling_latency = b.latency_rows(20, seed=42)
    doorbell_latency = b.latency_rows(30, seed=43)
    polling = b.write_results(tmp_path / "poll", latency=polling_latency,
                              run=doorbell_manifest(mode="polling",
                                                    host_cpu={"user_s": 2.0, "sys_s": 0.0, "wall_s": 2.0,
                                                              "messages": 400}))
    doorbell = b.write_results(tmp_path / "bell", latency=doorbell_latency, run=doorbell_manifest(interval_us=250))
    proc = compare(polling, doorbell)
    assert proc.returncode == 0, proc.stderr
    assert (tmp_path / "poll" / "performance_report.txt").exists() is False  # --compare writes nothing
    rows = {line.split()[0]: line.split() for line in proc.stdout.splitlines()[2:]}
    for name, latency, mode, interval, host, guest in (
            ("poll", polling_latency, "polling", "0", (2.0, 400, 2.0), GUEST_CPU),
            ("bell", doorbell_latency, "doorbell", "250", (1.5, 500, 3.0), GUEST_CPU)):
        row = rows[name]
        ok = [r for r in latency if r["success"] == 1]
        assert row[1] == mode and row[5] == interval and int(row[6]) == len(ok)
        assert float(row[7]) == round(statistics.median(r["roundtrip_ns"] for r in ok) / 1e3, 3)
        assert float(row[8]) == round(statistics.median(r["notification_est_ns"] for r in ok) / 1e3, 3)
        used, messages, wall = host
        assert float(row[9]) == round(used / messages * 1000, 3)
        assert row[11] == f"{100 * used / wall:.1f}%"
        guest_used = guest["user_s"] + guest["sys_s"]
        assert float(row[10]) == round(guest_used / guest["messages"] * 1000, 3)


def test_compare_bad_input(tmp_path):
    good = b.write_results(tmp_path / "good", latency=b.latency_rows(5), run=doorbell_manifest())
    (tmp_path / "empty").mkdir()
    proc = compare(good, tmp_path / "empty")
    assert proc.returncode == 1
    assert proc.stderr.strip().endswith("empty: no run.json: not an ivshmem-bench results folder")
    assert len(proc.stderr.strip().splitlines()) == 1
    proc = compare(good)
    assert proc.returncode == 2 and "needs two results folders or more" in proc.stderr
    proc = subprocess.run([sys.executable, str(b.ANALYZE), str(good), "--compare", str(good), str(good)],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2 and "put them after it" in proc.stderr

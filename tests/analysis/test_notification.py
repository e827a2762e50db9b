"""The report's NOTIFICATION AND CPU section and `--compare`: the mode, each side's CPU time against its wall
time and per message (run.json host.cpu, guest.cpu), the doorbell counts, what is missing, and implausible
values, on synthetic results folders whose expected figures are computed here."""

import math
import statistics
import subprocess
import sys

import pytest

import builders as b
from builders import report_section

HOST_CPU = {"user_s": 1.25, "sys_s": 0.25, "wall_s": 3.0, "messages": 500}
GUEST_CPU = {"user_s": 0.5, "sys_s": 0.1, "wall_s": 2.5, "messages": 500}
HOST_BELL = {"peer_id": 1, "rings_sent": 1001, "rings_received": 998, "late_wakeups": 0}
GUEST_BELL = {"peer_id": 0, "rings_sent": 1002, "rings_received": 501, "late_wakeups": 3}
NO_CPU = ["n/a"] * 6


def doorbell_manifest(host_cpu=HOST_CPU, guest_cpu=GUEST_CPU, interval_us=0, mode="doorbell", bells=None,
                      **guest_extra):
    """run.json as host_writer writes it now; None leaves a field out, as older runs do."""
    run = b.manifest()
    run["options"].update(mode=mode, interval_us=interval_us)
    if host_cpu is not None:
        run["host"]["cpu"] = host_cpu
    if guest_cpu is not None:
        run["guest"]["cpu"] = guest_cpu
    if bells is None:
        bells = (HOST_BELL, GUEST_BELL) if mode == "doorbell" else ()
    for side, bell in zip(("host", "guest"), bells):
        run[side]["doorbell"] = bell
    run["guest"].update(guest_extra)
    return run


def analyse(tmp_path, run, latency=None, bandwidth=None):
    if latency is None and bandwidth is None:
        latency = b.latency_rows(20, seed=41)
    folder = b.write_results(tmp_path, latency=latency, bandwidth=bandwidth, run=run)
    proc = b.run_analysis(folder)
    assert proc.returncode == 0, proc.stderr
    return (folder / "performance_report.txt").read_text()


def median_us(rows, column):
    return statistics.median(r[column] for r in rows if r["success"] == 1) / 1e3


def cpu_row(section, side):
    """user_s, sys_s, wall_s, core_share, messages, cpu_ms/msg of one side's row."""
    return b.table_row(section, side, 6)


def test_cpu_per_side_against_wall_time_and_per_message(tmp_path):
    latency = b.latency_rows(21, seed=41, failed=(4,))
    report = analyse(tmp_path, doorbell_manifest(), latency=latency)
    section = report_section(report, "NOTIFICATION AND CPU (mode: doorbell)")
    assert "each side sleeps until the other rings it" in section
    for side, cpu in (("host", HOST_CPU), ("guest", GUEST_CPU)):
        user, sys_s, wall, share, messages, per_message = cpu_row(section, side)
        used = cpu["user_s"] + cpu["sys_s"]
        assert (float(user), float(sys_s), float(wall)) == (cpu["user_s"], cpu["sys_s"], cpu["wall_s"])
        assert share == f"{100 * used / cpu['wall_s']:.1f}%"
        assert int(messages) == cpu["messages"]
        assert float(per_message) == round(used / cpu["messages"] * 1000, 3)  # ms per message
    assert "CPU not recorded" not in section
    assert (f"Latency test (20 messages): median round trip {median_us(latency, 'roundtrip_ns'):.3f} us, "
            f"median notification (est.) {median_us(latency, 'notification_est_ns'):.3f} us") in section


def test_doorbell_counts_and_late_wakeups(tmp_path):
    section = report_section(analyse(tmp_path, doorbell_manifest()), "NOTIFICATION AND CPU")
    assert "host doorbell: peer 1, 1001 rings sent, 998 received, 0 waits ended on a 50 ms slice" in section
    assert "guest doorbell: peer 0, 1002 rings sent, 501 received, 3 waits ended on a 50 ms slice" in section
    assert "! guest: 3 waits saw the state change with no ring within 50 ms" in section
    assert "! host:" not in section
    assert "doorbell counts not recorded" not in section


def test_doorbell_run_without_counts_says_so(tmp_path):
    section = report_section(analyse(tmp_path, doorbell_manifest(bells=(HOST_BELL,))), "NOTIFICATION AND CPU")
    assert "host doorbell: peer 1" in section
    assert "guest doorbell counts not recorded" in section
    assert "host doorbell counts not recorded" not in section


def test_mode_and_interval_in_the_environment_and_the_waiting_share(tmp_path):
    latency = b.latency_rows(20, seed=44)
    report = analyse(tmp_path, doorbell_manifest(interval_us=16667), latency=latency)
    assert "Notification:    doorbell, messages started 16667 us apart" in report_section(report, "ENVIRONMENT")
    roundtrip = median_us(latency, "roundtrip_ns")
    waiting = 100 * (1 - roundtrip / 16667)
    assert (f"Messages started 16667 us apart (--interval-us): the median round trip is {roundtrip:.1f} us, so "
            f"about {waiting:.1f}% of the time between messages is waiting") in report
    assert "idle cost" in report_section(report, "NOTIFICATION AND CPU")


def test_interval_shorter_than_a_round_trip_is_not_called_idle(tmp_path):
    report = analyse(tmp_path, doorbell_manifest(interval_us=10), latency=b.latency_rows(20, seed=45))
    section = report_section(report, "NOTIFICATION AND CPU")
    assert "Messages started 10 us apart (--interval-us), but the median round trip" in section
    assert "so the core shares are not an idle cost" in section
    assert "shares above are mostly what waiting costs" not in section


def test_back_to_back_run_mentions_no_interval(tmp_path):
    report = analyse(tmp_path, doorbell_manifest(mode="polling", interval_us=0))
    assert "Notification:    polling\n" in report_section(report, "ENVIRONMENT") + "\n"
    assert "apart" not in report_section(report, "NOTIFICATION AND CPU")


def test_polling_run_without_guest_cpu_says_why(tmp_path):
    run = doorbell_manifest(guest_cpu=None, mode="polling",
                            cpu_missing="the guest did not report its CPU time within 5 s")
    section = report_section(analyse(tmp_path, run), "NOTIFICATION AND CPU (mode: polling)")
    assert "each side spins on the other's state word" in section
    assert cpu_row(section, "guest") == NO_CPU
    assert "guest CPU not recorded: the guest did not report its CPU time within 5 s" in section
    assert "doorbell" not in section
    assert cpu_row(section, "host")[3] == "50.0%"


def test_old_manifest_without_mode_interval_or_cpu(tmp_path):
    report = analyse(tmp_path, b.manifest())
    section = report_section(report, "NOTIFICATION AND CPU (mode: not recorded)")
    assert cpu_row(section, "host") == NO_CPU and cpu_row(section, "guest") == NO_CPU
    assert "  host CPU not recorded\n  guest CPU not recorded\n" in section
    assert "Notification:" not in report_section(report, "ENVIRONMENT")
    assert "apart" not in section and "doorbell" not in section
    assert "SUSPECT" not in section and "run.json" not in report_section(report, "SUSPECT FIGURES")


def test_no_latency_test_says_so(tmp_path):
    report = analyse(tmp_path, doorbell_manifest(interval_us=250), bandwidth=b.bandwidth_rows())
    section = report_section(report, "NOTIFICATION AND CPU")
    assert "Latency test: no successful message recorded" in section
    assert "without a latency test, how much of the time is waiting is not known" in section


def test_implausible_values_are_suspect_and_the_report_is_still_written(tmp_path):
    run = doorbell_manifest(host_cpu={"user_s": 5.0, "sys_s": 1.0, "wall_s": 2.0, "messages": 10},
                            guest_cpu={"user_s": "x", "sys_s": 0, "wall_s": 1, "messages": 1},
                            bells=(HOST_BELL, dict(GUEST_BELL, rings_sent=-2)), interval_us=-5, mode="interrupts")
    report = analyse(tmp_path, run)
    suspects = report_section(report, "SUSPECT FIGURES")
    assert "host.cpu: 6.000 s of CPU in 2.000 s of wall time, more than one thread can use" in suspects
    assert "guest.cpu is not three finite non-negative times and a message count" in suspects
    assert "guest.doorbell is not four whole numbers >= 0" in suspects
    assert "options.interval_us is -5" in suspects
    assert "options.mode is 'interrupts', neither polling nor doorbell" in suspects
    section = report_section(report, "NOTIFICATION AND CPU (mode: unknown, see SUSPECT FIGURES)")
    assert cpu_row(section, "guest") == NO_CPU
    assert "guest CPU unusable (see SUSPECT FIGURES)" in section
    assert "guest doorbell counts unusable (see SUSPECT FIGURES)" in section
    assert "Notification:" not in report_section(report, "ENVIRONMENT")
    # A plausible record is not flagged: a one-thread program may show a scheduler tick more CPU than wall time.
    fine = doorbell_manifest(host_cpu={"user_s": 2.0, "sys_s": 0.05, "wall_s": 2.0, "messages": 10})
    assert "run.json" not in report_section(analyse(tmp_path / "fine", fine), "SUSPECT FIGURES")


# ---- --compare ------------------------------------------------------------------------------------


def compare(*args):
    return subprocess.run([sys.executable, str(b.ANALYZE), "--compare", *map(str, args)],
                          capture_output=True, text=True, timeout=120)


def compare_rows(stdout):
    """The side-by-side table's rows by run name (the first field); it ends at the first blank line
    (two folders: the ratios B/A follow)."""
    lines = stdout.split("\n\n")[0].splitlines()
    assert lines[1].split()[:2] == ["run", "mode"], stdout
    return {line.split()[0]: line.split() for line in lines[2:] if line.startswith("  ") and line[2:3] != "("
            and not line.startswith("  SUSPECT")}


def test_compare_puts_runs_side_by_side_and_writes_nothing(tmp_path):
    polling_latency = b.latency_rows(20, seed=42)
    doorbell_latency = b.latency_rows(31, seed=43, failed=(7,))
    polling_cpu = {"user_s": 2.0, "sys_s": 0.0, "wall_s": 2.0, "messages": 400}
    polling = b.write_results(tmp_path / "poll", latency=polling_latency,
                              run=doorbell_manifest(mode="polling", host_cpu=polling_cpu))
    doorbell = b.write_results(tmp_path / "bell", latency=doorbell_latency, run=doorbell_manifest(interval_us=250))
    before = sorted(p.name for p in tmp_path.rglob("*"))
    proc = compare(polling, doorbell)
    assert proc.returncode == 0, proc.stderr
    assert sorted(p.name for p in tmp_path.rglob("*")) == before
    rows = compare_rows(proc.stdout)
    assert list(rows) == ["poll", "bell"]
    for name, latency, mode, interval, host in (("poll", polling_latency, "polling", "0", polling_cpu),
                                                 ("bell", doorbell_latency, "doorbell", "250", HOST_CPU)):
        row = rows[name]
        ok = [r for r in latency if r["success"] == 1]
        assert row[1:6] == [mode, "bench", "(kvm)", "4096", interval] and int(row[6]) == len(ok)
        assert float(row[7]) == round(median_us(latency, "roundtrip_ns"), 3)
        assert float(row[8]) == round(median_us(latency, "notification_est_ns"), 3)
        for cpu, per_1000, share in ((host, row[9], row[11]), (GUEST_CPU, row[10], row[12])):
            used = cpu["user_s"] + cpu["sys_s"]
            assert float(per_1000) == round(used / cpu["messages"] * 1000, 3)
            assert share == f"{100 * used / cpu['wall_s']:.1f}%"
    assert "SUSPECT" not in proc.stdout


def test_compare_old_run_shows_what_is_not_recorded(tmp_path):
    new = b.write_results(tmp_path / "new", latency=b.latency_rows(5), run=doorbell_manifest(guest_cpu=None))
    old = b.write_results(tmp_path / "old", bandwidth=b.bandwidth_rows(), run=b.manifest())
    proc = compare(new, old)
    assert proc.returncode == 0, proc.stderr
    rows = compare_rows(proc.stdout)
    assert rows["old"][1] == "n/a" and rows["old"][5] == "n/a"  # mode, interval
    assert rows["old"][6:] == ["0"] + ["n/a"] * 6  # no latency test, no CPU
    assert rows["new"][10] == "n/a" and rows["new"][12] == "n/a"  # guest CPU
    assert rows["new"][9] != "n/a" and rows["new"][11] != "n/a"


def test_compare_names_runs_by_path_when_names_clash(tmp_path):
    first = b.write_results(tmp_path / "a" / "run", latency=b.latency_rows(5), run=doorbell_manifest())
    second = b.write_results(tmp_path / "b" / "run", latency=b.latency_rows(5), run=doorbell_manifest())
    proc = compare(first, second)
    assert proc.returncode == 0, proc.stderr
    assert list(compare_rows(proc.stdout)) == [str(first), str(second)]


def test_compare_names_a_link_by_the_run_it_points_to(tmp_path):
    run = b.write_results(tmp_path / "20260101T000000Z", latency=b.latency_rows(5), run=doorbell_manifest())
    other = b.write_results(tmp_path / "other", latency=b.latency_rows(5), run=doorbell_manifest())
    (tmp_path / "latest").symlink_to(run)  # as run_test.sh leaves results/latest
    proc = compare(tmp_path / "latest", other)
    assert proc.returncode == 0, proc.stderr
    assert list(compare_rows(proc.stdout)) == ["20260101T000000Z", "other"]


@pytest.mark.parametrize("field, value, finding", [
    ("host.cpu", {"user_s": 1.0, "sys_s": 0.5, "wall_s": 1.0, "messages": 5}, "more than one thread can use"),
    ("host.cpu", {"user_s": -1.0, "sys_s": 0.5, "wall_s": 1.0, "messages": 5}, "host.cpu is not three finite"),
    ("host.cpu", {"user_s": math.nan, "sys_s": 0.5, "wall_s": 1.0, "messages": 5}, "host.cpu is not three finite"),
    ("host.cpu", {"user_s": 0.1, "sys_s": 0.5, "wall_s": math.inf, "messages": 5}, "host.cpu is not three finite"),
    ("guest.cpu", {"user_s": 0.1, "sys_s": 0.1, "wall_s": 1.0, "messages": 2.5}, "guest.cpu is not three finite"),
    ("guest.cpu", {"user_s": 0.1, "sys_s": 0.1, "wall_s": 1.0, "messages": True}, "guest.cpu is not three finite"),
    ("guest.cpu", {"user_s": 0.1, "sys_s": 0.1, "wall_s": 1.0}, "guest.cpu is not three finite"),
    ("guest.cpu", "fast", "guest.cpu is not three finite"),
    ("guest.doorbell", dict(GUEST_BELL, late_wakeups="3"), "guest.doorbell is not four whole numbers"),
    ("host.doorbell", dict(HOST_BELL, peer_id=1.5), "host.doorbell is not four whole numbers"),
    ("options.interval_us", "60fps", "options.interval_us is '60fps'"),
    ("options.mode", "interrupts", "options.mode is 'interrupts'"),
    ("options.mode", ["doorbell"], "options.mode is ['doorbell']"),
], ids=["cpu-over-wall", "negative", "nan", "inf", "fractional-messages", "bool-messages", "field-missing",
        "not-an-object", "string-count", "fractional-peer", "interval-text", "unknown-mode", "mode-list"])
def test_compare_flags_implausible_values(tmp_path, field, value, finding):
    run = doorbell_manifest()
    section, key = field.split(".")
    run[section][key] = value
    good = b.write_results(tmp_path / "good", latency=b.latency_rows(5), run=doorbell_manifest())
    edited = b.write_results(tmp_path / "edited", latency=b.latency_rows(5), run=run)
    proc = compare(good, edited)
    assert proc.returncode == 0, proc.stderr
    suspects = [line for line in proc.stdout.splitlines() if line.startswith("  SUSPECT")]
    assert len(suspects) == 1 and suspects[0].startswith("  SUSPECT edited: run.json: ")
    assert finding in suspects[0]


def test_compare_bad_input_is_one_line(tmp_path):
    good = b.write_results(tmp_path / "good", latency=b.latency_rows(5), run=doorbell_manifest())
    (tmp_path / "empty").mkdir()
    broken = b.write_results(tmp_path / "broken", latency=b.latency_rows(5))
    (broken / "run.json").write_text("{\"options\": ")
    bad_csv = b.write_results(tmp_path / "bad_csv", run=doorbell_manifest())
    (bad_csv / "latency_results.csv").write_text("iteration,success\n1,1\n")
    for folder, message in ((tmp_path / "empty", "empty: no run.json: not an ivshmem-bench results folder"),
                            (broken, "broken: run.json: unreadable ("),
                            (bad_csv, "bad_csv: latency_results.csv: wrong columns: missing")):
        proc = compare(good, folder)
        assert proc.returncode == 1, (folder, proc.stderr)
        assert len(proc.stderr.splitlines()) == 1 and message in proc.stderr, proc.stderr
        assert proc.stdout == ""


@pytest.mark.parametrize("args, message", [
    (["--compare", "{good}"], "--compare needs two results folders or more"),
    (["{good}", "--compare", "{good}", "{good}"], "--compare takes the folders itself: put them after it"),
    (["--compare"], "expected at least one argument"),
    (["{good}", "{good}"], "unrecognized arguments"),
])
def test_usage_errors_are_one_line_with_status_2(tmp_path, args, message):
    good = b.write_results(tmp_path / "good", latency=b.latency_rows(5), run=doorbell_manifest())
    proc = subprocess.run([sys.executable, str(b.ANALYZE)] + [a.format(good=good) for a in args],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2
    assert len(proc.stderr.splitlines()) == 1 and message in proc.stderr, proc.stderr
    assert not (good / "performance_report.txt").exists()

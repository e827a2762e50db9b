"""ivbench_analysis.noise on recorded /proc snapshots (taken on this 2-CPU VM, five seconds apart, while
other builds ran) and on synthetic noisy ones: parsing, the verdict and its reasons, the phase filter."""

import csv
import io

import pytest

from ivbench_analysis import noise as nz

# Recorded on the 2-CPU development VM (kernel 6.18); the intr line is cut after 20 counts (the parser
# ignores it; the real one has ~1000).
STAT_BEFORE = """\
cpu  23695 0 2533 11834 1094 0 39 61 0 0
cpu0 11611 0 1067 6852 50 0 11 28 0 0
cpu1 12084 0 1465 4982 1043 0 28 33 0 0
intr 257227 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0
ctxt 443678
btime 1796137412
processes 9156
procs_running 4
procs_blocked 0
softirq 155334 0 16028 4 2523 63372 0 4 24324 0 49079
"""
STAT_AFTER = """\
cpu  24613 0 2615 11836 1094 0 39 62 0 0
cpu0 12061 0 1117 6853 50 0 11 29 0 0
cpu1 12552 0 1497 4983 1043 0 28 33 0 0
intr 263346 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0
ctxt 452353
btime 1796137412
processes 9330
procs_running 3
procs_blocked 0
softirq 157664 0 16554 4 2523 63429 0 4 24517 0 50633
"""
LOADAVG_BEFORE = "3.14 1.14 0.43 4/115 9156\n"
LOADAVG_AFTER = "3.13 1.17 0.44 3/115 9330\n"
# The same machine at boot, before anyone else was busy.
LOADAVG_IDLE = "0.02 0.01 0.00 1/113 412\n"

# A kernel before 2.6.11 (no steal, guest, guest_nice) on 4 CPUs, no procs_* lines.
STAT_OLD = "cpu  100 0 50 1000 3 1 2\ncpu0 25 0 12 250 1 0 0\ncpu1 25 0 12 250 1 0 0\n" \
           "cpu2 25 0 13 250 1 0 1\ncpu3 25 0 13 250 0 1 1\nctxt 900\n"


def stat_with_steal(user, steal):
    return f"cpu  {user} 0 100 1000 0 0 0 {steal} 0 0\ncpu0 0 0 0 0\ncpu1 0 0 0 0\n"


def quiet_snapshot(stat=STAT_BEFORE):
    return nz.Snapshot(nz.parse_stat(stat), nz.parse_loadavg(LOADAVG_IDLE))


def test_parse_recorded_stat():
    stat = nz.parse_stat(STAT_BEFORE)
    assert stat.cpu == nz.CpuTimes(23695, 0, 2533, 11834, 1094, 0, 39, 61, 0, 0)
    assert (stat.cpus, stat.ctxt, stat.procs_running, stat.procs_blocked) == (2, 443678, 4, 0)
    assert stat.cpu.total() == 23695 + 2533 + 11834 + 1094 + 39 + 61


def test_cpu_total_leaves_out_guest_time_already_in_user():
    assert nz.CpuTimes(1, 2, 3, 4, 5, 6, 7, 8, 9, 10).total() == 36
    assert nz.CpuTimes(1, 2, 3, 4).total() == 10


def test_parse_recorded_loadavg():
    assert nz.parse_loadavg(LOADAVG_BEFORE) == nz.LoadAvg(3.14, 1.14, 0.43, 4, 115, 9156)
    assert nz.parse_loadavg("0.00 0.00 0.00 1/50").last_pid is None


def test_parse_old_kernel_stat():
    stat = nz.parse_stat(STAT_OLD)
    assert (stat.cpu.iowait, stat.cpu.softirq, stat.cpu.steal, stat.cpu.guest) == (3, 2, None, None)
    assert (stat.cpus, stat.ctxt, stat.procs_running) == (4, 900, None)
    assert nz.parse_stat("cpu 1 2 3 4\n").cpu.iowait is None


@pytest.mark.parametrize("text, message", [
    ("", "no aggregate 'cpu' line"),
    ("intr 5\n", "no aggregate 'cpu' line"),
    ("cpu  1 2 3\n", "field 'idle' missing"),
    ("cpu  1 2 x 4\n", "field 'system' is not a count: 'x'"),
    ("cpu  1 2 3 4 5 6 7 -8\n", "field 'steal' is not a count: '-8'"),
    ("cpu  1 2 3 \u00b2\n", "field 'idle' is not a count"),
    ("cpu  1 2 3 4\ncpu  1 2 3 4\n", "two aggregate"),
    ("cpu  1 2 3 4\nprocs_running many\n", "field 'procs_running' is not a count"),
    ("cpu  1 2 3 4\nctxt 1 2\n", "field 'ctxt' is not one count"),
    ("cpu  1 2 3 4\nctxt 1\nctxt 2\n", "field 'ctxt' given twice"),
])
def test_garbage_stat_names_the_field(text, message):
    with pytest.raises(ValueError, match=message):
        nz.parse_stat(text)


@pytest.mark.parametrize("text, message", [
    ("", "field 'load1' missing"),
    ("0.1 0.2 0.3", "field 'running/total' missing"),
    ("0.1 zero 0.3 1/2 3", "field 'load5' is not a number"),
    ("0.1 0.2 nan 1/2 3", "field 'load15' is not a load average"),
    ("0.1 0.2 0.3 12 3", "field 'running/total' is not N/M"),
    ("0.1 0.2 0.3 a/2 3", "field 'running' is not a count"),
    ("0.1 0.2 0.3 5/2 3", "'running' \\(5\\) exceeds 'total' \\(2\\)"),
    ("0.1 0.2 0.3 1/2 x", "field 'last_pid' is not a count"),
    ("0.1 0.2 0.3 1/2 3 4", "6 fields"),
])
def test_garbage_loadavg_names_the_field(text, message):
    with pytest.raises(ValueError, match=message):
        nz.parse_loadavg(text)


def test_steal_fraction():
    assert nz.steal_fraction(nz.parse_stat(STAT_BEFORE), nz.parse_stat(STAT_AFTER)) == pytest.approx(1 / 1003)
    assert nz.steal_fraction(nz.parse_stat(STAT_OLD), nz.parse_stat(STAT_OLD)) is None
    same = nz.parse_stat(STAT_BEFORE)
    assert nz.steal_fraction(same, same) is None
    with pytest.raises(ValueError, match="'user' went backwards"):
        nz.steal_fraction(nz.parse_stat(STAT_AFTER), nz.parse_stat(STAT_BEFORE))


def test_recorded_busy_machine_is_noisy_by_run_queue_only():
    inputs = nz.inputs_from_manifest({
        "before": {"stat": STAT_BEFORE, "loadavg": LOADAVG_BEFORE},
        "after": {"stat": STAT_AFTER, "loadavg": LOADAVG_AFTER}})
    verdict = nz.noise_verdict(inputs)
    assert verdict.state == nz.NOISY
    assert verdict.text == "noisy: run queue 2 and 1 other runnable on 2 CPUs"
    assert verdict.not_recorded == ("phase switches", "busy processes", "CPU frequency")


def test_quiet_run():
    inputs = nz.NoiseInputs(quiet_snapshot(), quiet_snapshot(STAT_AFTER), nz.PhaseSwitches(30, 1),
                            (nz.BusyProcess("kworker", 0.02),))
    verdict = nz.noise_verdict(inputs)
    assert (verdict.state, verdict.text, verdict.reasons) == (nz.QUIET, "quiet", ())
    assert verdict.not_recorded == ("CPU frequency",)


def test_nothing_recorded():
    verdict = nz.noise_verdict(nz.inputs_from_manifest(None))
    assert verdict.text == nz.NOT_RECORDED
    assert len(verdict.not_recorded) == len(nz.CHECKS)


def test_noisy_run_gives_every_reason_in_order():
    before = nz.Snapshot(nz.parse_stat(stat_with_steal(1000, 0)), nz.parse_loadavg(LOADAVG_IDLE),
                         (2400000, 2400000))
    # 1200 ticks later, 144 of them stolen: 12%.
    after = nz.Snapshot(nz.parse_stat(stat_with_steal(2056, 144)), nz.parse_loadavg(LOADAVG_IDLE),
                        (1200000, 2400000))
    busy = tuple(nz.BusyProcess(n, s) for n, s in
                 (("cc1", 0.85), ("ld", 0.3), ("make", 0.05), ("qemu", 0.4), ("sh", 0.2)))
    verdict = nz.noise_verdict(nz.NoiseInputs(before, after, nz.PhaseSwitches(30, 22, 3), busy))
    assert verdict.text == ("noisy: steal 12%, 22 of 30 timed phases switched out or migrated, "
                            "busy: cc1 85%, qemu 40%, ld 30% and 1 more, CPU clock 1.20-2.40 GHz")
    assert verdict.not_recorded == ()


@pytest.mark.parametrize("steal, noisy", [(24, False), (25, True)])
def test_steal_limit(steal, noisy):
    # 1200 ticks between snapshots: 24 stolen is exactly 2%, at the limit and still quiet.
    before = nz.Snapshot(nz.parse_stat(stat_with_steal(1000, 0)))
    after = nz.Snapshot(nz.parse_stat(stat_with_steal(2200 - steal, steal)))
    assert (nz.noise_verdict(nz.NoiseInputs(before, after)).state == nz.NOISY) is noisy


@pytest.mark.parametrize("switched, unknown, noisy", [(3, 0, False), (4, 0, True), (3, 10, True),
                                                      (0, 30, None)])
def test_switched_phase_limit(switched, unknown, noisy):
    verdict = nz.noise_verdict(nz.NoiseInputs(phases=nz.PhaseSwitches(30, switched, None, unknown)))
    if noisy is None:
        assert verdict.state == nz.NOT_RECORDED
    else:
        assert (verdict.state == nz.NOISY) is noisy
        assert noisy is False or verdict.reasons == (f"{switched} of {30 - unknown} timed phases switched out",)


@pytest.mark.parametrize("before, after, threads, noisy", [
    ("1/100", "9/100", 2, False),   # one end only: a passing burst
    ("2/100", "2/100", 2, False),   # the reader and the other benchmark thread: no competitor
    ("3/100", "3/100", 2, True),    # one other runnable at both ends, no CPU free
    ("2/100", "2/100", 1, False),   # the benchmark leaves one CPU free for it
    ("3/100", "3/100", 1, True),
])
def test_run_queue_rule(before, after, threads, noisy):
    def snapshot(running):
        return nz.Snapshot(nz.parse_stat(STAT_BEFORE), nz.parse_loadavg(f"0.5 0.5 0.5 {running} 7"))
    verdict = nz.noise_verdict(nz.NoiseInputs(snapshot(before), snapshot(after), bench_threads=threads))
    assert (verdict.state == nz.NOISY) is noisy


def test_run_queue_falls_back_to_stat():
    snapshot = nz.Snapshot(nz.parse_stat(STAT_BEFORE))
    verdict = nz.noise_verdict(nz.NoiseInputs(snapshot, snapshot))
    assert verdict.reasons == ("run queue 2 and 2 other runnable on 2 CPUs",)


def test_frequency_within_limit_is_quiet():
    snapshot = nz.Snapshot(cpu_khz=(2400000, 2200000))
    assert nz.noise_verdict(nz.NoiseInputs(snapshot, snapshot)).state == nz.QUIET


@pytest.mark.parametrize("noise, message", [
    ([], "noise is not an object"),
    ({"before": "x"}, "noise.before is not an object"),
    ({"before": {"stat": 5}}, "noise.before.stat is not a string"),
    ({"after": {"loadavg": "1 2"}}, "field 'load15' missing"),
    ({"after": {"cpu_khz": [0]}}, "noise.after.cpu_khz"),
    ({"busy": {}}, "noise.busy is not a list"),
    ({"busy": [{"name": "x", "cpu_share": "high"}]}, "noise.busy\\[0\\]"),
    ({"busy": [{"name": "x", "cpu_share": float("nan")}]}, "noise.busy\\[0\\]"),
    ({"bench_threads": -1}, "noise.bench_threads"),
])
def test_bad_manifest_names_the_key(noise, message):
    with pytest.raises(ValueError, match=message):
        nz.inputs_from_manifest(noise)


def test_manifest_round_trip():
    inputs = nz.inputs_from_manifest(
        {"before": {"stat": STAT_BEFORE, "loadavg": LOADAVG_BEFORE, "cpu_khz": [2400000, 2400000]},
         "busy": [{"name": "cc1", "cpu_share": 1}], "bench_threads": 1}, nz.PhaseSwitches(4, 0))
    assert inputs.before.stat.cpu.steal == 61 and inputs.before.cpu_khz == (2400000, 2400000)
    assert inputs.after is None
    assert inputs.busy == (nz.BusyProcess("cc1", 1.0),)
    assert (inputs.bench_threads, inputs.phases) == (1, nz.PhaseSwitches(4, 0))


# phase_performance.csv as host_writer writes it (counter columns cut to the one the filter reads).
PHASE_CSV = """\
test,iteration,frame_type,size_bytes,phase,cpu_cycles,context_switches,page_faults
latency,0,4k,24883200,B_cold_read,,0,0
latency,0,4k,24883200,C_copy,,2,0
latency,1,4k,24883200,B_cold_read,,1,0
latency,1,4k,24883200,C_copy,,0,0
latency,2,4k,24883200,C_copy,,,
reference,0,4k,24883200,C_copy,,0,0
"""


def recorded_counters():
    return nz.phase_counters(csv.DictReader(io.StringIO(PHASE_CSV)))


def test_drop_switched_like_bench_loopback():
    samples = [(("latency", i, "4k", "C_copy"), 100.0 + i) for i in range(4)]
    kept = nz.drop_switched(samples, recorded_counters())
    # 0 switched out; 1 quiet; 2 has empty counters (kept, unknown); 3 has no row (kept, unknown).
    assert kept == nz.Filtered((101.0, 102.0, 103.0), removed=1, unknown=2)


def test_drop_switched_counts_migrations():
    counters = [nz.PhaseCounter("latency", 0, "4k", "C_copy", 0, 1),
                nz.PhaseCounter("latency", 1, "4k", "C_copy", None, 0)]
    samples = [(("latency", 0, "4k", "C_copy"), 1.0), (("latency", 1, "4k", "C_copy"), 2.0)]
    assert nz.drop_switched(samples, counters) == nz.Filtered((2.0,), 1, 0)
    assert nz.phase_switches(counters) == nz.PhaseSwitches(2, 1, 1, 0)


def test_phase_switches_summary():
    counters = recorded_counters()
    assert nz.phase_switches(counters) == nz.PhaseSwitches(6, 2, None, 1)
    assert nz.phase_switches(counters, "C_copy") == nz.PhaseSwitches(4, 1, None, 1)


def test_phase_counters_from_pandas_style_records():
    rows = [{"test": "latency", "iteration": 3.0, "frame_type": "4k", "phase": "A_hot_read",
             "context_switches": float("nan"), "migrations": 2.0}]
    assert nz.phase_counters(rows) == [nz.PhaseCounter("latency", 3, "4k", "A_hot_read", None, 2)]


@pytest.mark.parametrize("row, message", [
    ({"test": "latency", "iteration": "0", "frame_type": "4k", "phase": "C_copy"}, "no 'context_switches'"),
    ({"test": "latency", "iteration": "", "frame_type": "4k", "phase": "C", "context_switches": "0"},
     "'iteration' is empty"),
    ({"test": "latency", "iteration": "0", "frame_type": "4k", "phase": "C", "context_switches": "-1"},
     "field 'context_switches' is not a count: '-1'"),
    ({"test": "latency", "iteration": "0", "frame_type": "4k", "phase": "C", "context_switches": "0",
      "migrations": "2.5"}, "field 'migrations' is not a count"),
])
def test_bad_phase_rows_name_the_field(row, message):
    with pytest.raises(ValueError, match=message):
        nz.phase_counters([row])


def test_duplicate_phase_rows_are_an_error():
    with pytest.raises(ValueError, match="two rows"):
        nz.drop_switched([], recorded_counters() * 2)

"""Was the machine quiet enough to measure? A noise verdict per run, and the filter that leaves out the
timed phases during which the measuring process was switched out.

What a run records (run.json, written by the programs and scripts; every key is optional, a missing one
is reported as "not recorded", never guessed):

    "noise": {
      "before": {"stat": "<raw text of /proc/stat>", "loadavg": "<raw text of /proc/loadavg>",
                 "cpu_khz": [2400000, 2400000]},
      "after":  {"stat": "...", "loadavg": "...", "cpu_khz": [...]},
      "busy": [{"name": "cc1", "cpu_share": 0.85}],
      "bench_threads": 2
    }

- "before" / "after": snapshots taken just before the first and just after the last timed message.
  "cpu_khz" is each CPU's /sys/devices/system/cpu/cpu*/cpufreq/scaling_cur_freq; left out where the
  machine does not expose it (as in most VMs).
- "busy": processes other than the benchmark's own that used CPU during the run; cpu_share is the CPU
  time they used divided by the run's wall time (1.0 = one whole CPU).
- "bench_threads": how many CPUs the benchmark keeps busy while it runs (host_writer and guest_reader,
  or host_writer and the vCPU: 2).

The per-phase context switches come from phase_performance.csv (`context_switches`; a `migrations`
column is used where present), not from run.json.

Pure functions on strings and numbers: no files read here.
"""

from dataclasses import dataclass
from typing import Iterable, Mapping, Optional

# The hypervisor took this fraction of all CPU time between the snapshots (steal). On a host that owns
# its CPUs steal is 0; any steal stretches whatever phase was running when the vCPU was descheduled,
# and 2% is well above the one-tick resolution of a run of a few seconds (~1000 ticks on 2 CPUs).
STEAL_LIMIT = 0.02

# Other runnable processes beyond the CPUs the benchmark leaves free, in both snapshots. One snapshot
# with a runnable kworker is routine; a queue at both ends most likely lasted through the run.
RUN_QUEUE_EXCESS_LIMIT = 0

# The process reading /proc/loadavg is itself running when it reads it: not a competitor.
READER_RUNNING = 1

# More than this fraction of timed phases switched out or migrated. Those phases are left out, but when
# many are, the ones that remain are the short ones that happened to fit between switches: biased.
SWITCHED_LIMIT = 0.10

# Another process using more than this share of one CPU during the run took time slices on a machine
# where the benchmark keeps its CPUs busy.
BUSY_SHARE_LIMIT = 0.10
BUSY_SHOWN = 3

# The CPU clock moved by more than this fraction of its highest value between CPUs or snapshots: a
# compute-bound phase (SHA-256) changes by as much, the same size as the "not reliable" rule.
FREQUENCY_SPREAD_LIMIT = 0.10

DEFAULT_BENCH_THREADS = 2

# /proc/stat's aggregate "cpu" line, in kernel order (proc(5)). The first four exist on every kernel;
# iowait came in 2.5.41, irq and softirq in 2.6.0, steal in 2.6.11, guest in 2.6.24, guest_nice in 2.6.33.
CPU_FIELDS = ("user", "nice", "system", "idle", "iowait", "irq", "softirq", "steal", "guest", "guest_nice")
CPU_FIELDS_REQUIRED = 4
# guest and guest_nice are already counted in user and nice: left out of the total.
CPU_TOTAL_FIELDS = CPU_FIELDS[:8]
STAT_COUNTS = ("ctxt", "procs_running", "procs_blocked")

QUIET = "quiet"
NOISY = "noisy"
NOT_RECORDED = "not recorded"


@dataclass(frozen=True)
class CpuTimes:
    """The aggregate "cpu" line of /proc/stat in USER_HZ ticks; None where the kernel has no such field."""

    user: int
    nice: int
    system: int
    idle: int
    iowait: Optional[int] = None
    irq: Optional[int] = None
    softirq: Optional[int] = None
    steal: Optional[int] = None
    guest: Optional[int] = None
    guest_nice: Optional[int] = None

    def total(self) -> int:
        return sum(getattr(self, f) or 0 for f in CPU_TOTAL_FIELDS)


@dataclass(frozen=True)
class Stat:
    """What the verdict uses of one /proc/stat snapshot."""

    cpu: CpuTimes
    cpus: int
    ctxt: Optional[int] = None
    procs_running: Optional[int] = None
    procs_blocked: Optional[int] = None


@dataclass(frozen=True)
class LoadAvg:
    """One /proc/loadavg snapshot: load averages, running / total scheduling entities, last pid."""

    load1: float
    load5: float
    load15: float
    running: int
    total: int
    last_pid: Optional[int] = None


@dataclass(frozen=True)
class Snapshot:
    stat: Optional[Stat] = None
    loadavg: Optional[LoadAvg] = None
    cpu_khz: Optional[tuple] = None


@dataclass(frozen=True)
class BusyProcess:
    name: str
    cpu_share: float


@dataclass(frozen=True)
class PhaseSwitches:
    """How many timed phases there were and how many were disturbed (migrated: None when not counted)."""

    phases: int
    switched: int
    migrated: Optional[int] = None
    unknown: int = 0


@dataclass(frozen=True)
class NoiseInputs:
    before: Optional[Snapshot] = None
    after: Optional[Snapshot] = None
    phases: Optional[PhaseSwitches] = None
    busy: Optional[tuple] = None
    bench_threads: int = DEFAULT_BENCH_THREADS


@dataclass(frozen=True)
class NoiseVerdict:
    """quiet or noisy, the reasons for noisy, and the inputs that were not recorded."""

    state: str
    reasons: tuple
    not_recorded: tuple

    @property
    def text(self) -> str:
        if self.state == NOISY:
            return f"{NOISY}: " + ", ".join(self.reasons)
        return self.state


@dataclass(frozen=True)
class PhaseCounter:
    """One row of phase_performance.csv, as far as the filter needs it."""

    test: str
    iteration: int
    frame_type: str
    phase: str
    context_switches: Optional[int]
    migrations: Optional[int] = None

    @property
    def key(self) -> tuple:
        return (self.test, self.iteration, self.frame_type, self.phase)

    @property
    def disturbed(self) -> Optional[bool]:
        """True when switched out or migrated during the phase; None when neither was counted."""
        counts = [c for c in (self.context_switches, self.migrations) if c is not None]
        return any(c > 0 for c in counts) if counts else None


@dataclass(frozen=True)
class Filtered:
    """The samples kept, how many were left out as switched out, and how many had no counters (kept)."""

    kept: tuple
    removed: int
    unknown: int


def _count(text: str, source: str, field: str) -> int:
    if not (text.isascii() and text.isdigit()):
        raise ValueError(f"{source}: field {field!r} is not a count: {text!r}")
    return int(text)


def parse_stat(text: str) -> Stat:
    """/proc/stat text to Stat; later fields missing on old kernels are None, garbage is a ValueError."""
    cpu = None
    cpus = 0
    counts = {}
    for line in text.splitlines():
        words = line.split()
        if not words:
            continue
        name = words[0]
        if name == "cpu":
            if cpu is not None:
                raise ValueError("/proc/stat: two aggregate 'cpu' lines")
            values = words[1:1 + len(CPU_FIELDS)]
            if len(values) < CPU_FIELDS_REQUIRED:
                raise ValueError(f"/proc/stat: field {CPU_FIELDS[len(values)]!r} missing from the 'cpu' line")
            cpu = CpuTimes(**{f: _count(v, "/proc/stat", f) for f, v in zip(CPU_FIELDS, values)})
        elif name.startswith("cpu") and name[3:].isdigit():
            cpus += 1
        elif name in STAT_COUNTS:
            if len(words) != 2:
                raise ValueError(f"/proc/stat: field {name!r} is not one count: {line!r}")
            if name in counts:
                raise ValueError(f"/proc/stat: field {name!r} given twice")
            counts[name] = _count(words[1], "/proc/stat", name)
    if cpu is None:
        raise ValueError("/proc/stat: no aggregate 'cpu' line")
    return Stat(cpu, cpus, **counts)


def _float(text: str, field: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise ValueError(f"/proc/loadavg: field {field!r} is not a number: {text!r}") from None
    if not value >= 0 or value == float("inf"):
        raise ValueError(f"/proc/loadavg: field {field!r} is not a load average: {text!r}")
    return value


def parse_loadavg(text: str) -> LoadAvg:
    """/proc/loadavg text ("0.52 0.58 0.59 3/611 12345") to LoadAvg; a ValueError names a bad field."""
    words = text.split()
    names = ("load1", "load5", "load15", "running/total")
    if len(words) < len(names):
        raise ValueError(f"/proc/loadavg: field {names[len(words)]!r} missing")
    if len(words) > len(names) + 1:
        raise ValueError(f"/proc/loadavg: {len(words)} fields, expected at most {len(names) + 1}")
    loads = [_float(w, n) for w, n in zip(words, names[:3])]
    running, slash, total = words[3].partition("/")
    if not slash:
        raise ValueError(f"/proc/loadavg: field 'running/total' is not N/M: {words[3]!r}")
    running_count = _count(running, "/proc/loadavg", "running")
    total_count = _count(total, "/proc/loadavg", "total")
    if running_count > total_count:
        raise ValueError(f"/proc/loadavg: field 'running' ({running_count}) exceeds 'total' ({total_count})")
    last_pid = _count(words[4], "/proc/loadavg", "last_pid") if len(words) == 5 else None
    return LoadAvg(*loads, running_count, total_count, last_pid)


def steal_fraction(before: Stat, after: Stat) -> Optional[float]:
    """Steal ticks over all ticks between two snapshots; None when steal is not counted or no time passed."""
    if before.cpu.steal is None or after.cpu.steal is None:
        return None
    for field in CPU_TOTAL_FIELDS:
        old, new = getattr(before.cpu, field), getattr(after.cpu, field)
        if old is not None and new is not None and new < old:
            raise ValueError(f"/proc/stat: field {field!r} went backwards ({old} to {new}): snapshots swapped?")
    elapsed = after.cpu.total() - before.cpu.total()
    if elapsed <= 0:
        return None
    return (after.cpu.steal - before.cpu.steal) / elapsed


def _running(snapshot: Optional[Snapshot]) -> Optional[int]:
    """Runnable entities other than the reader: from /proc/loadavg, else /proc/stat's procs_running."""
    if snapshot is None:
        return None
    if snapshot.loadavg is not None:
        return snapshot.loadavg.running - READER_RUNNING
    if snapshot.stat is not None and snapshot.stat.procs_running is not None:
        return snapshot.stat.procs_running - READER_RUNNING
    return None


def _cpus(inputs: NoiseInputs) -> Optional[int]:
    for snapshot in (inputs.before, inputs.after):
        if snapshot is not None and snapshot.stat is not None and snapshot.stat.cpus > 0:
            return snapshot.stat.cpus
    return None


def _steal_reason(inputs: NoiseInputs) -> tuple:
    """(reason or None, recorded?)"""
    stats = [s.stat for s in (inputs.before, inputs.after) if s is not None and s.stat is not None]
    if len(stats) < 2:
        return None, False
    steal = steal_fraction(*stats)
    if steal is None:
        return None, False
    return (f"steal {100 * steal:.0f}%" if steal > STEAL_LIMIT else None), True


def _queue_reason(inputs: NoiseInputs) -> tuple:
    # The benchmark's own threads are runnable while it runs (host_writer takes the snapshots; a polling
    # guest_reader or vCPU spins): the reader is already out, the others are not competitors either.
    own = max(0, inputs.bench_threads - READER_RUNNING)
    others = [_running(inputs.before), _running(inputs.after)]
    cpus = _cpus(inputs)
    if None in others or cpus is None:
        return None, False
    others = [max(0, n - own) for n in others]
    free = max(0, cpus - inputs.bench_threads)
    if min(others) - free > RUN_QUEUE_EXCESS_LIMIT:
        return f"run queue {others[0]} and {others[1]} other runnable on {cpus} CPUs", True
    return None, True


def _phase_reason(inputs: NoiseInputs) -> tuple:
    phases = inputs.phases
    if phases is None or phases.phases - phases.unknown <= 0:
        return None, False
    counted = phases.phases - phases.unknown
    if phases.switched / counted > SWITCHED_LIMIT:
        what = "switched out or migrated" if phases.migrated is not None else "switched out"
        return f"{phases.switched} of {counted} timed phases {what}", True
    return None, True


def _busy_reason(inputs: NoiseInputs) -> tuple:
    if inputs.busy is None:
        return None, False
    busy = sorted((p for p in inputs.busy if p.cpu_share > BUSY_SHARE_LIMIT), key=lambda p: -p.cpu_share)
    if not busy:
        return None, True
    shown = ", ".join(f"{p.name} {100 * p.cpu_share:.0f}%" for p in busy[:BUSY_SHOWN])
    more = f" and {len(busy) - BUSY_SHOWN} more" if len(busy) > BUSY_SHOWN else ""
    return f"busy: {shown}{more}", True


def _frequency_reason(inputs: NoiseInputs) -> tuple:
    khz = [k for s in (inputs.before, inputs.after) if s is not None and s.cpu_khz for k in s.cpu_khz]
    if not khz:
        return None, False
    low, high = min(khz), max(khz)
    if high > 0 and (high - low) / high > FREQUENCY_SPREAD_LIMIT:
        return f"CPU clock {low / 1e6:.2f}-{high / 1e6:.2f} GHz", True
    return None, True


CHECKS = (("steal", _steal_reason), ("run queue", _queue_reason), ("phase switches", _phase_reason),
          ("busy processes", _busy_reason), ("CPU frequency", _frequency_reason))


def noise_verdict(inputs: NoiseInputs) -> NoiseVerdict:
    """quiet when no recorded input passes its limit; noisy with one reason per input that does;
    "not recorded" when no input was recorded at all."""
    reasons, missing = [], []
    for name, check in CHECKS:
        reason, recorded = check(inputs)
        if not recorded:
            missing.append(name)
        elif reason is not None:
            reasons.append(reason)
    if reasons:
        state = NOISY
    else:
        state = NOT_RECORDED if len(missing) == len(CHECKS) else QUIET
    return NoiseVerdict(state, tuple(reasons), tuple(missing))


def _snapshot(data: object, where: str) -> Snapshot:
    if not isinstance(data, Mapping):
        raise ValueError(f"run.json: {where} is not an object")
    stat = parse_stat(_text(data, "stat", where)) if "stat" in data else None
    loadavg = parse_loadavg(_text(data, "loadavg", where)) if "loadavg" in data else None
    khz = data.get("cpu_khz")
    if khz is not None:
        if not isinstance(khz, list) or not all(isinstance(k, int) and k > 0 for k in khz):
            raise ValueError(f"run.json: {where}.cpu_khz is not a list of positive integers")
        khz = tuple(khz)
    return Snapshot(stat, loadavg, khz)


def _text(data: Mapping, key: str, where: str) -> str:
    if not isinstance(data[key], str):
        raise ValueError(f"run.json: {where}.{key} is not a string")
    return data[key]


def _busy(data: object) -> tuple:
    if not isinstance(data, list):
        raise ValueError("run.json: noise.busy is not a list")
    busy = []
    for i, entry in enumerate(data):
        name = entry.get("name") if isinstance(entry, Mapping) else None
        share = entry.get("cpu_share") if isinstance(entry, Mapping) else None
        if not isinstance(name, str) or isinstance(share, bool) or not isinstance(share, (int, float)) \
                or not share >= 0:
            raise ValueError(f"run.json: noise.busy[{i}] is not {{\"name\": text, \"cpu_share\": number >= 0}}")
        busy.append(BusyProcess(name, float(share)))
    return tuple(busy)


def inputs_from_manifest(noise: Optional[Mapping], phases: Optional[PhaseSwitches] = None) -> NoiseInputs:
    """NoiseInputs from run.json's "noise" object (None when the run recorded none) and the phase
    counts from phase_performance.csv; ValueError naming the key for anything malformed."""
    if noise is None:
        return NoiseInputs(phases=phases)
    if not isinstance(noise, Mapping):
        raise ValueError("run.json: noise is not an object")
    before = _snapshot(noise["before"], "noise.before") if "before" in noise else None
    after = _snapshot(noise["after"], "noise.after") if "after" in noise else None
    busy = _busy(noise["busy"]) if "busy" in noise else None
    threads = noise.get("bench_threads", DEFAULT_BENCH_THREADS)
    if isinstance(threads, bool) or not isinstance(threads, int) or threads < 0:
        raise ValueError("run.json: noise.bench_threads is not a count")
    return NoiseInputs(before, after, phases, busy, threads)


def _optional_count(value: object, field: str, row: int) -> Optional[int]:
    """An empty CSV field (or pandas' NaN for one) is "not measured": None."""
    if value is None or value == "" or (isinstance(value, float) and value != value):
        return None
    if isinstance(value, float) and value.is_integer() and value >= 0:
        return int(value)
    if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
        return value
    if isinstance(value, str) and value.isascii() and value.isdigit():
        return int(value)
    raise ValueError(f"phase counters row {row}: field {field!r} is not a count: {value!r}")


def phase_counters(rows: Iterable[Mapping]) -> list:
    """PhaseCounter records from phase_performance.csv rows (csv.DictReader rows or pandas records)."""
    out = []
    for i, row in enumerate(rows):
        try:
            test, frame, phase = str(row["test"]), str(row["frame_type"]), str(row["phase"])
            iteration = row["iteration"]
            switches = row["context_switches"]
        except KeyError as err:
            raise ValueError(f"phase counters row {i}: no {err.args[0]!r} field") from None
        number = _optional_count(iteration, "iteration", i)
        if number is None:
            raise ValueError(f"phase counters row {i}: field 'iteration' is empty")
        out.append(PhaseCounter(test, number, frame, phase, _optional_count(switches, "context_switches", i),
                                _optional_count(row.get("migrations"), "migrations", i)))
    return out


def phase_switches(counters: Iterable[PhaseCounter], phase: Optional[str] = None) -> PhaseSwitches:
    """How many timed phases (of one phase name, or all) were disturbed, for the verdict."""
    chosen = [c for c in counters if phase is None or c.phase == phase]
    flags = [c.disturbed for c in chosen]
    migrated = None
    if any(c.migrations is not None for c in chosen):
        migrated = sum(1 for c in chosen if c.migrations)
    return PhaseSwitches(len(chosen), sum(1 for f in flags if f), migrated, sum(1 for f in flags if f is None))


def drop_switched(samples: Iterable[tuple], counters: Iterable[PhaseCounter]) -> Filtered:
    """The bench-loopback filter: samples are (key, value) with key = (test, iteration, frame_type, phase);
    a sample whose phase was switched out or migrated is left out and counted; one without counters
    (empty fields, or no row: --no-counters) is kept and counted as unknown."""
    by_key = {}
    for c in counters:
        if c.key in by_key:
            raise ValueError(f"phase counters: two rows for {c.key}")
        by_key[c.key] = c.disturbed
    kept, removed, unknown = [], 0, 0
    for key, value in samples:
        disturbed = by_key.get(tuple(key))
        if disturbed:
            removed += 1
            continue
        unknown += disturbed is None
        kept.append(value)
    return Filtered(tuple(kept), removed, unknown)

"""COUNTERS: the perf_event counters per message and per guest phase, joined with the timings; counters.png
draws the per-phase table."""

from dataclasses import dataclass, field

import numpy as np

from ..manifest import MANIFEST_JSON, lookup
from ..model import (
    BANDWIDTH_COUNTERS_CSV, DERIVED_COLUMNS, DERIVED_METRICS, LATENCY_COUNTERS_CSV, MESSAGE_KEYS, PHASES,
    PHASE_COUNTERS, PHASE_COUNTERS_CSV, TESTS,
)
from ..stats import counter_bytes, derived_values, successful
from .text import fmt, fmt_table, section


def counters_availability(run):
    """One line per side from run.json: which counters were not measured and why."""
    manifest = run.manifest
    if lookup(manifest, "options", "counters") is False:
        return ["  counters were off in this run (host_writer --no-counters)"]
    lines = []
    for side in ("host", "guest"):
        missing = lookup(manifest, side, "counters_missing")
        if not isinstance(missing, str):
            text = f"{MANIFEST_JSON} does not say which counters were measured"
        elif not missing.strip():
            text = "every counter measured"
        else:
            text = missing if missing.startswith("not measured") else f"not measured: {missing}"
        lines.append(f"  {side + ':':6} {text}")
    return lines


def derived_table(values_by_label, indent="    "):
    """count, mean, median, min, max of each derived metric's per-row values."""
    table = []
    for label, values in values_by_label:
        table.append([label, str(len(values))] + [fmt(v, 3) for v in (values.mean(), values.median(),
                                                                         values.min(), values.max())])
    return fmt_table(["metric", "count", "mean", "median", "min", "max"], table, indent=indent)


def counter_table(run, filename, counters, timings, keys, timing):
    """Counters of the successful iterations: the raw counters' statistics and correlation with a timing
    column, then the derived metrics computed here from the raw counters where they were measured."""
    keys = keys + ["_nth"]
    joined = successful(timings)[keys + [timing]].merge(counters, on=keys, how="inner")
    columns = [c for c in counters.columns if c not in keys and c.split("_", 1)[-1] not in DERIVED_COLUMNS]
    measured = [c for c in columns if joined[c].notna().any()]
    empty = [c for c in columns if c not in measured]
    lines = [f"  {filename}: {len(joined)} successful iterations with counters "
             "(guest_* = sum over the guest's phases A-D)"]
    if empty:
        lines.append(f"    not measured (empty): {', '.join(empty)}")
    table = []
    for col in measured:
        values = joined[col].dropna()
        corr = joined[[col, timing]].dropna().corr().iloc[0, 1] if values.nunique() > 1 else float("nan")
        table.append([col, str(len(values))]
                     + [fmt(v, 2) for v in (values.mean(), values.median(), values.min(), values.max(), corr)])
    if table:
        lines += fmt_table(["counter", "count", "mean", "median", "min", "max", f"corr_{timing}"], table, indent="    ")
    size = counter_bytes(run, filename, joined)
    derived, unmeasured = [], []
    for side in ("host", "guest"):
        for label, _, numerator, denominator, scale in DERIVED_METRICS:
            values = (derived_values(joined, side + "_", numerator, denominator, size) * scale).dropna()
            if values.empty:
                unmeasured.append(f"{side} {label}")
            else:
                derived.append((f"{side} {label}", values))
    if derived:
        lines.append("    Derived per iteration, computed here from the raw counters (IPC = instructions / cycles, "
                     "cycles/byte = cycles / message bytes, miss% = 100 * misses / references):")
        lines += derived_table(derived, indent="      ")
    if unmeasured:
        lines.append(f"    derived metrics not measured (their counters are empty): {', '.join(unmeasured)}")
    return lines


def drop_failed_messages(run, data):
    """Rows of a per-message file whose message failed in its timing CSV are left out."""
    keep = np.ones(len(data), dtype=bool)
    for test in TESTS:
        timings = run.timings(test)
        if timings is None or timings.empty:
            continue
        keys = MESSAGE_KEYS[test] + ["_nth"]
        failed = timings.loc[timings["success"] == 0, keys].drop_duplicates()
        if failed.empty:
            continue
        mask = (data["test"] == test).to_numpy()
        hit = data.loc[mask, keys].merge(failed.assign(_failed=True), on=keys, how="left")["_failed"].notna()
        keep[mask] = ~hit.to_numpy()
    return data[keep]


def group_order(rows):
    """(test, frame_type, size) groups in test order, then by size."""
    groups = rows.groupby(["test", "frame_type"], sort=False)["size_bytes"].max().reset_index()
    groups["rank"] = groups["test"].map({t: i for i, t in enumerate(TESTS)})
    groups = groups.sort_values(["rank", "size_bytes", "frame_type"])
    return list(groups[["test", "frame_type", "size_bytes"]].itertuples(index=False, name=None))


@dataclass
class PhaseCounters:
    """The per-phase table's figures: the counters not measured, the columns (label, decimals) and per (test,
    frame, phase) group: its label, its rows and each column's median."""
    empty: list
    columns: list
    groups: list = field(default_factory=list)


def phase_counter_figures(run, data):
    """PhaseCounters of phase_performance.csv's rows of successful messages (None when there are none): the
    one computation of the table and of counters.png."""
    rows = drop_failed_messages(run, data)
    if rows.empty:
        return None
    measured = [c for c in PHASE_COUNTERS if rows[c].notna().any()]
    rows = rows.assign(task_clock_us=rows["task_clock_ns"] / 1e3)
    sources = [("task_clock_us", "task_clock_us", 1), ("page_faults", "page_faults", 1),
               ("context_switches", "ctx_switches", 1)]
    sources += [(c, c, 0) for c in ("cpu_cycles", "instructions", "tlb_misses") if c in measured]
    for label, _, numerator, denominator, scale in DERIVED_METRICS:
        values = derived_values(rows, "", numerator, denominator, rows["size_bytes"]) * scale
        if values.notna().any():
            rows = rows.assign(**{label: values})
            sources.append((label, label, 3))
    out = PhaseCounters([c for c in PHASE_COUNTERS if c not in measured], [(h, d) for _, h, d in sources])
    for test, frame, size in group_order(rows):
        group = rows[(rows["test"] == test) & (rows["frame_type"] == frame)]
        for phase in list(PHASES) + sorted(set(group["phase"]) - set(PHASES)):
            cells = group[group["phase"] == phase]
            if not cells.empty:
                out.groups.append((test, frame, phase, len(cells), [cells[col].median() for col, _, _ in sources]))
    return out


def phase_counter_lines(run):
    data = run.phase_counters
    lines = ["", f"  Per guest phase ({PHASE_COUNTERS_CSV}; medians over the successful iterations; "
                 "task_clock in us; miss% = 100 * misses / references)"]
    if data is None:
        return lines + [f"    {PHASE_COUNTERS_CSV} not found or unreadable: no per-phase counters"]
    figures = phase_counter_figures(run, data)
    if figures is None:
        return lines + ["    no rows for successful messages"]
    if figures.empty:
        lines.append(f"    not measured (empty): {', '.join(figures.empty)}")
    table = [[f"{test} {frame} {phase}", str(n)] + [fmt(v, d) for v, (_, d) in zip(medians, figures.columns)]
             for test, frame, phase, n, medians in figures.groups]
    lines += fmt_table(["test frame phase", "n"] + [h for h, _ in figures.columns], table, indent="    ")
    return lines


def plot_counters(run, path):
    """counters.png: the per-phase table's medians, one panel per column (x: the guest's phase, a bar per test
    and frame); False when the run has no per-phase counters of a successful message."""
    figures = None if run.phase_counters is None else phase_counter_figures(run, run.phase_counters)
    if figures is None or not figures.groups:
        return False
    from ..plots import pyplot, run_title, save  # matplotlib only when plotting

    plt = pyplot()
    phases = list(dict.fromkeys(phase for _, _, phase, _, _ in figures.groups))
    series = list(dict.fromkeys((test, frame) for test, frame, _, _, _ in figures.groups))
    medians = {(test, frame, phase): values for test, frame, phase, _, values in figures.groups}
    count = len(figures.columns)
    across = min(count, 3)
    fig, axes = plt.subplots(-(-count // across), across, figsize=(4.6 * across, 3.6 * -(-count // across)),
                             squeeze=False)
    width = 0.8 / len(series)
    for k, (ax, (label, _)) in enumerate(zip(axes.flat, figures.columns)):
        for j, (test, frame) in enumerate(series):
            xs = np.arange(len(phases)) + (j - (len(series) - 1) / 2) * width
            values = [medians.get((test, frame, phase), [np.nan] * count)[k] for phase in phases]
            ax.bar(xs, values, width, label=f"{test} {frame}", color=f"C{j % 10}")
        ax.set_xticks(range(len(phases)), phases, fontsize="small")
        ax.set_title(f"median {label} per phase", fontsize="medium")
        ax.set_ylabel(label)
        ax.grid(True, axis="y", alpha=0.3)
    for ax in list(axes.flat)[count:]:
        ax.set_visible(False)
    axes.flat[0].legend(fontsize="x-small")
    fig.suptitle(run_title("Counters per guest phase (perf_event_open; medians over the successful iterations)",
                           run.manifest))
    save(fig, path, run.manifest)
    return True


def counter_sections(run):
    lines = section("COUNTERS (perf_event_open: host around host_memcpy, guest around each phase; "
                    "joined with the timings by iteration)")
    lines += counters_availability(run)
    lines.append("  An empty field is a counter that was not measured: shown as n/a or left out, never as 0.")
    found = False
    for filename, counters, timings, keys, timing in (
        (LATENCY_COUNTERS_CSV, run.latency_counters, run.latency, ["iteration"], "roundtrip_ns"),
        (BANDWIDTH_COUNTERS_CSV, run.bandwidth_counters, run.bandwidth, ["iteration", "frame_type"], "total_ns"),
    ):
        if counters is None or counters.empty:
            continue
        found = True
        if timings is None or successful(timings).empty:
            lines.append(f"  {filename}: no successful timing rows to join with")
        else:
            lines += counter_table(run, filename, counters, timings, keys, timing)
    if run.phase_counters is not None:
        found = True
        lines += phase_counter_lines(run)
    if not found:
        lines.append("  no counter files in this run")
    return lines

"""--compare: for two folders (each a run or a folder of repeated runs) each headline figure's ratio B/A
with its 95% interval and a verdict word; runs side by side (mode, latency, CPU per message), for two
single runs before the ratios and for more than two folders alone. Printed to stdout; nothing is written."""

from . import intervals
from .checks import notification_findings
from .load import InputError, PROG, read_csv_file, read_manifest, warn
from .manifest import MANIFEST_JSON, SIDES, cpu_record, lookup, run_interval, run_mode
from .model import LATENCY_COLUMNS, LATENCY_CSV
from .repeats import load_set, run_folders, set_figures, set_noise
from .report.text import fmt, fmt_durations, fmt_ratio, fmt_share, fmt_table
from .safe_io import exists
from .stats import cpu_figures, latency_medians


def read_compare_manifest(folder):
    """A run's run.json for --compare, read as the report reads it (a regular file inside the folder, of
    bounded size and depth), or InputError naming the folder (one line, no other warning)."""
    if not exists(folder, MANIFEST_JSON):
        raise InputError(f"{folder}: no {MANIFEST_JSON}: not an ivshmem-bench results folder")
    try:
        return read_manifest(folder)
    except InputError as err:
        raise InputError(f"{folder}: {err}")


def compare_row(folder):
    """One run's figures for --compare and what is suspect in its run.json; raises InputError when the
    folder is not a results folder or its latency_results.csv cannot be used."""
    m = read_compare_manifest(folder)
    latency = None
    if exists(folder, LATENCY_CSV):
        try:
            latency = read_csv_file(folder / LATENCY_CSV, LATENCY_COLUMNS)
        except InputError as err:
            raise InputError(f"{folder}: {err}")
    medians = latency_medians(latency)
    where = str(lookup(m, "meta", "vm", default="n/a"))
    accel = lookup(m, "meta", "accel")
    interval = run_interval(m)
    row = [run_mode(m) or "n/a", where + (f" ({accel})" if accel else ""),
           str(lookup(m, "options", "latency_frame", default="n/a")), "n/a" if interval is None else str(interval),
           str(medians[0]) if medians else "0",
           fmt(medians[1], 3) if medians else "n/a", fmt(medians[2], 3) if medians else "n/a"]
    shares = []
    for side in SIDES:
        cpu = cpu_record(m, side)
        f = cpu_figures(cpu) if cpu else {"per_1000_s": None, "core_share": None}
        row.append(fmt(f["per_1000_s"], 3))
        shares.append(fmt_share(f["core_share"]))
    return row + shares, notification_findings(m)


def run_labels(folders):
    """Each run's name: its folder's (results/latest: the run it points to), or the paths as given when
    two names are the same."""
    names = [folder.resolve().name for folder in folders]
    return names if len(set(names)) == len(names) else [str(folder) for folder in folders]


def compare(folders, resamples=intervals.RESAMPLES, ratio_rows=None):
    """Two folders: the side-by-side table when both are single runs, then the ratios B/A; more than
    two: the side-by-side table. Printed to stdout; nothing is written. The exit status. ratio_rows: a
    list that receives the rows of the ratios (RATIO_HEADER), for a page of the comparison."""
    singles = [run_folders(folder) is None for folder in folders]
    if len(folders) > 2 and not all(singles):
        repeated = folders[singles.index(False)]
        raise InputError(f"{repeated}: a folder of repeated runs; --compare of more than two folders takes single "
                         "runs (compare two folders for the figures with intervals)")
    rows = [compare_row(folder) for folder in folders] if all(singles) else None
    sets = [named_set(folder) for folder in folders] if len(folders) == 2 else None
    if rows is not None:
        print_side_by_side(folders, rows)
    if sets is None:
        return 0
    if rows is not None:
        print()
    return print_ratios(sets, run_labels(folders), resamples, ratio_rows)


def named_set(folder):
    """load_set with the folder named in its error."""
    try:
        return load_set(folder)
    except InputError as err:
        raise InputError(str(err) if str(err).startswith(str(folder)) else f"{folder}: {err}")


RATIO_HEADER = ["figure", "unit", "A_median", "B_median", "B/A", "95%_low", "95%_high", "verdict"]


def ratio_row(spec, a, b, resamples):
    """One figure's row: both medians, B/A with its interval and the verdict (n/a when the medians are
    not both positive, e.g. a notification estimate below 0)."""
    if spec.kind == intervals.TIME:  # both medians in the unit that fits A's, as HEADLINE FIGURES writes a time
        unit, (a_median, b_median) = fmt_durations([a.figure.median, b.figure.median])
    else:
        unit, a_median, b_median = spec.unit, fmt(a.figure.median, 1), fmt(b.figure.median, 1)
    a_runs = [s.values for _, s in a.per_run if s.values]
    b_runs = [s.values for _, s in b.per_run if s.values]
    try:
        result = intervals.compare(a_runs, b_runs, spec.kind, resamples=resamples)
    except ValueError:
        return [spec.label, unit, a_median, b_median, "n/a", "n/a", "n/a", "n/a (medians not both positive)"]
    ratio = result.ratio
    # intervals.verdict says "no measurable difference" without an interval; here the reader is told why.
    word = result.verdict
    if ratio.low is None:
        word = f"no interval (fewer than {intervals.MIN_INTERVAL_SAMPLES} samples)"
    return [spec.label, unit, a_median, b_median, fmt_ratio(ratio.ratio), fmt_ratio(ratio.low),
            fmt_ratio(ratio.high), word]


def print_ratios(sets, labels, resamples, ratio_rows=None):
    """Each headline figure both sets have: B/A, its 95% interval, faster / slower / no measurable
    difference (the rows also appended to ratio_rows, when given). The exit status: 1 when a run of
    either set could not be loaded."""
    status = 0
    figures, switched = [], []
    for name, run_set in zip("AB", sets):
        for label, error in run_set.failed:
            warn(f"{run_set.folder}: {label}: {error}; run left out")
            status = 1
        results = set_figures(run_set, set_noise(run_set, record=False), resamples)[0]
        figures.append({r.spec.key: r for r in results if r.figure is not None and not r.all_switched})
        switched.append({r.spec.key: r.spec.label for r in results if r.all_switched})
    a, b = figures
    method = intervals.METHOD_RUNS if any(len(s.runs) > 1 for s in sets) else intervals.METHOD_ITERATIONS
    print(f"{PROG}: B/A for each headline figure (A = {labels[0]}: {len(sets[0].runs)} run(s), "
          f"B = {labels[1]}: {len(sets[1].runs)} run(s))")
    rows = [ratio_row(a[key].spec, a[key], b[key], resamples) for key in a if key in b]
    if ratio_rows is not None:
        ratio_rows.extend(rows)
    print("\n".join(fmt_table(RATIO_HEADER, rows)))
    print(f"  (95% intervals: {method}, each set resampled on its own, {resamples} resamples;\n"
          "  time figures: B/A of the times, lower is faster; frames/s: higher is faster;\n"
          "  \"no measurable difference\": the interval holds 1)")
    for name, one, other, other_switched in (("A", a, b, switched[1]), ("B", b, a, switched[0])):
        only = [one[key].spec.label for key in one if key not in other and key not in other_switched]
        if only:
            print(f"  only in {name}: {', '.join(only)}")
    for name, labels in zip("AB", switched):
        if labels:
            print(f"  not compared, every sample switched out in {name}: {', '.join(labels.values())}")
    for name, run_set in zip("AB", sets):
        for item in set_noise(run_set, record=False):
            if item.noisy:
                print(f"  {name} {item.label}: {item.verdict.text}: its figures measured the machine's load too")
    return status


def print_side_by_side(folders, results):
    """Runs side by side: what each mode costs in latency and CPU."""
    header = ["run", "mode", "vm", "latency_frame", "interval_us", "n", "roundtrip_us", "notification_us",
              "host_cpu_s/1000", "guest_cpu_s/1000", "host_core", "guest_core"]
    labels = run_labels(folders)
    print(f"{PROG}: {len(results)} runs side by side (medians of the latency test; CPU from run.json)")
    print("\n".join(fmt_table(header, [[label] + row for label, (row, _) in zip(labels, results)])))
    print("  (cpu_s/1000: CPU seconds per 1000 messages, = ms per message, warm-up and every test included; "
          "core: CPU / wall time; n/a: not recorded or unusable)")
    for label, (_, findings) in zip(labels, results):
        for finding in findings:
            print(f"  SUSPECT {label}: {finding}")

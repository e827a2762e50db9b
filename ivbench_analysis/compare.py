"""--compare: several runs side by side (mode, latency, CPU per message) on stdout; nothing is written."""

import json

from .checks import notification_findings
from .load import InputError, PROG, read_csv_file
from .manifest import MANIFEST_JSON, SIDES, cpu_record, lookup, run_interval, run_mode
from .model import LATENCY_COLUMNS, LATENCY_CSV
from .report.text import fmt, fmt_share, fmt_table
from .stats import cpu_figures, latency_medians


def read_compare_manifest(folder):
    """A run's run.json for --compare, or InputError naming the folder (one line, no other warning)."""
    path = folder / MANIFEST_JSON
    if not path.is_file():
        raise InputError(f"{folder}: no {MANIFEST_JSON}: not an ivshmem-bench results folder")
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError) as err:
        raise InputError(f"{folder}: {MANIFEST_JSON} unreadable ({err})")
    if not isinstance(manifest, dict):
        raise InputError(f"{folder}: {MANIFEST_JSON} is not a JSON object")
    return manifest


def compare_row(folder):
    """One run's figures for --compare and what is suspect in its run.json; raises InputError when the
    folder is not a results folder or its latency_results.csv cannot be used."""
    m = read_compare_manifest(folder)
    latency = None
    if (folder / LATENCY_CSV).exists():
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


def compare(folders):
    """Runs side by side: what each mode costs in latency and CPU. Printed to stdout; nothing is written."""
    results = [compare_row(folder) for folder in folders]
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
    return 0

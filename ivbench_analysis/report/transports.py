"""TRANSPORTS: the same frames and messages over each transport of the run (host_writer --transport): per
transport its frames/s, MB/s, latency percentiles, CPU per frame and messages/s, ivshmem's ratio over each
in one sentence, and the transports skipped with their reason; transports.png draws the same.
Self-contained: transports_section(run) returns the section's lines, plot_transports draws the PNG."""

from ..intervals import MIN_INTERVAL_SAMPLES
from ..manifest import TCG_WARNING, is_tcg
from ..plot_files import TRANSPORTS_PNG
from ..streams import LATENCY_PERCENTILES
from ..transports import TRANSPORT_CSV, UNITS, load_transports, ratio_sentence, transport_ratios
from .text import fmt, fmt_ratio, fmt_table, section

TITLE = "TRANSPORTS (is ivshmem worth it?)"


def us(ns):
    return fmt(None if ns is None else ns / 1e3, 1)


def cpu_us(seconds):
    return fmt(None if seconds is None else seconds * 1e6, 2)


def table(figures):
    header = ["test", "size", "transport", "in flight", "per s", "slowest s", "MB/s"] + [
        f"p{p:g} us" for p in LATENCY_PERCENTILES] + ["host CPU us", "guest CPU us"]
    rows = []
    for f in sorted(figures, key=lambda f: (list(UNITS).index(f.test), f.size_bytes, f.transport != "ivshmem")):
        rows.append([f.test, str(f.size_bytes), f.transport, fmt(f.window, 0), fmt(f.rate, 0), fmt(f.rate_slowest, 0),
                     fmt(f.mbps, 1)] + [us(f.latency.get(p)) for p in LATENCY_PERCENTILES] + [
                    cpu_us(f.host_cpu_per_frame_s), cpu_us(f.guest_cpu_per_frame_s)])
    return fmt_table(header, rows)


def sentences_of(runs_figures, summary):
    """ivshmem's ratio over each transport in words; summary (model.Summary) gets each TransportRatio with its
    sentence, for the answer."""
    found = [(r, ratio_sentence(r, fmt_ratio)) for r in transport_ratios(runs_figures)]
    if summary is not None:
        summary.transports = found
    return [sentence for _, sentence in found]


def transports_lines(tset, tcg, summary=None):
    """The section's lines from the loaded comparison (pure: the tests call it on synthetic sets)."""
    lines = section(TITLE)
    lines.append("  The same frames (sequence stamp first, random content made before the clock) and the same")
    lines.append("  verification over each transport, host to guest, one after the other in this run. per s:")
    lines.append("  median of the full 1-second windows (frames, messages or round trips); latency: host clock,")
    lines.append(f"  from the start of the send to the consumer's acknowledgement ({TRANSPORT_CSV}; ivshmem's")
    lines.append("  frames: the stream test's host-to-guest block streams); CPU per frame: each side's getrusage")
    lines.append("  over the test / frames. pingpong: one in flight, each latency a round trip. ivshmem's rows")
    lines.append("  spin (polling) where the others sleep in the kernel.")
    if tcg:
        lines.append(f"  ! {TCG_WARNING}: the comparison is functional only")
    for note in tset.notes:
        lines.append(f"  ! {note}")
    if tset.figures:
        lines += table(tset.figures)
    else:
        lines.append("  no transport test recorded")
    sentences = sentences_of([tset.figures], summary)
    if sentences:
        lines.append("  ivshmem against each, from this run ([low-high]: 95% interval over its windows or round")
        lines.append(f"  trips, where there are {MIN_INTERVAL_SAMPLES} or more):")
        lines += ["    " + s for s in sentences]
    return lines + not_run_lines(tset)


def not_run_lines(tset):
    return [f"  {name}: {status}" + (f": {reason}" if reason else "")
            for name, (status, reason) in tset.entries.items() if status != "ran"]


def set_transports_section(run_set, summary=None):
    """TRANSPORTS over the runs of a set: ivshmem's ratio over each transport with its interval over the runs
    (each run's own report has its table); no lines when no run compared transports."""
    loaded = [(label, load_transports(run)) for run, label in zip(run_set.runs, run_set.labels)]
    compared = [(label, tset) for label, tset in loaded if tset is not None]
    if not compared:
        return []
    lines = section(f"{TITLE}: over {len(compared)} run{'s' if len(compared) > 1 else ''}")
    lines.append("  ivshmem's ratio over each transport: medians of the samples of all runs (rates: the 1-second")
    lines.append("  windows; ping-pong: the round trips; CPU: one figure per run), [low-high]: the 95% interval of")
    lines.append("  the ratio, runs resampled together for both sides (same-run bootstrap, then the samples within")
    lines.append(f"  each run); none below {MIN_INTERVAL_SAMPLES} samples. Each run's own report has the table.")
    if any(is_tcg(run.manifest) for run in run_set.runs):
        lines.append(f"  ! {TCG_WARNING}: the comparison is functional only")
    sentences = sentences_of([tset.figures for _, tset in compared], summary)
    lines += ["    " + s for s in sentences] or ["  no test ran on ivshmem and another transport in the same run"]
    left = [label for label, tset in loaded if tset is None]
    if left:
        lines.append(f"  no transports compared in {', '.join(left)}")
    return lines + not_run_lines(compared[0][1])


def transports_section(run, summary=None):
    """The TRANSPORTS section, or no lines when the run compared no transports."""
    tset = load_transports(run)
    return [] if tset is None else transports_lines(tset, is_tcg(run.manifest), summary)


def plot_transports(tset, path, tcg):
    """Per test, a bar per size and transport: frames/s and messages/s, and the ping-pong's round trip p50."""
    from ..plots import pyplot, save  # matplotlib only when plotting

    plt = pyplot()
    tests = [t for t in UNITS if any(f.test == t for f in tset.figures)]
    fig, axes = plt.subplots(1, max(len(tests), 1), figsize=(5 * max(len(tests), 1), 4.5), squeeze=False)
    transports = sorted({f.transport for f in tset.figures}, key=lambda t: (t != "ivshmem", t))
    for ax, test in zip(axes[0], tests):
        sizes = sorted({f.size_bytes for f in tset.figures if f.test == test})
        width = 0.8 / max(len(transports), 1)
        for k, name in enumerate(transports):
            values = []
            for size in sizes:
                f = next((x for x in tset.figures if (x.transport, x.test, x.size_bytes) == (name, test, size)), None)
                value = None if f is None else (f.latency.get(50) / 1e3 if test == "pingpong" and f.latency.get(50)
                                                else (None if test == "pingpong" else f.rate))
                values.append(0 if value is None else value)
            ax.bar([i + k * width for i in range(len(sizes))], values, width, label=name, color=f"C{k % 10}")
        ax.set_xticks([i + width * (len(transports) - 1) / 2 for i in range(len(sizes))])
        ax.set_xticklabels([f"{s} B" for s in sizes])
        ax.set_ylabel("round trip p50 (us)" if test == "pingpong" else f"{UNITS[test]} per s (median window)")
        ax.set_title(f"{test}" + (" (TCG: functional only)" if tcg else ""))
        ax.grid(True, axis="y", alpha=0.3)
        ax.legend(fontsize="small")
    save(fig, path)


def write_transports_plot(run):
    """transports.png when the run compared transports; returns the file names written."""
    tset = load_transports(run)
    if tset is None or not tset.figures:
        return []
    plot_transports(tset, run.folder / TRANSPORTS_PNG, is_tcg(run.manifest))
    return [TRANSPORTS_PNG]

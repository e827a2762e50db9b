"""The PNGs: the only module that uses matplotlib, imported inside the plotting functions (pyplot()), so
that loading, statistics and the report text run without it."""

import numpy as np

from .intervals import UNRELIABLE_HALF_WIDTH
from .manifest import is_tcg, lookup, run_mode
from .model import MAP_PHASES, PREFAULTED, WRITE_STUDY_CSV, variant_rank
from .report.copy_study import study_table, variant_stats
from .report.counters import plot_counters
from .report.mapping import mapping_label, private_medians
from .report.notification import plot_notification
from .report.reference import plot_reference
from .report.text import fmt_ratio
from .report.transports import write_transports_plot
from .safe_io import write_output
from .stats import PERCENTILES, frames_by_size, mbps, successful
from .streams import load_streams, stream_figures
from .plot_files import (BANDWIDTH_PNG, COUNTERS_PNG, HEADLINE_PNG, LATENCY_PNGS, MAP_STUDY_PNG, NOTIFICATION_PNG,
                         REFERENCE_PNG, STREAMING_PNG, WRITE_STUDY_PNG)


def pyplot():
    """matplotlib.pyplot, imported on first use: loading, statistics and the report text do without it."""
    import matplotlib

    matplotlib.use("Agg")  # headless: no display on the machines this runs on
    import matplotlib.pyplot as plt

    return plt


def run_caption(manifest):
    """What was run, for a plot's title: VM, accelerator, the guest's mapping and its memory type."""
    def get(*keys):
        value = lookup(manifest, *keys)
        text = "unknown" if value in (None, "") else str(value)
        return "".join(ch if ch.isprintable() else "?" for ch in text)[:40]
    return (f"{get('meta', 'vm')}, accel {get('meta', 'accel')}, mapping {get('guest', 'mapping')} "
            f"({get('guest', 'memory_type')}), mode {run_mode(manifest) or 'unknown'}")


def run_title(what, manifest):
    """A plot's title: what it shows, and under TCG that its timings are the emulator's."""
    return what + ("\n(TCG: emulator timings, functional only)" if is_tcg(manifest) else "")


def frame_words(size):
    return f", {size} B frame" if size else ""


def save(fig, path, manifest=None):
    """The PNG written beside path and renamed over it (safe_io): a symlink there is replaced, not followed.
    manifest: what was run goes under the plot's title."""
    plt = pyplot()
    if manifest is not None:
        fig.text(0.5, 0.005, run_caption(manifest), ha="center", va="bottom", fontsize="small", color="dimgray")
    fig.tight_layout(rect=(0, 0.03, 1, 1) if manifest is not None else None)
    try:
        write_output(path.parent, path.name, lambda f: fig.savefig(f, format="png", dpi=100))
    finally:
        plt.close(fig)


def plot_latency_histogram(rows, path, manifest=None, frame=None):
    """The round trip's distribution on a linear and a logarithmic time axis (the log axis shows the tail)."""
    plt = pyplot()
    roundtrip_us = rows["roundtrip_ns"] / 1e3
    nbins = min(50, max(5, len(rows) // 2))
    lo, hi = roundtrip_us.min(), roundtrip_us.max()
    fig, axes = plt.subplots(1, 2, figsize=(12, 4.5))
    for ax, scale in zip(axes, ("linear", "log")):
        log_axis = scale == "log" and lo > 0
        bins = np.geomspace(lo, max(hi, lo * 1.01), nbins + 1) if log_axis else nbins
        ax.hist(roundtrip_us, bins=bins, color="tab:blue", alpha=0.8)
        median, mean = roundtrip_us.median(), roundtrip_us.mean()
        ax.axvline(median, color="tab:red", linestyle="--", label=f"median {median:.3f} µs")
        ax.axvline(mean, color="tab:green", linestyle=":", label=f"mean {mean:.3f} µs")
        if log_axis:
            ax.set_xscale("log")
        ax.set_title(f"Round-trip latency{frame_words(frame)}, {scale} time axis (n={len(rows)})")
        ax.set_xlabel("round trip (µs, log scale)" if log_axis else "round trip (µs)")
        ax.set_ylabel("iterations")
        ax.legend()
    save(fig, path, manifest)


def plot_latency_over_time(data, path, manifest=None, frame=None):
    plt = pyplot()
    rows = successful(data)
    fig, ax = plt.subplots(figsize=(12, 5))
    for label, col in [("round trip", "roundtrip_ns"), ("host memcpy", "host_memcpy_ns"),
                       ("A hot read", "guest_hot_cache_ns"), ("B cold read", "guest_cold_cache_ns"),
                       ("C copy", "guest_second_pass_ns"), ("D verify", "guest_cached_verify_ns")]:
        ax.plot(rows["iteration"], rows[col] / 1e3, marker=".", linewidth=1, label=label)
    for i, iteration in enumerate(data.loc[data["success"] == 0, "iteration"]):
        ax.axvline(iteration, color="red", alpha=0.4, label="failed iteration" if i == 0 else None)
    ax.set_yscale("log")
    ax.set_title(f"Latency test{frame_words(frame)}: time per stage over the run")
    ax.set_xlabel("iteration")
    ax.set_ylabel("time (µs, log scale)")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(loc="upper right", fontsize="small")
    save(fig, path, manifest)


def nines(percentile):
    """Position of a percentile on an axis that spreads the tail: p90 -> 1, p99 -> 2, p99.9 -> 3."""
    return -np.log10(1 - np.asarray(percentile) / 100)


def plot_latency_percentiles(rows, path, manifest=None, frame=None):
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(10, 5.5))
    ranks = np.concatenate([np.linspace(0, 99, 397), np.linspace(99, 99.9, 91)])
    for label, col in [("round trip", "roundtrip_ns"), ("host memcpy", "host_memcpy_ns"),
                       ("B cold read", "guest_cold_cache_ns"), ("C copy", "guest_second_pass_ns"),
                       ("notification (est.)", "notification_est_ns")]:
        if (rows[col] > 0).all():  # a log axis cannot show the rest
            ax.plot(nines(ranks), np.percentile(rows[col] / 1e3, ranks), label=label)
    roundtrip_us = rows["roundtrip_ns"] / 1e3
    marked = [np.percentile(roundtrip_us, p) for p in PERCENTILES]
    ax.plot(nines(PERCENTILES), marked, "o", color="tab:red", label="round trip percentiles")
    ax.text(0.02, 0.97, "round trip\n" + "\n".join(f"p{p:g}: {v:.3f} µs" for p, v in zip(PERCENTILES, marked)),
            transform=ax.transAxes, va="top", fontsize="small", family="monospace",
            bbox={"facecolor": "white", "alpha": 0.8, "edgecolor": "gray"})
    ax.set_xticks(nines([0, 50, 90, 99, 99.9]))
    ax.set_xticklabels(["p0", "p50", "p90", "p99", "p99.9"])
    ax.set_yscale("log")
    ax.set_ylim(top=roundtrip_us.max() * 5)  # headroom for the text box
    ax.set_title(f"Latency percentiles{frame_words(frame)} (n={len(rows)}; the axis spreads the tail)")
    ax.set_xlabel("percentile")
    ax.set_ylabel("time (µs, log scale)")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(loc="lower right", fontsize="small")
    save(fig, path, manifest)


def plot_bandwidth_distribution(ax, rows, frames):
    ax.boxplot([rows.loc[rows["frame_type"] == f, "total_calc_mbps"] for f, _ in frames])
    ax.set_xticks(range(1, len(frames) + 1), [f for f, _ in frames])
    ax.set_title("Distribution of end-to-end bandwidth per iteration")
    ax.set_xlabel("frame")
    ax.set_ylabel("MB/s (1 MB = 1e6 B)")


def plot_bandwidth_vs_size(ax, means, frames, reference):
    sizes_mb = [s / 1e6 for _, s in frames]
    for label, col in [("host memcpy", "host_memcpy_ns"), ("guest copy (C)", "guest_memcpy_ns"),
                       ("end to end", "total_ns")]:
        ax.plot(sizes_mb, [mbps(s, means.loc[f, col]) for f, s in frames], marker="o", label=label)
    private = successful(reference) if reference is not None else None
    if private is not None and not private.empty:
        private_frames = frames_by_size(private)
        private_means = private.groupby("frame_type")["guest_second_pass_ns"].mean()
        ax.plot([s / 1e6 for _, s in private_frames], [mbps(s, private_means[f]) for f, s in private_frames],
                marker="s", linestyle="--", label="copy on private memory (reference)")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_title("Bandwidth vs frame size (bytes / mean time)")
    ax.set_xlabel("frame size (MB, log scale)")
    ax.set_ylabel("MB/s (log scale)")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize="small")


def plot_time_breakdown(ax, means, frames, stages):
    names = [f for f, _ in frames]
    left = np.zeros(len(frames))
    for label, col, _, _ in stages:
        shares = np.array([100 * means.loc[f, col] / means.loc[f, "total_ns"] for f in names])
        ax.barh(names, shares, left=left, label=label)
        left += shares
    for i, f in enumerate(names):
        ax.text(1, i, f"total {means.loc[f, 'total_ns'] / 1e6:.3f} ms", va="center", fontsize="small",
                bbox={"facecolor": "white", "alpha": 0.7, "edgecolor": "none"})
    ax.set_title("Time breakdown per stage (share of mean end-to-end time)")
    ax.set_xlabel("share of total time (%)")
    ax.legend(fontsize="small", loc="upper center", bbox_to_anchor=(0.5, -0.15), ncol=2)


def plot_success_rates(ax, data):
    names = [f for f, _ in frames_by_size(data)]
    groups = [data[data["frame_type"] == f] for f in names]
    rates = [100 * (g["success"] == 1).mean() for g in groups]
    bars = ax.bar(names, rates, color=["tab:green" if r == 100 else "tab:orange" for r in rates])
    for bar, group in zip(bars, groups):
        ax.text(bar.get_x() + bar.get_width() / 2, bar.get_height() + 1,
                f"{int(group['success'].sum())}/{len(group)}", ha="center")
    ax.set_ylim(0, 110)
    ax.set_title("Success rate per frame")
    ax.set_xlabel("frame")
    ax.set_ylabel("iterations verified (%)")


def plot_bandwidth_analysis(data, reference, stages, path, manifest=None):
    plt = pyplot()
    rows = successful(data)
    frames = [(f, s) for f, s in frames_by_size(data) if (rows["frame_type"] == f).any()]
    means = rows.groupby("frame_type").mean(numeric_only=True)
    fig, axes = plt.subplots(2, 2, figsize=(13, 9))
    plot_bandwidth_distribution(axes[0][0], rows, frames)
    plot_bandwidth_vs_size(axes[0][1], means, frames, reference)
    plot_time_breakdown(axes[1][0], means, frames, stages)
    plot_success_rates(axes[1][1], data)
    save(fig, path, manifest)


def plot_write_study(run, path):
    """Per source (shared region, private memory), the variants' median MB/s per frame, side by side."""
    plt = pyplot()
    rows = study_table(run)
    sources = [s for s in ("region", "private") if (rows["source"] == s).any()]
    sizes = sorted(rows["size_bytes"].unique())
    variants = sorted(rows["variant"].unique(), key=variant_rank)
    names = ["/".join(sorted(rows.loc[rows["size_bytes"] == size, "frame_type"].unique())) for size in sizes]
    width = 0.8 / len(variants)
    fig, axes = plt.subplots(1, len(sources), figsize=(1.5 + max(6.0, 1.4 * len(sizes) * len(variants) ** 0.5)
                                                       * len(sources), 6), squeeze=False, sharey=True)
    for ax, source in zip(axes[0], sources):
        for j, variant in enumerate(variants):
            stats = [variant_stats(rows, source, size, variant) for size in sizes]
            base = [variant_stats(rows, source, size, PREFAULTED) for size in sizes]
            xs = np.arange(len(sizes)) + (j - (len(variants) - 1) / 2) * width
            shown = [(x, st, b) for x, st, b in zip(xs, stats, base) if st["n"]]
            if not shown:
                continue
            bars = ax.bar([x for x, _, _ in shown], [st["mbps"] for _, st, _ in shown], width, label=variant,
                          color=f"C{variant_rank(variant)[0]}")
            for bar, (_, st, b) in zip(bars, shown):
                speed = b["median_ns"] / st["median_ns"] if b["n"] else float("nan")
                ax.text(bar.get_x() + bar.get_width() / 2, bar.get_height(), f" {st['mbps']:.0f} ({fmt_ratio(speed)})",
                        ha="center", va="bottom", rotation=90, fontsize="x-small")
        ax.set_xticks(range(len(sizes)), [f"{n}\n{size / 1e6:.3g} MB" for n, size in zip(names, sizes)])
        ax.set_yscale("log")
        ax.set_ylim(top=ax.get_ylim()[1] * 8)  # room for the labels above the bars
        ax.set_title("copy from the shared region" if source == "region" else "copy from private memory (reference)")
        ax.set_xlabel("frame (1 MB = 1e6 B)")
        ax.set_ylabel("median MB/s (log scale); label: MB/s (speed vs memcpy_prefaulted)")
        ax.grid(True, axis="y", which="both", alpha=0.3)
        ax.legend(fontsize="small", loc="upper left")
    manifest = run.manifest
    title = (f"Phase C write-path variants: guest mapping {lookup(manifest, 'guest', 'mapping') or 'unknown'}, "
             f"memory type {lookup(manifest, 'guest', 'memory_type') or 'unknown'}")
    if is_tcg(manifest):
        title += "\n(TCG: emulator timings, the memory type has no effect on speed)"
    fig.suptitle(title)
    save(fig, path, run.manifest)


def plot_streaming(run, streams, path):
    """Per stream, frames/s per full 1-second window and each consumed frame's latency against its publish
    time (host clock); failed frames marked."""
    plt = pyplot()
    fig, (fps_ax, latency_ax) = plt.subplots(2, 1, figsize=(12, 8), sharex=True)
    for i, stream in enumerate(streams):
        color = f"C{i % 10}"
        label = f"{stream.number}: {stream.label}"
        windows = stream_figures(stream).windows
        if windows:
            fps_ax.step(np.arange(len(windows) + 1), list(windows) + [windows[-1]], where="post", color=color,
                        label=label)
        rows = stream.rows
        if rows is None:
            continue
        rows = rows[(rows["dropped"] == 0) & rows["publish_ns"].notna() & rows["latency_ns"].notna()]
        # guest -> host: the host's hold from its take (dashed), host -> guest: publish to release
        latency_ax.plot(rows["publish_ns"] / 1e9, rows["latency_ns"] / 1e6, "--" if stream.guest_produced else "-",
                        color=color, linewidth=0.8, label=label)
        failed = rows[rows["success"] == 0]
        if not failed.empty:
            latency_ax.plot(failed["publish_ns"] / 1e9, failed["latency_ns"] / 1e6, "x", color="red",
                            label=f"{stream.number}: failed verification")
    title = "Stream test: frames/s per 1-second window"
    if is_tcg(run.manifest):
        title += " (TCG: functional only)"
    fps_ax.set_title(title)
    fps_ax.set_ylabel("frames consumed per window")
    fps_ax.set_ylim(bottom=0)
    latency_ax.set_title("Latency per frame (host clock): host-to-guest publish to release; "
                         "guest-to-host (dashed) the host's take to release")
    latency_ax.set_xlabel("time from the stream's start (s; publish time, or the host's take in guest-to-host)")
    latency_ax.set_ylabel("latency (ms)")
    for ax in (fps_ax, latency_ax):
        ax.grid(True, alpha=0.3)
        if ax.get_legend_handles_labels()[0]:
            ax.legend(fontsize="small", loc="upper right")
    save(fig, path, run.manifest)


def plot_headline(headline, path, manifest):
    """Each headline figure's 95% interval as its distance from the median (%, the table's spread), against
    the band within which a figure is reliable."""
    plt = pyplot()
    results = [r for r in headline.results if r.figure is not None and r.figure.median]
    fig, ax = plt.subplots(figsize=(10, 1.5 + 0.28 * max(len(results), 1)))
    band = 100 * UNRELIABLE_HALF_WIDTH
    ax.axvspan(-band, band, color="tab:green", alpha=0.12, label=f"reliable: within ±{band:.0f}%")
    for i, r in enumerate(results):
        f = r.figure
        if f.low is None or f.high is None:
            ax.plot([0], [i], "x", color="tab:red")
            continue
        lo, hi = 100 * (f.low - f.median) / abs(f.median), 100 * (f.high - f.median) / abs(f.median)
        ax.plot([lo, hi], [i, i], color="tab:blue" if r.reliable else "tab:orange", linewidth=3)
        ax.plot([0], [i], "|", color="black")
    ax.set_yticks(range(len(results)), [r.spec.label for r in results], fontsize="x-small")
    ax.invert_yaxis()
    ax.axvline(0, color="black", linewidth=0.5)
    runs = len(headline.run_set.runs)
    ax.set_title(f"Headline figures: 95% interval around the median ({runs} run{'s' if runs > 1 else ''}; "
                 "orange: not reliable, x: no interval)")
    ax.set_xlabel("interval end relative to the median (%; the table's spread)")
    ax.grid(True, axis="x", alpha=0.3)
    ax.legend(fontsize="small", loc="lower right")
    save(fig, path, manifest)


def plot_mapping_study(run, rows, path):
    """Per frame size, the median MB/s of phases A-C through each mapping of the region and on private memory
    (the MAPPING STUDY table's MB/s columns)."""
    plt = pyplot()
    sizes = sorted(rows["size_bytes"].unique())
    fig, axes = plt.subplots(1, len(sizes), figsize=(1 + 5 * len(sizes), 5), squeeze=False, sharey=True)
    for ax, size in zip(axes[0], sizes):
        in_size = rows[rows["size_bytes"] == size]
        groups = [(mapping_label(m), in_size[in_size["mapping"] == m][[c for _, _, c in MAP_PHASES]].median())
                  for m in sorted(set(in_size["mapping"]), key=str)]
        private = private_medians(run, size)
        if private:
            groups.append(("private (reference)", private[0]))
        width = 0.8 / len(MAP_PHASES)
        for j, (letter, words, column) in enumerate(MAP_PHASES):
            xs = np.arange(len(groups)) + (j - (len(MAP_PHASES) - 1) / 2) * width
            ax.bar(xs, [mbps(size, medians[column]) for _, medians in groups], width, label=f"{letter} {words}")
        ax.set_xticks(range(len(groups)), [name for name, _ in groups], fontsize="small")
        ax.set_yscale("log")
        ax.set_title(f"{size / 1e6:.3g} MB frame")
        ax.set_ylabel("median MB/s (log scale; 1 MB = 1e6 B)")
        ax.grid(True, axis="y", which="both", alpha=0.3)
        ax.legend(fontsize="small")
    fig.suptitle("Mapping study: phases A-C through each mapping of the region and on private memory")
    save(fig, path, run.manifest)


def write_set_plots(headline, folder):
    """The plots of a folder of repeated runs: the headline figures over all of them."""
    if not any(r.figure is not None for r in headline.results):
        return []
    plot_headline(headline, folder / HEADLINE_PNG, headline.run_set.runs[0].manifest)
    return [HEADLINE_PNG]


def write_plots(run, headline=None):
    """Each plot whose data exists (headline: the run's headline figures); returns (written, skipped with
    the reason)."""
    folder = run.folder
    written, skipped = [], []
    manifest, frame = run.manifest, run.latency_frame_bytes
    latency = run.latency
    latency_rows = successful(latency)
    if latency_rows is not None and not latency_rows.empty:
        plot_latency_histogram(latency_rows, folder / LATENCY_PNGS[0], manifest, frame)
        plot_latency_over_time(latency, folder / LATENCY_PNGS[1], manifest, frame)
        plot_latency_percentiles(latency_rows, folder / LATENCY_PNGS[2], manifest, frame)
        written += list(LATENCY_PNGS)
    else:
        skipped += [f"{p} (no successful latency iteration)" for p in LATENCY_PNGS]
    bandwidth_rows = successful(run.bandwidth)
    if bandwidth_rows is not None and not bandwidth_rows.empty:
        plot_bandwidth_analysis(run.bandwidth, run.reference, run.bandwidth_stages, folder / BANDWIDTH_PNG, manifest)
        written.append(BANDWIDTH_PNG)
    else:
        skipped.append(f"{BANDWIDTH_PNG} (no successful bandwidth iteration)")
    for name, plot, why in ((REFERENCE_PNG, plot_reference, "no successful reference iteration"),
                            (COUNTERS_PNG, plot_counters, "no per-phase counters of a successful message"),
                            (NOTIFICATION_PNG, plot_notification, "no side's CPU time recorded")):
        if plot(run, folder / name):
            written.append(name)
        else:
            skipped.append(f"{name} ({why})")
    if run.write_study is not None and not study_table(run).empty:
        plot_write_study(run, folder / WRITE_STUDY_PNG)
        written.append(WRITE_STUDY_PNG)
    elif run.write_study is not None:
        skipped.append(f"{WRITE_STUDY_PNG} (no successful row with a copy time in {WRITE_STUDY_CSV})")
    streams = load_streams(run).streams
    if streams:
        plot_streaming(run, streams, folder / STREAMING_PNG)
        written.append(STREAMING_PNG)
    written += write_transports_plot(run)
    study = successful(run.map_study)
    if study is not None and not study.empty:
        plot_mapping_study(run, study, folder / MAP_STUDY_PNG)
        written.append(MAP_STUDY_PNG)
    if headline is not None:
        written += write_set_plots(headline, folder)
    return written, skipped

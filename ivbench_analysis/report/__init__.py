"""performance_report.txt: the sections in report order, one module each; and the report of a folder of
repeated runs (the headline figures over all of them, each run's noise)."""

from ..intervals import RESAMPLES
from ..repeats import set_figures, set_noise, single_set
from .bandwidth import bandwidth_sections
from .copy_study import copy_time_section
from .counters import counter_sections
from .environment import environment_section
from .figures import figures_section
from .latency import latency_sections
from .mapping import mapping_study_section
from .noise import noise_section
from .notification import notification_section
from .reference import reference_sections
from .streaming import streaming_section
from .summary import bottleneck_section, suspect_section
from .text import section
from .transports import transports_section

UNITS = [
    "Units: times in ns as measured (CLOCK_MONOTONIC), us = 1e3 ns, ms = 1e6 ns; 1 MB = 1e6 bytes,",
    "1 MiB = 2^20 bytes; MB/s = bytes / ns * 1e3. Statistics use successful iterations only.",
]


def headline_sections(run_set, resamples, record_noise=True):
    """HEADLINE FIGURES and NOISE of a set, and the figures (for the summary on stdout)."""
    noise_results = set_noise(run_set, record=record_noise)
    results, problems = set_figures(run_set, noise_results, resamples)
    return figures_section(run_set, results, problems, resamples) + noise_section(noise_results, results), results


def build_report(run, findings, summary, resamples=RESAMPLES):
    headline, _ = headline_sections(single_set(run), resamples)
    lines = [
        "ivshmem-bench performance report",
        "================================",
        f"Results folder: {run.folder.resolve()}",
    ] + UNITS
    if run.notes:
        lines += section("MISSING OR UNREADABLE INPUT") + ["  " + n for n in run.notes]
    lines += environment_section(run)
    lines += headline
    lines += latency_sections(run, summary)
    lines += bandwidth_sections(run, summary)
    lines += reference_sections(run)
    lines += streaming_section(run)
    lines += transports_section(run)
    lines += copy_time_section(run, summary)
    lines += mapping_study_section(run)
    lines += counter_sections(run)
    lines += notification_section(run)
    lines += bottleneck_section(run, summary)
    lines += suspect_section(findings)
    return "\n".join(lines) + "\n"


def build_set_report(run_set, findings, resamples=RESAMPLES):
    """The report of a folder of repeated runs: which runs it holds, the first run's environment, the
    headline figures over all of them, each run's noise, and each run's SUSPECT count (findings: one
    list per run). Each run's own report, in its folder, has the rest."""
    title = f"ivshmem-bench performance report: {len(run_set.runs)} repeated runs"
    lines = [title, "=" * len(title), f"Results folder: {run_set.folder.resolve()}"] + UNITS
    lines += section("RUNS")
    lines.append(f"  analysed: {', '.join(run_set.labels)} (each run's own report: <run>/performance_report.txt)")
    lines += [f"  left out: {label}: {error}" for label, error in run_set.failed]
    lines += repeat_lines(run_set)
    lines += environment_section(run_set.runs[0])
    headline, _ = headline_sections(run_set, resamples, record_noise=False)
    lines += headline
    lines += section("SUSPECT FIGURES (per run; see each run's report)")
    lines += [f"  {label}: {len(found)}" for label, found in zip(run_set.labels, findings)]
    return "\n".join(lines) + "\n"


def repeat_lines(run_set):
    """What the runs' run.json say about the repetition: how many were planned, and whether they shared
    one VM boot."""
    metas = [run.manifest.get("meta") if isinstance(run.manifest.get("meta"), dict) else {} for run in run_set.runs]
    counts = {m.get("repeat_count") for m in metas} - {None}
    boots = {m.get("same_boot") for m in metas} - {None}
    lines = []
    if len(counts) == 1:
        planned = counts.pop()
        found = len(run_set.runs) + len(run_set.failed)
        lines.append(f"  planned: {planned} runs" + ("" if planned == found else f"; {found} run folders found"))
    elif counts:
        lines.append(f"  ! the runs disagree on repeat_count: {sorted(map(str, counts))}")
    if len(boots) == 1:
        lines.append("  one VM boot for all runs (fresh processes each)" if boots.pop()
                     else "  a fresh VM boot for each run")
    return lines

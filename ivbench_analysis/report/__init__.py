"""performance_report.txt: the answer, then the sections in report order (layout.RUN_PARTS, one module
each); and the report of a folder of repeated runs (the headline figures over all of them, each run's noise)."""

from dataclasses import dataclass

from ..intervals import RESAMPLES
from ..model import Summary
from ..repeats import set_figures, set_noise, single_set
from .answer import answer_lines, answer_section
from .environment import environment_section
from .layout import RUN_PARTS, Context, Headline, Part, build_sections
from .text import section
from .transports import set_transports_section


@dataclass
class Report:
    """One report: what its sections read (Context), its sections, the answer (answer.AnswerLine) and the
    text of performance_report.txt."""
    ctx: Context
    sections: list
    answer: list
    text: str


UNITS = [
    "Units: times in ns as measured (CLOCK_MONOTONIC), us = 1e3 ns, ms = 1e6 ns; 1 MB = 1e6 bytes,",
    "1 MiB = 2^20 bytes; MB/s = bytes / ns * 1e3. Statistics use successful iterations only.",
]


def headline_figures(run_set, resamples, record_noise=True):
    """The headline figures of a set with each run's noise: the one computation that HEADLINE FIGURES,
    NOISE, the answer, report.html and summary.json all show."""
    noise_results = set_noise(run_set, record=record_noise)
    results, problems = set_figures(run_set, noise_results, resamples)
    return Headline(run_set, results, noise_results, problems, resamples)



def build_report(run, findings, summary, resamples=RESAMPLES):
    """performance_report.txt of one run (text); see make_report."""
    return make_report(run, findings, summary, resamples).text


def make_report(run, findings, summary, resamples=RESAMPLES):
    """The Report of one run: its sections, the answer over them, and performance_report.txt."""
    headline = headline_figures(single_set(run), resamples)
    ctx = Context(run, findings, summary, headline)
    sections = build_sections(ctx, RUN_PARTS)
    answer = answer_lines(ctx)
    head = ["ivshmem-bench performance report", "================================",
            f"Results folder: {run.folder.resolve()}"]
    return Report(ctx, sections, answer, assemble(ctx, head, answer, sections))


def build_set_report(run_set, findings, resamples=RESAMPLES):
    """The report of a folder of repeated runs (text); see make_set_report."""
    return make_set_report(run_set, findings, resamples).text


def make_set_report(run_set, findings, resamples=RESAMPLES):
    """The Report of a folder of repeated runs: which runs it holds, the first run's environment, the
    headline figures over all of them, each run's noise, and each run's SUSPECT count (findings: one
    list per run). Each run's own report, in its folder, has the rest."""
    headline = headline_figures(run_set, resamples, record_noise=False)
    ctx = Context(None, findings, Summary(), headline)
    sections = build_sections(ctx, set_parts(run_set))
    answer = answer_lines(ctx)
    title = f"ivshmem-bench performance report: {len(run_set.runs)} repeated runs"
    head = [title, "=" * len(title), f"Results folder: {run_set.folder.resolve()}"]
    return Report(ctx, sections, answer, assemble(ctx, head, answer, sections))


def assemble(ctx, head, answer, sections):
    """performance_report.txt: the title, the answer, the units, then every section in order."""
    lines = head + answer_section(ctx, answer) + UNITS
    for item in sections:
        lines += item.lines
    return "\n".join(lines) + "\n"


def set_parts(run_set):
    """The sections of the report over repeated runs."""
    def runs_text(_ctx):
        lines = section("RUNS")
        lines.append(f"  analysed: {', '.join(run_set.labels)} (each run's own report: <run>/performance_report.txt)")
        lines += [f"  left out: {label}: {error}" for label, error in run_set.failed]
        return lines + repeat_lines(run_set)

    def suspects(ctx):
        return section("SUSPECT FIGURES (per run; see each run's report)") + [
            f"  {label}: {len(found)}" for label, found in zip(run_set.labels, ctx.findings)]

    first = run_set.runs[0]
    by_key = {p.key: p for p in RUN_PARTS}
    return [
        Part("runs", "Runs", runs_text),
        Part("environment", "Environment (first run)", lambda c: environment_section(first), at_end=True),
        by_key["headline"], by_key["noise"],
        Part("transports", "Transports", lambda c: set_transports_section(run_set, c.summary)),
        Part("suspect", "SUSPECT figures", suspects),
    ]


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

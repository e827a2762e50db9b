"""The report's sections in one list, from which performance_report.txt and report.html are both made: each
section gives its key (the HTML anchor), its title on the page, its text (the lines of performance_report.txt),
the plots shown beside it, the input files whose SUSPECT findings belong beside it, and the headline figures
(by key prefix) whose noise and reliability notes belong beside it.

A new section plugs in by one Part in RUN_PARTS (or SET_PARTS): its text function, and the PNG names it shows
(written by plots.write_plots, which names them in PLOT_FILES)."""

from dataclasses import dataclass
from typing import Callable, Optional

from ..manifest import MANIFEST_JSON
from ..model import (
    BANDWIDTH_COUNTERS_CSV, BANDWIDTH_CSV, LATENCY_COUNTERS_CSV, LATENCY_CSV, MAP_STUDY_CSV, PHASE_COUNTERS_CSV,
    REFERENCE_CSV, WRITE_STUDY_CSV, Summary,
)
from ..plot_files import (BANDWIDTH_PNG, COUNTERS_PNG, HEADLINE_PNG, LATENCY_PNGS, MAP_STUDY_PNG, NOTIFICATION_PNG,
                          REFERENCE_PNG, STREAMING_PNG, TRANSPORTS_PNG, WRITE_STUDY_PNG)
from ..streams import STREAM_CSV
from ..transports import TRANSPORT_CSV
from .bandwidth import bandwidth_sections
from .copy_study import copy_time_section
from .counters import counter_sections
from .environment import environment_section
from .figures import NOT_RELIABLE, figures_section, spread
from .latency import latency_sections
from .mapping import mapping_study_section
from .noise import noise_section
from .notification import notification_section
from .reference import reference_sections
from .streaming import streaming_section
from .summary import bottleneck_section, suspect_section
from .text import section
from .transports import transports_section


@dataclass
class Headline:
    """The headline figures of a set of runs (repeats.FigureResult, in report order), each run's noise
    (repeats.NoiseResult), what could not be used, and the resamples of their intervals."""
    run_set: object
    results: list
    noise: list
    problems: list
    resamples: int

    def by_key(self):
        return {r.spec.key: r for r in self.results}


@dataclass
class Context:
    """What the sections of one report read: the run (None in the report over repeated runs), its SUSPECT
    findings (one list per run for a set), the Summary the sections fill in order, and the headline figures."""
    run: Optional[object]
    findings: list
    summary: Summary
    headline: Headline


@dataclass(frozen=True)
class Part:
    """One section: key, title, text (the lines of performance_report.txt, empty when the run has none of
    it), plots, the input files its SUSPECT findings name, the key prefixes of its headline figures, and
    whether the page shows it last (the environment); notes: what the page shows beside it instead."""
    key: str
    title: str
    text: Callable[[Context], list]
    plots: tuple = ()
    files: tuple = ()
    figures: tuple = ()
    at_end: bool = False
    notes: Optional[Callable[[Context], list]] = None  # instead of the notes made from files and figures


@dataclass(frozen=True)
class Section:
    """A section as made for one report: its Part, its text, and the notes beside its figures."""
    part: Part
    lines: list
    notes: list


def missing_input(ctx):
    notes = ctx.run.notes if ctx.run is not None else []
    return section("MISSING OR UNREADABLE INPUT") + ["  " + n for n in notes] if notes else []


RUN_PARTS = [
    Part("missing", "Missing or unreadable input", missing_input),
    Part("environment", "Environment", lambda c: environment_section(c.run), files=(MANIFEST_JSON,), at_end=True),
    Part("headline", "Headline figures", lambda c: figures_section(
        c.headline.run_set, c.headline.results, c.headline.problems, c.headline.resamples), plots=(HEADLINE_PNG,),
         notes=lambda c: [f"noise: {n.label}: {n.verdict.text if n.verdict else n.error}" for n in c.headline.noise]),
    Part("noise", "Noise", lambda c: noise_section(c.headline.noise, c.headline.results)),
    Part("latency", "Latency test", lambda c: latency_sections(c.run, c.summary), LATENCY_PNGS, (LATENCY_CSV,),
         ("latency/",)),
    Part("bandwidth", "Bandwidth test", lambda c: bandwidth_sections(c.run, c.summary), (BANDWIDTH_PNG,),
         (BANDWIDTH_CSV,), ("bandwidth/",)),
    Part("reference", "Reference: private memory", lambda c: reference_sections(c.run), (REFERENCE_PNG,),
         (REFERENCE_CSV,), ("reference/",)),
    Part("streaming", "Stream", lambda c: streaming_section(c.run), (STREAMING_PNG,), (STREAM_CSV,), ("stream/",)),
    Part("transports", "Transports", lambda c: transports_section(c.run, c.summary), (TRANSPORTS_PNG,),
         (TRANSPORT_CSV,)),
    Part("copy", "Where the copy time goes", lambda c: copy_time_section(c.run, c.summary), (WRITE_STUDY_PNG,),
         (WRITE_STUDY_CSV,)),
    Part("mapping", "Mapping study", lambda c: mapping_study_section(c.run), (MAP_STUDY_PNG,), (MAP_STUDY_CSV,)),
    Part("counters", "Counters", lambda c: counter_sections(c.run), (COUNTERS_PNG,),
         (LATENCY_COUNTERS_CSV, BANDWIDTH_COUNTERS_CSV, PHASE_COUNTERS_CSV)),
    Part("notification", "Notification and CPU", lambda c: notification_section(c.run), (NOTIFICATION_PNG,)),
    Part("bottleneck", "Bottleneck", lambda c: bottleneck_section(c.run, c.summary)),
    Part("suspect", "SUSPECT figures", lambda c: suspect_section(c.findings)),
]


def figure_notes(ctx, prefixes):
    """Beside a section's figures: the noisy runs whose samples they hold, and the figures not reliable."""
    if not prefixes:
        return []
    mine = [r for r in ctx.headline.results if r.spec.key.startswith(prefixes)]
    notes = []
    for item in ctx.headline.noise:
        if item.noisy:
            hit = [r.spec.label for r in mine if item.label in r.noisy_runs]
            if hit:
                notes.append(f"noise: {item.label} was {item.verdict.text}; its samples are in {', '.join(hit)}")
    for r in mine:
        if not r.reliable:
            why = "no figure" if r.figure is None else f"interval {spread(r.figure)}"
            notes.append(f"{NOT_RELIABLE}: {r.spec.label} ({why})")
    return notes


def suspect_notes(ctx, files):
    flat = [f for group in ctx.findings for f in (group if isinstance(group, list) else [group])]
    return [f for f in flat if any(name in f for name in files)] if files else []


def build_sections(ctx, parts):
    """Each part's Section for this report, in order (parts run in order: a later one may read what an
    earlier one put in ctx.summary); parts with no text left out."""
    out = []
    for part in parts:
        lines = part.text(ctx)
        if not lines:
            continue
        notes = part.notes(ctx) if part.notes else figure_notes(ctx, part.figures) + suspect_notes(ctx, part.files)
        out.append(Section(part, lines, notes))
    return out

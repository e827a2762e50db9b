"""The shared region against private memory: the one rule for which samples such a comparison uses.

Each side of a comparison is the median of the samples the headline figures keep (repeats.stage_samples
and repeats.kept_values): a stage's successful iterations, and of a guest phase only those during which the
guest was not switched out or migrated (those measured the scheduler, not the memory); when every sample of a
side was switched out, all of them, and the stage is shown but not compared (as HEADLINE FIGURES never
compares such a figure). The answer's copy and bottleneck lines, BOTTLENECK, the SHARED REGION VS PRIVATE
MEMORY tables, reference.png and the mapping study's private column all take their medians from here, so
that they show one median of each stage and cannot contradict each other."""

import math
from dataclasses import dataclass

from .intervals import pooled_median
from .model import MESSAGE_KEYS, Stage
from .repeats import kept_values, stage_samples
from .stats import ratio, reference_for_size, successful

# A stage counts as slower (or faster) on the shared region than on private memory only beyond this
# ratio: the machines are shared and noisy, and the reference has few iterations.
REGION_RATIO_THRESHOLD = 1.5


@dataclass(frozen=True)
class Side:
    """One side of a comparison: the median (ns) of its samples, how many it is over, how many switched-out
    ones were left out, and whether every sample was switched out (the median is then over all of them)."""
    median: float
    n: int
    left_out: int
    all_switched: bool


@dataclass(frozen=True)
class StageComparison:
    """A stage on the shared region against the same work on private memory in the same run."""
    stage: Stage
    region: Side
    private: Side

    @property
    def label(self) -> str:
        return self.stage.label

    @property
    def ratio(self) -> float:
        """Region / private, of the medians (NaN when either is missing or 0)."""
        return ratio(self.region.median, self.private.median)

    @property
    def compared(self) -> bool:
        """Whether the ratio may support a verdict: both sides have undisturbed samples and a ratio."""
        return not (self.region.all_switched or self.private.all_switched) and not math.isnan(self.ratio)

    @property
    def slower(self) -> bool:
        return self.compared and self.ratio > REGION_RATIO_THRESHOLD


def side(run, test, rows, column):
    """The Side of a timing column over some successful rows of a test."""
    samples = stage_samples(run, test, rows, column, MESSAGE_KEYS[test])
    values, all_switched = kept_values([samples])
    n = sum(len(v) for v in values)
    return Side(pooled_median(values) if n else math.nan, n, 0 if all_switched else samples.left_out,
                all_switched and n > 0)


def private_side(run, size, column):
    """A reference column on private memory for a message size, or None when the run has no reference of it."""
    private = reference_for_size(run.reference, size)
    return side(run, "reference", private, column) if private is not None else None


def compare_stages(run, test, rows, stages, size):
    """Each of the stages (model.Stage) that has a private counterpart, over the successful rows of one frame
    of a test, against the reference messages of the same size; [] when the run has none of that size."""
    private = reference_for_size(run.reference, size)
    if private is None or rows is None or rows.empty:
        return []
    return [StageComparison(s, side(run, test, rows, s.column), side(run, "reference", private, s.reference))
            for s in stages if s.reference is not None]


def latency_comparisons(run):
    """The latency frame's stages against private memory."""
    return compare_stages(run, "latency", successful(run.latency), run.latency_stages, run.latency_frame_bytes)


def bandwidth_comparisons(run, frame, size):
    """A bandwidth frame's stages against private memory."""
    rows = successful(run.bandwidth)
    if rows is None:
        return []
    return compare_stages(run, "bandwidth", rows[rows["frame_type"] == frame], run.bandwidth_stages, size)


def slower_stages(comparisons):
    """(label, region/private ratio) of each compared stage more than REGION_RATIO_THRESHOLD slower on the
    shared region than on private memory."""
    return [(c.label, c.ratio) for c in comparisons if c.slower]


def not_compared(comparisons):
    """The labels of the stages a side of which was switched out in every sample."""
    return [c.label for c in comparisons if c.region.all_switched or c.private.all_switched]

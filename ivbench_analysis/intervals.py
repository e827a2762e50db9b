"""Medians a reader can trust: 95% bootstrap intervals over repeated runs, the run-to-run spread,
the "not reliable" rule, and ratios with a verdict.

Data come as runs: a sequence with one sequence of samples (one timed message each) per run.

The interval of a median is a hierarchical percentile bootstrap: each resample draws as many runs as
there are, with replacement, then, inside every drawn run, as many iterations as that run has, with
replacement, and takes the median of everything drawn. Resampling runs carries the run-to-run swing
(what changes between fresh processes: placement, page colouring, the neighbours) into the interval;
resampling iterations carries the message-to-message noise. When the runs agree, the within-run noise
is counted at both levels and the interval comes out somewhat wider than the stated 95%: the safe
direction for a figure that may be marked "not reliable". With a single run only iterations are
resampled (the method string says which). The resamples are drawn from a seeded generator, so the same
data and seed give the same interval.

Pure functions on numbers: no files, no pandas, no plots.
"""

from dataclasses import dataclass
from typing import Optional, Sequence

import numpy as np

CONFIDENCE = 0.95
RESAMPLES = 2000
DEFAULT_SEED = 15

# A figure is "not reliable" when either end of its interval lies further than this fraction of the
# median from it: the differences the project reports (a stage 10% slower in the VM) would drown in it.
UNRELIABLE_HALF_WIDTH = 0.10

# Fewer samples than this and no interval is given: with n samples the widest interval any resampling
# can produce, [min, max], covers the true median with probability 1 - 2 * 0.5**n, which first reaches
# 95% at n = 6. Below that a bootstrap interval would claim a confidence it cannot have.
MIN_INTERVAL_SAMPLES = 6

# Resamples are computed in blocks of at most this many drawn values (8 bytes each: 32 MB), so that a
# 2000-message run repeated 10 times does not allocate gigabytes at once.
BLOCK_VALUES = 4_000_000

METHOD_RUNS = "hierarchical bootstrap: runs, then iterations within each run"
METHOD_ITERATIONS = "bootstrap over iterations (one run)"

TIME = "time"
RATE = "rate"
FASTER = "faster"
SLOWER = "slower"
NO_DIFFERENCE = "no measurable difference"


@dataclass(frozen=True)
class Figure:
    """The median over all runs' samples with its interval (None below MIN_INTERVAL_SAMPLES)."""

    median: float
    low: Optional[float]
    high: Optional[float]
    runs: int
    samples: int
    cv: Optional[float]
    method: str

    @property
    def reliable(self) -> bool:
        return is_reliable(self.median, self.low, self.high)


@dataclass(frozen=True)
class Ratio:
    """A ratio of medians with its percentile interval (None when either side has too few samples)."""

    ratio: float
    low: Optional[float]
    high: Optional[float]
    method: str


@dataclass(frozen=True)
class Comparison:
    """B / A for one figure of two result sets, and what it means for the reader."""

    ratio: Ratio
    kind: str
    verdict: str


def _check_runs(runs: Sequence[Sequence[float]], what: str) -> list:
    """The runs as float arrays; ValueError for no runs, an empty run or a non-finite sample."""
    arrays = []
    for i, run in enumerate(runs):
        try:
            values = np.asarray(run, dtype=float)
        except (TypeError, ValueError) as err:
            raise ValueError(f"{what}: run {i} holds a value that is not a number ({err})") from None
        if values.ndim != 1:
            raise ValueError(f"{what}: run {i} is not a flat sequence of samples (pass one sequence per run)")
        if values.size == 0:
            raise ValueError(f"{what}: run {i} has no samples")
        if not np.isfinite(values).all():
            raise ValueError(f"{what}: run {i} holds NaN or an infinite value")
        arrays.append(values)
    if not arrays:
        raise ValueError(f"{what}: no runs")
    return arrays


def _method(runs: list) -> str:
    return METHOD_RUNS if len(runs) > 1 else METHOD_ITERATIONS


def _pooled_medians(runs: list, picks: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """For each row of picks (run indices drawn with replacement), resample iterations within every
    picked run and return the median of the pooled draw: one value per row.

    A draw only repeats samples that exist, so it is held as a count per sample (in sorted order) rather
    than as values: the median is then found from cumulative counts without sorting every resample."""
    lengths = np.array([r.size for r in runs])
    pooled = np.concatenate(runs)
    total = pooled.size
    order = np.argsort(pooled, kind="stable")
    ordered = pooled[order]
    rank = np.empty(total, dtype=np.intp)
    rank[order] = np.arange(total)
    starts = np.concatenate(([0], np.cumsum(lengths)[:-1]))
    width = int(lengths.max())
    equal = bool((lengths == width).all())
    block = max(1, BLOCK_VALUES // (picks.shape[1] * width))
    out = np.empty(picks.shape[0])
    for first in range(0, picks.shape[0], block):
        chosen = picks[first:first + block]
        count = len(chosen)
        if equal:
            columns = rng.integers(0, width, size=chosen.shape + (width,))
            drawn = rank[starts[chosen][:, :, None] + columns]
        else:
            n = lengths[chosen][:, :, None]
            columns = (rng.random(chosen.shape + (width,)) * n).astype(np.intp)
            # A run shorter than the longest draws only its own length; the rest goes to a discarded bin.
            drawn = np.where(np.arange(width) < n, rank[starts[chosen][:, :, None] + columns], total)
        drawn += (np.arange(count) * (total + 1))[:, None, None]
        counts = np.bincount(drawn.ravel(), minlength=count * (total + 1)).reshape(count, total + 1)
        cumulative = counts[:, :total].cumsum(axis=1)
        size = cumulative[:, -1:]
        # The sample at order position p is the first whose cumulative count exceeds p.
        below = (cumulative <= (size - 1) // 2).sum(axis=1)
        above = (cumulative <= size // 2).sum(axis=1)
        out[first:first + count] = (ordered[below] + ordered[above]) / 2
    return out


def _bootstrap(runs: list, rng: np.random.Generator, resamples: int) -> np.ndarray:
    picks = rng.integers(0, len(runs), size=(resamples, len(runs)))
    return _pooled_medians(runs, picks, rng)


def _tails(confidence: float) -> tuple:
    if not 0 < confidence < 1:
        raise ValueError(f"confidence must lie strictly between 0 and 1, not {confidence}")
    return 100 * (1 - confidence) / 2, 100 * (1 + confidence) / 2


def percentile_interval(values: Sequence[float], confidence: float = CONFIDENCE) -> tuple:
    """The central `confidence` percentile range (low, high) of values, e.g. of bootstrap resamples or of
    per-run ratios; ValueError when empty or not finite."""
    data = np.asarray(values, dtype=float)
    if data.size == 0:
        raise ValueError("percentile interval of no values")
    if not np.isfinite(data).all():
        raise ValueError("percentile interval of NaN or infinite values")
    low, high = np.percentile(data, _tails(confidence))
    return float(low), float(high)


def run_cv(runs: Sequence[Sequence[float]]) -> Optional[float]:
    """Run-to-run coefficient of variation: sample standard deviation of the per-run medians over the
    absolute mean of them. 0 for identical runs; None for a single run or when the mean is 0."""
    arrays = _check_runs(runs, "run-to-run CV")
    if len(arrays) < 2:
        return None
    medians = np.array([np.median(r) for r in arrays])
    spread = float(np.std(medians, ddof=1))
    if spread == 0:
        return 0.0
    mean = abs(float(medians.mean()))
    return spread / mean if mean > 0 else None


def is_reliable(median: float, low: Optional[float], high: Optional[float],
                limit: float = UNRELIABLE_HALF_WIDTH) -> bool:
    """False when there is no interval or either end is further than limit * |median| from the median."""
    if low is None or high is None:
        return False
    return max(median - low, high - median) <= limit * abs(median)


def pooled_median(runs: Sequence[Sequence[float]]) -> float:
    """The median of all samples of all runs pooled: median_interval's figure without its interval."""
    return float(np.median(np.concatenate(_check_runs(runs, "median"))))


def median_interval(runs: Sequence[Sequence[float]], seed: int = DEFAULT_SEED,
                    resamples: int = RESAMPLES, confidence: float = CONFIDENCE) -> Figure:
    """Median of all samples of all runs pooled (each run weighs by its sample count) with its 95%
    hierarchical bootstrap interval (runs, then iterations within each drawn run; iterations only for
    a single run) and the run-to-run CV of the per-run medians."""
    arrays = _check_runs(runs, "median interval")
    pooled = np.concatenate(arrays)
    median = float(np.median(pooled))
    low = high = None
    if pooled.size >= MIN_INTERVAL_SAMPLES:
        medians = _bootstrap(arrays, np.random.default_rng(seed), resamples)
        low, high = percentile_interval(medians, confidence)
    return Figure(median, low, high, len(arrays), int(pooled.size), run_cv(arrays), _method(arrays))


def _ratio_interval(numerators: np.ndarray, denominators: np.ndarray, confidence: float) -> tuple:
    if (denominators <= 0).any() or (numerators <= 0).any():
        raise ValueError("ratio of medians needs positive samples: a resampled median was 0 or negative")
    return percentile_interval(numerators / denominators, confidence)


def _point_ratio(numerator: list, denominator: list) -> float:
    top, bottom = float(np.median(np.concatenate(numerator))), float(np.median(np.concatenate(denominator)))
    if top <= 0 or bottom <= 0:
        raise ValueError(f"ratio of medians needs positive medians, not {top} / {bottom}")
    return top / bottom


def _enough(*sides: list) -> bool:
    return all(sum(r.size for r in side) >= MIN_INTERVAL_SAMPLES for side in sides)


def ratio_interval(a_runs: Sequence[Sequence[float]], b_runs: Sequence[Sequence[float]],
                   seed: int = DEFAULT_SEED, resamples: int = RESAMPLES,
                   confidence: float = CONFIDENCE) -> Ratio:
    """median(B) / median(A) of two independent result sets; each is bootstrapped on its own (its own
    generator from the seed) and the interval is that of the ratio of the resampled medians."""
    a, b = _check_runs(a_runs, "ratio, set A"), _check_runs(b_runs, "ratio, set B")
    ratio = _point_ratio(b, a)
    if not _enough(a, b):
        return Ratio(ratio, None, None, f"A: {_method(a)}; B: {_method(b)}")
    rng_a, rng_b = (np.random.default_rng(s) for s in np.random.SeedSequence(seed).spawn(2))
    low, high = _ratio_interval(_bootstrap(b, rng_b, resamples), _bootstrap(a, rng_a, resamples), confidence)
    return Ratio(ratio, low, high, f"A: {_method(a)}; B: {_method(b)}")


def verdict(ratio: Ratio, kind: str) -> str:
    """faster, slower or no measurable difference for B against A, from whether the interval of B / A
    excludes 1: for a time (lower is better) B / A above 1 is slower, for a rate (higher is better) faster."""
    if kind not in (TIME, RATE):
        raise ValueError(f"figure kind must be {TIME!r} or {RATE!r}, not {kind!r}")
    if ratio.low is None or ratio.high is None or ratio.low <= 1 <= ratio.high:
        return NO_DIFFERENCE
    b_higher = ratio.low > 1
    return (SLOWER if b_higher else FASTER) if kind == TIME else (FASTER if b_higher else SLOWER)


def compare(a_runs: Sequence[Sequence[float]], b_runs: Sequence[Sequence[float]], kind: str,
            seed: int = DEFAULT_SEED, resamples: int = RESAMPLES) -> Comparison:
    """B / A with its interval and the verdict word; kind is TIME or RATE."""
    if kind not in (TIME, RATE):
        raise ValueError(f"figure kind must be {TIME!r} or {RATE!r}, not {kind!r}")
    ratio = ratio_interval(a_runs, b_runs, seed, resamples)
    return Comparison(ratio, kind, verdict(ratio, kind))


def same_run_ratio(numerator_runs: Sequence[Sequence[float]], denominator_runs: Sequence[Sequence[float]],
                   seed: int = DEFAULT_SEED, resamples: int = RESAMPLES,
                   confidence: float = CONFIDENCE) -> Ratio:
    """median(numerator) / median(denominator) where run i of both was measured in the same process
    (e.g. a phase on the region and the same phase on private memory): each resample draws the same
    runs for both sides, so that what a run shares (placement, neighbours) cancels in the ratio, then
    iterations within each side independently; the interval is the percentile range of the ratios."""
    top = _check_runs(numerator_runs, "same-run ratio, numerator")
    bottom = _check_runs(denominator_runs, "same-run ratio, denominator")
    if len(top) != len(bottom):
        raise ValueError(f"same-run ratio: {len(top)} numerator runs but {len(bottom)} denominator runs")
    ratio = _point_ratio(top, bottom)
    method = "same-run " + _method(top)
    if not _enough(top, bottom):
        return Ratio(ratio, None, None, method)
    rng = np.random.default_rng(seed)
    picks = rng.integers(0, len(top), size=(resamples, len(top)))
    low, high = _ratio_interval(_pooled_medians(top, picks, rng), _pooled_medians(bottom, picks, rng),
                                confidence)
    return Ratio(ratio, low, high, method)

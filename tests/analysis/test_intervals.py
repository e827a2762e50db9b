"""ivbench_analysis.intervals against distributions whose median is known: the 95% intervals cover it at
about the stated rate, a known factor between two sets is found, equal sets are not told apart."""

import math

import numpy as np
import pytest

from ivbench_analysis import intervals as iv

TRIALS = 400
TRUE_MEDIAN = 100.0
COVERAGE_RANGE = (0.90, 0.99)


def coverage(make_runs, seed):
    """Fraction of TRIALS simulated data sets whose interval holds TRUE_MEDIAN."""
    rng = np.random.default_rng(seed)
    hits = 0
    for trial in range(TRIALS):
        figure = iv.median_interval(make_runs(rng), seed=trial)
        hits += figure.low <= TRUE_MEDIAN <= figure.high
    return hits / TRIALS


def lognormal(rng, n, sigma=0.5, shift=0.0):
    return rng.lognormal(math.log(TRUE_MEDIAN) + shift, sigma, n)


def test_one_run_normal_covers_true_median():
    rate = coverage(lambda rng: [rng.normal(TRUE_MEDIAN, 10, 15)], seed=1)
    assert COVERAGE_RANGE[0] <= rate <= COVERAGE_RANGE[1]


def test_one_run_lognormal_covers_true_median():
    rate = coverage(lambda rng: [lognormal(rng, 20)], seed=2)
    assert COVERAGE_RANGE[0] <= rate <= COVERAGE_RANGE[1]


def test_runs_that_swing_cover_true_median():
    # Each run's level moves (as fresh processes on these machines do) on top of per-message noise: an
    # interval from iterations alone would be far too narrow, one from run medians alone too.
    def runs(rng):
        return [rng.normal(TRUE_MEDIAN + rng.normal(0, 5), 10, 8) for _ in range(5)]
    rate = coverage(runs, seed=3)
    assert COVERAGE_RANGE[0] <= rate <= COVERAGE_RANGE[1]


def test_figure_fields_and_method():
    rng = np.random.default_rng(4)
    runs = [lognormal(rng, 20, 0.05) for _ in range(4)]
    figure = iv.median_interval(runs)
    assert figure.median == pytest.approx(np.median(np.concatenate(runs)))
    assert figure.low < figure.median < figure.high
    assert (figure.runs, figure.samples, figure.method) == (4, 80, iv.METHOD_RUNS)
    assert figure.reliable
    assert iv.median_interval(runs[:1]).method == iv.METHOD_ITERATIONS
    assert iv.median_interval(runs[:1]).cv is None


def test_same_seed_same_interval_other_seeds_differ():
    runs = [np.random.default_rng(5).normal(TRUE_MEDIAN, 10, 24) for _ in range(3)]
    first, again = iv.median_interval(runs, seed=7), iv.median_interval(runs, seed=7)
    assert (first.low, first.high) == (again.low, again.high)
    others = {(f.low, f.high) for f in (iv.median_interval(runs, seed=s) for s in (8, 9, 10))}
    assert others - {(first.low, first.high)}


def reference_interval(runs, resamples=iv.RESAMPLES, seed=0):
    """The hierarchical bootstrap written as plainly as possible, one resample at a time."""
    rng = np.random.default_rng(seed)
    medians = []
    for _ in range(resamples):
        drawn = []
        for _ in runs:
            run = runs[rng.integers(len(runs))]
            drawn.extend(rng.choice(run, size=len(run), replace=True))
        medians.append(np.median(drawn))
    return np.percentile(medians, [2.5, 97.5])


def test_runs_of_different_lengths_match_a_plain_bootstrap():
    # Three levels apart, so that how many samples each drawn run contributes moves the median (a
    # short run drawn as many times as the longest puts the upper end near 3.18 instead of 3.30).
    rng = np.random.default_rng(6)
    runs = [rng.normal(level, 1, n) for level, n in ((0, 3), (3, 40), (1.5, 9))]
    figure = iv.median_interval(runs)
    assert figure.samples == 52
    low, high = reference_interval(runs)
    assert figure.low == pytest.approx(low, abs=0.05)
    assert figure.high == pytest.approx(high, abs=0.05)


def test_large_runs_are_fast_enough_for_a_report():
    # 5 runs of 2000 messages (the 64 B latency run, repeated): computed in blocks, well under a second
    # on an idle machine; the bound leaves room for a loaded one.
    runs = [np.random.default_rng(i).normal(TRUE_MEDIAN, 10, 2000) for i in range(5)]
    figure = iv.median_interval(runs)
    assert TRUE_MEDIAN - 1 < figure.low < figure.high < TRUE_MEDIAN + 1


def test_cv_of_constant_runs_is_zero():
    assert iv.run_cv([[5.0] * 10, [5.0] * 7, [5.0]]) == 0.0
    figure = iv.median_interval([[5.0] * 10, [5.0] * 7])
    assert (figure.low, figure.median, figure.high, figure.cv) == (5.0, 5.0, 5.0, 0.0)
    assert figure.reliable


def test_cv_is_spread_of_run_medians():
    runs = [[90.0, 100.0, 110.0], [100.0, 110.0, 120.0], [110.0, 120.0, 130.0]]
    # run medians 100, 110, 120: sample standard deviation 10, mean 110.
    assert iv.run_cv(runs) == pytest.approx(10 / 110)
    assert iv.run_cv(runs[:1]) is None
    assert iv.run_cv([[-1.0], [1.0]]) is None


@pytest.mark.parametrize("low, high, reliable", [
    (90.0, 110.0, True), (89.0, 105.0, False), (95.0, 111.0, False), (None, None, False)])
def test_not_reliable_beyond_ten_percent(low, high, reliable):
    assert iv.is_reliable(100.0, low, high) is reliable


def test_wide_interval_marked_not_reliable():
    figure = iv.median_interval([lognormal(np.random.default_rng(9), 12, sigma=1.0)])
    assert not figure.reliable


@pytest.mark.parametrize("runs, message", [
    ([], "no runs"), ([[]], "run 0 has no samples"), ([[1.0, 2.0], []], "run 1 has no samples"),
    ([[1.0, float("nan")]], "NaN"), ([[1.0, float("inf")]], "infinite"), ([[1.0, "x"]], "not a number"),
    ([1.0, 2.0], "one sequence per run")])
def test_bad_input_is_a_clear_error(runs, message):
    with pytest.raises(ValueError, match=message):
        iv.median_interval(runs)


def test_too_few_samples_give_no_interval():
    for runs in ([[3.0]], [[1.0, 2.0], [3.0, 4.0, 5.0]]):
        figure = iv.median_interval(runs)
        assert figure.low is None and figure.high is None and not figure.reliable
    assert iv.median_interval([[1.0, 2.0, 3.0, 4.0, 5.0, 6.0]]).low is not None
    assert iv.median_interval([[3.0]]).median == 3.0


def two_sets(rng, factor, runs=3, n=20):
    a = [lognormal(rng, n, sigma=0.3) for _ in range(runs)]
    b = [lognormal(rng, n, sigma=0.3, shift=math.log(factor)) for _ in range(runs)]
    return a, b


def test_known_factor_is_slower_time_and_faster_rate():
    a, b = two_sets(np.random.default_rng(10), 1.5)
    time = iv.compare(a, b, iv.TIME)
    assert time.verdict == iv.SLOWER
    assert time.ratio.low < 1.5 < time.ratio.high
    assert 1 < time.ratio.low
    assert iv.compare(a, b, iv.RATE).verdict == iv.FASTER
    back = iv.compare(b, a, iv.TIME)
    assert back.verdict == iv.FASTER
    assert back.ratio.low < 1 / 1.5 < back.ratio.high
    assert iv.compare(b, a, iv.RATE).verdict == iv.SLOWER


def test_same_distribution_is_mostly_no_difference():
    rng = np.random.default_rng(11)
    words = [iv.compare(*two_sets(rng, 1.0, runs=2, n=15), iv.TIME, seed=t).verdict for t in range(100)]
    assert words.count(iv.NO_DIFFERENCE) >= 85
    # The two kinds of error are both possible, so neither direction is favoured by construction.
    assert set(words) <= {iv.NO_DIFFERENCE, iv.FASTER, iv.SLOWER}


def test_verdict_rules():
    assert iv.verdict(iv.Ratio(1.2, 1.1, 1.3, ""), iv.TIME) == iv.SLOWER
    assert iv.verdict(iv.Ratio(0.8, 0.7, 0.9, ""), iv.TIME) == iv.FASTER
    assert iv.verdict(iv.Ratio(1.2, 1.1, 1.3, ""), iv.RATE) == iv.FASTER
    assert iv.verdict(iv.Ratio(0.8, 0.7, 0.9, ""), iv.RATE) == iv.SLOWER
    assert iv.verdict(iv.Ratio(1.0, 0.9, 1.1, ""), iv.RATE) == iv.NO_DIFFERENCE
    assert iv.verdict(iv.Ratio(1.5, None, None, ""), iv.TIME) == iv.NO_DIFFERENCE
    with pytest.raises(ValueError, match="kind"):
        iv.compare([[1.0]], [[1.0]], "speed")


def test_ratio_of_non_positive_medians_is_an_error():
    with pytest.raises(ValueError, match="positive"):
        iv.ratio_interval([[0.0] * 10], [[1.0] * 10])


def test_same_run_ratio_cancels_what_a_run_shares():
    # Region and private phase of each run share the run's level (a factor up to 2x between runs, as
    # seen here); the region takes 1.25x the private time in every run.
    rng = np.random.default_rng(12)
    levels = rng.uniform(1, 2, 5)
    private = [lognormal(rng, 15, sigma=0.05) * level for level in levels]
    region = [lognormal(rng, 15, sigma=0.05) * level * 1.25 for level in levels]
    paired = iv.same_run_ratio(region, private)
    assert paired.low < 1.25 < paired.high
    assert paired.high - paired.low < 0.1
    # Without the pairing the swing between runs lands in the interval.
    unpaired = iv.ratio_interval(private, region)
    assert unpaired.high - unpaired.low > 2 * (paired.high - paired.low)
    with pytest.raises(ValueError, match="5 numerator runs but 4"):
        iv.same_run_ratio(region, private[:4])


def test_percentile_interval():
    assert iv.percentile_interval(np.arange(101.0)) == pytest.approx((2.5, 97.5))
    assert iv.percentile_interval(np.arange(101.0), 0.5) == pytest.approx((25, 75))
    with pytest.raises(ValueError, match="no values"):
        iv.percentile_interval([])
    with pytest.raises(ValueError, match="between 0 and 1"):
        iv.percentile_interval([1.0], 95)

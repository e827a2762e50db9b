"""HEADLINE FIGURES: each stage's median time (and MB/s) over every run of a set, with its 95% interval,
the run-to-run CV, "not reliable" where the interval reaches further than 10% from the median, and the
switched-out phases left out."""

from .. import intervals
from ..repeats import SAMPLE_WORDS
from .text import fmt, fmt_durations, fmt_table, section

HEADER = ["figure", "unit", "median", "95%_low", "95%_high", "spread", "MB/s", "MB/s_low", "MB/s_high", "run_CV",
          "runs", "n", "left_out", "reliable"]
NOT_RELIABLE = "not reliable"


def value_cells(spec, figure):
    """The unit and the median, low and high cells: a time in the unit that fits its median (text.fmt_durations,
    the one way the report writes a duration), a rate as it is with one decimal."""
    values = [figure.median, figure.low, figure.high]
    if spec.kind == intervals.TIME:
        unit, cells = fmt_durations(values)
        return [unit] + cells
    return [spec.unit] + [fmt(v, 1) for v in values]


def mbps_cells(spec, figure):
    """MB/s of the median and of the interval's ends (a longer time is a lower rate), or n/a."""
    if spec.size is None:
        return ["-", "-", "-"]

    def rate(value):
        if value is None or value <= 0:
            return None
        return spec.size / value * 1e3 if spec.kind == intervals.TIME else spec.size * value / 1e6
    ends = (figure.high, figure.low) if spec.kind == intervals.TIME else (figure.low, figure.high)
    return [fmt(rate(figure.median)), fmt(rate(ends[0])), fmt(rate(ends[1]))]


def spread(figure):
    if figure.low is None or figure.high is None or figure.median == 0:
        return "n/a"
    base = abs(figure.median)
    return f"-{100 * (figure.median - figure.low) / base:.1f}%/+{100 * (figure.high - figure.median) / base:.1f}%"


def figure_row(result):
    spec, figure = result.spec, result.figure
    left = f"{result.left_out}/{result.total}" if result.left_out else "0"
    if figure is None:
        return [spec.label, spec.unit] + ["n/a"] * 4 + ["-", "-", "-", "n/a", str(len(result.per_run)), "0", left,
                                                        NOT_RELIABLE]
    cv = "n/a" if figure.cv is None else f"{100 * figure.cv:.1f}%"
    return ([spec.label] + value_cells(spec, figure) + [spread(figure)] + mbps_cells(spec, figure)
            + [cv, str(figure.runs), str(figure.samples), left, "" if result.reliable else NOT_RELIABLE])


def method_words(runs):
    return ("bootstrap over runs, then over iterations within each run" if runs > 1
            else "bootstrap over iterations (one run)")


def left_out_line(result):
    word = SAMPLE_WORDS.get(next((s.phase for _, s in result.per_run if s.phase), None), "samples")
    line = f"  {result.spec.label}: {result.left_out} of {result.total} {word} left out: switched out"
    if result.all_switched:
        line += " (none left: the figure is over all of them, not reliable)"
    elif result.figure is None:
        line += " (none left: no figure)"
    return line


def figures_section(run_set, results, problems, resamples=intervals.RESAMPLES):
    runs = len(run_set.runs)
    lines = section(f"HEADLINE FIGURES (median over {runs} run{'s' if runs > 1 else ''}, 95% interval)")
    if not results:
        return lines + ["  no headline figure: no successful message in any run"] + [f"  {p}" for p in problems]
    lines += [
        f"  Median of every kept sample of every run; 95% interval: {method_words(runs)}",
        f"  (percentile bootstrap, {resamples} resamples). run_CV: run-to-run coefficient of variation of the",
        "  per-run medians (n/a: one run). spread: how far each end of the interval lies from the median;",
        f"  {NOT_RELIABLE}: an end further than {100 * intervals.UNRELIABLE_HALF_WIDTH:.0f}% from the median, or no "
        f"interval (fewer than {intervals.MIN_INTERVAL_SAMPLES} samples).",
        "  Times in the unit that fits each median (ns, us, ms, s; 3 significant digits); MB/s = frame bytes /",
        "  time (its interval is the time interval's ends converted).",
        "  left_out: guest phases switched out or migrated (phase_performance.csv), left out of the figure.",
    ]
    lines += fmt_table(HEADER, [figure_row(r) for r in results])
    unreliable = sum(1 for r in results if not r.reliable)
    lines.append(f"  {unreliable} of {len(results)} figures not reliable")
    if not any(r.spec.key.startswith("stream/") for r in results):
        lines.append("  stream: no stream_results.csv in any run (no frames/s figures)")
    lines += [f"  {p}" for p in problems]
    unfiltered = [label for run, label in zip(run_set.runs, run_set.labels) if run.phase_counters is None]
    if unfiltered:
        lines.append(f"  phase counters not recorded ({', '.join(unfiltered)}): switched-out phases could not be "
                     "left out there")
    switched = [r for r in results if r.left_out]
    if switched:
        lines += ["", "  Left out of the figures:"] + [left_out_line(r) for r in switched]
    return lines

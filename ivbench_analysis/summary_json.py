"""summary.json: the headline figures for CI pipelines and scripts (the model is hyperfine's --export-json):
each figure's unit, median, 95% interval, n, reliable flag and the noise of the runs it holds, with the
answer's lines and a format version. docs/summary-json.md describes the format; a change of a key or of a
meaning bumps FORMAT_VERSION."""

import json
import math

from .intervals import TIME, UNRELIABLE_HALF_WIDTH
from .manifest import is_tcg, lookup
from .report.figures import NOT_RELIABLE
from .safe_io import write_output

SUMMARY_JSON = "summary.json"
FORMAT = "ivshmem-bench-summary"
FORMAT_VERSION = 1


def number(value):
    """A float for JSON, or None (JSON has no NaN or infinity)."""
    if value is None or not math.isfinite(float(value)):
        return None
    return float(value)


def text(value):
    """A run.json value as a string, or None (it may be any JSON value, NaN included)."""
    return None if value is None else str(value)


def in_unit(spec, value):
    """A figure's value in its unit: times are kept in ns and shown in us."""
    if value is None:
        return None
    return number(value / 1e3 if spec.kind == TIME else value)


def mbps(spec, value):
    if spec.size is None or value is None or value <= 0:
        return None
    return number(spec.size / value * 1e3 if spec.kind == TIME else spec.size * value / 1e6)


def figure_record(result):
    spec, figure = result.spec, result.figure
    record = {"key": spec.key, "label": spec.label, "unit": spec.unit, "bytes": spec.size,
              "median": None, "low": None, "high": None, "n": 0, "runs": 0, "run_cv": None,
              "left_out": result.left_out, "reliable": result.reliable, "noisy_runs": list(result.noisy_runs),
              "mbps": None}
    if figure is None:
        return record
    record.update({"median": in_unit(spec, figure.median), "low": in_unit(spec, figure.low),
                   "high": in_unit(spec, figure.high), "n": figure.samples, "runs": figure.runs,
                   "run_cv": number(figure.cv) if figure.cv is not None else None})
    if spec.size is not None:
        # A longer time is a lower rate: the interval's ends swap.
        ends = (figure.high, figure.low) if spec.kind == TIME else (figure.low, figure.high)
        record["mbps"] = {"median": mbps(spec, figure.median), "low": mbps(spec, ends[0]),
                          "high": mbps(spec, ends[1])}
    return record


def noise_record(item):
    if item.verdict is None:
        return {"run": item.label, "verdict": None, "reasons": [], "not_recorded": [], "error": item.error}
    return {"run": item.label, "verdict": item.verdict.state, "reasons": list(item.verdict.reasons),
            "not_recorded": list(item.verdict.not_recorded), "error": None}


def summary(report):
    """The summary of a report (report.Report) as a JSON-ready dict."""
    headline = report.ctx.headline
    runs = headline.run_set.runs
    manifest = runs[0].manifest if runs else {}
    suspects = report.ctx.findings
    count = sum(len(f) for f in suspects) if suspects and isinstance(suspects[0], list) else len(suspects)
    return {
        "format": FORMAT,
        "version": FORMAT_VERSION,
        "results_folder": str(headline.run_set.folder.resolve()),
        "runs": headline.run_set.labels,
        "environment": {
            "vm": text(lookup(manifest, "meta", "vm")), "accelerator": text(lookup(manifest, "meta", "accel")),
            "tcg": any(is_tcg(run.manifest) for run in runs),
            "mapping": text(lookup(manifest, "guest", "mapping")),
            "memory_type": text(lookup(manifest, "guest", "memory_type")),
            "git_revision": text(lookup(manifest, "git_revision")),
        },
        "answer": [line.text for line in report.answer],
        "noise": [noise_record(item) for item in headline.noise],
        "figures": [figure_record(r) for r in headline.results],
        "not_reliable": sum(1 for r in headline.results if not r.reliable),
        "not_reliable_means": f"{NOT_RELIABLE}: an interval end further than {100 * UNRELIABLE_HALF_WIDTH:.0f}% from "
                              "the median, or no interval",
        "suspect_findings": count,
    }


def write_summary(folder, report):
    """summary.json in the folder (safe_io: beside it, then renamed over it)."""
    text = json.dumps(summary(report), indent=2, allow_nan=False) + "\n"
    write_output(folder, SUMMARY_JSON, lambda f: f.write(text.encode("utf-8")))

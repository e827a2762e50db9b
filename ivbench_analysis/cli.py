"""The command: arguments, the analysis of one folder (report, plots, the summary on stdout), exit codes.

Exit status: 0 report written, 1 bad input (a timing CSV that cannot be used; or a counter, study or
run.json file that cannot be used: then the report and plots are still written from the rest) or every
iteration of a test failed, 2 usage error. Every error is one line on stderr."""

import argparse
import contextlib
import io
import importlib.util
import os
import sys
from pathlib import Path

import numpy as np

from . import MISSING_PACKAGE
from .checks import find_suspects
from .compare import compare
from .intervals import RESAMPLES
from .load import InputError, PROG, load_run, warn
from .manifest import TCG_WARNING, is_tcg
from .model import Summary
from .page import REPORT_HTML, write_compare_page, write_page
from .plots import write_plots, write_set_plots
from .report import make_report, make_set_report
from .report.answer import answer_section
from .report.streaming import stream_summary
from .repeats import RunSet, admit_folders, refuse_unlike, run_folders
from .safe_io import write_output
from .stats import successful
from .streams import load_streams
from .summary_json import SUMMARY_JSON, write_summary


DEFAULT_RESULTS_DIR = "results/latest"
REPORT_TXT = "performance_report.txt"


def all_failed_tests(run):
    """Tests that recorded rows but not one successful iteration."""
    return [name for name in ("latency", "bandwidth")
            if run.timings(name) is not None and not run.timings(name).empty and successful(run.timings(name)).empty]


def analyse(folder, plots=True, resamples=RESAMPLES):
    """The report and (unless plots is False) the plots of one results folder, or of every run of a
    folder of repeated runs and the report over all of them; the exit status."""
    folders = run_folders(folder)
    if folders is not None:
        return analyse_set(folder, folders, plots, resamples)
    return analyse_run(folder, plots, resamples)[0]


def analyse_set(folder, folders, plots, resamples):
    """Each run's own report as for a single run, then performance_report.txt in the folder over every
    run that could be loaded; a run that cannot be is named in one line and left out (exit status 1)."""
    admitted, refused = admit_folders(folder, folders)
    run_set = RunSet(folder, [], [], refused, repeated=True)
    findings, status = [], 0
    for label, why in refused:
        warn(f"{label}: {why}")
        status = 1
    for path in admitted:
        try:
            run_status, run, found = analyse_run(path, plots, resamples, nested=True)
        except InputError as err:
            warn(f"{path.name}: {err}; run left out")
            run_set.failed.append((path.name, str(err)))
            status = 1
            continue
        status = max(status, run_status)
        run_set.runs.append(run)
        run_set.labels.append(path.name)
        findings.append(found)
    if not run_set.runs:
        raise InputError(f"{folder}: none of its {len(folders)} run folders could be analysed")
    gone = refuse_unlike(run_set)
    for label, why in run_set.failed[len(run_set.failed) - len(gone):]:
        warn(f"{label}: {why}")
        status = 1
    findings = [found for i, found in enumerate(findings) if i not in gone]
    report = make_set_report(run_set, findings, resamples)
    write_output(folder, REPORT_TXT, lambda f: f.write(report.text.encode("utf-8")))
    written = write_set_plots(report.ctx.headline, folder) if plots else []
    write_page(folder, report, f"ivshmem-bench: {len(run_set.runs)} repeated runs", written)
    write_summary(folder, report)
    print(f"{PROG}: {folder}: {len(run_set.runs)} of {len(folders)} runs analysed together")
    for label, error in run_set.failed:
        print(f"  left out: {label} ({error})")
    print(f"  wrote {REPORT_TXT} (headline figures over the runs, each run's noise), {REPORT_HTML}, {SUMMARY_JSON}"
          + "".join(f", {p}" for p in written))
    print_answer(report)
    return status


def print_answer(report):
    """The answer, the last lines on the terminal."""
    for line in answer_section(report.ctx, report.answer)[:-1]:
        print(line)


def analyse_run(folder, plots, resamples, nested=False):
    """One results folder: (exit status, the Run, its SUSPECT findings). nested: one run of a folder of
    repeated runs (the answer is printed once, over all of them)."""
    run = load_run(folder)
    # A stage of 0 ns divides by zero: the figure is inf or nan ("n/a"), the checks flag the time, and numpy's
    # warnings would only add lines to stderr.
    with np.errstate(divide="ignore", invalid="ignore"):
        findings = find_suspects(run) + load_streams(run).findings
        summary = Summary()
        report = make_report(run, findings, summary, resamples)
        write_output(folder, REPORT_TXT, lambda f: f.write(report.text.encode("utf-8")))
        written, skipped = write_plots(run, report.ctx.headline) if plots else ([], [])
        write_page(folder, report, "ivshmem-bench performance report", written)
        write_summary(folder, report)

    print(f"{PROG}: {folder}")
    if is_tcg(run.manifest):
        print(f"  ! {TCG_WARNING}")
    for key, text in (("latency", summary.latency), ("bandwidth", summary.bandwidth)):
        if text is not None:
            print(f"  {key}: {text}")
    for line in summary.bandwidth_frames:
        print(f"    {line}")
    for line in (summary.bottleneck_latency or summary.bottleneck_bandwidth)[:2]:
        print(f"  {line.strip()}")
    for line in summary.copy_study:
        print(f"  write study {line}")
    for line in stream_summary(run):
        print(f"  {line}")
    print(f"  SUSPECT figures: {len(findings)}" + (" (see the report)" if findings else ""))
    print(f"  wrote {REPORT_TXT}, {REPORT_HTML}, {SUMMARY_JSON}" + "".join(f", {p}" for p in written))
    for item in skipped:
        print(f"  not written: {item}")
    if not plots:
        print("  plots not written (--no-plots)")

    if not nested:
        print_answer(report)
    failed = all_failed_tests(run)
    if failed:
        raise InputError(f"every {' and every '.join(failed)} iteration failed; see {folder / REPORT_TXT}")
    if run.input_errors:
        print(f"  unusable input files: {len(run.input_errors)} (stderr and the report say which); exit status 1")
        return 1, run, findings
    return 0, run, findings


def compare_page(folders, resamples, path):
    """--compare of two folders, printed as without --html, and its page written to path."""
    rows, printed = [], io.StringIO()
    try:
        with contextlib.redirect_stdout(printed):
            status = compare(folders, resamples, rows)
    finally:
        sys.stdout.write(printed.getvalue())
    write_compare_page(path, [str(f) for f in folders], rows, printed.getvalue())
    print(f"{PROG}: wrote {path}")
    return status


def positive(text):
    """A whole number above 0 (argparse type)."""
    if not (text.isascii() and text.isdigit()) or int(text) == 0:
        raise argparse.ArgumentTypeError(f"not a whole number above 0: {text!r}")
    return int(text)


class OneLineParser(argparse.ArgumentParser):
    """Usage errors as one line on stderr (argparse adds the whole usage); exit status 2."""

    def error(self, message):
        self.exit(2, f"{PROG}: {message} (--help shows the usage)\n")


def main(argv=None):
    parser = OneLineParser(
        prog="analyze_results.py",
        description="Statistics, plots and performance_report.txt for one ivshmem-bench results folder "
                    "(or a folder of repeated runs: run-1 ... run-N).",
    )
    parser.add_argument("results_dir", nargs="?", default=DEFAULT_RESULTS_DIR,
                        help=f"folder with the CSVs and run.json, or with run-1 ... run-N folders of repeated "
                             f"runs (default: {DEFAULT_RESULTS_DIR})")
    parser.add_argument("--compare", nargs="+", metavar="DIR",
                        help="two folders: each headline figure's ratio B/A with its 95%% interval and a verdict; "
                             "with single runs also (and for more than two only) the runs side by side "
                             "(mode, latency, CPU per message); instead of a report")
    parser.add_argument("--html", metavar="FILE",
                        help="with --compare of two folders: also write the comparison as a self-contained page")
    parser.add_argument("--resamples", type=positive, default=RESAMPLES, metavar="N",
                        help=f"bootstrap resamples per interval (default: {RESAMPLES})")
    parser.add_argument("--no-plots", action="store_true",
                        help="write the report only (no PNGs; matplotlib is not needed)")
    args = parser.parse_args(argv)
    if args.compare is not None and args.results_dir != DEFAULT_RESULTS_DIR:
        parser.error("--compare takes the folders itself: put them after it")
    if args.compare is not None and len(args.compare) < 2:
        parser.error("--compare needs two results folders or more")
    if args.html is not None and (args.compare is None or len(args.compare) != 2):
        parser.error("--html takes --compare of two folders (a results folder gets its report.html anyway)")
    if args.compare is None and not args.no_plots and importlib.util.find_spec("matplotlib") is None:
        sys.exit(f"{PROG}: {MISSING_PACKAGE.format('matplotlib')}")
    try:
        if args.compare is not None and args.html is not None:
            return compare_page([Path(d) for d in args.compare], args.resamples, Path(args.html))
        if args.compare is not None:
            return compare([Path(d) for d in args.compare], args.resamples)
        return analyse(Path(args.results_dir), plots=not args.no_plots, resamples=args.resamples)
    except InputError as err:
        warn(str(err))
        return 1
    except Exception as err:  # a bug here: still one line, the measurements stay untouched
        if os.environ.get("IVB_ANALYSIS_TRACEBACK"):
            raise
        warn(f"internal error: {type(err).__name__}: {err} (IVB_ANALYSIS_TRACEBACK=1 shows where)")
        return 1

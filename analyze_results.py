#!/usr/bin/python3
# /// script
# requires-python = ">=3.9"
# dependencies = [
#     "numpy>=1.20",
#     "pandas>=1.3",
#     "matplotlib>=3.5",
# ]
# ///
"""Statistics, plots and a performance report for one ivshmem-bench results folder.

Usage: ./analyze_results.py [--no-plots] [--resamples N] [RESULTS_DIR]   (default: results/latest;
       a folder of run-1 ... run-N folders: each run's report and one over all of them)
       ./analyze_results.py --compare A B  (each headline figure: B/A with its 95% interval and a verdict)
       ./analyze_results.py --compare DIR DIR...  (side by side: mode, latency, CPU per message; stdout only)

The work is done by the package ivbench_analysis/ beside this file (docs/layout.md lists its modules).
Exit status: 0 report written, 1 bad input or every iteration of a test failed, 2 usage error.
"""

import sys
from pathlib import Path

# The package sits beside this script, wherever it is started from (./analyze_results.py, uv run).
sys.path.insert(0, str(Path(__file__).resolve().parent))

from ivbench_analysis import MISSING_PACKAGE, PROG  # noqa: E402  (imports nothing heavy)

try:
    from ivbench_analysis.cli import main  # noqa: E402
except ModuleNotFoundError as err:
    if err.name is None or err.name.startswith("ivbench_analysis"):
        raise
    sys.exit(f"{PROG}: {MISSING_PACKAGE.format(err.name)}")

if __name__ == "__main__":
    sys.exit(main())

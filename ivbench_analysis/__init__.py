"""The analysis of one ivshmem-bench results folder (analyze_results.py is its entry point).

schema reads schema/columns.txt; model names what a run holds (Run); load reads and validates a folder;
stats and checks compute; report/ writes the text, one module per section; plots draws (the only module
that imports matplotlib, and only when it plots); compare puts runs side by side; cli is the command.
This file imports nothing heavy, so that a missing package can be named in one line.
"""

PROG = "analyze_results"
MISSING_PACKAGE = ("missing Python package ({}): install python3-pandas and python3-matplotlib (Debian), "
                   "or run `uv run analyze_results.py`")

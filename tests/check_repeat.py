#!/usr/bin/python3
"""Check the layout of `run_test.sh --repeat N`: RESULTS/latest -> <timestamp>/ holding run-1 ... run-N, each
with a completed run.json that matches schema/run.txt both ways (run_test.sh's --meta keys included), whose
meta says repeat_index, repeat_count and same_boot, and whose noise block ivbench_analysis/noise.py can read
(before and after snapshots, the busy list, bench_threads).

Usage: tests/check_repeat.py RESULTS_DIR N SAME_BOOT(true|false)
Prints one line; exit status 0 when everything holds, 1 with the first thing that does not."""

import json
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
from ivbench_analysis import noise, run_schema  # noqa: E402


def check(results: str, count: int, same_boot: str) -> str:
    latest = os.path.join(results, "latest")
    if not os.path.islink(latest):
        return f"{latest} is not a link"
    top = os.path.realpath(latest)
    runs = sorted(e for e in os.listdir(top) if e.startswith("run-"))
    expected = sorted(f"run-{i}" for i in range(1, count + 1))
    if runs != expected:
        return f"{top} holds {runs}, expected {expected}"
    for i in range(1, count + 1):
        path = os.path.join(top, f"run-{i}", "run.json")
        try:
            with open(path) as f:
                manifest = json.load(f)
        except (OSError, ValueError) as err:
            return f"{path}: {err}"
        problems = run_schema.SCHEMA.problems(manifest)
        if problems:
            return f"{path}: {problems[0]} ({run_schema.SCHEMA_PATH.name})"
        if manifest.get("status") != "completed":
            return f"{path}: status {manifest.get('status')!r}"
        meta = manifest.get("meta", {})
        want = {"repeat_index": str(i), "repeat_count": str(count), "same_boot": same_boot}
        for key, value in want.items():
            if meta.get(key) != value:
                return f"{path}: meta.{key} is {meta.get(key)!r}, expected {value!r}"
        block = manifest.get("noise")
        if not isinstance(block, dict):
            return f"{path}: no noise block"
        for side in ("before", "after"):
            if not {"stat", "loadavg"} <= set(block.get(side, {})):
                return f"{path}: noise.{side} lacks stat or loadavg"
        if "busy" not in block or block.get("bench_threads") != noise.DEFAULT_BENCH_THREADS:
            return f"{path}: noise.busy or noise.bench_threads missing"
        try:
            inputs = noise.inputs_from_manifest(block)
        except ValueError as err:
            return f"{path}: noise.py cannot read the noise block: {err}"
        if inputs.before.stat is None or inputs.after.stat is None or inputs.busy is None:
            return f"{path}: noise.py found no snapshots or no busy list"
        # Our own processes are listed apart (other runs' host_writers on a shared machine are busy ones).
        ours = block.get("bench_processes")
        if not isinstance(ours, list) or {p.get("pid") for p in ours} & {p.get("pid") for p in block["busy"]}:
            return f"{path}: noise.bench_processes is not a list apart from noise.busy"
    return ""


def main() -> int:
    if len(sys.argv) != 4 or not sys.argv[2].isdigit() or sys.argv[3] not in ("true", "false"):
        print("usage: tests/check_repeat.py RESULTS_DIR N true|false", file=sys.stderr)
        return 2
    problem = check(sys.argv[1], int(sys.argv[2]), sys.argv[3])
    print(f"check_repeat: {problem}" if problem else f"check_repeat: {sys.argv[2]} runs, layout, meta and noise ok")
    return 1 if problem else 0


if __name__ == "__main__":
    sys.exit(main())

#!/usr/bin/python3
"""Check a run's transport tests: transport_results.csv against run.json's "transports", for the loopback tests
(tests/integration/transports.sh) and the VM tests (tests/vm/test_transports.sh).

Every frame sent has exactly one row, in order; both sides counted the same frames; the failed rows are the
failed count; every latency is positive; at most `window` frames were in flight. These hold on a loaded
machine: none depends on how many frames the scheduler let through.

Usage: tests/check_transports.py RUN_DIR [EXPR...]
Each EXPR is a Python expression that must hold for every transport test, over `m` (run.json), `tests` (its
transport tests), `t` (one test's object) and `mine` (its rows, dicts of strings).
Prints nothing on success; exit status 1 with one line naming the first check that does not hold."""

import csv
import json
import os
import sys
from typing import Any


def check_rows(t: dict[str, Any], mine: list[dict[str, str]]) -> str:
    name = f"{t['transport']} {t['test']} of {t['size_bytes']} B"
    if not len(mine) == t["sent"] == t["acked"]:
        return f"{name}: {len(mine)} rows, {t['sent']} sent, {t['acked']} acknowledged"
    if [int(r["frame"]) for r in mine] != list(range(t["sent"])):
        return f"{name}: the rows' frame numbers are not 0..{t['sent'] - 1} in order"
    if t["guest_taken"] != t["sent"]:
        return f"{name}: the guest took {t['guest_taken']} frames, the host sent {t['sent']}"
    if t["guest_verified"] != t["sent"] - t["failed"]:
        return f"{name}: the guest verified {t['guest_verified']}, the host failed {t['failed']} of {t['sent']}"
    if sum(r["success"] == "0" for r in mine) != t["failed"]:
        return f"{name}: the failed rows are not run.json's {t['failed']}"
    if not all(int(r["latency_ns"]) > 0 for r in mine):
        return f"{name}: a row without a latency"
    if not (t["host_cpu"]["wall_s"] > 0 and "guest_cpu_s" in t):
        return f"{name}: no CPU times"
    # Frame i + window is sent only after frame i's acknowledgement was read.
    w = t["window"]
    if not all(int(b["send_ns"]) >= int(a["send_ns"]) + int(a["latency_ns"]) for a, b in zip(mine, mine[w:])):
        return f"{name}: more than {w} frames in flight"
    return ""


def main() -> int:
    out = sys.argv[1]
    m = json.load(open(os.path.join(out, "run.json")))
    with open(os.path.join(out, "transport_results.csv"), newline="") as f:
        rows = list(csv.DictReader(f))
    tests = m["transports"]["tests"]
    if not tests:
        print(f"{out}: no transport test recorded")
        return 1
    for t in tests:
        mine = [r for r in rows if (r["transport"], r["test"], int(r["size_bytes"])) ==
                (t["transport"], t["test"], t["size_bytes"])]
        why = check_rows(t, mine)
        for expr in sys.argv[2:]:
            if why:
                break
            if not eval(expr, {"m": m, "tests": tests, "t": t, "mine": mine}):
                why = f"{t['transport']} {t['test']} of {t['size_bytes']} B: {expr} does not hold"
        if why:
            print(f"{out}: {why}")
            return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())

#!/usr/bin/python3
"""Check a run's streams: stream_results.csv against run.json's "streams", for the loopback tests
(tests/integration/stream.sh) and the VM tests (tests/vm/test_stream.sh).

Every stream's frames (a stream: its frame type, direction and consumer) have exactly one row each, numbered from 0; the
counts agree with the rows; a guest-to-host frame has no host write or slot wait; a dropped
frame has no latency, a consumed one a latency, and a guest copy time when it was copied (none when read in
place); a paced stream published no frame before
its time (frame n at n / fps seconds or later) and no more than its seconds allow. These hold on a loaded
machine: none of them depends on how many frames the scheduler let through.

Usage: tests/check_stream.py RUN_DIR [EXPR...]
Each EXPR is a Python expression that must hold for every stream, over `m` (run.json), `s` (the stream's
object in run.json) and `mine` (its rows, dicts of strings).
Prints nothing on success; exit status 1 with one line naming the first check that does not hold."""

import csv
import json
import os
import sys
from typing import Any

NS_PER_S = 1_000_000_000


def check_rows(s: dict[str, Any], mine: list[dict[str, str]]) -> str:
    name = s.get("frame_type", "?")
    if len(mine) != s["produced"]:
        return f"stream {name}: {len(mine)} rows, run.json says {s['produced']} produced"
    if sorted(int(r["frame"]) for r in mine) != list(range(s["produced"])):
        return f"stream {name}: the rows' frame numbers are not 0..{s['produced'] - 1}"
    if sum(r["dropped"] == "1" for r in mine) != s["dropped"]:
        return f"stream {name}: dropped rows disagree with run.json's dropped {s['dropped']}"
    if s["consumed"] + s["dropped"] != s["produced"]:
        return f"stream {name}: consumed {s['consumed']} + dropped {s['dropped']} != produced {s['produced']}"
    for r in mine:
        if r["dropped"] == "1":
            if r["latency_ns"] != "" or r["status"] != "dropped":
                return f"stream {name}: dropped frame {r['frame']} has a latency or status {r['status']}"
        elif int(r["latency_ns"]) <= 0 or int(r["guest_verify_ns"]) < 0:
            return f"stream {name}: consumed frame {r['frame']} has no latency or guest verify time"
        # A copy is timed; a frame read in place has none.
        elif (r["guest_copy_ns"] == "" or int(r["guest_copy_ns"]) <= 0) if r["consume"] == "copy" \
                else r["guest_copy_ns"] != "":
            return f"stream {name}: frame {r['frame']} ({r['consume']}) has a guest copy time {r['guest_copy_ns']!r}"
    if any(r["consume"] != s.get("consume") for r in mine):
        return f"stream {name}: a row's consume mode is not run.json's {s.get('consume')!r}"
    # The guest wrote a guest-to-host frame: the host measured no write or slot wait of it.
    if s["direction"] == "guest-to-host" and any(r["host_write_ns"] != "" or r["slot_wait_ns"] != "" for r in mine):
        return f"stream {name}: a guest-to-host row has a host write or slot wait"
    fps = s.get("fps_target") or 0
    if fps > 0:
        period = NS_PER_S // fps
        early = [r["frame"] for r in mine if int(r["publish_ns"]) < int(r["frame"]) * period]
        if early:
            return f"stream {name}: paced at {fps}/s, frame {early[0]} was published before its time"
        # Frame n is due at n * period and none is due at the end or later.
        most = -(-s["seconds"] * NS_PER_S // period)
        if s["produced"] > most:
            return f"stream {name}: paced at {fps}/s for {s['seconds']} s, produced {s['produced']} > {most}"
    return ""


def check(run_dir: str, exprs: list[str]) -> str:
    with open(os.path.join(run_dir, "run.json")) as f:
        m = json.load(f)
    with open(os.path.join(run_dir, "stream_results.csv"), newline="") as f:
        rows = list(csv.DictReader(f))
    if m.get("status") != "completed":
        return f"run.json status is {m.get('status')!r}, not 'completed'"
    if not m.get("streams"):
        return "run.json has no streams"
    for s in m["streams"]:
        # A stream is its frame, its direction (both runs one of each) and its consumer (one entry each).
        mine = [r for r in rows if r["frame_type"] == s["frame_type"] and r["direction"] == s["direction"]
                and r["consumer"] == str(s.get("consumer", 0))]
        why = check_rows(s, mine)
        if why:
            return why
        for expr in exprs:
            if not eval(expr, {}, {"m": m, "s": s, "mine": mine}):
                shown = {k: v for k, v in s.items() if k != "windows"}
                return f"stream {s['frame_type']}: {expr} does not hold: {shown}"
    return ""


def main(argv: list[str]) -> int:
    if len(argv) < 2:
        print("usage: tests/check_stream.py RUN_DIR [EXPR...]", file=sys.stderr)
        return 2
    try:
        why = check(argv[1], argv[2:])
    except (OSError, ValueError, KeyError) as e:
        why = f"cannot read the stream of {argv[1]}: {e!r}"
    if why:
        print(f"check_stream: {why}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))

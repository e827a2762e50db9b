#!/usr/bin/env bash
# The stream test in the bench VM under TCG (functional figures only): a block stream polling, then a latest
# stream paced in doorbell mode, where the guest sleeps between frames and the host rings it.
set -euo pipefail
T_NAME=stream
# shellcheck source=tests/vm/lib.sh
. "$(dirname "$0")/lib.sh"

# Every frame of every stream has its row, and run.json's counts agree with the rows.
check_stream() { # dir python-assertions-over-s...
	"$T_PYTHON" - "$@" <<'PY' || t_fail "stream figures in $1"
import csv, json, sys
d = sys.argv[1]
m = json.load(open(f"{d}/run.json"))
rows = list(csv.DictReader(open(f"{d}/stream_results.csv")))
assert len(m["streams"]) == 1, m["streams"]
s = m["streams"][0]
assert s["completed"] and len(rows) == s["produced"] > 0, (len(rows), s)
assert s["consumed"] + s["dropped"] == s["produced"] and s["failed"] == 0, s
for expr in sys.argv[2:]:
    assert eval(expr), (expr, {k: v for k, v in s.items() if k != "windows"})
PY
}

# One field of run.json's first stream.
stream_field() { "$T_PYTHON" -c 'import json, sys; print(json.load(open(sys.argv[1]))["streams"][0][sys.argv[2]])' "$@"; }

t_run "${T_SHORT_RUN[@]}" --stream-seconds 2 --stream-frames 1080p
t_assert_no_qemu
t_assert_rc 0
dir=$(t_run_dir)
check_stream "$dir" 's["policy"] == "block" and s["verify"] == "xxh3" and s["dropped"] == 0' \
	'all(r["status"] == "ok" for r in rows)' 's["pipeline_limit"]["host_write_ns"] > 0'
grep -aq "stream of 6220800-byte frames: [0-9]* taken, [0-9]* verified, 0 failed" "$dir/guest.log" ||
	t_fail "guest.log has no stream summary"
block=$(stream_field "$dir/run.json" produced)

t_run "${T_SHORT_RUN[@]}" --mode doorbell --stream-seconds 2 --stream-frames 64K --stream-policy latest --fps 20 --verify sha256
t_assert_no_qemu
t_assert_rc 0
dir=$(t_run_dir)
check_stream "$dir" 's["policy"] == "latest" and s["verify"] == "sha256" and 30 <= s["produced"] <= 41' \
	's["rings_sent"] > 0'
t_pass "block 1080p: $block frames; latest 64K at 20/s in doorbell mode: $(stream_field "$dir/run.json" consumed) consumed"

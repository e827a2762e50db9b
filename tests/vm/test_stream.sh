#!/usr/bin/env bash
# The stream test in the bench VM under TCG (functional figures only): a block stream polling, then a latest
# stream paced in doorbell mode, where the guest sleeps between frames and the host rings it; each in both
# directions (run_test.sh's default): the guest also writes frames through its mapping and two host consumer
# processes check them (--consumers 2; in doorbell mode the guest rings each consumer's own vector through the
# driver).
set -euo pipefail
T_NAME=stream
# shellcheck source=tests/vm/lib.sh
. "$(dirname "$0")/lib.sh"

# Every frame of every stream has its row, and run.json's counts agree with the rows (tests/check_stream.py).
check_stream() { # dir python-expressions-over-m-s-mine...
	"$T_PYTHON" "$T_TOP/tests/check_stream.py" "$@" || t_fail "stream figures in $1"
}

# One field of run.json's first stream.
stream_field() { "$T_PYTHON" -c 'import json, sys; print(json.load(open(sys.argv[1]))["streams"][0][sys.argv[2]])' "$@"; }

readonly CONSUMERS=(--host-arg --consumers --host-arg 2)
# run.json's streams: host-to-guest, then one per host consumer of guest-to-host.
readonly STREAMS='[(x["direction"], x["consumer"]) for x in m["streams"]] == [("host-to-guest", 0), ("guest-to-host", 0), ("guest-to-host", 1)]'

t_run "${T_SHORT_RUN[@]}" --stream-seconds 2 --stream-frames 1080p "${CONSUMERS[@]}"
t_assert_no_qemu
t_assert_rc 0
dir=$(t_run_dir)
# Block: each consumer keeps every frame the guest produced.
check_stream "$dir" 'len(m["streams"]) == 3 and s["completed"] and s["failed"] == 0' "$STREAMS" \
	's["policy"] == "block" and s["verify"] == "xxh3" and s["dropped"] == 0' \
	's["direction"] == "host-to-guest" or s["consumed"] == m["streams"][1]["produced"] == m["streams"][2]["produced"] > 0' \
	'all(r["status"] == "ok" for r in mine)' 's["pipeline_limit"]["host_write_ns"] > 0'
grep -aq "stream of 6220800-byte frames: [0-9]* taken, [0-9]* verified, 0 failed" "$dir/guest.log" ||
	t_fail "guest.log has no stream summary"
grep -aq "stream of 6220800-byte frames to the host: [0-9]* produced, [0-9]* taken, 0 failed, .* to 2 consumers, 0 of them dropped" \
	"$dir/guest.log" || t_fail "guest.log has no guest-to-host stream summary for 2 consumers"
block=$(stream_field "$dir/run.json" produced)

t_run "${T_SHORT_RUN[@]}" --mode doorbell --stream-seconds 2 --stream-frames 64K --stream-policy latest --fps 20 --verify sha256 \
	"${CONSUMERS[@]}"
t_assert_no_qemu
t_assert_rc 0
dir=$(t_run_dir)
# The bench VM's server and device have a vector per consumer: host_writer does not fall back to a shared one.
! grep -a "interrupt vector" "$T_ERR" || t_fail "the consumers shared a vector in the bench VM"
# The checker holds the pacing (no frame early, none more than 40); how many fewer TCG lets through is not
# the test's to say. The host rings a sleeping guest consumer, and the guest each sleeping host consumer on its
# own vector (each counts rings); a guest producer paced under latest may never sleep on its bell.
check_stream "$dir" 'len(m["streams"]) == 3 and s["completed"] and s["failed"] == 0' "$STREAMS" \
	's["policy"] == "latest" and s["verify"] == "sha256" and s["produced"] > 0' \
	's["direction"] == "guest-to-host" or s["rings_sent"] > 0' \
	's["direction"] == "host-to-guest" or s["rings_received"] > 0'
t_pass "block 1080p: $block frames, guest-to-host to 2 consumers; latest 64K at 20/s in doorbell mode: $(stream_field "$dir/run.json" consumed) consumed"

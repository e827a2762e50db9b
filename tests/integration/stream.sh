#!/usr/bin/env bash
# shellcheck disable=SC2015  # "check && check || fail" is meant: fail when either check fails
# Stream test in loopback: host_writer --stream-seconds and guest_reader on one /dev/shm file, no QEMU.
# Usage: tests/integration/stream.sh [BIN_DIR [TEST...]]   (default: build, every test)
set -euo pipefail

# shellcheck source=tests/integration/stream_lib.sh
. "$(dirname "$0")/stream_lib.sh"

test_block_every_frame_verified() {
	local name=block_every_frame_verified out="$WORK/$1"
	GUEST_ARGS=()
	run_stream "$out" "${STREAM_ONLY[@]}" --stream-seconds 1 --stream-frames 64K,1M --slots 3 --verify xxh3
	[ "$host_rc" -eq 0 ] && [ "$guest_rc" -eq 0 ] || { fail "$name" "exit host $host_rc guest $guest_rc: $(tail -1 "$out/host.err")"; return; }
	check_stream "$out" 's["policy"] == "block" and s["dropped"] == 0 and s["failed"] == 0' \
		's["produced"] > 20 and all(r["status"] == "ok" and r["success"] == "1" for r in mine)' \
		's["pipeline_limit"]["host_write_ns"] > 0 and len(s["windows"]) == 1 and s["windows"][0] > 0' \
		's["host_cpu"]["wall_s"] > 0 and "guest_cpu_s" in s' || { fail "$name" "stream figures"; return; }
	grep -q "stream 1048576B: [0-9]* frames in" "$out/host.out" || { fail "$name" "no stream summary: $(cat "$out/host.out")"; return; }
	grep -q "stream of 1048576-byte frames: [0-9]* taken, [0-9]* verified, 0 failed, 0 skipped" "$out/guest.err" \
		|| { fail "$name" "guest summary: $(tail -2 "$out/guest.err")"; return; }
	pass "$name"
}

test_latest_paced_counts_drops() {
	local name=latest_paced_counts_drops out="$WORK/$1"
	GUEST_ARGS=()
	run_stream "$out" "${STREAM_ONLY[@]}" --stream-seconds 1 --stream-frames 1M --stream-policy latest --fps 100 \
		--verify sha256
	[ "$host_rc" -eq 0 ] && [ "$guest_rc" -eq 0 ] || { fail "$name" "exit host $host_rc guest $guest_rc: $(tail -1 "$out/host.err")"; return; }
	# The checker holds the pacing to no frame early and none more than 100 in the second; how many fewer a
	# loaded machine lets through is not the test's to say. Every drop is counted in the rows and run.json.
	check_stream "$out" 's["policy"] == "latest" and s["verify"] == "sha256" and s["produced"] > 0' \
		's["failed"] == 0 and s["fps_target"] == 100' || { fail "$name" "stream figures"; return; }
	pass "$name"
}

test_verify_none_is_said() {
	local name=verify_none_is_said out="$WORK/$1"
	GUEST_ARGS=()
	run_stream "$out" "${STREAM_ONLY[@]}" --stream-seconds 1 --stream-frames 64K --verify none --fps 200
	[ "$host_rc" -eq 0 ] && [ "$guest_rc" -eq 0 ] || { fail "$name" "exit host $host_rc guest $guest_rc"; return; }
	check_stream "$out" 's["verify"] == "none" and s["unverified"] == s["consumed"] > 0' \
		'all(r["status"] == "unverified" for r in mine if r["dropped"] == "0")' || { fail "$name" "stream figures"; return; }
	grep -q "(not verified)" "$out/host.out" || { fail "$name" "the host summary does not say unverified"; return; }
	pass "$name"
}

test_lockstep_then_stream() {
	local name=lockstep_then_stream out="$WORK/$1"
	GUEST_ARGS=()
	run_stream "$out" --iterations 5 --latency-frame 64K --bw-iterations 2 --frames 1M --ref-iterations 1 \
		--stream-seconds 1 --stream-frames 1M
	[ "$host_rc" -eq 0 ] && [ "$guest_rc" -eq 0 ] || { fail "$name" "exit host $host_rc guest $guest_rc: $(tail -1 "$out/host.err")"; return; }
	# Each side's CPU record covers the 10 lock-step messages; the stream has its own: the two spans are apart,
	# so together they fit in the whole run (had the lock-step record covered the stream too, it would count the
	# stream's second twice; how long the lock-step messages take on a loaded machine does not matter).
	check_stream "$out" 's["failed"] == 0' \
		'm["host"]["cpu"]["messages"] == 10 and m["guest"]["cpu"]["messages"] == 10' \
		"m['host']['cpu']['wall_s'] + s['host_cpu']['wall_s'] <= $run_s" \
		"m['guest']['cpu']['wall_s'] + s['duration_s'] <= $run_s" ||
		{ fail "$name" "stream figures or CPU records (run $run_s s)"; return; }
	# The plan counts the stream: 1 warm-up + 5 + 2 + 2 reference sizes + 1 stream.
	grep -q "expecting 11 messages" "$out/guest.err" || { fail "$name" "plan: $(grep expecting "$out/guest.err")"; return; }
	pass "$name"
}

test_doorbell_stream() {
	local name=doorbell_stream out="$WORK/$1" sock server_pid
	start_doorbell_server "$out" || { fail "$name" "server did not start"; return; }
	run_stream "$out/run" "${STREAM_ONLY[@]}" --stream-seconds 1 --stream-frames 1M --fps 50 --mode doorbell --doorbell "$sock"
	stop_pid "$server_pid"
	[ "$host_rc" -eq 0 ] && [ "$guest_rc" -eq 0 ] || { fail "$name" "exit host $host_rc guest $guest_rc: $(tail -1 "$out/run/host.err")"; return; }
	# Paced at 50/s, the guest sleeps between frames: the host rings it for (nearly) every frame, and only then.
	check_stream "$out/run" 's["failed"] == 0 and s["dropped"] == 0' \
		'0 < s["rings_sent"] <= s["produced"] + 1' \
		'sum(int(r["rings"]) for r in mine) <= s["rings_sent"]' || { fail "$name" "stream figures"; return; }
	# The guest's rings reach the host (how many come within a slice depends on the scheduler, not the test).
	! grep "no ring ever arrived" "$out/run/host.err" || { fail "$name" "no ring reached the host"; return; }
	pass "$name"
}

test_bad_options() {
	local name=bad_options rc
	for args in "--slots 1" "--slots 17" "--stream-policy newest" "--verify md5" "--fps -1" \
		"--stream-frames 32 --stream-seconds 1" "--stream-frames 4k,bogus --stream-seconds 1"; do
		rc=0
		# shellcheck disable=SC2086  # each case is a list of words
		# Bounded: an option no longer refused must fail the test, not wait for a guest.
		timeout "$LIMIT" "$HOST" --shm "$SHM-bad" --out "$WORK/bad" --timeout 1 --connect-timeout 1 $args \
			>/dev/null 2>"$WORK/bad.err" || rc=$?
		[ "$rc" -eq 2 ] && [ "$(wc -l <"$WORK/bad.err")" -eq 1 ] || { fail "$name" "'$args': exit $rc: $(cat "$WORK/bad.err")"; return; }
	done
	# Slots that do not fit the region: one line naming the need, before anything starts.
	rc=0
	timeout "$LIMIT" "$HOST" --shm "$SHM-small" --size 8M "${STREAM_ONLY[@]}" --stream-seconds 1 --stream-frames 4k \
		--slots 3 --timeout 1 --connect-timeout 1 --out "$WORK/small" >/dev/null 2>"$WORK/small.err" || rc=$?
	[ "$rc" -eq 1 ] && grep -q "too small for the stream: 3 slots of 4k" "$WORK/small.err" \
		|| { fail "$name" "slots do not fit: exit $rc: $(cat "$WORK/small.err")"; return; }
	grep -q '"status": "aborted"' "$WORK/small/run.json" || { fail "$name" "run.json not aborted"; return; }
	rm -f "$SHM-bad" "$SHM-small"
	pass "$name"
}

# --corrupt-frame: the host flips a byte of frame 3 after hashing it; the honest guest fails that frame alone,
# both sides exit 1 and the run completes. Without a verification or a stream the option is a usage error.
test_corrupt_frame_caught() {
	local name=corrupt_frame_caught out="$WORK/$1" rc args
	GUEST_ARGS=()
	run_stream "$out" "${STREAM_ONLY[@]}" --stream-seconds 1 --stream-frames 64K --stream-policy block --fps 50 \
		--verify sha256 --corrupt-frame 3
	check_frame3_caught "$name" "$out" 's["failed"] == 1 and m["options"]["corrupt_frame"] == 3' || return
	grep -q "1 stream frames failed their check" "$out/guest.out" || { fail "$name" "guest: $(cat "$out/guest.out")"; return; }
	for args in "--stream-seconds 1 --verify none --corrupt-frame 3" "--corrupt-frame 3"; do
		rc=0
		# shellcheck disable=SC2086  # each case is a list of words
		timeout "$LIMIT" "$HOST" --shm "$SHM-bad" --out "$WORK/bad" --timeout 1 --connect-timeout 1 $args \
			>/dev/null 2>"$WORK/bad.err" || rc=$?
		[ "$rc" -eq 2 ] && [ "$(wc -l <"$WORK/bad.err")" -eq 1 ] || { fail "$name" "'$args': exit $rc: $(cat "$WORK/bad.err")"; return; }
	done
	pass "$name"
}

# --consume: the default reads in place; both modes verify every frame, and run.json, the CSV and both sides'
# summaries say which mode ran. The pipeline limit's times are measured the same way in both (the guest's
# private copy and checksum); the analysis leaves the copy out of an in-place stream's limit.
test_consume_modes() {
	local name=consume_modes out="$WORK/$1" run mode
	local -a consume_args
	GUEST_ARGS=()
	# RUN:MODE: the folder of the run and the mode it must report (default: the option left out).
	for run in default:inplace copy:copy inplace:inplace; do
		mode=${run#*:}
		run=${run%%:*}
		consume_args=()
		[ "$run" = default ] || consume_args=(--consume "$mode")
		rm -f "$SHM"
		run_stream "$out/$run" "${STREAM_ONLY[@]}" --stream-seconds 1 --stream-frames 1M --verify xxh3 "${consume_args[@]}"
		[ "$host_rc" -eq 0 ] && [ "$guest_rc" -eq 0 ] ||
			{ fail "$name" "$run: exit host $host_rc guest $guest_rc: $(tail -1 "$out/$run/host.err")"; return; }
		check_stream "$out/$run" "s['consume'] == '$mode' and m['options']['stream_consume'] == '$mode'" \
			's["failed"] == 0 and s["dropped"] == 0 and s["produced"] > 0 and all(r["status"] == "ok" for r in mine)' \
			's["pipeline_limit"]["guest_copy_ns"] > 0 and s["pipeline_limit"]["guest_verify_ns"] > 0' \
			|| { fail "$name" "$run: stream figures"; return; }
		grep -q "stream 1048576B: 3 slots, block, xxh3, read $mode," "$out/$run/host.err" ||
			{ fail "$name" "$run: host: $(grep "slots" "$out/$run/host.err")"; return; }
		grep -q "stream of 1048576-byte frames: [0-9]* taken, [0-9]* verified, 0 failed, 0 skipped, read $mode" "$out/$run/guest.err" ||
			{ fail "$name" "$run: guest: $(tail -2 "$out/$run/guest.err")"; return; }
	done
	pass "$name"
}

# --consume takes inplace or copy, nothing else: one line, exit 2, before anything starts.
test_consume_bad_value() {
	local name=consume_bad_value rc=0
	timeout "$LIMIT" "$HOST" --shm "$SHM-bad" --out "$WORK/bad-consume" --timeout 1 --connect-timeout 1 \
		"${STREAM_ONLY[@]}" --stream-seconds 1 --consume zerocopy >/dev/null 2>"$WORK/bad-consume.err" || rc=$?
	[ "$rc" -eq 2 ] && [ "$(wc -l <"$WORK/bad-consume.err")" -eq 1 ] &&
		grep -q "consume needs inplace or copy, not 'zerocopy'" "$WORK/bad-consume.err" ||
		{ fail "$name" "exit $rc: $(cat "$WORK/bad-consume.err")"; return; }
	[ ! -e "$SHM-bad" ] || { fail "$name" "a region was made"; return; }
	pass "$name"
}

# A stream that runs until stopped (30 s at 100 frames/s): guest and host in the background; returns once the
# host has started streaming. Sets guest_pid and host_pid.
start_long_stream() { # out host-timeout guest-timeout
	local out=$1
	mkdir -p "$out"
	start_guest "$out/guest" --timeout "$3"
	timeout "$LIMIT" "$HOST" --shm "$SHM" --size 32M --out "$out" --timeout "$2" "${STREAM_ONLY[@]}" --stream-seconds 30 \
		--stream-frames 1M --fps 100 >"$out/host.out" 2>"$out/host.err" &
	host_pid=$!
	pids+=("$host_pid")
	wait_for_line "$out/host.err" "stream 1048576B: 3 slots"
}

# The consumer dies mid-stream: the host stops within its timeout, keeps every row, exits 1 in one line.
test_guest_killed_mid_stream() {
	local name=guest_killed_mid_stream out="$WORK/$1"
	start_long_stream "$out" 2 10 || { fail "$name" "the stream did not start"; return; }
	sleep 0.5
	kill -9 "$(pgrep -P "$guest_pid")" 2>/dev/null || kill -9 "$guest_pid"
	wait_exit "$host_pid" 10
	[ "$exit_rc" -eq 1 ] || { fail "$name" "host exit $exit_rc"; return; }
	grep -q "stream 1048576B: the guest released no frame slot in time\|stream 1048576B: the guest did not finish" "$out/host.err" \
		|| { fail "$name" "host said: $(tail -1 "$out/host.err")"; return; }
	# Every frame whose fate the host learnt before it stopped has its row: all it produced but those still in
	# the 3 slots and the one that waited for a slot (how many it produced in the half second depends on the
	# scheduler, not on the test).
	"$PYTHON" - "$out" <<'PY' || { fail "$name" "rows were lost"; return; }
import csv, json, sys
s = json.load(open(f"{sys.argv[1]}/run.json"))["streams"][0]
rows = list(csv.DictReader(open(f"{sys.argv[1]}/stream_results.csv")))
assert s["produced"] - 4 <= len(rows) <= s["produced"], (len(rows), s["produced"])
assert sorted(int(r["frame"]) for r in rows) == list(range(len(rows))), "the rows are not frames 0..n-1"
PY
	grep -q '"status": "aborted"' "$out/run.json" && grep -q '"completed": false' "$out/run.json" \
		|| { fail "$name" "run.json does not say the stream stopped"; return; }
	pass "$name"
}

# The consumer stops on a signal: it says ABORTED, and the host stops on hearing it (its message says why),
# well before its 60 s time limit.
test_guest_sigterm_mid_stream() {
	local name=guest_sigterm_mid_stream out="$WORK/$1"
	start_long_stream "$out" 60 10 || { fail "$name" "the stream did not start"; return; }
	pkill -TERM -P "$guest_pid"
	wait_exit "$host_pid" 50
	[ "$exit_rc" -eq 1 ] || { fail "$name" "host exit $exit_rc"; return; }
	grep -q "the guest aborted\|the guest stopped taking frames before the end of the stream" "$out/host.err" \
		|| { fail "$name" "host said: $(tail -1 "$out/host.err")"; return; }
	pass "$name"
}

# The producer dies mid-stream: the guest notices within its timeout and says so in one line.
test_host_killed_mid_stream() {
	local name=host_killed_mid_stream out="$WORK/$1"
	start_long_stream "$out" 10 2 || { fail "$name" "the stream did not start"; return; }
	sleep 0.5
	kill -9 "$(pgrep -P "$host_pid")" 2>/dev/null || kill -9 "$host_pid"
	wait_exit "$guest_pid" 10
	[ "$exit_rc" -eq 1 ] || { fail "$name" "guest exit $exit_rc"; return; }
	grep -q "stream: the host published no frame and did not end the stream in time" "$out/guest.err" \
		|| { fail "$name" "guest said: $(tail -2 "$out/guest.err")"; return; }
	pass "$name"
}

# guest-to-host: guest_reader produces through its mapping, host_writer checks each frame against the frames it
# expanded from the seed. Block and latest, polling; the host's rows say the direction and carry no host write.
test_g2h_block_and_latest() {
	local name=g2h_block_and_latest out="$WORK/$1"
	GUEST_ARGS=()
	run_stream "$out/block" "${STREAM_ONLY[@]}" --stream-direction guest-to-host --stream-seconds 1 --stream-frames 64K \
		--verify xxh3
	[ "$host_rc" -eq 0 ] && [ "$guest_rc" -eq 0 ] || { fail "$name" "block: exit host $host_rc guest $guest_rc: $(tail -1 "$out/block/host.err")"; return; }
	check_stream "$out/block" 's["direction"] == "guest-to-host" and m["options"]["stream_direction"] == "guest-to-host"' \
		's["policy"] == "block" and s["dropped"] == 0 and s["failed"] == 0 and s["produced"] > 0' \
		'all(r["status"] == "ok" and r["direction"] == "guest-to-host" for r in mine)' \
		's["pipeline_limit"]["host_write_ns"] > 0 and s["pipeline_limit"]["guest_verify_ns"] > 0' \
		|| { fail "$name" "block: stream figures"; return; }
	grep -q "stream of 65536-byte frames to the host: [0-9]* produced, [0-9]* taken, 0 failed, 0 dropped, written through the shm mapping" \
		"$out/block/guest.err" || { fail "$name" "block: guest: $(tail -2 "$out/block/guest.err")"; return; }
	grep -q "stream 65536B from the guest: 3 slots, block, xxh3, read inplace" "$out/block/host.err" \
		|| { fail "$name" "block: host: $(grep slots "$out/block/host.err")"; return; }
	rm -f "$SHM"
	run_stream "$out/latest" "${STREAM_ONLY[@]}" --stream-direction guest-to-host --stream-seconds 1 --stream-frames 1M \
		--stream-policy latest --fps 100 --verify sha256 --consume copy
	[ "$host_rc" -eq 0 ] && [ "$guest_rc" -eq 0 ] || { fail "$name" "latest: exit host $host_rc guest $guest_rc: $(tail -1 "$out/latest/host.err")"; return; }
	# The checker holds the guest's pace (no frame taken before its time, none beyond the second's 100).
	check_stream "$out/latest" 's["direction"] == "guest-to-host" and s["policy"] == "latest" and s["consume"] == "copy"' \
		's["failed"] == 0 and s["produced"] > 0 and s["fps_target"] == 100' || { fail "$name" "latest: stream figures"; return; }
	pass "$name"
}

# guest-to-host in doorbell mode: each side sleeps on its bell and the other rings it.
test_g2h_doorbell() {
	local name=g2h_doorbell out="$WORK/$1" sock server_pid
	start_doorbell_server "$out" || { fail "$name" "server did not start"; return; }
	run_stream "$out/run" "${STREAM_ONLY[@]}" --stream-direction guest-to-host --stream-seconds 1 --stream-frames 1M \
		--fps 50 --mode doorbell --doorbell "$sock"
	stop_pid "$server_pid"
	[ "$host_rc" -eq 0 ] && [ "$guest_rc" -eq 0 ] || { fail "$name" "exit host $host_rc guest $guest_rc: $(tail -1 "$out/run/host.err")"; return; }
	check_stream "$out/run" 's["direction"] == "guest-to-host" and s["failed"] == 0 and s["dropped"] == 0' \
		's["produced"] > 0' || { fail "$name" "stream figures"; return; }
	pass "$name"
}

# guest-to-host --corrupt-frame: the guest flips a byte of frame 3 after its checksum; the host catches it
# against its own checksum, the run completes, both exit 1.
test_g2h_corrupt_frame_caught() {
	local name=g2h_corrupt_frame_caught out="$WORK/$1"
	GUEST_ARGS=()
	run_stream "$out" "${STREAM_ONLY[@]}" --stream-direction guest-to-host --stream-seconds 1 --stream-frames 64K \
		--fps 50 --verify sha256 --corrupt-frame 3
	check_frame3_caught "$name" "$out" 's["failed"] == 1 and s["direction"] == "guest-to-host"' || return
	pass "$name"
}

# guest-to-host: either side killed mid-stream; the survivor stops within its timeout in one line, the host
# keeps every row it took.
test_g2h_killed_mid_stream() {
	local name=g2h_killed_mid_stream out="$WORK/$1"
	mkdir -p "$out/guest-killed" "$out/host-killed"
	start_guest "$out/guest-killed/guest" --timeout 10
	timeout "$LIMIT" "$HOST" --shm "$SHM" --size 32M --out "$out/guest-killed" --timeout 2 "${STREAM_ONLY[@]}" \
		--stream-direction guest-to-host --stream-seconds 30 --stream-frames 1M --fps 100 \
		>"$out/guest-killed/host.out" 2>"$out/guest-killed/host.err" &
	host_pid=$!
	pids+=("$host_pid")
	wait_for_line "$out/guest-killed/host.err" "stream 1048576B from the guest" || { fail "$name" "the stream did not start"; return; }
	kill -9 "$(pgrep -P "$guest_pid")" 2>/dev/null || kill -9 "$guest_pid"
	wait_exit "$host_pid" 10
	[ "$exit_rc" -eq 1 ] || { fail "$name" "guest killed: host exit $exit_rc"; return; }
	grep -q "stream 1048576B: the guest published no frame and did not end the stream in time" "$out/guest-killed/host.err" \
		|| { fail "$name" "guest killed: host said: $(tail -1 "$out/guest-killed/host.err")"; return; }
	"$PYTHON" - "$out/guest-killed" <<'PY' || { fail "$name" "guest killed: rows were lost"; return; }
import csv, json, sys
s = json.load(open(f"{sys.argv[1]}/run.json"))["streams"][0]
rows = list(csv.DictReader(open(f"{sys.argv[1]}/stream_results.csv")))
assert s["direction"] == "guest-to-host" and not s["completed"] and len(rows) == s["consumed"] + s["dropped"] > 0
assert sorted(int(r["frame"]) for r in rows) == list(range(len(rows))), "the rows are not frames 0..n-1"
PY
	rm -f "$SHM"
	start_guest "$out/host-killed/guest" --timeout 2
	timeout "$LIMIT" "$HOST" --shm "$SHM" --size 32M --out "$out/host-killed" --timeout 10 "${STREAM_ONLY[@]}" \
		--stream-direction guest-to-host --stream-seconds 30 --stream-frames 1M --fps 100 \
		>"$out/host-killed/host.out" 2>"$out/host-killed/host.err" &
	host_pid=$!
	pids+=("$host_pid")
	wait_for_line "$out/host-killed/host.err" "stream 1048576B from the guest" || { fail "$name" "the second stream did not start"; return; }
	kill -9 "$(pgrep -P "$host_pid")" 2>/dev/null || kill -9 "$host_pid"
	wait_exit "$guest_pid" 10
	[ "$exit_rc" -eq 1 ] || { fail "$name" "host killed: guest exit $exit_rc"; return; }
	grep -q "stream: the host released no frame slot in time\|stream: the host did not finish" "$out/host-killed/guest.err" \
		|| { fail "$name" "host killed: guest said: $(tail -2 "$out/host-killed/guest.err")"; return; }
	pass "$name"
}

# both: one ring each way at the same time. Each direction has its own rows and run.json entry, both marked
# duplex; the rows of the two interleave in the file (run one after the other, all of one would come first).
test_duplex_block_and_latest() {
	local name=duplex_block_and_latest out="$WORK/$1"
	GUEST_ARGS=()
	run_stream "$out/block" "${STREAM_ONLY[@]}" --stream-direction both --stream-seconds 1 --stream-frames 64K --verify xxh3
	[ "$host_rc" -eq 0 ] && [ "$guest_rc" -eq 0 ] || { fail "$name" "block: exit host $host_rc guest $guest_rc: $(tail -1 "$out/block/host.err")"; return; }
	check_stream "$out/block" 's["duplex"] is True and s["policy"] == "block" and s["completed"]' \
		's["failed"] == 0 and s["dropped"] == 0 and s["produced"] > 0 and all(r["status"] == "ok" for r in mine)' \
		'm["options"]["stream_direction"] == "both" and len(m["streams"]) == 2' \
		'sorted(x["direction"] for x in m["streams"]) == ["guest-to-host", "host-to-guest"]' \
		|| { fail "$name" "block: stream figures"; return; }
	"$PYTHON" - "$out/block/stream_results.csv" <<'PY' || { fail "$name" "block: the directions' rows do not interleave"; return; }
import csv, sys
d = [r["direction"] for r in csv.DictReader(open(sys.argv[1]))]
last = {x: max(i for i, y in enumerate(d) if y == x) for x in set(d)}
first = {x: d.index(x) for x in set(d)}
assert first["guest-to-host"] < last["host-to-guest"] and first["host-to-guest"] < last["guest-to-host"], (first, last)
PY
	grep -q "stream 65536B to the guest (both ways at once): [0-9]* frames" "$out/block/host.out" &&
		grep -q "stream 65536B from the guest (both ways at once): [0-9]* frames" "$out/block/host.out" ||
		{ fail "$name" "block: host summary: $(cat "$out/block/host.out")"; return; }
	grep -q "stream of 65536-byte frames: [0-9]* taken, [0-9]* verified, 0 failed" "$out/block/guest.err" &&
		grep -q "stream of 65536-byte frames to the host: [0-9]* produced" "$out/block/guest.err" ||
		{ fail "$name" "block: guest: $(tail -2 "$out/block/guest.err")"; return; }
	rm -f "$SHM"
	run_stream "$out/latest" "${STREAM_ONLY[@]}" --stream-direction both --stream-seconds 1 --stream-frames 1M \
		--stream-policy latest --fps 100 --verify sha256 --consume copy --consumers 2
	[ "$host_rc" -eq 0 ] && [ "$guest_rc" -eq 0 ] || { fail "$name" "latest: exit host $host_rc guest $guest_rc: $(tail -1 "$out/latest/host.err")"; return; }
	# --consumers applies to the guest-to-host ring: two entries there, one host-to-guest (the guest's).
	check_stream "$out/latest" 's["duplex"] is True and s["policy"] == "latest" and s["consume"] == "copy"' \
		's["failed"] == 0 and s["fps_target"] == 100 and s["completed"]' \
		'[(x["direction"], x["consumer"], x["consumers"]) for x in m["streams"]] == [("host-to-guest", 0, 1), ("guest-to-host", 0, 2), ("guest-to-host", 1, 2)]' \
		|| { fail "$name" "latest: stream figures"; return; }
	pass "$name"
}

# both in doorbell mode: each side's two threads sleep on one bell; no ring is lost to the other thread (bell.h).
test_duplex_doorbell() {
	local name=duplex_doorbell out="$WORK/$1" sock server_pid
	start_doorbell_server "$out" || { fail "$name" "server did not start"; return; }
	run_stream "$out/run" "${STREAM_ONLY[@]}" --stream-direction both --stream-seconds 1 --stream-frames 1M --fps 50 \
		--mode doorbell --doorbell "$sock"
	stop_pid "$server_pid"
	[ "$host_rc" -eq 0 ] && [ "$guest_rc" -eq 0 ] || { fail "$name" "exit host $host_rc guest $guest_rc: $(tail -1 "$out/run/host.err")"; return; }
	check_stream "$out/run" 's["duplex"] is True and s["failed"] == 0 and s["dropped"] == 0 and s["produced"] > 0' \
		'len(m["streams"]) == 2 and s["rings_sent"] > 0' || { fail "$name" "stream figures"; return; }
	! grep -q "no ring ever arrived" "$out/run/host.err" "$out/run/guest.err" || { fail "$name" "no ring arrived"; return; }
	pass "$name"
}

# both --corrupt-frame 3: each producer flips a byte of its frame 3; each consumer catches it, the run completes,
# both exit 1.
test_duplex_corrupt_frame_caught() {
	local name=duplex_corrupt_frame_caught out="$WORK/$1"
	GUEST_ARGS=()
	run_stream "$out" "${STREAM_ONLY[@]}" --stream-direction both --stream-seconds 1 --stream-frames 64K --fps 50 \
		--verify sha256 --corrupt-frame 3
	check_frame3_caught "$name" "$out" 's["failed"] == 1 and s["duplex"] is True and len(m["streams"]) == 2' || return
	pass "$name"
}

# both: the guest stalls (SIGSTOP) or the host dies mid-stream; the other side's two threads both stop within its
# timeout, in one line that names the direction that failed first; the host keeps every row of both.
test_duplex_peer_stalled_or_killed() {
	local name=duplex_peer_stalled_or_killed out="$WORK/$1" child
	mkdir -p "$out/stalled" "$out/killed"
	start_guest "$out/stalled/guest" --timeout 30
	timeout "$LIMIT" "$HOST" --shm "$SHM" --size 32M --out "$out/stalled" --timeout 2 "${STREAM_ONLY[@]}" \
		--stream-direction both --stream-seconds 30 --stream-frames 1M --fps 100 \
		>"$out/stalled/host.out" 2>"$out/stalled/host.err" &
	host_pid=$!
	pids+=("$host_pid")
	wait_for_line "$out/stalled/host.err" "stream 1048576B from the guest" || { fail "$name" "the stream did not start"; return; }
	child=$(pgrep -P "$guest_pid" || echo "$guest_pid")
	kill -STOP "$child"
	wait_exit "$host_pid" 15
	kill -9 "$child"
	[ "$exit_rc" -eq 1 ] || { fail "$name" "guest stalled: host exit $exit_rc"; return; }
	[ "$(grep -c "^host_writer: .*stream 1048576B: " "$out/stalled/host.err")" -eq 1 ] &&
		grep -q "^host_writer: \(host-to-guest\|guest-to-host\) stream 1048576B: the guest .* in time" "$out/stalled/host.err" ||
		{ fail "$name" "guest stalled: host said: $(tail -2 "$out/stalled/host.err")"; return; }
	"$PYTHON" - "$out/stalled" <<'PY' || { fail "$name" "guest stalled: rows were lost"; return; }
import csv, json, sys
m = json.load(open(f"{sys.argv[1]}/run.json"))
rows = list(csv.DictReader(open(f"{sys.argv[1]}/stream_results.csv")))
assert m["status"] == "aborted" and len(m["streams"]) == 2
for s in m["streams"]:
    mine = [r for r in rows if r["direction"] == s["direction"]]
    assert s["duplex"] and not s["completed"] and mine, s
    assert sorted(int(r["frame"]) for r in mine) == list(range(len(mine))), "the rows are not frames 0..n-1"
    if s["direction"] == "guest-to-host":
        assert len(mine) == s["consumed"] + s["dropped"], (len(mine), s)
    else:  # all the host produced but those still in the 3 slots and the one that waited for a slot
        assert s["produced"] - 4 <= len(mine) <= s["produced"], (len(mine), s)
PY
	rm -f "$SHM"
	start_guest "$out/killed/guest" --timeout 2
	timeout "$LIMIT" "$HOST" --shm "$SHM" --size 32M --out "$out/killed" --timeout 10 "${STREAM_ONLY[@]}" \
		--stream-direction both --stream-seconds 30 --stream-frames 1M --fps 100 \
		>"$out/killed/host.out" 2>"$out/killed/host.err" &
	host_pid=$!
	pids+=("$host_pid")
	wait_for_line "$out/killed/host.err" "stream 1048576B from the guest" || { fail "$name" "the second stream did not start"; return; }
	kill -9 "$(pgrep -P "$host_pid")" 2>/dev/null || kill -9 "$host_pid"
	wait_exit "$guest_pid" 15
	[ "$exit_rc" -eq 1 ] || { fail "$name" "host killed: guest exit $exit_rc"; return; }
	[ "$(grep -c "^guest_reader: stream: " "$out/killed/guest.err")" -eq 1 ] &&
		grep -q "stream: the host published no frame and did not end the stream in time\|stream: the host released no frame slot in time\|stream: the host did not finish" \
		"$out/killed/guest.err" || { fail "$name" "host killed: guest said: $(tail -2 "$out/killed/guest.err")"; return; }
	pass "$name"
}

# both needs room for two rings: a region that holds one but not both is refused in one line, before it is made.
test_duplex_region_too_small() {
	local name=duplex_region_too_small rc=0
	timeout "$LIMIT" "$HOST" --shm "$SHM-small" --size 4M --out "$WORK/small" --timeout 1 --connect-timeout 1 \
		"${STREAM_ONLY[@]}" --stream-seconds 1 --stream-frames 1M --stream-direction both >/dev/null 2>"$WORK/small.err" || rc=$?
	[ "$rc" -eq 1 ] && grep -q "too small for the stream both ways at once: .* need 3158016 + 3158016 bytes of data, it holds 4190208" \
		"$WORK/small.err" || { fail "$name" "exit $rc: $(cat "$WORK/small.err")"; return; }
	[ ! -e "$SHM-small" ] || { fail "$name" "a region was made"; return; }
	pass "$name"
}

# --stream-direction takes host-to-guest, guest-to-host or both: one line, exit 2, before anything starts.
test_direction_bad_value() {
	local name=direction_bad_value rc value
	for value in sideways both,sideways both,both; do
		rc=0
		timeout "$LIMIT" "$HOST" --shm "$SHM-bad" --out "$WORK/bad-direction" --timeout 1 --connect-timeout 1 \
			"${STREAM_ONLY[@]}" --stream-seconds 1 --stream-direction "$value" >/dev/null 2>"$WORK/bad-direction.err" || rc=$?
		[ "$rc" -eq 2 ] && [ "$(wc -l <"$WORK/bad-direction.err")" -eq 1 ] && grep -q -- "--stream-direction" "$WORK/bad-direction.err" ||
			{ fail "$name" "$value: exit $rc: $(cat "$WORK/bad-direction.err")"; return; }
		[ ! -e "$SHM-bad" ] || { fail "$name" "$value: a region was made"; return; }
	done
	pass "$name"
}

# With test names after the build folder, only those (check-tsan runs the duplex ones on its own build).
tests=("${@:2}")
[ ${#tests[@]} -gt 0 ] || tests=(test_block_every_frame_verified test_latest_paced_counts_drops test_verify_none_is_said \
	test_corrupt_frame_caught test_consume_modes test_consume_bad_value \
	test_lockstep_then_stream test_doorbell_stream test_bad_options test_guest_killed_mid_stream \
	test_guest_sigterm_mid_stream test_host_killed_mid_stream test_g2h_block_and_latest test_g2h_doorbell \
	test_g2h_corrupt_frame_caught test_g2h_killed_mid_stream test_direction_bad_value test_duplex_block_and_latest \
	test_duplex_doorbell test_duplex_corrupt_frame_caught test_duplex_peer_stalled_or_killed test_duplex_region_too_small)
for t in "${tests[@]}"; do
	rm -f "$SHM"
	"$t" "$t"
done
echo "stream: $passed passed, $failed failed"
[ "$failed" -eq 0 ]

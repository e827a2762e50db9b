#!/usr/bin/env bash
# shellcheck disable=SC2015  # "check && check || fail" is meant: fail when either check fails
# Several host consumers of a guest-to-host stream in loopback (host_writer --consumers): guest_reader produces,
# host_writer's consumer processes each verify every frame. No QEMU.
# Usage: tests/integration/consumers.sh [BIN_DIR]   (default: build)
set -euo pipefail

# shellcheck source=tests/integration/stream_lib.sh
. "$(dirname "$0")/stream_lib.sh"

readonly G2H=(--stream-direction guest-to-host)

# Both consumers' entries and rows (check_stream.py checks each against its rows), then EXPRs on each.
check_two() { # out expr...
	local out=$1
	shift
	check_stream "$out" 'm["options"]["consumers"] == 2 and s["consumers"] == 2' \
		'[x["consumer"] for x in m["streams"]] == [0, 1]' "$@"
}

# Block: each of two consumers gets every frame, verified; latest: each its own drops, none failed. Polling.
test_two_consumers_polling() {
	local name=two_consumers_polling out="$WORK/$1"
	GUEST_ARGS=()
	run_stream "$out/block" "${STREAM_ONLY[@]}" "${G2H[@]}" --stream-seconds 1 --stream-frames 64K --consumers 2 \
		--consumer-timeout 30s
	[ "$host_rc" -eq 0 ] && [ "$guest_rc" -eq 0 ] || { fail "$name" "block: exit host $host_rc guest $guest_rc: $(tail -1 "$out/block/host.err")"; return; }
	check_two "$out/block" 's["dropped"] == 0 and s["failed"] == 0 and s["produced"] > 0' \
		's["consumer_end"] == "finished" and s["produced"] == m["streams"][0]["produced"]' \
		'all(r["status"] == "ok" for r in mine)' || { fail "$name" "block: stream figures"; return; }
	grep -q "dropped, written through the shm mapping to 2 consumers, 0 of them dropped" "$out/block/guest.err" \
		|| { fail "$name" "block: guest: $(tail -1 "$out/block/guest.err")"; return; }
	rm -f "$SHM"
	run_stream "$out/latest" "${STREAM_ONLY[@]}" "${G2H[@]}" --stream-seconds 1 --stream-frames 1M --consumers 2 \
		--consumer-timeout 30s --stream-policy latest --fps 100 --verify sha256 --consume copy
	[ "$host_rc" -eq 0 ] && [ "$guest_rc" -eq 0 ] || { fail "$name" "latest: exit host $host_rc guest $guest_rc: $(tail -1 "$out/latest/host.err")"; return; }
	check_two "$out/latest" 's["failed"] == 0 and s["produced"] > 0 and s["consume"] == "copy"' \
		's["consumer_end"] == "finished"' || { fail "$name" "latest: stream figures"; return; }
	pass "$name"
}

# The same in doorbell mode. With a vector per consumer from the server (--vectors 2) each consumer process waits
# on its own and the guest rings each one's; with one vector they share it, which host_writer says in one line.
test_two_consumers_doorbell() {
	local name=two_consumers_doorbell out="$WORK/$1" sock server_pid policy vectors
	local -r shared="host_writer: the ivshmem server gives 1 interrupt vector per peer, fewer than the 2 consumers: they share vector 0"
	for vectors in 2 1; do
		rm -f "$SHM"
		start_doorbell_server "$out/v$vectors" --vectors "$vectors" || { fail "$name" "server did not start"; return; }
		for policy in block latest; do
			run_stream "$out/v$vectors/$policy" "${STREAM_ONLY[@]}" "${G2H[@]}" --stream-seconds 1 --stream-frames 1M \
				--fps 50 --consumers 2 --consumer-timeout 30s --stream-policy "$policy" --mode doorbell --doorbell "$sock"
			[ "$host_rc" -eq 0 ] && [ "$guest_rc" -eq 0 ] || { stop_pid "$server_pid"; fail "$name" "$vectors vectors, $policy: exit host $host_rc guest $guest_rc: $(tail -1 "$out/v$vectors/$policy/host.err")"; return; }
			# Each consumer sleeps between the frames, paced: rung on its own vector, it counts rings.
			check_two "$out/v$vectors/$policy" 's["failed"] == 0 and s["produced"] > 0 and s["consumer_end"] == "finished"' \
				"s[\"dropped\"] == 0 or \"$policy\" == \"latest\"" "s[\"rings_received\"] > 0 or $vectors == 1" || { stop_pid "$server_pid"; fail "$name" "$vectors vectors, $policy: stream figures"; return; }
			if [ "$vectors" -eq 1 ]; then
				[ "$(grep -c "^$shared" "$out/v$vectors/$policy/host.err")" -eq 1 ] || { stop_pid "$server_pid"; fail "$name" "1 vector, $policy: no line about the shared vector"; return; }
			elif grep -q "interrupt vector" "$out/v$vectors/$policy/host.err"; then
				stop_pid "$server_pid"
				fail "$name" "2 vectors, $policy: $(grep "interrupt vector" "$out/v$vectors/$policy/host.err")"
				return
			fi
		done
		stop_pid "$server_pid"
	done
	pass "$name"
}

# --stall-consumer 1:10: consumer 1 holds frame 10; the guest drops it after --consumer-timeout (the default
# 1 s) and consumer 0 keeps every frame (block); consumer 1's ten rows are kept, the run completes.
test_stalled_consumer_dropped() {
	local name=stalled_consumer_dropped out="$WORK/$1"
	GUEST_ARGS=()
	run_stream "$out" "${STREAM_ONLY[@]}" "${G2H[@]}" --stream-seconds 2 --stream-frames 64K --fps 200 --consumers 2 \
		--stall-consumer 1:10
	[ "$host_rc" -eq 0 ] && [ "$guest_rc" -eq 0 ] || { fail "$name" "exit host $host_rc guest $guest_rc: $(tail -1 "$out/host.err")"; return; }
	"$PYTHON" - "$out" <<'PY' || { fail "$name" "figures"; return; }
import csv, json, sys
m = json.load(open(f"{sys.argv[1]}/run.json"))
rows = list(csv.DictReader(open(f"{sys.argv[1]}/stream_results.csv")))
a, b = m["streams"]
assert m["status"] == "completed" and m["options"]["consumer_timeout_ns"] == 1_000_000_000, m["options"]
assert (a["consumer_end"], b["consumer_end"]) == ("finished", "dropped"), (a["consumer_end"], b["consumer_end"])
assert a["dropped"] == 0 and a["failed"] == 0 and a["consumed"] == a["produced"] > 10, a
assert b["consumed"] == 10 and not b["completed"], b
mine = [r for r in rows if r["consumer"] == "1"]
assert [int(r["frame"]) for r in mine] == list(range(10)) and all(r["status"] == "ok" for r in mine)
assert sorted(int(r["frame"]) for r in rows if r["consumer"] == "0") == list(range(a["produced"]))
PY
	grep -q "the guest dropped consumer 1, stalled at frame 10 (--stall-consumer) after 10 frames; the others went on" \
		"$out/host.err" || { fail "$name" "host said: $(grep -v counters "$out/host.err" | tail -2)"; return; }
	grep -q "to 2 consumers, 1 of them dropped" "$out/guest.err" || { fail "$name" "guest: $(tail -1 "$out/guest.err")"; return; }
	pass "$name"
}

# A consumer process killed mid-stream: the guest drops it after its timeout, the other keeps every frame; the
# host says which consumer was lost in one line, keeps its rows, and exits 1.
test_consumer_killed() {
	local name=consumer_killed out="$WORK/$1" kids=()
	mkdir -p "$out"
	start_guest "$out/guest" --timeout 10
	timeout "$LIMIT" "$HOST" --shm "$SHM" --size 32M --out "$out" --timeout 10 "${STREAM_ONLY[@]}" "${G2H[@]}" \
		--stream-seconds 3 --stream-frames 64K --fps 100 --consumers 2 --consumer-timeout 1s \
		>"$out/host.out" 2>"$out/host.err" &
	host_pid=$!
	pids+=("$host_pid")
	for _ in $(seq $((READY_SECONDS * 20))); do
		mapfile -t kids < <(pgrep -P "$(pgrep -P "$host_pid")" || true)
		[ "${#kids[@]}" -lt 2 ] || break
		sleep 0.05
	done
	[ "${#kids[@]}" -eq 2 ] || { fail "$name" "the consumers did not start"; return; }
	kill -9 "${kids[1]}"
	wait_exit "$host_pid" 30
	[ "$exit_rc" -eq 1 ] || { fail "$name" "host exit $exit_rc"; return; }
	grep -q "consumer 1 was lost: its process died of signal 9 (its [0-9]* rows kept)" "$out/host.err" \
		|| { fail "$name" "host said: $(grep -v counters "$out/host.err" | tail -2)"; return; }
	wait_exit "$guest_pid" 30
	"$PYTHON" - "$out" <<'PY' || { fail "$name" "rows were lost"; return; }
import csv, json, sys
m = json.load(open(f"{sys.argv[1]}/run.json"))
rows = list(csv.DictReader(open(f"{sys.argv[1]}/stream_results.csv")))
a, b = m["streams"]
assert m["status"] == "aborted" and "consumer 1 was lost" in m["abort_reason"], m.get("abort_reason")
assert (a["consumer_end"], b["consumer_end"]) == ("finished", "lost"), (a["consumer_end"], b["consumer_end"])
assert a["dropped"] == 0 and a["consumed"] == a["produced"] > 0, a
assert sorted(int(r["frame"]) for r in rows if r["consumer"] == "0") == list(range(a["produced"]))
mine = [int(r["frame"]) for r in rows if r["consumer"] == "1"]
assert mine == list(range(len(mine))) and len(mine) == b["consumed"] + b["dropped"], (len(mine), b)
PY
	pass "$name"
}

# A consumer process that sends a record it cannot have sent (lying_consumer.so changes consumer 1's record of frame
# 20 in its pipe: a row for another consumer; a record cut short): the parent refuses it in one line, keeps its 20
# rows before it, and exits 1; the guest drops it after its timeout and consumer 0 keeps every frame.
test_lying_consumer() {
	local name=lying_consumer out kind said rc
	local -r lib="$BIN/tests/lying_consumer.so"
	[ -f "$lib" ] || { fail "$name" "no $lib (make $lib)"; return; }
	for kind in consumer short; do
		out="$WORK/$1/$kind"
		rm -f "$SHM"
		mkdir -p "$out"
		start_guest "$out/guest" --timeout 10
		rc=0
		# ASan wants its runtime first among the libraries; the preloaded one comes before it.
		IVB_LIE="$kind:1:20" ASAN_OPTIONS="${ASAN_OPTIONS:-}:verify_asan_link_order=0" \
			timeout "$LIMIT" env LD_PRELOAD="$lib" "$HOST" --shm "$SHM" --size 32M --out "$out" --timeout 10 "${STREAM_ONLY[@]}" "${G2H[@]}" \
			--stream-seconds 3 --stream-frames 64K --fps 100 --consumers 2 --consumer-timeout 1s \
			>"$out/host.out" 2>"$out/host.err" || rc=$?
		wait_exit "$guest_pid" 30
		[ "$rc" -eq 1 ] || { fail "$name" "$kind: host exit $rc: $(tail -1 "$out/host.err")"; return; }
		case $kind in
		consumer) said="it sent a row for consumer 0" ;;
		short) said="its pipe closed inside a record (32 of its 64 bytes)" ;;
		esac
		[ "$(grep -c "consumer 1 was lost" "$out/host.err")" -eq 1 ] &&
			grep -qF "consumer 1 was lost: $said (its 20 rows kept)" "$out/host.err" ||
			{ fail "$name" "$kind: host said: $(grep -v counters "$out/host.err" | tail -2)"; return; }
		"$PYTHON" - "$out" <<'PY' || { fail "$name" "$kind: rows"; return; }
import csv, json, sys
m = json.load(open(f"{sys.argv[1]}/run.json"))
rows = list(csv.DictReader(open(f"{sys.argv[1]}/stream_results.csv")))
a, b = m["streams"]
assert m["status"] == "aborted" and "consumer 1 was lost" in m["abort_reason"], m.get("abort_reason")
assert (a["consumer_end"], b["consumer_end"]) == ("finished", "lost"), (a["consumer_end"], b["consumer_end"])
assert a["dropped"] == 0 and a["failed"] == 0 and a["consumed"] == a["produced"] > 20, a
assert sorted(int(r["frame"]) for r in rows if r["consumer"] == "0") == list(range(a["produced"]))
assert [int(r["frame"]) for r in rows if r["consumer"] == "1"] == list(range(20))
PY
	done
	pass "$name"
}

# Bad consumer options: one line, exit 2, before a region is made (more stream records than a run holds too).
test_consumers_bad_options() {
	local name=consumers_bad_options rc args
	for args in "--consumers 0 ${G2H[*]}" "--consumers 9 ${G2H[*]}" "--consumers 2" \
		"--consumers 2 --stream-direction host-to-guest" "--consumer-timeout junk ${G2H[*]}" \
		"--consumer-timeout 5x ${G2H[*]}" "--consumers 2 --stall-consumer 2:1 ${G2H[*]}" \
		"--consumers 2 --stall-consumer 1 ${G2H[*]}" \
		"--consumers 8 --stream-frames 64,128,256,512,1K,2K,4K,8K,16K ${G2H[*]}"; do
		rc=0
		# shellcheck disable=SC2086  # each case is a list of words
		timeout "$LIMIT" "$HOST" --shm "$SHM-bad" --out "$WORK/bad-consumers" --timeout 1 --connect-timeout 1 \
			"${STREAM_ONLY[@]}" --stream-seconds 1 $args >/dev/null 2>"$WORK/bad-consumers.err" || rc=$?
		[ "$rc" -eq 2 ] && [ "$(wc -l <"$WORK/bad-consumers.err")" -eq 1 ] && grep -q -- "--consumer\|--stall" "$WORK/bad-consumers.err" ||
			{ fail "$name" "$args: exit $rc: $(cat "$WORK/bad-consumers.err")"; return; }
		[ ! -e "$SHM-bad" ] || { fail "$name" "$args: a region was made"; return; }
	done
	pass "$name"
}

for t in test_two_consumers_polling test_two_consumers_doorbell test_stalled_consumer_dropped test_consumer_killed \
	test_lying_consumer test_consumers_bad_options; do
	rm -f "$SHM"
	"$t" "$t"
done
echo "consumers: $passed passed, $failed failed"
[ "$failed" -eq 0 ]

#!/usr/bin/env bash
# shellcheck disable=SC2015  # "check && check || fail" is meant: fail when either check fails
# The transport comparison in loopback: host_writer --transport and guest_reader on one /dev/shm file, no QEMU.
# Usage: tests/integration/transports.sh [BIN_DIR]   (default: build)
set -euo pipefail

readonly BIN=${1:-build}
readonly HOST="$BIN/host_writer"
readonly GUEST="$BIN/guest_reader"
readonly PYTHON=/usr/bin/python3
readonly LIMIT=120
# Only the transports: no lock-step message before them.
readonly TESTS_ONLY=(--iterations 0 --bw-iterations 0 --ref-iterations 0)
readonly CONNECTIONS=(unix tcp pipe)

WORK=$(mktemp -d /tmp/ivb-transports.XXXXXX)
SHM="/dev/shm/ivb-transports-$$"
readonly WORK SHM READY_SECONDS=20
# shellcheck source=tests/integration/proc.sh
. "$(dirname "$0")/proc.sh"

# GUEST_WRAP: a command the guest runs under (e.g. unshare -n: a network of its own).
GUEST_WRAP=()
start_guest() { # out guest-args...
	local out=$1
	shift
	timeout "$LIMIT" "${GUEST_WRAP[@]}" "$GUEST" --shm "$SHM" "$@" >"$out.out" 2>"$out.err" &
	guest_pid=$!
	pids+=("$guest_pid")
}

# A whole run: the guest in the background, the host in the foreground; exit statuses in host_rc, guest_rc.
run_host() { # out host-args...
	local out=$1
	shift
	mkdir -p "$out"
	start_guest "$out/guest" --timeout 10
	host_rc=0
	timeout "$LIMIT" "$HOST" --shm "$SHM" --size 32M --out "$out" --timeout 10 "${TESTS_ONLY[@]}" "$@" \
		>"$out/host.out" 2>"$out/host.err" || host_rc=$?
	guest_rc=0
	wait "$guest_pid" || guest_rc=$?
}

# transport_results.csv against run.json's transports (tests/check_transports.py), then the test's own
# expressions over t (a test's record), mine (its rows), tests and m (run.json).
check_transports() { # out python-expression...
	"$PYTHON" "$(dirname "$0")/../check_transports.py" "$@"
}

test_each_transport_verified() {
	local name=each_transport_verified out="$WORK/$1"
	run_host "$out" --stream-seconds 1 --stream-frames 64K --message-sizes 64,4K --transport ivshmem,unix,tcp,pipe
	[ "$host_rc" -eq 0 ] && [ "$guest_rc" -eq 0 ] || { fail "$name" "exit host $host_rc guest $guest_rc: $(tail -1 "$out/host.err")"; return; }
	check_transports "$out" 't["completed"] and t["failed"] == 0 and t["sent"] > 10' \
		'all(r["status"] == "ok" for r in mine)' 'len(tests) == 3 * 5 + 2 * 2' \
		'sum(x["transport"] == "ivshmem" for x in tests) == 4 and all(x["test"] != "frames" for x in tests if x["transport"] == "ivshmem")' \
		'[e["status"] for e in m["transports"]["entries"]] == ["ran"] * 4' \
		't["window"] == (1 if t["test"] == "pingpong" else 3)' \
		'len(m["streams"]) == 1 and m["streams"][0]["failed"] == 0' || { fail "$name" "transport figures"; return; }
	for t in "${CONNECTIONS[@]}"; do
		grep -q "transport $t frames of 65536-byte frames: [0-9]* taken, [0-9]* verified" "$out/guest.err" \
			|| { fail "$name" "no guest line for $t: $(tail -2 "$out/guest.err")"; return; }
	done
	pass "$name"
}

# vsock without a guest CID (no VM with vhost-vsock-pci; here no /dev/vhost-vsock either): skipped with its reason
# in run.json, on stderr and in the report, never silently; the other transports run as planned.
test_vsock_skipped() {
	local name=vsock_skipped out="$WORK/$1"
	run_host "$out" --stream-seconds 1 --stream-frames 4096 --message-sizes 64 --transport ivshmem,vsock,unix
	[ "$host_rc" -eq 0 ] && [ "$guest_rc" -eq 0 ] || { fail "$name" "exit host $host_rc guest $guest_rc: $(tail -1 "$out/host.err")"; return; }
	check_transports "$out" '[e["name"] for e in m["transports"]["entries"]] == ["ivshmem", "vsock", "unix"]' \
		'm["transports"]["entries"][1]["status"] == "skipped" and m["transports"]["entries"][1]["reason"]' \
		'all(x["transport"] in ("ivshmem", "unix") for x in tests) and len(tests) == 3 + 2' \
		|| { fail "$name" "run.json"; return; }
	grep -q "^host_writer: vsock skipped: " "$out/host.err" || { fail "$name" "not said on stderr"; return; }
	"$PYTHON" "$(dirname "$0")/../../analyze_results.py" "$out" >/dev/null 2>&1 || true
	grep -q "^  vsock: skipped: " "$out/performance_report.txt" || { fail "$name" "not in the report"; return; }
	pass "$name"
}

# vsock to a CID nobody has: the guest listens on AF_VSOCK (where this kernel lets it: it says so otherwise), the
# host's connect is never answered and it stops at its time limit in one line, exit 1, the stream's rows kept,
# run.json names the address and why. Without AF_VSOCK the transport is skipped instead (test_vsock_skipped's
# path): this test then says so and checks that.
test_vsock_unanswered() {
	local name=vsock_unanswered out="$WORK/$1" t0
	t0=$SECONDS
	run_host "$out" --stream-seconds 1 --stream-frames 4096 --message-sizes 64 --transport ivshmem,vsock:4294967294:7000
	if grep -q "^host_writer: vsock skipped: .*AF_VSOCK" "$out/host.err"; then
		[ "$host_rc" -eq 0 ] || { fail "$name" "skipped, but exit $host_rc"; return; }
		pass "$name (no AF_VSOCK here: skipped)"
		return
	fi
	[ "$host_rc" -eq 1 ] && [ "$guest_rc" -ne 0 ] || { fail "$name" "exit host $host_rc guest $guest_rc: $(tail -1 "$out/host.err")"; return; }
	# Its time limit (10 s) and the stream's seconds, with room for a loaded machine; never a hang.
	[ $((SECONDS - t0)) -lt 60 ] || { fail "$name" "took $((SECONDS - t0)) s"; return; }
	[ "$(grep -c "^host_writer: vsock frames of 4096B: " "$out/host.err")" -eq 1 ] &&
		grep -Eq "^host_writer: vsock frames of 4096B: (no connection with the guest in time|the guest could not run the test)" "$out/host.err" ||
		{ fail "$name" "host said: $(tail -1 "$out/host.err")"; return; }
	grep -Eq "transport vsock: (the host did not connect to vsock port 7000 in time|cannot listen on vsock port 7000)" "$out/guest.err" ||
		{ fail "$name" "guest said: $(tail -2 "$out/guest.err")"; return; }
	[ "$(grep -c "^4096B," "$out/stream_results.csv")" -gt 0 ] || { fail "$name" "the stream's rows were lost"; return; }
	"$PYTHON" -c 'import json,sys; m=json.load(open(sys.argv[1])); e=m["transports"]["entries"]
assert m["status"] == "aborted" and e[0]["status"] == "ran" and e[1]["status"] == "failed", e
assert e[1]["address"] == "4294967294:7000" and e[1]["reason"].startswith("vsock frames of 4096B: "), e' "$out/run.json" ||
		{ fail "$name" "run.json"; return; }
	pass "$name ($(grep -o "transport vsock: .*" "$out/guest.err" | head -1))"
}

# A frame whose payload no longer matches its checksum: the guest says so, the row says so, the run exits 1.
test_corrupt_frame_caught() {
	local name=corrupt_frame_caught out="$WORK/$1"
	run_host "$out" --stream-seconds 1 --stream-frames 4096 --message-sizes 64 --transport unix,tcp,pipe --corrupt-frame 4
	[ "$host_rc" -eq 1 ] && [ "$guest_rc" -eq 0 ] || { fail "$name" "exit host $host_rc guest $guest_rc: $(tail -1 "$out/host.err")"; return; }
	check_transports "$out" 't["failed"] == (1 if t["test"] == "frames" else 0)' \
		't["test"] != "frames" or mine[4]["status"] == "bad_checksum"' \
		'm["status"] == "completed"' || { fail "$name" "the corrupted frame was not caught once per transport"; return; }
	pass "$name"
}

# tcp:PORT: the host listens on that port of 127.0.0.1 (run.json's address says so) and the guest connects to it;
# --transport-seconds: the tests over tcp last that long, ivshmem's streams --stream-seconds.
test_tcp_port() {
	local name=tcp_port out="$WORK/$1" port
	port=$("$PYTHON" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
	run_host "$out" --stream-seconds 2 --transport-seconds 1 --stream-frames 4096 --message-sizes 64 \
		--transport "ivshmem,tcp:$port"
	[ "$host_rc" -eq 0 ] && [ "$guest_rc" -eq 0 ] || { fail "$name" "exit host $host_rc guest $guest_rc: $(tail -1 "$out/host.err")"; return; }
	check_transports "$out" "m['transports']['entries'][1]['address'] == '127.0.0.1:$port'" \
		't["completed"] and t["failed"] == 0' 't["seconds"] == (2 if t["transport"] == "ivshmem" else 1)' \
		'sum(x["transport"] == "tcp" for x in tests) == 3' || { fail "$name" "run.json"; return; }
	pass "$name"
}

# A guest that cannot connect (a network namespace of its own: no 127.0.0.1 listener) says why and
# acknowledges the message as failed; the host stops there in one line, exit 1, the rows of the tests before
# kept, run.json names the transport that failed.
test_guest_cannot_connect() {
	local name=guest_cannot_connect out="$WORK/$1"
	GUEST_WRAP=(unshare -n)
	run_host "$out" --stream-seconds 1 --stream-frames 4096 --message-sizes 64 --transport ivshmem,tcp
	GUEST_WRAP=()
	[ "$host_rc" -eq 1 ] && [ "$guest_rc" -ne 0 ] || { fail "$name" "exit host $host_rc guest $guest_rc: $(tail -1 "$out/host.err")"; return; }
	[ "$(grep -c "^host_writer: tcp frames of 4096B: the guest could not run the test" "$out/host.err")" -eq 1 ] ||
		{ fail "$name" "host said: $(tail -1 "$out/host.err")"; return; }
	grep -q "transport tcp: cannot connect to the host's TCP port 127.0.0.1:" "$out/guest.err" ||
		{ fail "$name" "guest said: $(tail -2 "$out/guest.err")"; return; }
	[ "$(grep -c "^4096B," "$out/stream_results.csv")" -gt 0 ] || { fail "$name" "the stream's rows were lost"; return; }
	"$PYTHON" -c 'import json,sys; m=json.load(open(sys.argv[1])); e=m["transports"]["entries"]
assert m["status"] == "aborted" and e[0]["status"] == "ran" and e[1]["status"] == "failed", e
assert "guest could not run the test" in e[1]["reason"], e' "$out/run.json" || { fail "$name" "run.json"; return; }
	pass "$name"
}

# The guest dies in the middle of a transport test: the host stops at once (its time limit is 30 s), says so in
# one line, keeps every row, exits 1, and run.json says which transport failed.
killed_guest() { # transport
	local t=$1 name="guest_killed_$1" out="$WORK/killed-$1" t0
	mkdir -p "$out"
	start_guest "$out/guest" --timeout 30
	timeout "$LIMIT" "$HOST" --shm "$SHM" --size 32M --out "$out" --timeout 30 "${TESTS_ONLY[@]}" --stream-seconds 60 \
		--stream-frames 64K --transport "$t" >"$out/host.out" 2>"$out/host.err" &
	host_pid=$!
	pids+=("$host_pid")
	# Rows reach the file once a second: once the first are there, the test is under way.
	wait_for_line "$out/transport_results.csv" "^$t,frames," || { fail "$name" "the test did not start: $(tail -1 "$out/host.err")"; return; }
	t0=$SECONDS
	kill -9 "$(pgrep -P "$guest_pid")" 2>/dev/null || kill -9 "$guest_pid"
	wait_exit "$host_pid" 20
	[ "$exit_rc" -eq 1 ] && [ $((SECONDS - t0)) -lt 20 ] || { fail "$name" "host exit $exit_rc after $((SECONDS - t0)) s"; return; }
	[ "$(grep -c "^host_writer: $t frames of 65536B: the guest closed the connection" "$out/host.err")" -eq 1 ] \
		|| { fail "$name" "host said: $(tail -1 "$out/host.err")"; return; }
	[ "$(grep -c "^$t,frames," "$out/transport_results.csv")" -gt 0 ] || { fail "$name" "rows were lost"; return; }
	"$PYTHON" -c 'import json,sys; m=json.load(open(sys.argv[1])); e=m["transports"]["entries"][0]
assert m["status"] == "aborted" and e["status"] == "failed" and "closed the connection" in e["reason"], e
assert m["transports"]["tests"][0]["completed"] is False' "$out/run.json" || { fail "$name" "run.json"; return; }
	pass "$name"
}

test_guest_killed() {
	local t
	for t in "${CONNECTIONS[@]}"; do
		rm -f "$SHM"
		killed_guest "$t"
	done
}

test_bad_options() {
	local name=bad_options rc
	for args in "--transport bogus" "--transport unix" "--transport unix,unix --stream-seconds 1" \
		"--transport unix:80 --stream-seconds 1" "--transport tcp:0 --stream-seconds 1" "--transport tcp:x --stream-seconds 1" \
		"--transport , --stream-seconds 1" "--transport unix --stream-seconds 1 --message-sizes 32" \
		"--transport unix --stream-seconds 1 --message-sizes 64,bogus" "--transport virtio-net:0 --stream-seconds 1" \
		"--transport virtio-serial:relative.sock --stream-seconds 1" "--transport pipe:/tmp/x --stream-seconds 1" \
		"--transport unix --stream-seconds 1 --transport-seconds 0" "--transport vsock:0 --stream-seconds 1" \
		"--transport vsock:3:0 --stream-seconds 1" "--transport vsock:4294967295 --stream-seconds 1" \
		"--transport vsock:3:x --stream-seconds 1"; do
		rc=0
		# shellcheck disable=SC2086  # each case is a list of words
		# Bounded: an option no longer refused must fail the test, not wait for a guest.
		timeout "$LIMIT" "$HOST" --shm "$SHM-bad" --out "$WORK/bad" --timeout 1 --connect-timeout 1 $args \
			>/dev/null 2>"$WORK/bad.err" || rc=$?
		[ "$rc" -eq 2 ] && [ "$(wc -l <"$WORK/bad.err")" -eq 1 ] || { fail "$name" "'$args': exit $rc: $(cat "$WORK/bad.err")"; return; }
	done
	rm -f "$SHM-bad"
	pass "$name"
}

for t in test_bad_options test_each_transport_verified test_vsock_skipped test_vsock_unanswered test_tcp_port test_guest_cannot_connect \
	test_corrupt_frame_caught test_guest_killed; do
	rm -f "$SHM"
	"$t" "$t"
done
echo "transports: $passed passed, $failed failed"
[ "$failed" -eq 0 ]

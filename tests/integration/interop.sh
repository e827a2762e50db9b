#!/usr/bin/env bash
# shellcheck disable=SC2015  # "check && check || fail" is meant: fail when either check fails
# Interoperability with QEMU's own ivshmem-server and ivshmem-client (built from Debian's QEMU source by
# scripts/qemu-contrib.sh, cached): host_writer and guest_reader in loopback doorbell mode through QEMU's server
# with a named region (-M) and with an unlinked one that has no path (-m), a region that is not the server's
# refused, two host consumers through its one vector and through two, the bench VM and loopback through QEMU's
# server with run_test.sh --doorbell-socket, and QEMU's client against our server (join, rings both ways, leave).
# Skipped, with one line, where the source cannot be had.
# Usage: tests/integration/interop.sh [BIN_DIR]   (default: build)
set -euo pipefail

readonly BIN=${1:-build}
HERE=$(cd "$(dirname "$0")" && pwd)
readonly HERE
TOP=$(cd "$HERE/../.." && pwd)
readonly TOP
readonly HOST="$BIN/host_writer"
readonly GUEST="$BIN/guest_reader"
readonly SERVER="$BIN/ivshmem_server"
readonly PEER="$HERE/ivpeer.py"
readonly PYTHON=/usr/bin/python3
readonly EXIT_SKIP=4
# Every program run is bounded; READY_SECONDS bounds each wait for a line or an exit (proc.sh).
readonly LIMIT=120
readonly READY_SECONDS=30
# The bench VM's boot and run under TCG.
readonly VM_LIMIT=300
# Small and quick, but every kind of message: 24 latency, a bandwidth and reference frame, a 2 s stream.
readonly PLAN=(--iterations 24 --latency-frame 64 --bw-iterations 1 --frames 1M --ref-iterations 1
	--stream-seconds 2 --stream-frames 1M --timeout 20 --connect-timeout 20)
readonly REGION_SIZE=16M

WORK=$(mktemp -d "${TMPDIR:-/tmp}/ivb-interop.XXXXXX")
readonly WORK
chmod 0700 "$WORK"
# The name QEMU's server gives shm_open (-M): /dev/shm/NAME. Never its default "ivshmem", which is ours too.
readonly SHM_NAME="ivb-interop-$$"
readonly SHM="/dev/shm/$SHM_NAME"
# -m DIR: QEMU's server makes DIR/ivshmem.XXXXXX and unlinks it at once.
readonly SHM_DIR="/dev/shm/ivb-interop-$$.d"
# Sets the EXIT trap that stops what pids lists and removes WORK and SHM; defines pass, fail, check, check_no_orphans, wait_for_line.
# shellcheck source=tests/integration/proc.sh
. "$HERE/proc.sh"
trap 'cleanup; rm -rf -- "$SHM_DIR"' EXIT
mkdir -m 0700 "$SHM_DIR"

contrib_rc=0
contrib=$("$TOP/scripts/qemu-contrib.sh" 2>"$WORK/contrib.err") || contrib_rc=$?
if [ "$contrib_rc" -eq "$EXIT_SKIP" ]; then
	echo "interop: SKIP: $(tail -n 1 "$WORK/contrib.err")"
	exit 0
elif [ "$contrib_rc" -ne 0 ]; then
	cat "$WORK/contrib.err" >&2
	echo "interop: cannot build QEMU's ivshmem-server and ivshmem-client" >&2
	exit 1
fi
readonly QSERVER=$contrib/ivshmem-server
readonly QCLIENT=$contrib/ivshmem-client
echo "interop: QEMU's ivshmem-server and ivshmem-client of $(cat "$contrib/VERSION") ($contrib)"

# Start QEMU's server with ARGS as a daemon: it listens before it forks, and the daemon then writes its pid
# into WORK/NAME.pid. Sets qserver_pid.
start_qemu_server() {
	local name=$1
	shift
	timeout "$LIMIT" "$QSERVER" -S "$WORK/$name.sock" -p "$WORK/$name.pid" -l "$REGION_SIZE" -n 1 "$@" \
		>"$WORK/$name.server.log" 2>&1 || return 1
	for _ in $(seq $((READY_SECONDS * 20))); do
		[ -s "$WORK/$name.pid" ] && break
		sleep 0.05
	done
	read -r qserver_pid <"$WORK/$name.pid" || return 1
	pids+=("$qserver_pid")
}

# Stop QEMU's server (not our child: by pid) and wait for it to be gone.
stop_qemu_server() {
	kill "$qserver_pid" 2>/dev/null || true
	for _ in $(seq $((READY_SECONDS * 20))); do
		kill -0 "$qserver_pid" 2>/dev/null || return 0
		sleep 0.05
	done
	kill -9 "$qserver_pid" 2>/dev/null || true
}

# Loopback through the server at SOCKET: guest_reader first (it is ready once it has mapped the region), then
# host_writer; both with ARGS, host_writer also with HOST_ARGS. Results in WORK/NAME/. Sets host_rc and guest_rc.
# Returns 1 (after failing NAME) when the guest does not get ready.
HOST_ARGS=()
run_loopback() {
	local name=$1 socket=$2 out="$WORK/$1" guest_pid
	shift 2
	mkdir -p "$out"
	timeout "$LIMIT" "$GUEST" --mode doorbell --doorbell "$socket" --timeout 20 "$@" >"$out/guest.out" 2>"$out/guest.err" &
	guest_pid=$!
	pids+=("$guest_pid")
	# Ready once it has mapped the region; a guest that cannot map the server's region ends here, before a
	# host_writer could touch another file.
	for _ in $(seq $((READY_SECONDS * 20))); do
		grep -q 'guest_reader: mapped ' "$out/guest.err" && break
		running "$guest_pid" || break
		sleep 0.05
	done
	if ! grep -q 'guest_reader: mapped ' "$out/guest.err"; then
		wait_exit "$guest_pid" "$READY_SECONDS"
		fail "$name" "the guest did not get ready (exit $exit_rc): $(tail -n 1 "$out/guest.err")"
		return 1
	fi
	host_rc=0
	timeout "$LIMIT" "$HOST" --out "$out/run" --doorbell "$socket" "${PLAN[@]}" "$@" "${HOST_ARGS[@]}" \
		>"$out/host.out" 2>"$out/host.err" ||
		host_rc=$?
	wait_exit "$guest_pid" "$READY_SECONDS"
	guest_rc=$exit_rc
}

# Whether a loopback run completed: both exits 0, every latency row a success, the stream's frames all
# verified, and rings sent and received on both sides (the doorbells went through QEMU's server's eventfds).
check_loopback_run() {
	local name=$1 out="$WORK/$1"
	[ "$host_rc" -eq 0 ] && [ "$guest_rc" -eq 0 ] ||
		{ fail "$name" "exit host $host_rc guest $guest_rc: $(tail -n 1 "$out/host.err") / $(tail -n 1 "$out/guest.err")"; return 1; }
	"$PYTHON" - "$out/run" <<'PY' 2>"$out/check.err" || { fail "$name" "results: $(tail -n 3 "$out/check.err")"; return 1; }
import csv, json, sys
run = sys.argv[1]
rows = list(csv.DictReader(open(f"{run}/latency_results.csv")))
assert len(rows) == 24 and all(r["success"] == "1" for r in rows), len(rows)
m = json.load(open(f"{run}/run.json"))
assert m["status"] == "completed", m["status"]
(stream,) = m["streams"]
assert stream["completed"] and stream["failed"] == 0 and stream["consumed"] > 0, stream
for side in ("host", "guest"):
    bell = m[side]["doorbell"]
    assert bell["rings_sent"] > 0 and bell["rings_received"] > 0, (side, bell)
assert m["host"]["doorbell"]["peer_id"] != m["guest"]["doorbell"]["peer_id"]
PY
}

test_qemu_server_named_region() {
	local name=qemu_server_named_region
	start_qemu_server "$name" -M "$SHM_NAME" || { fail "$name" "QEMU's server did not start: $(cat "$WORK/$name.server.log")"; return; }
	# --shm names the server's region: both sides check it is the file the server shares.
	run_loopback "$name" "$WORK/$name.sock" --shm "$SHM" || { stop_qemu_server; return; }
	check_loopback_run "$name" && pass "$name"
	stop_qemu_server
	# Unlike ours, QEMU's server removes its region when it exits.
	check qemu_server_removes_its_region "$SHM is still there" [ ! -e "$SHM" ]
}

test_qemu_server_unlinked_region() {
	local name=qemu_server_unlinked_region out="$WORK/qemu_server_unlinked_region" rc decoy="$WORK/decoy"
	start_qemu_server "$name" -m "$SHM_DIR" || { fail "$name" "QEMU's server did not start: $(cat "$WORK/$name.server.log")"; return; }
	# No path to give: both sides map the fd the server hands them.
	if run_loopback "$name" "$WORK/$name.sock"; then
		check_loopback_run "$name" && grep -q "guest_reader: mapped shm $SHM_DIR/ivshmem\.[^ ]* (deleted)" "$out/guest.err" &&
			pass "$name" || fail "$name" "the guest does not name the server's region: $(grep mapped "$out/guest.err")"
	fi
	# A --shm that is not the server's region: both refuse in one line naming both, and never touch it.
	truncate -s "$REGION_SIZE" "$decoy"
	rc=0
	timeout "$LIMIT" "$HOST" --shm "$decoy" --out "$out/decoy" --doorbell "$WORK/$name.sock" "${PLAN[@]}" \
		>/dev/null 2>"$out/decoy-host.err" || rc=$?
	[ "$rc" -eq 1 ] && [ "$(wc -l <"$out/decoy-host.err")" -eq 1 ] &&
		grep -q "shares $SHM_DIR/ivshmem\.[^ ]* (deleted), not --shm $decoy" "$out/decoy-host.err" &&
		[ -z "$(tr -d '\0' <"$decoy")" ] &&
		pass host_refuses_another_region || fail host_refuses_another_region "exit $rc: $(cat "$out/decoy-host.err")"
	rc=0
	timeout "$LIMIT" "$GUEST" --shm "$decoy" --mode doorbell --doorbell "$WORK/$name.sock" --timeout 5 --connect-timeout 5 \
		>/dev/null 2>"$out/decoy-guest.err" || rc=$?
	[ "$rc" -eq 1 ] && [ "$(wc -l <"$out/decoy-guest.err")" -eq 1 ] &&
		grep -q "shares $SHM_DIR/ivshmem\.[^ ]* (deleted), not --shm $decoy" "$out/decoy-guest.err" &&
		pass guest_refuses_another_region || fail guest_refuses_another_region "exit $rc: $(cat "$out/decoy-guest.err")"
	stop_qemu_server
}

# Two host consumers of a guest-to-host stream through QEMU's server: with its default of one vector per peer
# they share vector 0, which host_writer says in one line; with -n 2 each waits on its own. Block: both keep
# every frame either way.
test_qemu_server_consumers() {
	local name vectors out
	for vectors in 1 2; do
		name=qemu_server_consumers_$vectors
		out="$WORK/$name"
		start_qemu_server "$name" -m "$SHM_DIR" -n "$vectors" ||
			{ fail "$name" "QEMU's server did not start: $(cat "$WORK/$name.server.log")"; continue; }
		HOST_ARGS=(--stream-direction guest-to-host --consumers 2 --consumer-timeout 20s)
		if run_loopback "$name" "$WORK/$name.sock"; then
			[ "$host_rc" -eq 0 ] && [ "$guest_rc" -eq 0 ] &&
				[ "$(grep -c "interrupt vector per peer, fewer than the 2 consumers: they share vector 0" "$out/host.err")" -eq $((2 - vectors)) ] &&
				"$PYTHON" "$TOP/tests/check_stream.py" "$out/run" 'len(m["streams"]) == 2 and s["completed"]' \
					's["dropped"] == 0 and s["failed"] == 0 and s["consumed"] == s["produced"] > 0' 2>"$out/check.err" &&
				pass "$name" || fail "$name" "exit host $host_rc guest $guest_rc: $(grep -v counters "$out/host.err" | tail -n 2) $(tail -n 2 "$out/check.err" 2>/dev/null)"
		fi
		HOST_ARGS=()
		stop_qemu_server
	done
}

# run_test.sh --doorbell-socket: QEMU's server (unlinked region) in place of ours, in VM (loopback or bench).
run_test_through() {
	local name=$1 vm=$2 limit=$3 rc=0
	start_qemu_server "$name" -m "$SHM_DIR" || { fail "$name" "QEMU's server did not start: $(cat "$WORK/$name.server.log")"; return; }
	timeout "$limit" "$TOP/run_test.sh" --vm "$vm" --doorbell-socket "$WORK/$name.sock" --shm-size "$REGION_SIZE" \
		--results "$WORK/$name-results" --no-analysis --no-map-study --iterations 5 --latency-frame 64 --bw-iterations 1 --frames 1M \
		--ref-iterations 1 --stream-seconds 1 --stream-frames 1M --timeout 60 >"$WORK/$name.out" 2>&1 || rc=$?
	[ "$rc" -eq 0 ] && grep -q '^run_test: PASS' "$WORK/$name.out" &&
		grep -q '"mode": "doorbell"' "$WORK/$name-results/latest/run.json" &&
		pass "$name" || fail "$name" "exit $rc: $(grep -E 'error|FAIL|guest:' "$WORK/$name.out" | tail -n 4 | tr '\n' ' ')"
	stop_qemu_server
}

test_qemu_client_against_our_server() {
	local name=qemu_client_against_our_server out="$WORK/client" sock="$WORK/ours.sock" server_pid peer_pid client_pid cin
	mkdir -p "$out"
	"$SERVER" --socket "$sock" --shm "$SHM" --size 1M --vectors 1 --max-peers 4 --pid-file "$out/server.pid" \
		2>"$out/server.log" &
	server_pid=$!
	pids+=("$server_pid")
	wait_for_line "$out/server.log" 'listening on' || { fail "$name" "our server did not start: $(cat "$out/server.log")"; return; }
	# Our test peer rings back once each time it is rung (peer 0).
	timeout "$LIMIT" "$PYTHON" "$PEER" echo --socket "$sock" --count 1 --timeout "$LIMIT" >"$out/peer.out" 2>&1 &
	peer_pid=$!
	pids+=("$peer_pid")
	wait_for_line "$out/peer.out" '^handshake id=0' || { fail "$name" "test peer: $(cat "$out/peer.out")"; return; }
	# QEMU's client reads commands on stdin: a FIFO held open here, so that it never sees end of file.
	mkfifo "$out/client.in"
	exec {cin}<>"$out/client.in"
	timeout "$LIMIT" stdbuf -oL "$QCLIENT" -v -S "$sock" <"$out/client.in" >"$out/client.out" 2>&1 &
	client_pid=$!
	pids+=("$client_pid")
	if wait_for_line "$out/client.out" 'our_id=1' && wait_for_line "$out/client.out" 'new peer id = 0' &&
		wait_for_line "$out/peer.out" '^join id=1' && grep -q 'peer 1 joined' "$out/server.log"; then
		pass qemu_client_joins_our_server
	else
		fail qemu_client_joins_our_server "client: $(tail -n 5 "$out/client.out" | tr '\n' ' '); server: $(cat "$out/server.log")"
	fi
	# QEMU's client rings peer 0's vector 0; our peer rings it back.
	echo "int 0 0" >&"$cin"
	if wait_for_line "$out/peer.out" '^echoed 1$' && wait_for_line "$out/client.out" 'receive notification from peer_id='; then
		pass qemu_client_rings_both_ways
	else
		fail qemu_client_rings_both_ways "peer: $(cat "$out/peer.out"); client: $(tail -n 5 "$out/client.out" | tr '\n' ' ')"
	fi
	# The peer leaves after its one echo: the client is told; then the client leaves and the server says so.
	wait_exit "$peer_pid" "$READY_SECONDS"
	wait_for_line "$out/client.out" 'delete peer id = 0' &&
		pass qemu_client_told_of_leave || fail qemu_client_told_of_leave "$(tail -n 5 "$out/client.out" | tr '\n' ' ')"
	stop_pid "$client_pid"
	exec {cin}>&-
	wait_for_line "$out/server.log" 'peer 1 left \(0 connected\)' &&
		pass qemu_client_leaves_our_server || fail qemu_client_leaves_our_server "$(cat "$out/server.log")"
	stop_pid "$server_pid"
	rm -f "$SHM"
}

for f in "$HOST" "$GUEST" "$SERVER"; do
	[ -x "$f" ] || { echo "interop: $f not found; run make $f" >&2; exit 1; }
done
test_qemu_server_named_region
test_qemu_server_unlinked_region
test_qemu_client_against_our_server
test_qemu_server_consumers
run_test_through run_test_loopback_via_qemu_server loopback "$LIMIT"
run_test_through run_test_bench_vm_via_qemu_server bench "$VM_LIMIT"
# QEMU's server is a daemon, not our child: one whose pid file never came would outlive the test.
check_no_orphans
echo "interop: $passed passed, $failed failed"
[ "$failed" -eq 0 ]

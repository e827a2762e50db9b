#!/usr/bin/env bash
# Integration tests of ivshmem_server: bad options, a test peer (tests/integration/ivpeer.py), and QEMU's
# ivshmem-doorbell joining, leaving and rejoining as a peer. QEMU runs under TCG with its CPU stopped (-S):
# no guest kernel is needed; for the register checks the firmware runs only until it has placed the BARs.
# Usage: tests/integration/ivserver.sh [BIN_DIR]   (default: build)
set -euo pipefail

readonly BIN=${1:-build}
readonly SERVER="$BIN/ivshmem_server"
HERE=$(cd "$(dirname "$0")" && pwd)
readonly HERE
readonly PEER="$HERE/ivpeer.py"
readonly QEMU=qemu-system-x86_64
# Every program run is bounded, so that a hang fails the test instead of the CI job.
readonly LIMIT=60
# How long to wait for a process to be ready or for a line in its log.
readonly READY_SECONDS=20
readonly VECTORS=2
readonly SHM_SIZE=1048576
# The first four bytes of the region as the guest must read them through BAR2 ("IVB1", little-endian).
readonly MAGIC_TEXT=IVB1
readonly MAGIC_WORD=0x31425649

WORK=$(mktemp -d "${TMPDIR:-/tmp}/ivb-ivserver.XXXXXX")
readonly WORK
readonly SHM="/dev/shm/ivb-ivserver-$$"
# Sets the EXIT trap that stops what pids lists and removes WORK and SHM; defines pass, fail, check and check_no_orphans.
# shellcheck source=tests/integration/proc.sh
. "$HERE/proc.sh"
# has TEXT PATTERN: whether TEXT matches the glob PATTERN.
# shellcheck disable=SC2053  # the pattern is meant as a glob
has() { [[ $1 == $2 ]]; }

# Start the server with ARGS in the background; it is ready once it has written its pid file.
# Sets server_pid and server_log.
start_server() {
	local name=$1
	shift
	server_log="$WORK/$name.log"
	"$SERVER" --pid-file "$WORK/$name.pid" "$@" 2>"$server_log" &
	server_pid=$!
	pids+=("$server_pid")
	for _ in $(seq $((READY_SECONDS * 20))); do
		[ -s "$WORK/$name.pid" ] && return 0
		kill -0 "$server_pid" 2>/dev/null || return 1
		sleep 0.05
	done
	return 1
}

# Start the test peer on SOCKET; its events go to $WORK/NAME.peer. Sets peer_pid and peer_out.
start_peer() {
	local name=$1 socket=$2
	peer_out="$WORK/$name.peer"
	/usr/bin/python3 "$PEER" peer --socket "$socket" --vectors "$VECTORS" --timeout "$LIMIT" >"$peer_out" 2>&1 &
	peer_pid=$!
	pids+=("$peer_pid")
	wait_for_line "$peer_out" '^(handshake|error)'
}

# Start QEMU with an ivshmem-doorbell device on SOCKET, CPU stopped, QMP on $WORK/NAME.qmp.
# Sets qemu_pid and qemu_log.
start_qemu() {
	local name=$1 socket=$2
	qemu_log="$WORK/$name.qemu.log"
	"$QEMU" -machine q35 -accel tcg -m 64 -nodefaults -display none -S \
		-chardev "socket,id=iv,path=$socket" -device "ivshmem-doorbell,chardev=iv,vectors=$VECTORS" \
		-qmp "unix:$WORK/$name.qmp,server=on,wait=off" >"$qemu_log" 2>&1 &
	qemu_pid=$!
	pids+=("$qemu_pid")
}

probe_qemu() { # name [--boot]
	local name=$1
	shift
	timeout "$LIMIT" /usr/bin/python3 "$PEER" qmp-probe --qmp "$WORK/$name.qmp" --timeout "$READY_SECONDS" "$@" 2>&1
}

# A command the server runs under in expect_exit (e.g. prlimit), empty for none.
wrap=()
# Run the server with ARGS and expect exit status WANT with exactly one line on stderr matching REGEX.
expect_exit() {
	local name=$1 want=$2 regex=$3 rc=0
	shift 3
	timeout "$LIMIT" "${wrap[@]}" "$SERVER" "$@" >"$WORK/$name.out" 2>"$WORK/$name.err" </dev/null || rc=$?
	if [ "$rc" -ne "$want" ]; then
		fail "$name" "exit $rc, expected $want: $(head -c 300 "$WORK/$name.err")"
		return 1
	fi
	if [ "$(wc -l <"$WORK/$name.err")" -ne 1 ] || ! grep -Eq -- "$regex" "$WORK/$name.err"; then
		fail "$name" "stderr is not one line matching '$regex': $(head -c 300 "$WORK/$name.err")"
		return 1
	fi
	pass "$name"
}

test_usage_errors() {
	local s="$WORK/usage.sock" rc=0
	expect_exit usage_vectors_zero 2 '^ivshmem_server: --vectors wants a whole number in 1\.\.64' --socket "$s" --vectors 0 || true
	expect_exit usage_vectors_too_many 2 'in 1\.\.64' --socket "$s" --vectors 65 || true
	expect_exit usage_max_peers_text 2 '^ivshmem_server: --max-peers wants' --socket "$s" --max-peers two || true
	expect_exit usage_size_small 2 'at least 4096' --socket "$s" --size 3000 || true
	expect_exit usage_size_not_power_of_two 2 'power of two' --socket "$s" --size 12K || true
	expect_exit usage_unknown_option 2 "unknown option '--bogus'" --bogus || true
	expect_exit usage_missing_value 2 '--socket needs a value' --socket || true
	expect_exit usage_extra_argument 2 "unexpected argument 'extra'" --socket "$s" extra || true
	"$SERVER" --help >"$WORK/help.out" 2>"$WORK/help.err" || rc=$?
	if [ "$rc" -eq 0 ] && [ ! -s "$WORK/help.err" ] && grep -q -- '--max-peers N' "$WORK/help.out" &&
		grep -q '(default /dev/shm/ivshmem)' "$WORK/help.out"; then
		pass usage_help
	else
		fail usage_help "exit $rc or help text incomplete"
	fi
	check usage_errors_leave_no_socket "$s exists" [ ! -e "$s" ]
}

test_runtime_errors() {
	local shm="$SHM-err"
	expect_exit missing_folder 1 "^ivshmem_server: cannot listen on $WORK/nowhere/s\.sock: No such file or directory" \
		--socket "$WORK/nowhere/s.sock" --shm "$shm" --size 64K || true
	check failed_start_creates_no_region "$shm exists" [ ! -e "$shm" ]
	ln -s "$shm" "$WORK/shm-link"
	expect_exit shm_symlink 1 'is a symbolic link' --socket "$WORK/e.sock" --shm "$WORK/shm-link" || true
	head -c 12288 /dev/zero >"$WORK/shm-12k"
	expect_exit shm_not_power_of_two 1 'not a power of two' --socket "$WORK/e.sock" --shm "$WORK/shm-12k" || true
	if [ "$(stat -c %s "$WORK/shm-12k")" -eq 12288 ]; then
		pass shm_refused_is_untouched
	else
		fail shm_refused_is_untouched "size changed to $(stat -c %s "$WORK/shm-12k")"
	fi
	mkdir "$WORK/xdg-open"
	mkdir -m 0755 "$WORK/xdg-open/ivshmem-bench"
	XDG_RUNTIME_DIR="$WORK/xdg-open" expect_exit runtime_folder_open_to_others 1 'want mode 0700' --shm "$shm" || true
	# Every peer's socket and eventfds must fit in the fd limit, checked before anything is created.
	wrap=(prlimit --nofile=256:256 --)
	expect_exit fd_limit_too_low 1 \
		'^ivshmem_server: 8 peers with 64 vectors need 536 file descriptors, but the limit is 256 \(ulimit -n\)' \
		--socket "$WORK/fd.sock" --shm "$shm" --size 64K --max-peers 8 --vectors 64 || true
	check fd_limit_creates_no_region "$shm exists" [ ! -e "$shm" ]
	check fd_limit_creates_no_socket "$WORK/fd.sock exists" [ ! -e "$WORK/fd.sock" ]
	wrap=()
	rm -f "$shm"
}

test_default_socket_and_stop() {
	local name=default_socket xdg="$WORK/xdg" sock
	mkdir -m 0700 "$xdg"
	sock="$xdg/ivshmem-bench/ivshmem.sock"
	if ! XDG_RUNTIME_DIR=$xdg start_server "$name" --shm "$SHM-default" --size 64K; then
		fail "$name" "server not ready: $(cat "$server_log")"
		return
	fi
	if [ "$(stat -c %a "$xdg/ivshmem-bench")" = 700 ] && [ "$(stat -c %F:%a "$sock")" = socket:600 ] &&
		[ "$(stat -c %a "$SHM-default")" = 600 ] && [ "$(stat -c %s "$SHM-default")" -eq 65536 ]; then
		pass "$name"
	else
		fail "$name" "modes or size: $(stat -c '%n %F %a %s' "$xdg/ivshmem-bench" "$sock" "$SHM-default" 2>&1 | tr '\n' ' ')"
	fi
	expect_exit second_server_same_socket 1 'another server is listening there' --socket "$sock" --shm "$SHM-default" || true
	local rc
	kill -TERM "$server_pid"
	wait_exit "$server_pid" "$READY_SECONDS"
	rc=$exit_rc
	if [ "$rc" -eq 0 ] && [ ! -e "$sock" ] && [ ! -e "$WORK/$name.pid" ] &&
		grep -q 'stopped by signal 15 with 0 peers connected' "$server_log"; then
		pass sigterm_stops_cleanly
	else
		fail sigterm_stops_cleanly "exit $rc, socket or pid file left, or log: $(tail -1 "$server_log")"
	fi
	rm -f "$SHM-default"
}

test_qemu_peer() {
	local sock="$WORK/iv.sock" probe rc
	printf '%s' "$MAGIC_TEXT" >"$SHM"
	if ! start_server qemu --socket "$sock" --shm "$SHM" --size "$SHM_SIZE" --vectors "$VECTORS" --max-peers 2; then
		fail qemu_server_ready "$(cat "$server_log")"
		return
	fi
	if start_peer a "$sock" && grep -qx "handshake id=0 shm_size=$SHM_SIZE vectors=$VECTORS peers=" "$peer_out"; then
		pass test_peer_handshake
	else
		fail test_peer_handshake "$(cat "$peer_out")"
		return
	fi

	start_qemu qemu1 "$sock"
	local qemu1_pid=$qemu_pid
	probe=$(probe_qemu qemu1 --boot) || true
	# The device's BARs: registers, MSI-X, and the region the server sent, at its size.
	if [[ $probe == "ivshmem slot="*" bar0=256 bar1=4096 bar2=$SHM_SIZE "* ]]; then
		pass qemu_maps_region_fd
	else
		fail qemu_maps_region_fd "probe: $probe; qemu: $(head -c 300 "$qemu_log")"
	fi
	# What the guest reads: its id in IVPosition, and our bytes through BAR2.
	check qemu_ivposition_is_server_id "$probe" has "$probe" "* ivposition=1 *"
	check qemu_bar2_is_region "$probe" has "$probe" "* bar2_word0=$MAGIC_WORD"
	if grep -q "peer 1 joined with $VECTORS vectors (2 connected)" "$server_log" &&
		wait_for_line "$peer_out" "^join id=1 vectors=$VECTORS$"; then
		pass qemu_joins_and_peer_is_told
	else
		fail qemu_joins_and_peer_is_told "log: $(cat "$server_log"); peer: $(cat "$peer_out")"
	fi

	# A third connection is refused (version -1, then closed); QEMU and the peer hear nothing of it.
	if timeout "$LIMIT" /usr/bin/python3 "$PEER" refused --socket "$sock" >"$WORK/refused.out" 2>&1 &&
		grep -q 'refused a connection: 2 peers connected' "$server_log"; then
		pass third_peer_refused
	else
		fail third_peer_refused "$(cat "$WORK/refused.out")"
	fi
	# A QEMU refused so fails at start-up, with an error, instead of running without a doorbell.
	start_qemu qemu-refused "$sock"
	wait_exit "$qemu_pid" "$READY_SECONDS"
	rc=$exit_rc
	if [ "$rc" -ne 0 ] && [ "$rc" -ne 124 ] && grep -q 'server sent version -1, expecting 0' "$qemu_log"; then
		pass third_qemu_fails_at_start
	else
		fail third_qemu_fails_at_start "exit $rc: $(head -c 300 "$qemu_log")"
	fi

	# QEMU stops: the server drops it and tells the peer; a new QEMU gets a new id and the peer hears of it.
	stop_pid "$qemu1_pid"
	if wait_for_line "$peer_out" '^leave id=1$' && grep -q 'peer 1 left (1 connected)' "$server_log"; then
		pass qemu_leave_told_to_peer
	else
		fail qemu_leave_told_to_peer "log: $(cat "$server_log"); peer: $(cat "$peer_out")"
	fi
	start_qemu qemu2 "$sock"
	probe=$(probe_qemu qemu2) || true
	if [[ $probe == *" bar2=$SHM_SIZE"* ]] && wait_for_line "$peer_out" "^join id=2 vectors=$VECTORS$"; then
		pass qemu_reconnects_with_new_id
	else
		fail qemu_reconnects_with_new_id "probe: $probe; peer: $(cat "$peer_out")"
	fi
	if grep -qi 'error\|warning\|too many' "$WORK"/qemu1.qemu.log "$WORK"/qemu2.qemu.log; then
		fail qemu_no_protocol_errors "$(cat "$WORK"/qemu1.qemu.log "$WORK"/qemu2.qemu.log)"
	else
		pass qemu_no_protocol_errors
	fi

	# The server stops with peers connected: they see the end of the stream; files are removed.
	kill -TERM "$server_pid"
	wait_exit "$server_pid" "$READY_SECONDS"
	rc=$exit_rc
	if [ "$rc" -eq 0 ] && wait_for_line "$peer_out" '^eof$' && [ ! -e "$sock" ] && [ -e "$SHM" ]; then
		pass server_stop_with_peers
	else
		fail server_stop_with_peers "exit $rc; peer: $(cat "$peer_out")"
	fi
	wait_exit "$peer_pid" "$READY_SECONDS"
	rc=$exit_rc
	check test_peer_exits_cleanly "exit $rc" [ "$rc" -eq 0 ]
	stop_pid "$qemu_pid"
}

if [ ! -x "$SERVER" ]; then
	echo "ivserver: $SERVER not found; run make $SERVER" >&2
	exit 1
fi
if ! command -v "$QEMU" >/dev/null; then
	echo "ivserver: $QEMU not found (install qemu-system-x86)" >&2
	exit 1
fi

test_usage_errors
test_runtime_errors
test_default_socket_and_stop
test_qemu_peer
check_no_orphans

echo "ivserver: $passed passed, $failed failed"
[ "$failed" -eq 0 ]

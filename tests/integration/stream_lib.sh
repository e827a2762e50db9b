# shellcheck shell=bash
# What the loopback stream tests share (stream.sh, consumers.sh): the programs, a work folder and region file
# (removed on exit by proc.sh's trap), and a whole run of guest_reader and host_writer on them.
# Source it with the build folder as $1 (default: build).
# shellcheck disable=SC2034  # the sourcing scripts read these

readonly BIN=${1:-build}
TOP=$(cd "$(dirname "$0")/../.." && pwd)
readonly TOP
readonly HOST="$BIN/host_writer"
readonly GUEST="$BIN/guest_reader"
readonly SERVER="$BIN/ivshmem_server"
readonly PYTHON=/usr/bin/python3
readonly LIMIT=120
# Only the stream: no lock-step message before it.
readonly STREAM_ONLY=(--iterations 0 --bw-iterations 0 --ref-iterations 0)

WORK=$(mktemp -d /tmp/ivb-stream.XXXXXX)
SHM="/dev/shm/ivb-stream-$$"
readonly WORK SHM READY_SECONDS=10
# shellcheck source=tests/integration/proc.sh
. "$(dirname "${BASH_SOURCE[0]}")/proc.sh"

# Start guest_reader in the background on $SHM; its pid lands in guest_pid.
start_guest() { # out guest-args...
	local out=$1
	shift
	timeout "$LIMIT" "$GUEST" --shm "$SHM" "$@" >"$out.out" 2>"$out.err" &
	guest_pid=$!
	pids+=("$guest_pid")
}

# A whole run: the guest in the background, the host in the foreground; exit statuses in host_rc, guest_rc, and
# the seconds from before the guest started to after both ended in run_s (an upper bound of every span in it).
run_stream() { # out host-args...
	local out=$1 t0 us
	shift
	mkdir -p "$out"
	t0=${EPOCHREALTIME/./}
	start_guest "$out/guest" --timeout 10 "${GUEST_ARGS[@]}"
	host_rc=0
	timeout "$LIMIT" "$HOST" --shm "$SHM" --size 32M --out "$out" --timeout 10 "$@" >"$out/host.out" 2>"$out/host.err" ||
		host_rc=$?
	guest_rc=0
	wait "$guest_pid" || guest_rc=$?
	us=$((${EPOCHREALTIME/./} - t0))
	printf -v run_s '%d.%06d' $((us / 1000000)) $((us % 1000000))
}

# Our ivshmem server on $SHM with its socket in out (made private), and any further server options (e.g.
# --vectors 2); sets sock and server_pid and puts the guest in doorbell mode through it (GUEST_ARGS). Returns 1
# when it did not say it listens.
start_doorbell_server() { # out [server-args...]
	local out=$1
	shift
	mkdir -p "$out"
	chmod 700 "$out"
	sock="$out/ivshmem.sock"
	"$SERVER" --socket "$sock" --shm "$SHM" --size 32M --pid-file "$out/server.pid" "$@" 2>"$out/server.log" &
	server_pid=$!
	pids+=("$server_pid")
	# The server says it listens once its socket and pid file are there.
	wait_for_line "$out/server.log" "listening" || return 1
	GUEST_ARGS=(--mode doorbell --doorbell "$sock")
}

# Check stream_results.csv against run.json's streams (tests/check_stream.py) and what the test expects
# (python expressions over m, s and mine).
check_stream() { # out python-expression...
	"$PYTHON" "$TOP/tests/check_stream.py" "$@"
}

# After run_stream with --corrupt-frame 3: both sides exited 1, frame 3 alone failed its check (bad_checksum),
# and the streams hold the test's own condition. Says why in the test's FAIL line; returns non-zero then.
check_frame3_caught() { # name out python-expression
	if [ "$host_rc" -ne 1 ] || [ "$guest_rc" -ne 1 ]; then
		fail "$1" "exit host $host_rc guest $guest_rc, expected 1 and 1"
		return 1
	fi
	check_stream "$2" "$3" '[r["frame"] for r in mine if r["success"] == "0"] == ["3"]' \
		'next(r for r in mine if r["frame"] == "3")["status"] == "bad_checksum"' || { fail "$1" "stream figures"; return 1; }
}


#!/usr/bin/env bash
# Process helpers for the integration tests that start servers and VMs. Source it after setting WORK and
# SHM: it sets an EXIT trap that stops every process in pids and removes both; PASS/FAIL lines from checks.sh.
# shellcheck disable=SC2034  # exit_rc is read by the scripts that source this file

# Whether process PID is still running (a zombie, exited but not yet reaped, is not).
running() {
	local stat
	stat=$(cat "/proc/$1/stat" 2>/dev/null) || return 1
	stat=${stat##*) }
	[ "${stat%% *}" != Z ]
}

# Stop a process we started: SIGTERM, then SIGKILL if it is still there after 5 seconds.
stop_pid() {
	local pid=$1
	kill "$pid" 2>/dev/null || return 0
	for _ in $(seq 100); do
		running "$pid" || break
		sleep 0.05
	done
	kill -9 "$pid" 2>/dev/null || true
	wait "$pid" 2>/dev/null || true
}

# Wait until FILE has a line matching the extended regex, or READY_SECONDS (the sourcing script's) pass.
# Returns 1 on timeout.
wait_for_line() {
	local file=$1 regex=$2
	for _ in $(seq $((READY_SECONDS * 20))); do
		grep -Eq -- "$regex" "$file" 2>/dev/null && return 0
		sleep 0.05
	done
	return 1
}

# Wait up to SECONDS for background process PID to exit; its status lands in exit_rc (124: it did not, and
# was stopped).
wait_exit() {
	local pid=$1 seconds=$2
	exit_rc=0
	for _ in $(seq $((seconds * 20))); do
		if ! running "$pid"; then
			wait "$pid" || exit_rc=$?
			return 0
		fi
		sleep 0.05
	done
	stop_pid "$pid"
	exit_rc=124
}

# shellcheck source=tests/integration/checks.sh
. "$(dirname "${BASH_SOURCE[0]}")/checks.sh"

pids=()

cleanup() {
	local pid
	for pid in "${pids[@]}"; do stop_pid "$pid"; done
	rm -rf "$WORK" "$SHM"
}
trap cleanup EXIT

# The test that nothing outlives the script: stop every process in pids, then FAIL with (and kill) any process
# still running with WORK on its command line, as every process of the test has (daemons that are not our
# children included).
check_no_orphans() {
	local pid left=()
	for pid in "${pids[@]}"; do
		stop_pid "$pid"
	done
	for pid in $(pgrep -f -- "$WORK" || true); do
		left+=("$pid")
		kill "$pid" 2>/dev/null || true
	done
	check no_orphan_processes "still running: ${left[*]}" [ ${#left[@]} -eq 0 ]
}

#!/usr/bin/env bash
# Helpers for the VM tests (tests/vm/test_*.sh): a private shm file and results folder per test, a run_test.sh
# wrapper with a time limit, and checks. Source it from a test after setting T_NAME; it sets an EXIT trap.
# shellcheck disable=SC2034  # T_* variables are read by the tests that source this file

# Small runs: TCG is slow, and a 1080p frame is the smallest frame type.
readonly T_SHORT_RUN=(--iterations 3 --bw-iterations 1 --frames 1080p --latency-frame 1M --ref-iterations 1)
# run_test.sh must end within this, or the test fails (and timeout's SIGTERM makes run_test.sh clean up).
readonly T_RUN_LIMIT=240
readonly T_PYTHON=/usr/bin/python3

# The tests choose their mode themselves: a user's IVSHMEM_MODE must not switch them all to doorbell.
unset IVSHMEM_MODE
T_TOP=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
readonly T_TOP
T_TMP=$(mktemp -d "${TMPDIR:-/tmp}/ivb-vmtest-$T_NAME.XXXXXX")
readonly T_TMP
readonly T_SHM=/dev/shm/ivb-vmtest-$T_NAME-$$
readonly T_RESULTS=$T_TMP/results
T_RC=
# No transport comparison unless the test asks for one (T_TRANSPORTS=(): run_test.sh's default): it takes seconds.
T_TRANSPORTS=(--transports none)
T_OUT=$T_TMP/stdout
T_ERR=$T_TMP/stderr

t_cleanup() {
	local pids
	# Safety net: a QEMU left on this test's shm file is a failure already reported; do not leave it running.
	mapfile -t pids < <(pgrep -f -- "mem-path=$T_SHM," || true)
	[ "${#pids[@]}" -eq 0 ] || kill -KILL "${pids[@]}" 2>/dev/null || true
	rm -rf -- "$T_TMP"
	rm -f -- "$T_SHM"
}
trap t_cleanup EXIT
# A command that fails unexpectedly (set -e) still ends the test with a FAIL line.
set -E
trap 't_fail "unexpected failure (exit $?) at ${BASH_SOURCE[0]##*/} line $LINENO: $BASH_COMMAND"' ERR

t_pass() {
	echo "PASS: vm/$T_NAME${1:+ ($1)}"
	exit 0
}

# Report a failure with the end of run_test.sh's output, and exit 1.
t_fail() {
	echo "FAIL: vm/$T_NAME: $*"
	if [ -s "$T_ERR" ] || [ -s "$T_OUT" ]; then
		echo "  --- run_test.sh output (end) ---"
		cat "$T_OUT" "$T_ERR" 2>/dev/null | tail -n 15 | sed 's/^/  /'
	fi
	exit 1
}

# Run ./run_test.sh on this test's shm file and results folder; sets T_RC and T_SECONDS.
t_run() {
	local t0=$SECONDS
	T_RC=0
	# No stream unless the test asks for one (--stream-seconds S later on the line wins): they take seconds.
	(cd "$T_TOP" && timeout "$T_RUN_LIMIT" ./run_test.sh --shm "$T_SHM" --results "$T_RESULTS" --no-analysis \
		--stream-seconds 0 "${T_TRANSPORTS[@]}" "$@") \
		>"$T_OUT" 2>"$T_ERR" || T_RC=$?
	T_SECONDS=$((SECONDS - t0))
	[ "$T_RC" -ne 124 ] || t_fail "run_test.sh did not end within $T_RUN_LIMIT s"
}

# The result folder of the last run (results/latest).
t_run_dir() { readlink -f "$T_RESULTS/latest"; }

t_assert_no_qemu() {
	local pids
	pids=$(pgrep -f -- "mem-path=$T_SHM," || true)
	[ -z "$pids" ] || t_fail "QEMU left running after run_test.sh ended (pid $pids)"
}

# Fail unless run_test.sh's stderr has a line matching the extended regex $1.
t_assert_stderr() {
	grep -Eq -- "$1" "$T_ERR" || t_fail "no message matching '$1' on stderr"
}

t_assert_rc() {
	[ "$T_RC" -eq "$1" ] || t_fail "run_test.sh exited $T_RC, expected $1"
}

t_assert_failed() {
	[ "$T_RC" -ne 0 ] || t_fail "run_test.sh exited 0, expected a failure"
}

# Fail unless CSV file $1 has at least $2 data rows and every row has success=1 (the last column).
t_assert_csv_success() {
	local file=$1 min=$2 out
	[ -f "$file" ] || t_fail "$file is missing"
	out=$(awk -F, 'NR == 1 { if ($NF != "success") { print "last column is " $NF; exit } next }
		{ n++; if ($NF != "1") bad++ }
		END { if (NR > 0) printf "%d %d\n", n, bad }' "$file")
	case $out in
	"last column"*) t_fail "$file: $out, not success" ;;
	esac
	read -r rows bad <<<"$out"
	[ "${rows:-0}" -ge "$min" ] || t_fail "$file has ${rows:-0} rows, expected at least $min"
	[ "${bad:-0}" -eq 0 ] || t_fail "$file has $bad rows with success != 1"
}

# Print the value at a path of keys in a JSON file, e.g. t_json run.json guest mapping ("" if absent).
t_json() {
	"$T_PYTHON" - "$@" <<'PY'
import json, sys
value = json.load(open(sys.argv[1]))
for key in sys.argv[2:]:
    value = value.get(key, "") if isinstance(value, dict) else ""
print(value)
PY
}

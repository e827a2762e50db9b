#!/usr/bin/env bash
# run_test.sh --vm loopback --repeat 2, in both modes: guest_reader on the host, two fresh runs in
# results/<timestamp>/run-1 and run-2, each run.json with its repeat meta and a noise block noise.py reads,
# and no region file left behind. Ends with "run_test loopback: N passed, M failed".
# Usage: tests/integration/run_test_loopback.sh [BIN_DIR]   (default: build)
set -euo pipefail

readonly BIN=${1:-build}
readonly PYTHON=/usr/bin/python3
# run_test.sh must end within this (it bounds every wait of its own as well).
readonly LIMIT=120
TOP=$(cd "$(dirname "$0")/../.." && pwd)
readonly TOP
WORK=$(mktemp -d /tmp/ivb-run-test-loopback.XXXXXX)
readonly WORK
passed=0
failed=0

cleanup() { rm -rf -- "$WORK"; }
trap cleanup EXIT

pass() { echo "PASS $1"; passed=$((passed + 1)); }
fail() {
	echo "FAIL $1: $2"
	tail -n 5 "$WORK/$1.err" 2>/dev/null | sed 's/^/  /'
	failed=$((failed + 1))
}

# A stream of 4096-byte frames for 1 s each way instead of the default 3 s of 4K frames (the frames' set-up took
# more than the stream): what is checked is the folders, the meta and the noise block.
for mode in polling doorbell; do
	name=repeat_$mode
	results=$WORK/$name
	rc=0
	(cd "$TOP" && BUILD=$BIN timeout "$LIMIT" ./run_test.sh --vm loopback --mode "$mode" --repeat 2 --results "$results" \
		--iterations 5 --latency-frame 64 --bw-iterations 1 --frames 4096 --ref-iterations 1 --stream-seconds 1 \
		--stream-frames 4096 --timeout 20 --no-analysis) >"$WORK/$name.out" 2>"$WORK/$name.err" || rc=$?
	pid=$(sed -n 's|.*/dev/shm/ivb-run-loopback-\([0-9]*\) ready.*|\1|p' "$WORK/$name.err" | head -n 1)
	if [ "$rc" -ne 0 ]; then
		fail "$name" "run_test.sh exited $rc"
	elif ! check=$("$PYTHON" "$TOP/tests/check_repeat.py" "$results" 2 false); then
		fail "$name" "$check"
	elif [ "$(grep -c '^run_test: run [12] of 2$' "$WORK/$name.err")" -ne 2 ]; then
		fail "$name" "run_test.sh did not announce two runs"
	elif [ -z "$pid" ] || [ -e "/dev/shm/ivb-run-loopback-$pid" ]; then
		fail "$name" "the loopback region file is not named or was left behind (pid '${pid}')"
	elif ! grep -q '"mode": "'"$mode"'"' "$results/latest/run-2/run.json"; then
		fail "$name" "run-2/run.json is not a $mode run"
	else
		pass "$name"
	fi
done

# A bad value is a usage error before anything runs.
rc=0
(cd "$TOP" && ./run_test.sh --vm loopback --repeat 0) >/dev/null 2>"$WORK/usage.err" || rc=$?
if [ "$rc" -eq 2 ] && grep -q "invalid value for --repeat" "$WORK/usage.err"; then
	pass repeat_usage
else
	fail repeat_usage "--repeat 0 exited $rc"
fi

echo "run_test loopback: $passed passed, $failed failed"
[ "$failed" -eq 0 ]

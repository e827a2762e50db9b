#!/usr/bin/env bash
# run_test.sh stopped by SIGTERM in the middle of a run (as timeout(1) or a CI runner would): it exits at
# once with 143, stops its QEMU and host_writer, and host_writer's run.json keeps what was measured.
set -euo pipefail
T_NAME=interrupt
# shellcheck source=tests/vm/lib.sh
. "$(dirname "$0")/lib.sh"
IVB_PROG=test_interrupt
# shellcheck source=vm/lib.sh
. "$T_TOP/vm/lib.sh"
readonly WAIT_LIMIT=120

IVB_CON_PID=
# run_test.sh with its stderr in T_ERR, followed until it exits (ivb_spawn_follow reaps it when it does).
ivb_spawn_follow "$T_ERR" "$T_ERR" "$T_TOP/run_test.sh" \
	--shm "$T_SHM" --results "$T_RESULTS" --no-analysis \
	--iterations 100000 --latency-frame 64K --bw-iterations 0 --ref-iterations 0

# Wait (event-driven, with a limit) for host_writer's first progress line: the run is under way.
rc=0
ivb_console_wait "$WAIT_LIMIT" '^host_writer: latency: [1-9]' || rc=$?
if [ "$rc" -ne 0 ]; then
	ivb_spawn_stop 30
	t_fail "no progress from host_writer within $WAIT_LIMIT s (wait status $rc)"
fi

t0=$SECONDS
kill -TERM "$IVB_CHILD_PID"
rc=0
ivb_console_wait 30 || rc=$?
[ "$rc" -eq 1 ] || { ivb_spawn_stop 5; t_fail "run_test.sh still runs 30 s after SIGTERM"; }
ivb_spawn_stop
T_RC=$IVB_CHILD_STATUS
stop_s=$((SECONDS - t0))
t_assert_rc 143
t_assert_no_qemu
pgrep -f -- "host_writer --shm $T_SHM " >/dev/null && t_fail "host_writer left running"
dir=$(t_run_dir)
[ "$(t_json "$dir/run.json" status)" = aborted ] || t_fail "run.json status is not aborted"
rows=$(($(wc -l <"$dir/latency_results.csv") - 1))
[ "$rows" -ge 1 ] || t_fail "latency_results.csv lost the iterations measured before the signal"
t_pass "stopped ${stop_s} s after SIGTERM, $rows latency rows kept"

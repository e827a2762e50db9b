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
# shellcheck source=vm/bench.sh
. "$T_TOP/vm/bench.sh"
readonly WAIT_LIMIT=120

(cd "$T_TOP" && exec ./run_test.sh --shm "$T_SHM" --results "$T_RESULTS" --no-analysis \
	--iterations 100000 --latency-frame 64K --bw-iterations 0 --ref-iterations 0) >"$T_OUT" 2>"$T_ERR" &
pid=$!
IVB_QEMU_PID=
IVB_CON_PID=

# Wait (event-driven, with a limit) for host_writer's first progress line: the run is under way.
ivb_console_follow "$T_ERR" "$pid"
rc=0
ivb_console_wait "$WAIT_LIMIT" '^host_writer: latency: [1-9]' || rc=$?
ivb_bench_stop
[ "$rc" -eq 0 ] || { kill -TERM "$pid" 2>/dev/null || true; t_fail "no progress from host_writer within $WAIT_LIMIT s (wait status $rc)"; }

t0=$SECONDS
kill -TERM "$pid"
ivb_wait_gone "$pid" 30 || { kill -KILL "$pid"; t_fail "run_test.sh still runs 30 s after SIGTERM"; }
T_RC=0
wait "$pid" || T_RC=$?
stop_s=$((SECONDS - t0))
t_assert_rc 143
t_assert_no_qemu
pgrep -f -- "host_writer --shm $T_SHM " >/dev/null && t_fail "host_writer left running"
dir=$(t_run_dir)
[ "$(t_json "$dir/run.json" status)" = aborted ] || t_fail "run.json status is not aborted"
rows=$(($(wc -l <"$dir/latency_results.csv") - 1))
[ "$rows" -ge 1 ] || t_fail "latency_results.csv lost the iterations measured before the signal"
t_pass "stopped ${stop_s} s after SIGTERM, $rows latency rows kept"

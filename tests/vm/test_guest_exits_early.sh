#!/usr/bin/env bash
# guest_reader exits at once (an option it does not know: exit 2), in both start orders.
# Guest first: run_test.sh sees the exit before the ready line and never starts host_writer.
# Host first: host_writer waits for a guest that never answers and times out (--timeout 5).
set -euo pipefail
T_NAME=guest-exits-early
# shellcheck source=tests/vm/lib.sh
. "$(dirname "$0")/lib.sh"

t_run "${T_SHORT_RUN[@]}" --guest-arg --no-such-option
t_assert_no_qemu
t_assert_rc 1
t_assert_stderr 'guest_reader exited with status 2 before it was ready'
t_assert_stderr 'guest: guest_reader: .*no-such-option'
grep -aq 'IVB-GUEST-EXIT 2' "$(t_run_dir)/guest.log" || t_fail "guest.log has no 'IVB-GUEST-EXIT 2'"
first=$T_SECONDS

t_run "${T_SHORT_RUN[@]}" --timeout 5 --start-order host --guest-arg --no-such-option
t_assert_no_qemu
t_assert_rc 1
t_assert_stderr '^host_writer: .*(time|guest)'
t_assert_stderr 'host_writer failed \(exit status 1\)'
t_assert_stderr 'guest_reader failed \(exit status 2\)'
dir=$(t_run_dir)
grep -aq 'IVB-GUEST-EXIT 2' "$dir/guest.log" || t_fail "guest.log has no 'IVB-GUEST-EXIT 2'"
[ "$(t_json "$dir/run.json" status)" = aborted ] || t_fail "run.json status is not aborted"
t_pass "guest first ${first} s, host first ${T_SECONDS} s"

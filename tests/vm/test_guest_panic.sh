#!/usr/bin/env bash
# The guest kernel panics (no init to run): run_test.sh says so, keeps the console log and stops.
# Then a boot that cannot finish in time (--boot-timeout 1): the hang path.
set -euo pipefail
T_NAME=guest-panic-hang
# shellcheck source=tests/vm/lib.sh
. "$(dirname "$0")/lib.sh"

t_run "${T_SHORT_RUN[@]}" --append rdinit=/no-such-init --append init=/no-such-init
t_assert_no_qemu
t_assert_rc 1
t_assert_stderr 'the guest kernel panicked: Kernel panic'
grep -aq 'Kernel panic' "$(t_run_dir)/guest.log" || t_fail "guest.log does not hold the panic"
panic=$T_SECONDS

t_run "${T_SHORT_RUN[@]}" --boot-timeout 1
t_assert_no_qemu
t_assert_rc 1
t_assert_stderr 'the guest did not get ready within 1 s'
[ -f "$(t_run_dir)/guest.log" ] || t_fail "guest.log is missing"
t_pass "panic ${panic} s, hang ${T_SECONDS} s"

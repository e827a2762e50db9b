#!/usr/bin/env bash
# run_test.sh --repeat 2 in the bench VM: one boot, guest_reader run twice (vm/init's ivb.repeat=2), each run
# in results/<timestamp>/run-<i> with its repeat meta and noise block; the console in the top folder.
set -euo pipefail
T_NAME=repeat
# shellcheck source=tests/vm/lib.sh
. "$(dirname "$0")/lib.sh"

t_run --repeat 2 "${T_SHORT_RUN[@]}"
t_assert_no_qemu
t_assert_rc 0
check=$("$T_PYTHON" "$T_TOP/tests/check_repeat.py" "$T_RESULTS" 2 true) || t_fail "$check"
dir=$(t_run_dir)
for i in 1 2; do
	t_assert_csv_success "$dir/run-$i/latency_results.csv" 3
	t_assert_csv_success "$dir/run-$i/reference_results.csv" 2
done
[ "$(grep -ac '^IVB-INIT ' "$dir/guest.log")" -eq 1 ] || t_fail "guest.log does not show exactly one boot"
[ "$(grep -ac '^IVB-GUEST-EXIT 0' "$dir/guest.log")" -eq 2 ] || t_fail "guest.log does not show two runs that exited 0"
grep -q 'ivb.repeat=2' "$dir/qemu.cmdline" || t_fail "the kernel command line has no ivb.repeat=2"
[ -n "$(t_json "$dir/run-1/run.json" meta guest_ready_s)" ] || t_fail "run-1 has no guest_ready_s (it booted the VM)"
[ -z "$(t_json "$dir/run-2/run.json" meta guest_ready_s)" ] || t_fail "run-2 has a guest_ready_s, but no boot of its own"
t_pass "${T_SECONDS} s, one boot, two runs"

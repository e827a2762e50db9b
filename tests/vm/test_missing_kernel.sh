#!/usr/bin/env bash
# KERNEL= names a file that does not exist: a clear error before anything boots.
set -euo pipefail
T_NAME=missing-kernel
# shellcheck source=tests/vm/lib.sh
. "$(dirname "$0")/lib.sh"

KERNEL=/nonexistent/vmlinuz t_run "${T_SHORT_RUN[@]}"
t_assert_no_qemu
t_assert_failed
t_assert_stderr 'guest kernel not found: KERNEL=/nonexistent/vmlinuz'
t_pass "exit $T_RC"

#!/usr/bin/env bash
# The region (4 MiB) is smaller than the largest frame (1080p, 6,220,800 bytes): host_writer refuses.
set -euo pipefail
T_NAME=shm-too-small
# shellcheck source=tests/vm/lib.sh
. "$(dirname "$0")/lib.sh"

t_run --iterations 1 --latency-frame 64K --bw-iterations 1 --frames 64K,1080p --ref-iterations 0 \
	--timeout 5 --shm-size 4M
t_assert_no_qemu
t_assert_failed
t_assert_stderr '^host_writer: .*too small.*6220800'
t_assert_stderr 'host_writer failed'
t_pass "exit $T_RC, ${T_SECONDS} s"

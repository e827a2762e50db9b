#!/usr/bin/env bash
# Start order: host_writer first, then the bench VM (the smoke test covers guest first).
set -euo pipefail
T_NAME=host-first
# shellcheck source=tests/vm/lib.sh
. "$(dirname "$0")/lib.sh"

t_run "${T_SHORT_RUN[@]}" --start-order host
t_assert_no_qemu
t_assert_rc 0
dir=$(t_run_dir)
t_assert_csv_success "$dir/latency_results.csv" 3
t_assert_csv_success "$dir/bandwidth_results.csv" 1
[ "$(t_json "$dir/run.json" guest mapping)" = resource2 ] || t_fail "run.json guest.mapping is not resource2"
[ "$(t_json "$dir/run.json" meta start_order)" = host ] || t_fail "run.json meta.start_order is not host"
t_pass "${T_SECONDS} s"

#!/usr/bin/env bash
# guest_reader --map wb in the bench VM: BAR2 through the ivshmem_doorbell driver's /dev/ivshmem-region,
# mapped write-back. A normal run passes with every SHA-256 verified (the guest reads what the host wrote);
# the guest's writes reach the host by construction: every acknowledgement and timing the host records was
# written by the guest through this mapping. run.json names the mapping and the memory type the page table
# entry selects (write-back). Then the driver missing: one line that says so and which mappings still work.
set -euo pipefail
T_NAME=map_wb
# shellcheck source=tests/vm/lib.sh
. "$(dirname "$0")/lib.sh"

build=${BUILD:-build}
cd "$T_TOP"

t_run --guest-arg --map --guest-arg wb "${T_SHORT_RUN[@]}"
t_assert_rc 0
dir=$(t_run_dir)
t_assert_csv_success "$dir/latency_results.csv" 3
t_assert_csv_success "$dir/bandwidth_results.csv" 1
grep -aq '^IVB-DRIVER driver loaded: /dev/ivshmem-region' "$dir/guest.log" ||
	t_fail "guest.log does not show the driver loaded with /dev/ivshmem-region"
grep -aEq '^guest_reader: 7 messages, 7 verified, 0 failed; mapping ivshmem_region ' "$dir/guest.log" ||
	t_fail "guest_reader did not verify every message through ivshmem_region"
mapping=$(t_json "$dir/run.json" guest mapping)
memtype=$(t_json "$dir/run.json" guest memory_type)
[ "$mapping" = ivshmem_region ] || t_fail "run.json guest.mapping is '$mapping', not ivshmem_region"
[ "$memtype" = write-back ] || t_fail "run.json guest.memory_type is '$memtype', not write-back"
grep -Eq "guest mapping ivshmem_region of [0-9a-f:.]+, memory type write-back" "$T_OUT" "$T_ERR" ||
	t_fail "run_test.sh does not name the mapping and its memory type"

# No driver in the initramfs (the polling one): one line naming what still works, and a failed run.
make -s "$build/bench-initramfs.cpio" >/dev/null 2>&1 || t_fail "make $build/bench-initramfs.cpio failed"
INITRAMFS=$build/bench-initramfs.cpio t_run --guest-arg --map --guest-arg wb "${T_SHORT_RUN[@]}"
t_assert_failed
t_assert_stderr 'guest_reader: --map wb: no /dev/ivshmem-region for [0-9a-f:.]+ \(the ivshmem_doorbell driver is not loaded\); still available: uc \(resource2\), wc \(resource2_wc\)$'
dir=$(t_run_dir)
[ "$(grep -ac -- '--map wb' "$dir/guest.log")" -eq 1 ] || t_fail "guest.log says more or less than one line about --map wb"
t_assert_no_qemu

t_pass "mapping $mapping, memory type $memtype"

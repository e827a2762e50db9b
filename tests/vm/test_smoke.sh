#!/usr/bin/env bash
# Bench VM smoke test (guest started first, the default): a short run over the real ivshmem device.
set -euo pipefail
T_NAME=smoke
# shellcheck source=tests/vm/lib.sh
. "$(dirname "$0")/lib.sh"

t_run "${T_SHORT_RUN[@]}"
t_assert_no_qemu
t_assert_rc 0
dir=$(t_run_dir)
[ -d "$dir" ] || t_fail "results/latest does not point to a folder"
t_assert_csv_success "$dir/latency_results.csv" 3
t_assert_csv_success "$dir/bandwidth_results.csv" 1
t_assert_csv_success "$dir/reference_results.csv" 2
[ "$(t_json "$dir/run.json" status)" = completed ] || t_fail "run.json status is not completed"
# The guest really used BAR2 of the PCI device, not a file.
mapping=$(t_json "$dir/run.json" guest mapping)
[ "$mapping" = resource2 ] || t_fail "run.json guest.mapping is '$mapping', expected resource2"
device=$(t_json "$dir/run.json" guest device)
[[ $device =~ ^[0-9a-f]{4}:[0-9a-f]{2}:[0-9a-f]{2}\.[0-7]$ ]] || t_fail "run.json guest.device '$device' is not a PCI address"
grep -aq "^IVB-DEVICE $device " "$dir/guest.log" || t_fail "guest.log does not show the device $device"
for key in vm accel qemu_version guest_kernel; do
	[ -n "$(t_json "$dir/run.json" meta "$key")" ] || t_fail "run.json meta.$key is missing"
done
[ "$(t_json "$dir/run.json" meta vm)" = bench ] || t_fail "run.json meta.vm is not bench"
grep -aq 'IVB-GUEST-EXIT 0' "$dir/guest.log" || t_fail "guest.log has no 'IVB-GUEST-EXIT 0'"
[ "$(stat -c %a "$T_SHM")" = 600 ] || t_fail "$T_SHM is not mode 0600"
ready=$(sed -n 's/.*QEMU start to guest_reader ready \([0-9.]*\) s.*/\1/p' "$T_OUT")
[ -n "$ready" ] || t_fail "no boot time in the summary"
t_pass "${T_SECONDS} s, guest ready ${ready} s after QEMU start, $mapping of $device"

#!/usr/bin/env bash
# Doorbell mode in the bench VM: our ivshmem_server, QEMU's ivshmem-doorbell, the guest driver loaded by vm/init,
# and interrupts both ways. Then the ways it can fail, each a clear message and nothing left running: a QEMU
# without ivshmem-doorbell, an initramfs without the driver, a driver that does not load.
set -euo pipefail
T_NAME=doorbell
# shellcheck source=tests/vm/lib.sh
. "$(dirname "$0")/lib.sh"

build=${BUILD:-build}
cd "$T_TOP"

# Nothing of this test's may run after run_test.sh: no process maps its region, none names it.
assert_nothing_left() {
	local left
	left=$(pgrep -f -- "$T_SHM" || true)
	[ -z "$left" ] || t_fail "left running after run_test.sh: $(ps -o pid=,args= -p "${left//$'\n'/,}" | head -c 300)"
}

t_run --mode doorbell --iterations 20 --latency-frame 64 --bw-iterations 1 --frames 1080p --ref-iterations 1
assert_nothing_left
t_assert_rc 0
dir=$(t_run_dir)
t_assert_csv_success "$dir/latency_results.csv" 20
t_assert_csv_success "$dir/bandwidth_results.csv" 1
[ "$(t_json "$dir/run.json" options mode)" = doorbell ] || t_fail "run.json options.mode is not doorbell"
grep -aq '^IVB-DOORBELL driver loaded: /dev/ivshmem-doorbell' "$dir/guest.log" ||
	t_fail "guest.log does not show the driver loaded"
# Interrupts both ways: each side woke on the other's rings, and read no more of them than the other sent (how
# many find the reader asleep, and how many an eventfd adds up before it is read, depends on the scheduler).
for side in host guest; do
	other=guest
	[ "$side" = host ] || other=host
	received=$(t_json "$dir/run.json" "$side" doorbell rings_received)
	sent=$(t_json "$dir/run.json" "$other" doorbell rings_sent)
	[ "${received:-0}" -ge 1 ] || t_fail "the $side never woke on a ring"
	[ "$received" -le "${sent:-0}" ] || t_fail "the $side read $received rings, the $other sent ${sent:-none}"
done
# What each side's CPU cost, recorded by the programs themselves.
for side in host guest; do
	[ -n "$(t_json "$dir/run.json" "$side" cpu wall_s)" ] || t_fail "run.json has no $side.cpu"
done
if ! grep -q 'peer 0 joined' "$dir/ivshmem_server.log" || ! grep -q 'peer 1 joined' "$dir/ivshmem_server.log"; then
	t_fail "the server did not see both peers: $(tr '\n' ' ' <"$dir/ivshmem_server.log")"
fi
grep -q 'stopped by signal' "$dir/ivshmem_server.log" || t_fail "the server was not stopped at the end"
late=$(t_json "$dir/run.json" guest doorbell late_wakeups)
summary="guest woke on $(t_json "$dir/run.json" guest doorbell rings_received) rings, $late late"

# A QEMU without ivshmem-doorbell: refused before anything starts.
QEMU=$T_TOP/tests/qemu-without-doorbell t_run --mode doorbell "${T_SHORT_RUN[@]}"
t_assert_failed
t_assert_stderr 'has no ivshmem-doorbell device'
assert_nothing_left

# An initramfs without the driver (the polling one), asked for doorbell mode: vm/init says so.
make -s "$build/bench-initramfs.cpio" >/dev/null 2>&1 || t_fail "make $build/bench-initramfs.cpio failed"
IVSHMEM_MODE=doorbell INITRAMFS=$build/bench-initramfs.cpio t_run "${T_SHORT_RUN[@]}"
t_assert_failed
t_assert_stderr 'the guest reports: doorbell mode, but this initramfs has no ivshmem_doorbell.ko'
assert_nothing_left

# A driver that does not load: insmod's reason reaches the user.
head -c 4096 /dev/urandom >"$T_TMP/broken.ko"
vm/build-initramfs.sh --out "$T_TMP/broken.cpio" --guest-reader "$build/guest_reader-static" --module "$T_TMP/broken.ko"
INITRAMFS=$T_TMP/broken.cpio t_run --mode doorbell "${T_SHORT_RUN[@]}"
t_assert_failed
t_assert_stderr 'the guest reports: cannot load ivshmem_doorbell.ko: .*(invalid|Exec format|format)'
assert_nothing_left

t_pass "$summary"

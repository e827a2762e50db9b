#!/usr/bin/env bash
# vsock end to end: the hosts this is built on have no /dev/vhost-vsock and no vsock loopback, so a guest of the
# bench VM's kernel runs both programs (tests/vm/vsock-loopback-init): host_writer --transport ivshmem,vsock:1
# connects to the guest's own CID 1 through the kernel's vsock loopback transport, guest_reader listens on AF_VSOCK
# as in any VM. The frames and messages cross with the counts of both sides and the rows agreeing
# (tests/check_transports.py), a corrupted frame is caught once in the frames test, run.json records vsock as ran
# at 1:PORT. What it does not cover: vhost-vsock-pci (QEMU's device between a host and a guest).
set -euo pipefail
T_NAME=vsock_loopback
# shellcheck source=tests/vm/lib.sh
. "$(dirname "$0")/lib.sh"
IVB_PROG=test_vsock_loopback
# shellcheck source=vm/lib.sh
. "$T_TOP/vm/lib.sh"

# Boot, run and power-off under TCG on a loaded machine.
readonly LIMIT=180
readonly PORT=6001

cd "$T_TOP"
build=${BUILD:-build}
make -s deps-vm "$build/host_writer-static" "$build/guest_reader-static" >/dev/null || t_fail "the build failed"
mapfile -t kernel < <(vm/kernel.sh) || true
[ "${#kernel[@]}" -eq 2 ] || t_fail "no guest kernel (vm/kernel.sh)"
modules=$(vm/kernel.sh --modules)
[ -f "$modules/vsock_loopback.ko" ] || t_fail "no vsock_loopback.ko in the kernel's modules ($modules)"
vm/build-initramfs.sh --out "$T_TMP/initramfs.cpio" --guest-reader "$build/guest_reader-static" \
	--host-writer "$build/host_writer-static" --modules "$modules" --init tests/vm/vsock-loopback-init
ivb_detect_accel 2>/dev/null
log=$T_TMP/console.log
rc=0
# The kernel passes the words after "--" to init: host_writer's arguments.
timeout "$LIMIT" "${QEMU:-qemu-system-x86_64}" -name ivb-vsock-loopback -machine pc -accel "$IVB_ACCEL" -cpu "$IVB_CPU" \
	-m 512M -nodefaults -no-user-config -display none -nic none -no-reboot -kernel "${kernel[0]}" \
	-initrd "$T_TMP/initramfs.cpio" -serial "file:$log" \
	-append "console=ttyS0 quiet panic=-1 oops=panic -- --size 32M --iterations 0 --bw-iterations 0 --ref-iterations 0 --stream-seconds 1 --stream-frames 64K --message-sizes 64 --transport ivshmem,vsock:1:$PORT --corrupt-frame 2" \
	</dev/null >"$T_TMP/qemu.out" 2>&1 || rc=$?
[ "$rc" -ne 124 ] || t_fail "the VM did not end within $LIMIT s: $(tail -n 3 "$log" | tr -d '\r')"
tr -d '\r' <"$log" >"$T_TMP/console.txt"
grep -q '^IVB-E2E modules loaded' "$T_TMP/console.txt" || t_fail "the guest did not start: $(tail -n 3 "$T_TMP/console.txt")"
! grep -q '^IVB-E2E cannot load' "$T_TMP/console.txt" || t_fail "$(grep '^IVB-E2E cannot load' "$T_TMP/console.txt")"
out=$T_TMP/out
mkdir -p "$out"
for f in run.json transport_results.csv stream_results.csv host.log guest.log; do
	sed -n "/^IVB-FILE $f\$/,/^IVB-END\$/p" "$T_TMP/console.txt" | sed '1d;$d' >"$out/$f"
done
# The corrupted frame fails the run (exit 1 on both sides, the guest for the ivshmem streams' frames it failed),
# which still completes.
grep -q '^IVB-E2E host_writer 1 guest_reader 1$' "$T_TMP/console.txt" ||
	t_fail "exit statuses: $(grep '^IVB-E2E host_writer' "$T_TMP/console.txt"): $(tail -n 2 "$out/host.log")"
grep -q "stream frames failed their check" "$out/guest.log" || t_fail "guest_reader failed otherwise: $(tail -n 2 "$out/guest.log")"
"$T_PYTHON" "$T_TOP/tests/check_transports.py" "$out" \
	't["completed"] and t["sent"] > 2 and t["size_bytes"] in (64, 65536)' \
	't["failed"] == (1 if t["test"] == "frames" or t["transport"] == "ivshmem" else 0)' \
	't["failed"] == 0 or mine[2]["status"] == "bad_checksum"' \
	'[(e["name"], e["status"]) for e in m["transports"]["entries"]] == [("ivshmem", "ran"), ("vsock", "ran")]' \
	"m['transports']['entries'][1]['address'] == '1:$PORT' and m['status'] == 'completed'" \
	'sorted({x["transport"] for x in tests}) == ["ivshmem", "vsock"] and len(tests) == 2 + 3' ||
	t_fail "transport figures in $out (console: $T_TMP/console.txt)"
grep -q "transport vsock frames of 65536-byte frames: [0-9]* taken, [0-9]* verified" "$out/guest.log" ||
	t_fail "guest_reader has no vsock summary: $(tail -n 2 "$out/guest.log")"
sent=$("$T_PYTHON" -c 'import json, sys
tests = json.load(open(sys.argv[1]))["transports"]["tests"]
print(", ".join("%s %s %d" % (t["transport"], t["test"], t["sent"]) for t in tests if t["transport"] == "vsock"))' "$out/run.json")
t_pass "over the guest's vsock loopback: $sent"

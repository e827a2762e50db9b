#!/usr/bin/env bash
# The ivshmem_doorbell driver in a VM: the bench VM's kernel (vm/kernel.sh) boots under QEMU with an
# ivshmem-doorbell device that ivshmem_server serves, from a throwaway initramfs (BIN_DIR/doorbell-test/)
# holding busybox, the driver and ivdb_selftest. The guest loads the driver, rings itself, checks the
# non-blocking read and the poll timeout, and rings a host test peer (tests/integration/ivpeer.py echo),
# which rings it back: interrupts both ways through the server's eventfds. Last, the device is unbound under
# a blocked reader, and the module unloaded.
# Usage: tests/integration/doorbell_vm.sh [BIN_DIR]   (default: build)
#   needs BIN_DIR/ivshmem_server, BIN_DIR/ivshmem_doorbell.ko, BIN_DIR/doorbell-test/ivdb_selftest
set -euo pipefail

readonly BIN=${1:-build}
HERE=$(cd "$(dirname "$0")" && pwd)
readonly HERE
TOP=$(cd "$HERE/../.." && pwd)
readonly TOP
readonly SERVER="$BIN/ivshmem_server"
readonly MODULE="$BIN/ivshmem_doorbell.ko"
readonly SELFTEST="$BIN/doorbell-test/ivdb_selftest"
readonly INITRAMFS="$BIN/doorbell-test/initramfs.cpio"
readonly INIT="$HERE/doorbell-vm/init"
readonly PEER="$HERE/ivpeer.py"
readonly BUSYBOX=/bin/busybox
readonly APPLETS="sh mount insmod rmmod poweroff cat grep sed tail dmesg"
readonly QBOOT=/usr/share/qemu/qboot.rom
# As the bench VM: serial console, quiet, and no time spent on what the test does not need (vm/bench-vm.sh).
readonly APPEND="console=ttyS0 quiet panic=-1 oops=panic cryptomgr.notests rodata=off ipv6.disable=1 no_timer_check"
readonly ECHO_COUNT=20
# 4 MiB: the write-back mapping gives BAR2 struct pages, which memory hotplug adds in 2 MiB steps (a 1 MiB BAR
# cannot have them: opening /dev/ivshmem-region then fails with EINVAL, as dmesg explains).
readonly SHM_SIZE=4194304
# The whole boot, test and power-off; ~10 s under TCG here.
readonly LIMIT=180
readonly READY_SECONDS=20

IVB_PROG=doorbell_vm.sh
# shellcheck source=vm/lib.sh
. "$TOP/vm/lib.sh"

WORK=$(mktemp -d "${TMPDIR:-/tmp}/ivb-doorbell-vm.XXXXXX")
readonly WORK
readonly SHM="/dev/shm/ivb-doorbell-vm-$$"
# Sets the EXIT trap that stops what pids lists and removes WORK and SHM; defines pass and fail.
# shellcheck source=tests/integration/proc.sh
. "$HERE/proc.sh"

# Whether the console has a line matching the extended regex; FAIL with the console's IVDB lines if not.
expect_console() {
	local name=$1 regex=$2
	if grep -Eq -- "$regex" "$WORK/console.log"; then
		pass "$name"
	else
		fail "$name" "no line matching '$regex'; console: $(grep -a 'IVDB' "$WORK/console.log" | tr '\r\n' '  ' | head -c 600)"
	fi
}

for f in "$SERVER" "$MODULE" "$SELFTEST" "$BUSYBOX"; do
	[ -f "$f" ] || ivb_die "$f not found (make doorbell-module $SERVER $SELFTEST; busybox-static)"
done

# The throwaway initramfs: busybox and its applets, our init, the driver, the self-test. Uncompressed.
stage="$WORK/stage"
mkdir -p "$stage/bin" "$stage/dev" "$stage/proc" "$stage/sys"
install -m 0755 "$BUSYBOX" "$stage/bin/busybox"
for applet in $APPLETS; do ln -s busybox "$stage/bin/$applet"; done
install -m 0755 "$INIT" "$stage/init"
install -m 0755 "$SELFTEST" "$stage/bin/ivdb_selftest"
install -m 0644 "$MODULE" "$stage/ivshmem_doorbell.ko"
mkdir -p "$(dirname "$INITRAMFS")"
(cd "$stage" && find . -mindepth 1 | LC_ALL=C sort | cpio -o -H newc --quiet --reproducible) >"$INITRAMFS.tmp"
mv -- "$INITRAMFS.tmp" "$INITRAMFS"

# vm/kernel.sh prints the file to boot, then a description.
kernel_lines=$("$TOP/vm/kernel.sh") || ivb_die "no guest kernel (vm/kernel.sh failed)"
kernel=${kernel_lines%%$'\n'*}
ivb_detect_accel

sock="$WORK/ivshmem.sock"
"$SERVER" --socket "$sock" --shm "$SHM" --size "$SHM_SIZE" --vectors 1 --max-peers 2 \
	--pid-file "$WORK/server.pid" 2>"$WORK/server.log" &
server_pid=$!
pids+=("$server_pid")
wait_for_line "$WORK/server.log" 'listening on' || ivb_die "the server did not start: $(cat "$WORK/server.log")"

/usr/bin/python3 "$PEER" echo --socket "$sock" --count "$ECHO_COUNT" --timeout "$LIMIT" \
	>"$WORK/peer.out" 2>&1 &
peer_pid=$!
pids+=("$peer_pid")
wait_for_line "$WORK/peer.out" '^(handshake|error)' || ivb_die "the test peer did not join: $(cat "$WORK/peer.out")"

bios=()
[ ! -f "$QBOOT" ] || bios=(-bios "$QBOOT")
# shellcheck disable=SC2054  # the commas belong to QEMU's option syntax
qemu-system-x86_64 -name ivb-doorbell-test -machine pc -accel "$IVB_ACCEL" -cpu "$IVB_CPU" -m 256M \
	-nodefaults -no-user-config -display none -nic none -no-reboot "${bios[@]}" \
	-kernel "$kernel" -initrd "$INITRAMFS" -append "$APPEND -- --host-peer 0 --echo $ECHO_COUNT --timeout-ms 10000 --region --unbind" \
	-chardev "socket,id=iv,path=$sock" -device ivshmem-doorbell,chardev=iv,vectors=1 \
	-serial "file:$WORK/console.log" 2>"$WORK/qemu.err" &
qemu_pid=$!
pids+=("$qemu_pid")
wait_exit "$qemu_pid" "$LIMIT"
qemu_rc=$exit_rc
wait_exit "$peer_pid" "$READY_SECONDS"
peer_rc=$exit_rc

if [ "$qemu_rc" -eq 0 ]; then
	pass vm_powers_off
else
	fail vm_powers_off "QEMU exit $qemu_rc: $(head -c 300 "$WORK/qemu.err")"
fi
expect_console driver_loads '^IVDB-LOADED'
expect_console driver_binds '^IVDB-BOUND 0000:'
expect_console device_info "^IVDB-INFO peer=1 vectors=1 bar2=$SHM_SIZE pci=0000:"
expect_console self_ring '^IVDB-PASS self_ring count=1'
expect_console nonblocking_read '^IVDB-PASS nonblocking_read_eagain'
expect_console poll_timeout '^IVDB-PASS poll_timeout_when_quiet'
expect_console short_read '^IVDB-PASS short_read_einval'
expect_console host_echo "^IVDB-PASS host_echo n=$ECHO_COUNT "
expect_console interrupt_count '^IVDB-PASS interrupt_count'
expect_console unbind_wakes_reader '^IVDB-PASS unbind_wakes_reader_with_enodev'
expect_console ring_after_unbind '^IVDB-PASS ring_after_unbind_enodev'
expect_console poll_after_unbind '^IVDB-PASS poll_after_unbind_hup'
expect_console region_beyond_bar '^IVDB-PASS region_mmap_beyond_bar_einval'
expect_console region_offset_past_bar '^IVDB-PASS region_mmap_offset_past_bar_einval'
expect_console region_private '^IVDB-PASS region_mmap_private_einval'
expect_console region_reads_back '^IVDB-PASS region_write_reads_back'
expect_console region_write_back '^IVDB-PASS region_pte_write_back type=write-back'
expect_console region_unload_refused '^IVDB-PASS region_unload_refused_while_mapped'
expect_console region_valid_after_unbind '^IVDB-PASS region_mapping_valid_after_unbind'
expect_console selftest_done '^IVDB-DONE 0'
expect_console module_unloads '^IVDB-UNLOADED'
if [ "$peer_rc" -eq 0 ] && grep -qx "echoed $ECHO_COUNT" "$WORK/peer.out" && grep -qx 'join id=1 vectors=1' "$WORK/peer.out"; then
	pass host_peer_echoes
else
	fail host_peer_echoes "exit $peer_rc: $(tr '\n' ' ' <"$WORK/peer.out")"
fi
if grep -q 'peer 1 joined with 1 vector' "$WORK/server.log" && grep -q 'peer 1 left' "$WORK/server.log"; then
	pass server_saw_guest_join_and_leave
else
	fail server_saw_guest_join_and_leave "$(cat "$WORK/server.log")"
fi
# The figures, for whoever reads the log.
grep -a -E '^IVDB-(DMESG|PASS host_echo)' "$WORK/console.log" | tr -d '\r' || true

echo "doorbell_vm: $passed passed, $failed failed"
[ "$failed" -eq 0 ]

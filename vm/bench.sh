#!/usr/bin/env bash
# Bench VM helpers for run_test.sh: boot QEMU with the ivshmem device and the initramfs, follow its serial
# console, wait for lines on it with a time limit, stop it. Source it after vm/lib.sh; it defines functions only.
# The caller sets IVB_CON_PID to "" before calling, and calls ivb_bench_stop (or ivb_spawn_stop) on every exit
# path.
# shellcheck disable=SC2034  # the IVB_* variables set here are read by the scripts that source this file

# Kernel command line: serial console; quiet (every console line costs time under TCG); panic=-1 reboots at
# once on a panic, which -no-reboot turns into QEMU exiting; oops=panic so an oops does not leave a half-dead
# guest behind. The rest only shortens the boot under TCG and touches nothing guest_reader measures:
# cryptomgr.notests skips the crypto self-tests (~0.3 s), rodata=off the read-only remapping of the kernel
# and its W+X scan (~0.2 s), ipv6.disable=1 the IPv6 stack's set-up (~0.15 s; the VM has no network).
readonly IVB_BENCH_APPEND="console=ttyS0 quiet panic=-1 oops=panic cryptomgr.notests rodata=off ipv6.disable=1"
# qboot (Debian's qemu-system-data) starts the kernel ~0.4 s sooner than SeaBIOS under TCG.
readonly IVB_BENCH_BIOS=/usr/share/qemu/qboot.rom
# The kernel passes at most 32 arguments to init (CONFIG_INIT_ENV_ARG_LIMIT), init's name included.
readonly IVB_BENCH_MAX_INIT_ARGS=30
# Characters a guest argument may contain: the kernel splits its command line at spaces and strips quotes.
readonly IVB_BENCH_ARG_RE='^[A-Za-z0-9_.,:=/+%@-]+$'

# Check that every argument can travel on the kernel command line. Returns 1 after naming the first that cannot.
ivb_bench_check_args() {
	local arg
	if [ $# -gt "$IVB_BENCH_MAX_INIT_ARGS" ]; then
		ivb_log "too many guest arguments ($#); the kernel passes at most $IVB_BENCH_MAX_INIT_ARGS to init"
		return 1
	fi
	for arg in "$@"; do
		if [[ ! $arg =~ $IVB_BENCH_ARG_RE ]]; then
			ivb_log "guest argument '$arg' cannot be passed on the kernel command line (allowed: letters, digits, _.,:=/+%@-)"
			return 1
		fi
	done
}

# Whether QEMU has the ivshmem-doorbell device (doorbell mode needs it; some builds leave it out).
ivb_qemu_has_doorbell() {
	local devices
	devices=$("${QEMU:-qemu-system-x86_64}" -device help 2>/dev/null) || return 1
	grep -q '"ivshmem-doorbell"' <<<"$devices"
}

# Boot the bench VM in the background.
# Arguments: KERNEL INITRAMFS SHM_PATH SHM_BYTES CONSOLE_LOG QEMU_STDERR EXTRA_APPEND [-- GUEST_ARGS...]
# Needs IVB_ACCEL and IVB_CPU (ivb_detect_accel). With IVB_BENCH_DOORBELL_SOCKET set (doorbell mode), the device
# is ivshmem-doorbell, which gets the memory (SHM_PATH) and the eventfds from the ivshmem server listening there;
# otherwise ivshmem-plain maps SHM_PATH itself.
# Sets IVB_QEMU_CMD (array) and IVB_QEMU_T0_US, and, through ivb_spawn_follow, IVB_CHILD_PID (QEMU) and the
# console follower that ivb_console_wait reads.
ivb_bench_start() {
	local kernel=$1 initramfs=$2 shm=$3 bytes=$4 log=$5 qemu_err=$6 extra=$7
	shift 7
	[ "${1:-}" != -- ] || shift
	local append="$IVB_BENCH_APPEND${extra:+ $extra}" bios=() device
	[ -z "${IVB_BENCH_DOORBELL_SOCKET:-}" ] || append+=" ivb.doorbell=1"
	[ $# -eq 0 ] || append+=" -- $*"
	[ ! -f "$IVB_BENCH_BIOS" ] || bios=(-bios "$IVB_BENCH_BIOS")
	# shellcheck disable=SC2054  # the commas belong to QEMU's option syntax
	if [ -n "${IVB_BENCH_DOORBELL_SOCKET:-}" ]; then
		# One vector: each side rings the other's vector 0 (src/bell.c).
		device=(-chardev "socket,id=ivb-doorbell,path=$IVB_BENCH_DOORBELL_SOCKET"
			-device ivshmem-doorbell,chardev=ivb-doorbell,vectors=1)
	else
		device=(-object "memory-backend-file,id=ivb-shm,share=on,mem-path=$shm,size=$bytes"
			-device ivshmem-plain,memdev=ivb-shm)
	fi
	# shellcheck disable=SC2054  # the commas belong to QEMU's option syntax
	IVB_QEMU_CMD=(
		"${QEMU:-qemu-system-x86_64}" -name ivb-bench -machine pc -accel "$IVB_ACCEL" -cpu "$IVB_CPU"
		-smp "${VM_CPUS:-1}" -m "${VM_MEMORY:-256M}"
		-nodefaults -no-user-config -display none -nic none -no-reboot "${bios[@]}"
		-kernel "$kernel" -initrd "$initramfs" -append "$append" "${device[@]}"
		-chardev "file,id=ivb-console,path=$log" -serial chardev:ivb-console
	)
	: >"$log"
	IVB_QEMU_T0_US=$(ivb_now_us)
	ivb_spawn_follow "$log" "$qemu_err" "${IVB_QEMU_CMD[@]}"
}

# Stop the bench VM if it still runs, and its console follower. Sets IVB_QEMU_STATUS to QEMU's exit status
# (empty if unknown or QEMU was never started).
ivb_bench_stop() {
	ivb_spawn_stop 5
	IVB_QEMU_STATUS=${IVB_CHILD_STATUS:-}
}

# Print the QEMU version for the manifest, e.g. "7.2.22 (Debian 1:7.2+dfsg-7+deb12u18+b3)".
ivb_qemu_version() {
	"${QEMU:-qemu-system-x86_64}" --version | sed -n '1s/^QEMU emulator version //p'
}

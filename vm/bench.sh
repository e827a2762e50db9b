#!/usr/bin/env bash
# Bench VM helpers for run_test.sh: boot QEMU with the ivshmem device and the initramfs, follow its serial
# console, wait for lines on it with a time limit, stop it. Source it after vm/lib.sh; it defines functions only.
# The caller sets IVB_QEMU_PID and IVB_CON_PID to "" before calling, and calls ivb_bench_stop on every exit path.
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

# Print the current time in microseconds.
ivb_now_us() { echo "${EPOCHREALTIME//[!0-9]/}"; }

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

# Boot the bench VM in the background.
# Arguments: KERNEL INITRAMFS SHM_PATH SHM_BYTES CONSOLE_LOG QEMU_STDERR EXTRA_APPEND [-- GUEST_ARGS...]
# Needs IVB_ACCEL and IVB_CPU (ivb_detect_accel). Sets IVB_QEMU_PID, IVB_QEMU_CMD (array), IVB_QEMU_T0_US
# and starts the console follower (IVB_CON_FD, IVB_CON_PID) that ivb_console_wait reads.
ivb_bench_start() {
	local kernel=$1 initramfs=$2 shm=$3 bytes=$4 log=$5 qemu_err=$6 extra=$7
	shift 7
	[ "${1:-}" != -- ] || shift
	local append="$IVB_BENCH_APPEND${extra:+ $extra}" bios=()
	[ $# -eq 0 ] || append+=" -- $*"
	[ ! -f "$IVB_BENCH_BIOS" ] || bios=(-bios "$IVB_BENCH_BIOS")
	# shellcheck disable=SC2054  # the commas belong to QEMU's option syntax
	IVB_QEMU_CMD=(
		"${QEMU:-qemu-system-x86_64}" -name ivb-bench -machine pc -accel "$IVB_ACCEL" -cpu "$IVB_CPU"
		-smp "${VM_CPUS:-1}" -m "${VM_MEMORY:-256M}"
		-nodefaults -no-user-config -display none -nic none -no-reboot "${bios[@]}"
		-kernel "$kernel" -initrd "$initramfs" -append "$append"
		-object "memory-backend-file,id=ivb-shm,share=on,mem-path=$shm,size=$bytes"
		-device ivshmem-plain,memdev=ivb-shm
		-chardev "file,id=ivb-console,path=$log" -serial chardev:ivb-console
	)
	: >"$log"
	IVB_QEMU_T0_US=$(ivb_now_us)
	"${IVB_QEMU_CMD[@]}" </dev/null >/dev/null 2>"$qemu_err" &
	IVB_QEMU_PID=$!
	ivb_console_follow "$log" "$IVB_QEMU_PID"
}

# Follow file LOG (it may not exist yet) for ivb_console_wait, until process PID has exited.
# Sets IVB_CON_FD and IVB_CON_PID (the follower; ivb_bench_stop ends it).
ivb_console_follow() {
	# tail follows the file with inotify and ends on its own soon after PID does (checked every 0.1 s).
	exec {IVB_CON_FD}< <(exec tail -s 0.1 -n +1 -F --pid="$2" -- "$1" 2>/dev/null)
	IVB_CON_PID=$!
}

# Print the pids of the processes other than this shell's children that map FILE (e.g. another QEMU).
ivb_file_mappers() {
	local re
	re=$(printf '%s' "$1" | sed 's/[][\.*^$+?(){}|/]/\\&/g')
	grep -lsE -- " $re( \(deleted\))?\$" /proc/[0-9]*/maps 2>/dev/null | cut -d/ -f3 || true
}

# Read console lines until one matches an extended regular expression given as argument.
# Arguments: LIMIT_SECONDS REGEX...   (no REGEX: wait for the console to end, i.e. for QEMU to exit)
# Returns 0 on a match (the line is in IVB_CON_LINE), 1 when the console ended (QEMU is gone), 2 on timeout.
# Kernel panic lines seen on the way are kept in IVB_CON_PANIC.
ivb_console_wait() {
	local limit_us=$(($1 * 1000000)) re line rc left_us secs
	shift
	local end_us=$(($(ivb_now_us) + limit_us))
	IVB_CON_LINE=
	while :; do
		left_us=$((end_us - $(ivb_now_us)))
		[ "$left_us" -gt 0 ] || return 2
		printf -v secs '%d.%06d' $((left_us / 1000000)) $((left_us % 1000000))
		rc=0
		IFS= read -r -t "$secs" -u "$IVB_CON_FD" line || rc=$?
		if [ "$rc" -gt 128 ]; then
			return 2
		elif [ "$rc" -ne 0 ]; then
			return 1
		fi
		line=${line%$'\r'}
		case $line in
		*"Kernel panic"*) IVB_CON_PANIC=$line ;;
		esac
		for re in "$@"; do
			if [[ $line =~ $re ]]; then
				IVB_CON_LINE=$line
				return 0
			fi
		done
	done
}

# Wait until process PID has exited, at most LIMIT_SECONDS. Returns 0 if it has, 1 if not.
ivb_wait_gone() {
	local pid=$1 limit=$2
	kill -0 "$pid" 2>/dev/null || return 0
	# tail --pid ends when the process does; timeout bounds the wait. Nothing is read from /dev/null.
	timeout "$limit" tail -s 0.1 -f --pid="$pid" /dev/null 2>/dev/null && return 0
	! kill -0 "$pid" 2>/dev/null
}

# Stop child process PID if it still runs: SIGTERM, and SIGKILL if it has not exited after LIMIT seconds.
# NAME is for the message. Reaps it and sets IVB_STOP_STATUS to its exit status.
ivb_stop_child() {
	local pid=$1 name=$2 limit=$3
	if kill -0 "$pid" 2>/dev/null; then
		kill -TERM "$pid" 2>/dev/null || true
		if ! ivb_wait_gone "$pid" "$limit"; then
			ivb_log "$name (pid $pid) ignored SIGTERM for $limit s; killing it"
			kill -KILL "$pid" 2>/dev/null || true
		fi
	fi
	IVB_STOP_STATUS=0
	wait "$pid" 2>/dev/null || IVB_STOP_STATUS=$?
}

# Stop the bench VM if it still runs (SIGTERM, then SIGKILL after 5 s) and the console follower.
# Sets IVB_QEMU_STATUS to QEMU's exit status (empty if it was never started).
ivb_bench_stop() {
	IVB_QEMU_STATUS=
	if [ -n "${IVB_QEMU_PID:-}" ]; then
		ivb_stop_child "$IVB_QEMU_PID" QEMU 5
		IVB_QEMU_STATUS=$IVB_STOP_STATUS
		IVB_QEMU_PID=
	fi
	if [ -n "${IVB_CON_PID:-}" ]; then
		kill -TERM "$IVB_CON_PID" 2>/dev/null || true
		wait "$IVB_CON_PID" 2>/dev/null || true
		IVB_CON_PID=
		exec {IVB_CON_FD}<&-
	fi
}

# Print the QEMU version for the manifest, e.g. "7.2.22 (Debian 1:7.2+dfsg-7+deb12u18+b3)".
ivb_qemu_version() {
	"${QEMU:-qemu-system-x86_64}" --version | sed -n '1s/^QEMU emulator version //p'
}

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

# Start COMMAND in the background and follow file LOG (it may not exist yet) until COMMAND has exited.
# Arguments: LOG STDERR_FILE COMMAND...   (STDERR_FILE "-": COMMAND's stderr is ours)
# COMMAND runs in a subshell that waits for it, so it is reaped the moment it exits and `tail --pid` sees it go
# (a child of this shell would linger as a zombie until this shell reaps it, and tail would wait forever).
# The follower prints "IVB-CHILD-PID <pid>" first and "IVB-CHILD-EXIT <status>" last; ivb_console_wait reads
# both. Sets IVB_CHILD_PID (COMMAND, to stop it by pid), IVB_CON_FD and IVB_CON_PID (the follower).
ivb_spawn_follow() {
	local log=$1 err=$2 line
	shift 2
	exec {IVB_CON_FD}< <(
		if [ "$err" = - ]; then
			"$@" </dev/null >/dev/null &
		else
			"$@" </dev/null >/dev/null 2>"$err" &
		fi
		child=$!
		echo "IVB-CHILD-PID $child"
		# inotify; --pid is checked every 0.1 s; tail prints what is left in the file before it ends.
		tail -s 0.1 -n +1 -F --pid="$child" -- "$log" 2>/dev/null &
		follower=$!
		status=0
		wait "$child" || status=$?
		wait "$follower" || true
		echo "IVB-CHILD-EXIT $status"
	)
	IVB_CON_PID=$!
	IVB_CHILD_PID=
	IVB_CHILD_STATUS=
	IVB_CHILD_NAME=${1##*/}
	IFS= read -r -t 10 -u "$IVB_CON_FD" line || true
	[[ $line =~ ^IVB-CHILD-PID\ ([0-9]+)$ ]] || ivb_die "cannot start $1 (no pid from the follower: '$line')"
	IVB_CHILD_PID=${BASH_REMATCH[1]}
}

# Read lines from the follower until one matches an extended regular expression given as argument.
# Arguments: LIMIT_SECONDS REGEX...   (no REGEX: read until the follower ends, i.e. until the command has exited)
# Returns 0 on a match (the line is in IVB_CON_LINE), 1 when the command has exited (its status is in
# IVB_CHILD_STATUS), 2 on timeout. Kernel panic lines seen on the way are kept in IVB_CON_PANIC.
ivb_console_wait() {
	local limit_us=$(($1 * 1000000)) re line rc left_us secs
	shift
	local end_us=$(($(ivb_now_us) + limit_us))
	IVB_CON_LINE=
	[ -n "${IVB_CON_PID:-}" ] || return 1
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
		"IVB-CHILD-EXIT "*)
			IVB_CHILD_STATUS=${line#IVB-CHILD-EXIT }
			continue
			;;
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

# Wait until child process PID of this shell has exited, at most LIMIT_SECONDS; reap it.
# Returns 0 and sets IVB_WAIT_STATUS to its exit status if it has exited, 1 if not.
ivb_wait_child() {
	local pid=$1 limit=$2 timer done_pid status=0
	# The timer is the time limit of the wait, not a guess at how long PID needs.
	sleep "$limit" &
	timer=$!
	wait -n -p done_pid "$pid" "$timer" || status=$?
	if [ "${done_pid:-}" = "$timer" ]; then
		return 1
	fi
	kill "$timer" 2>/dev/null || true
	wait "$timer" 2>/dev/null || true
	IVB_WAIT_STATUS=$status
}

# Stop child process PID of this shell if it still runs: SIGTERM, then SIGKILL if it has not exited after
# LIMIT seconds. NAME is for the message. Reaps it and sets IVB_STOP_STATUS to its exit status.
ivb_stop_child() {
	local pid=$1 name=$2 limit=$3
	if kill -0 "$pid" 2>/dev/null; then
		kill -TERM "$pid" 2>/dev/null || true
		if ! ivb_wait_child "$pid" "$limit"; then
			ivb_log "$name (pid $pid) ignored SIGTERM for $limit s; killing it"
			kill -KILL "$pid" 2>/dev/null || true
		fi
	fi
	IVB_STOP_STATUS=0
	wait "$pid" 2>/dev/null || IVB_STOP_STATUS=$?
}

# Stop the command started by ivb_spawn_follow if it still runs (SIGTERM, then SIGKILL after LIMIT seconds,
# default 5), and end its follower. Sets IVB_CHILD_STATUS to the command's exit status if it is known.
ivb_spawn_stop() {
	local limit=${1:-5} rc=0
	[ -n "${IVB_CON_PID:-}" ] || return 0
	# While the follower runs, the command runs (or has just ended and its pid is not reused yet).
	if [ -z "$IVB_CHILD_STATUS" ] && kill -0 "$IVB_CON_PID" 2>/dev/null; then
		kill -TERM "$IVB_CHILD_PID" 2>/dev/null || true
		ivb_console_wait "$limit" || rc=$?
		if [ "$rc" -eq 2 ]; then
			ivb_log "$IVB_CHILD_NAME (pid $IVB_CHILD_PID) ignored SIGTERM for $limit s; killing it"
			kill -KILL "$IVB_CHILD_PID" 2>/dev/null || true
			ivb_console_wait "$limit" || true
		fi
	fi
	exec {IVB_CON_FD}<&-
	ivb_stop_child "$IVB_CON_PID" "the follower of $IVB_CHILD_NAME" "$limit"
	IVB_CON_PID=
}

# Stop the bench VM if it still runs, and its console follower. Sets IVB_QEMU_STATUS to QEMU's exit status
# (empty if unknown or QEMU was never started).
ivb_bench_stop() {
	ivb_spawn_stop 5
	IVB_QEMU_STATUS=${IVB_CHILD_STATUS:-}
}

# Print the pids of the processes that map FILE (e.g. a QEMU that uses it as guest memory), one a line.
ivb_file_mappers() {
	local re
	re=$(printf '%s' "$1" | sed 's/[][\.*^$+?(){}|/]/\\&/g')
	grep -lsE -- " $re( \(deleted\))?\$" /proc/[0-9]*/maps 2>/dev/null | cut -d/ -f3 || true
}

# Print the QEMU version for the manifest, e.g. "7.2.22 (Debian 1:7.2+dfsg-7+deb12u18+b3)".
ivb_qemu_version() {
	"${QEMU:-qemu-system-x86_64}" --version | sed -n '1s/^QEMU emulator version //p'
}

#!/usr/bin/env bash
# Shared shell helpers for the VM scripts (bench VM, dev VM, loopback) and setup.sh; vm/README.md describes the
# steps run_test.sh takes through them. Source it; it defines functions only.
# shellcheck disable=SC2034  # the variables set here are read by the scripts that source this file

# Characters a guest argument may contain: the bench VM's kernel splits its command line at spaces and strips
# quotes. run_test.sh checks frame lists with it in both VMs.
readonly IVB_GUEST_ARG_RE='^[A-Za-z0-9_.,:=/+%@-]+$'
# guest_reader's line once it has mapped the region and waits for the host, in both VMs.
readonly IVB_READY_RE='guest_reader: mapped '

# The header of the defaults, shared with C: the one place each default is written (the shell names it only here).
IVB_DEFAULTS_H=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)/src/shared/defaults.h
readonly IVB_DEFAULTS_H

# Print a default from IVB_DEFAULTS_H: the value of `#define IVB_$1`, without the quotes of a string or the u of
# an unsigned number. A name not there stops the script.
ivb_default() {
	local value
	value=$(awk -v name="IVB_$1" '$1 == "#define" && $2 == name { v = $3; gsub(/"/, "", v); sub(/u$/, "", v); print v; exit }' \
		"$IVB_DEFAULTS_H")
	[ -n "$value" ] || ivb_die "${IVB_DEFAULTS_H#"$PWD"/} defines no IVB_$1"
	echo "$value"
}

# Print a TCP port on 127.0.0.1 that nobody listens on now (the kernel's choice), for QEMU to forward.
ivb_free_port() {
	/usr/bin/python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# Print a message prefixed with the calling script's name, on stderr.
ivb_log() { echo "${IVB_PROG:-ivshmem-bench}: $*" >&2; }

# Print one error line and exit 1.
ivb_die() { ivb_log "error: $*"; exit 1; }

# Choose the QEMU accelerator and CPU model. Sets IVB_ACCEL (kvm|tcg), IVB_ACCEL_REASON and IVB_CPU.
# ACCEL=kvm|tcg overrides the detection; CPU=MODEL overrides the CPU model.
# KVM is used only where it can run a stock kernel: /dev/kvm must be usable, and the paravirtual
# kvm_pvm module of some cloud sandboxes cannot (the kernel decompressor alone crawls for minutes).
ivb_detect_accel() {
	case "${ACCEL:-}" in
	kvm | tcg)
		IVB_ACCEL=$ACCEL
		IVB_ACCEL_REASON="ACCEL=$ACCEL from the environment"
		;;
	"")
		if [ ! -e /dev/kvm ]; then
			IVB_ACCEL=tcg
			IVB_ACCEL_REASON="no /dev/kvm"
		elif [ ! -r /dev/kvm ] || [ ! -w /dev/kvm ]; then
			IVB_ACCEL=tcg
			IVB_ACCEL_REASON="/dev/kvm is not readable and writable by $(id -un)"
		elif [ -d /sys/module/kvm_pvm ]; then
			IVB_ACCEL=tcg
			IVB_ACCEL_REASON="KVM here is the paravirtual kvm_pvm, which cannot run a stock kernel at usable speed"
		else
			IVB_ACCEL=kvm
			IVB_ACCEL_REASON="/dev/kvm is usable"
		fi
		;;
	*)
		ivb_die "ACCEL must be kvm or tcg, not '$ACCEL'"
		;;
	esac
	if [ "$IVB_ACCEL" = tcg ] && [ -z "${ACCEL:-}" ]; then
		ivb_log "warning: using TCG software emulation ($IVB_ACCEL_REASON); set ACCEL=kvm to override"
	fi
	# "max" is every feature the accelerator can offer; unlike "host" it also works under TCG.
	IVB_CPU=${CPU:-max}
}

# Print the current time in microseconds.
ivb_now_us() { echo "${EPOCHREALTIME//[!0-9]/}"; }

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

# Wait until process PID has exited (gone, or a zombie waiting to be reaped), at most LIMIT seconds; the
# caller reaps it. Returns 1 if it still runs. Polls /proc rather than `wait -n`, which in bash 5.2 can make
# a later command substitution print "wait_for: No record of process" (an extra line on a one-line error).
ivb_wait_child() {
	local pid=$1 limit=$2 i stat
	for ((i = 0; i < limit * 20; i++)); do
		read -r stat 2>/dev/null <"/proc/$pid/stat" || return 0
		stat=${stat##*) }
		[ "${stat%% *}" != Z ] || return 0
		sleep 0.05
	done
	return 1
}

# Stop child process PID of this shell if it still runs: SIGTERM, then SIGKILL if it has not exited after
# LIMIT seconds. NAME is for the message. Reaps it.
ivb_stop_child() {
	local pid=$1 name=$2 limit=$3
	if kill -0 "$pid" 2>/dev/null; then
		kill -TERM "$pid" 2>/dev/null || true
		if ! ivb_wait_child "$pid" "$limit"; then
			ivb_log "$name (pid $pid) ignored SIGTERM for $limit s; killing it"
			kill -KILL "$pid" 2>/dev/null || true
		fi
	fi
	wait "$pid" 2>/dev/null || true
}

# Wait at most LIMIT seconds for guest_reader's ready line from the command started by ivb_spawn_follow (NAME,
# for the message: guest_reader itself, or what runs it), whose output is in IVB_VM_CONSOLE. Returns 1 after
# saying why, setting IVB_VM_GUEST_RC to the command's exit status if it ended, and stopping it.
ivb_spawned_wait_ready() {
	local limit=$1 name=$2 rc=0
	IVB_VM_READY_S=
	ivb_console_wait "$limit" "$IVB_READY_RE" || rc=$?
	[ "$rc" -ne 0 ] || return 0
	ivb_show_guest_lines "$IVB_VM_CONSOLE"
	if [ "$rc" -eq 1 ]; then
		IVB_VM_GUEST_RC=$IVB_CHILD_STATUS
		ivb_log "error: $name exited with status $IVB_CHILD_STATUS before guest_reader was ready; see $IVB_VM_CONSOLE"
	else
		ivb_log "error: guest_reader did not get ready within $limit s; see $IVB_VM_CONSOLE"
	fi
	ivb_spawn_stop 10
	return 1
}

# Wait at most LIMIT seconds for the command started by ivb_spawn_follow (NAME, for the message) to end, then
# stop it (SIGKILL after GRACE seconds). Sets IVB_VM_GUEST_RC to its exit status (empty if unknown).
ivb_spawned_wait_exit() {
	local limit=$1 name=$2 grace=$3 rc=0
	[ -n "${IVB_CON_PID:-}" ] || return 0
	ivb_console_wait "$limit" || rc=$?
	[ "$rc" -eq 1 ] || ivb_log "$name did not end within $limit s after host_writer; stopping it"
	ivb_spawn_stop "$grace"
	IVB_VM_GUEST_RC=${IVB_CHILD_STATUS:-}
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
	# The follower is a process substitution, not a job: `wait` (ivb_stop_child) cannot wait for it. Once
	# the command has ended it only has to exit; it gets LIMIT seconds, then SIGKILL.
	if ! ivb_wait_for_exit "$IVB_CON_PID" "$limit"; then
		ivb_log "the follower of $IVB_CHILD_NAME (pid $IVB_CON_PID) did not end within $limit s; killing it"
		kill -KILL "$IVB_CON_PID" 2>/dev/null || true
	fi
	wait "$IVB_CON_PID" 2>/dev/null || true
	IVB_CON_PID=
}

# Wait until PID (any process, not only a child of this shell) has exited. Arguments: PID TIMEOUT_SECONDS.
# Returns 0 when it exited, 1 on timeout.
ivb_wait_for_exit() {
	local pid=$1 limit=$2
	kill -0 "$pid" 2>/dev/null || return 0
	timeout "$limit" tail --pid="$pid" -f /dev/null 2>/dev/null || true
	! kill -0 "$pid" 2>/dev/null
}

# Print the pids of the processes that map FILE (e.g. a QEMU that uses it as guest memory), one a line.
ivb_file_mappers() {
	local re
	re=$(printf '%s' "$1" | sed 's/[][\.*^$+?(){}|/]/\\&/g')
	grep -lsE -- " $re( \(deleted\))?\$" /proc/[0-9]*/maps 2>/dev/null | cut -d/ -f3 || true
}

# Prepare the shared memory file: 0600 and of the right size. host_writer holds a flock on it for its whole
# run; taking the same lock here makes sure no run is using the file while it is resized. The lock is released
# before QEMU and host_writer start (they would inherit it, and host_writer takes it itself).
# Arguments: SHM BYTES SIZE_AS_GIVEN.
ivb_region_prepare() {
	local shm=$1 bytes=$2 size=$3 old_umask fd mappers
	old_umask=$(umask)
	umask 077
	exec {fd}<>"$shm" || ivb_die "cannot open $shm"
	umask "$old_umask"
	flock -n "$fd" || ivb_die "$shm is in use by another run (host_writer holds it)"
	mappers=$(ivb_file_mappers "$shm" | tr '\n' ' ')
	[ -z "$mappers" ] ||
		ivb_die "$shm is mapped by process ${mappers% } (the dev VM?); use --vm dev, stop it, or --shm another file"
	chmod 0600 "$shm" || ivb_die "cannot make $shm private (0600)"
	[ "$(stat -c %s "$shm")" -eq "$bytes" ] || truncate -s "$bytes" "$shm" ||
		ivb_die "cannot resize $shm to $size"
	exec {fd}<&-
}

# Print guest_reader's own lines from the guest's console log CONSOLE (its error messages), the last five,
# indented, on stderr.
ivb_show_guest_lines() {
	grep -a '^guest_reader: ' "$1" 2>/dev/null | tr -d '\r' | tail -n 5 | sed 's/^/  guest: /' >&2 || true
}

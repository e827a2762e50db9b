#!/usr/bin/env bash
# The dev VM: Debian 12 with cloud-init, SSH and the ivshmem device, for building and running
# guest_reader by hand.
#
# Usage: ./setup.sh [start|stop|status] [--mode polling|doorbell]
#   start   (default) build the base image if needed, boot the VM and wait until SSH answers;
#           if it already runs, say so and exit 0. Then: ssh -i temp_id_rsa -p 2222 debian@localhost
#           --mode doorbell (or IVSHMEM_MODE=doorbell): the device is ivshmem-doorbell, served by our
#           ivshmem server (build/ivshmem_server), so that run_test.sh --vm dev --mode doorbell can run;
#           polling runs work on it too. Default: polling (ivshmem-plain).
#   stop    shut the VM down cleanly (poweroff over SSH), kill it by pid after DEVVM_STOP_TIMEOUT s
#   status  say whether the VM runs and how to reach it; exit 0 when it runs, 3 when it does not
# Environment (defaults in brackets): DEVVM_PORT [2222], DEVVM_SHM [@SHM@],
#   DEVVM_SHM_SIZE [@SHM_SIZE@], DEVVM_MEM [2G], DEVVM_SMP [2], DEVVM_STATE [vm-state], DEVVM_KEY [temp_id_rsa],
#   DEVVM_CACHE [~/.cache/ivshmem-bench/devvm], DEVVM_BOOT_TIMEOUT [900], DEVVM_SSH_TIMEOUT [120],
#   DEVVM_STOP_TIMEOUT [120], ACCEL [detected: kvm or tcg], CPU [max], QEMU [qemu-system-x86_64],
#   DEVVM_SERVER [build/ivshmem_server, made with make]; the server's socket goes into a 0700 folder
#   under XDG_RUNTIME_DIR, else TMPDIR, else /tmp.
# If debian-12-generic-amd64.qcow2 (the official cloud image) is in this folder, it is used as the base
# image; otherwise vm/dev-image.sh builds one from Debian packages (needs root and the apt archive).
set -euo pipefail

IVB_PROG=setup.sh
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
readonly ROOT
# shellcheck source=vm/lib.sh
. "$ROOT/vm/lib.sh"
# shellcheck source=vm/dev-lib.sh
. "$ROOT/vm/dev-lib.sh"
# shellcheck source=vm/ivserver.sh
. "$ROOT/vm/ivserver.sh"
# shellcheck source=vm/dev-vm-boot.sh
. "$ROOT/vm/dev-vm-boot.sh"

readonly PACKAGES=(qemu-system-x86 qemu-utils genisoimage openssh-client e2fsprogs mmdebstrap iproute2)

# The comment at the top, with the region's defaults from the header of defaults (ivb_default).
usage() {
	sed -n "5,20{s/^# \\{0,1\\}//; s|@SHM@|$(ivb_default SHM_PATH_DEFAULT)|; s|@SHM_SIZE@|$(ivb_default RUN_SHM_SIZE_DEFAULT)|; p}" \
		"${BASH_SOURCE[0]}"
}

# The QEMU (DEVVM_STARTED_PID) and ivshmem server (IVB_SERVER_PID) that devvm_boot started and has not handed
# over yet; cleanup stops them.
DEVVM_STARTED_PID=""
IVB_SERVER_PID=""
cleanup() {
	local pid=$DEVVM_STARTED_PID
	if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then
		ivb_log "stopping the VM this run started (pid $pid)"
		kill "$pid" 2>/dev/null || true
		ivb_wait_for_exit "$pid" 10 || kill -KILL "$pid" 2>/dev/null || true
		rm -f "$DEVVM_PIDFILE"
	fi
	[ -z "$IVB_SERVER_PID" ] || stop_server
}

# Stop the dev VM's ivshmem server if it runs (by its pid file, or the one this run started and that never
# wrote it), and remove its socket folder.
stop_server() {
	case "${DEVVM_SOCKET:-}" in
	*/ivb-devvm.*/ivshmem.sock) IVB_SERVER_DIR=${DEVVM_SOCKET%/ivshmem.sock} ;;
	esac
	local pid
	ivb_ivserver_stop
	! pid=$(devvm_server_pid) || ivb_ivserver_kill "$pid"
	rm -f "$DEVVM_SERVER_PIDFILE"
}

# How to reach the VM, for the messages.
ssh_hint() {
	local key=$DEVVM_KEY
	[ "$(dirname "$key")" = "$PWD" ] && key=${key##*/}
	echo "ssh -i $key -p $DEVVM_PORT debian@localhost"
}

cmd_status() {
	local pid
	if ! pid=$(devvm_running_pid); then
		echo "dev VM is not running (start it with ./setup.sh)"
		return 3
	fi
	devvm_load_env
	if devvm_ssh true </dev/null 2>/dev/null; then
		echo "dev VM is running: pid $pid, accel $DEVVM_ACCEL, mode $DEVVM_MODE, SSH answers: $(ssh_hint)"
	else
		echo "dev VM is running: pid $pid, accel $DEVVM_ACCEL, mode $DEVVM_MODE, SSH does not answer (yet); serial console: $DEVVM_SERIAL_LOG"
	fi
}

cmd_stop() {
	local pid
	if ! pid=$(devvm_running_pid); then
		rm -f "$DEVVM_PIDFILE"
		devvm_load_env
		stop_server
		echo "dev VM is not running"
		return 0
	fi
	devvm_load_env
	ivb_log "shutting down the dev VM (pid $pid; limit ${DEVVM_STOP_TIMEOUT} s)"
	# The connection drops while the guest powers off; its exit status says nothing.
	devvm_ssh sudo systemctl poweroff </dev/null >/dev/null 2>&1 || true
	if ! ivb_wait_for_exit "$pid" "$DEVVM_STOP_TIMEOUT"; then
		ivb_log "warning: the guest did not power off within ${DEVVM_STOP_TIMEOUT} s; killing QEMU (pid $pid)"
		kill "$pid" 2>/dev/null || true
		ivb_wait_for_exit "$pid" 10 || kill -KILL "$pid" 2>/dev/null || true
		ivb_wait_for_exit "$pid" 10 || ivb_die "QEMU (pid $pid) is still running after SIGKILL"
	fi
	rm -f "$DEVVM_PIDFILE"
	stop_server
	echo "dev VM stopped"
}

cmd_start() {
	local pid
	if pid=$(devvm_running_pid); then
		devvm_load_env
		[ "$mode" = polling ] || [ "$DEVVM_MODE" = doorbell ] ||
			ivb_die "the dev VM already runs in $DEVVM_MODE mode (pid $pid); stop it (./setup.sh stop) to start it in $mode mode"
		echo "dev VM is already running (pid $pid, mode $DEVVM_MODE): $(ssh_hint)"
		return 0
	fi
	"$ROOT/scripts/need-packages.sh" "${PACKAGES[@]}" ||
		ivb_die "missing Debian packages (${PACKAGES[*]}); install them with apt-get as root"
	local device=ivshmem-plain
	[ "$mode" = polling ] || device=ivshmem-doorbell
	"${QEMU:-qemu-system-x86_64}" -device help 2>/dev/null | grep -q "\"$device\"" ||
		ivb_die "this QEMU has no $device device (${QEMU:-qemu-system-x86_64} -device help)${mode:+; $mode mode needs it}"
	if devvm_port_busy "$DEVVM_PORT"; then
		ivb_die "port $DEVVM_PORT is already in use (see: ss -ltnp 'sport = :$DEVVM_PORT'); stop what listens there or set DEVVM_PORT"
	fi
	devvm_boot "$mode" "$lock_fd"
	echo "dev VM ready after $DEVVM_BOOT_S s (boot to SSH): $(ssh_hint)"
}

readonly USAGE_LINE="usage: ./setup.sh [start|stop|status] [--mode polling|doorbell] (see --help)"
cmd=
mode=${IVSHMEM_MODE:-polling}
while [ $# -gt 0 ]; do
	case $1 in
	start | stop | status)
		[ -z "$cmd" ] || { ivb_log "too many commands; $USAGE_LINE"; exit 2; }
		cmd=$1
		shift
		;;
	--mode)
		[ $# -ge 2 ] || { ivb_log "--mode needs polling or doorbell; $USAGE_LINE"; exit 2; }
		mode=$2
		shift 2
		;;
	-h | --help) usage; exit 0 ;;
	*) ivb_log "unknown argument '$1'; $USAGE_LINE"; exit 2 ;;
	esac
done
cmd=${cmd:-start}
case "$mode" in
polling | doorbell) ;;
*) ivb_log "the mode must be polling or doorbell, not '$mode' (--mode or IVSHMEM_MODE); $USAGE_LINE"; exit 2 ;;
esac

devvm_config "$ROOT"
mkdir -p "$DEVVM_STATE"
if [ "$cmd" != status ]; then
	# One start or stop at a time per state folder: two starts would race for the pid file and the disk.
	exec {lock_fd}>"$DEVVM_STATE/.lock"
	flock -n "$lock_fd" || ivb_die "another ./setup.sh is starting or stopping the VM in $DEVVM_STATE; wait for it"
fi
trap cleanup EXIT

"cmd_$cmd"

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

readonly PACKAGES=(qemu-system-x86 qemu-utils genisoimage openssh-client e2fsprogs mmdebstrap iproute2)
readonly TEMPLATES=$ROOT/cloud-init-config

# The comment at the top, with the region's defaults from src/defaults.h.
usage() {
	sed -n "5,20{s/^# \\{0,1\\}//; s|@SHM@|$(ivb_default SHM_PATH_DEFAULT)|; s|@SHM_SIZE@|$(ivb_default RUN_SHM_SIZE_DEFAULT)|; p}" \
		"${BASH_SOURCE[0]}"
}

# The QEMU (and ivshmem server, IVB_SERVER_PID) this invocation started and has not handed over yet; cleanup
# stops them.
started_pid=""
IVB_SERVER_PID=""
cleanup() {
	if [ -n "$started_pid" ] && kill -0 "$started_pid" 2>/dev/null; then
		ivb_log "stopping the VM this run started (pid $started_pid)"
		kill "$started_pid" 2>/dev/null || true
		ivb_wait_for_exit "$started_pid" 10 || kill -KILL "$started_pid" 2>/dev/null || true
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

# Write the ssh key pair on first use (mode 0600), and repair its mode: ssh refuses a readable key.
ensure_key() {
	if [ ! -f "$DEVVM_KEY" ]; then
		ssh-keygen -q -t rsa -b 3072 -N "" -C "ivshmem-bench dev VM" -f "$DEVVM_KEY"
		ivb_log "generated the SSH key pair $DEVVM_KEY"
	fi
	[ -f "$DEVVM_KEY.pub" ] || ssh-keygen -y -f "$DEVVM_KEY" >"$DEVVM_KEY.pub"
	chmod 0600 "$DEVVM_KEY" "$DEVVM_KEY.pub"
}

# Write the NoCloud seed ISO from the templates. The instance id follows the public key, so cloud-init
# installs a new key even on a disk that has booted before.
make_seed() {
	local pubkey instance seed=$DEVVM_STATE/seed
	pubkey=$(cat "$DEVVM_KEY.pub")
	instance=ivb-dev-$(sha256sum <"$DEVVM_KEY.pub" | cut -c1-16)
	mkdir -p "$seed"
	# The key is base64 plus a comment without '|' or '&', so it is safe as a sed replacement.
	sed "s|@SSH_PUBLIC_KEY@|$pubkey|" "$TEMPLATES/user-data" >"$seed/user-data"
	sed "s|@INSTANCE_ID@|$instance|" "$TEMPLATES/meta-data" >"$seed/meta-data"
	genisoimage -quiet -output "$DEVVM_STATE/cloud-init.iso.tmp" -volid cidata -joliet -rock \
		"$seed/user-data" "$seed/meta-data"
	mv "$DEVVM_STATE/cloud-init.iso.tmp" "$DEVVM_STATE/cloud-init.iso"
}

# Create the VM's disk: a thin qcow2 overlay on the base image. An overlay on another (or a newer)
# base is replaced: its contents belong to a file system that no longer exists.
ensure_disk() {
	local base=$1 disk=$DEVVM_STATE/ivshmem-disk.qcow2 backing=""
	if [ -f "$disk" ]; then
		backing=$(qemu-img info -U "$disk" | sed -n 's/^backing file: //p')
		if [ "$backing" = "$base" ] && [ ! "$base" -nt "$disk" ]; then
			return
		fi
		ivb_log "the base image changed: replacing the VM disk $disk (changes made in the guest are lost)"
	fi
	qemu-img create -q -f qcow2 -F qcow2 -b "$base" "$disk.tmp" "$DEVVM_DISK_SIZE"
	mv "$disk.tmp" "$disk"
}

# Create the shared-memory file (0600) unless it exists; an existing one must be ours and of the right size.
ensure_shm() {
	local want have
	want=$(numfmt --from=iec "$DEVVM_SHM_SIZE") || ivb_die "DEVVM_SHM_SIZE: not a size: '$DEVVM_SHM_SIZE'"
	if [ -e "$DEVVM_SHM" ]; then
		[ -O "$DEVVM_SHM" ] || ivb_die "$DEVVM_SHM belongs to another user; remove it or set DEVVM_SHM"
		have=$(stat -c %s "$DEVVM_SHM")
		[ "$have" -eq "$want" ] ||
			ivb_die "$DEVVM_SHM has $have bytes, the VM needs $want ($DEVVM_SHM_SIZE); remove it or set DEVVM_SHM_SIZE"
		chmod 0600 "$DEVVM_SHM"
	else
		(umask 077 && truncate -s "$want" "$DEVVM_SHM")
	fi
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
	local pid base boot_args qemu_args start rc
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
	# What fails in a second fails before the image, which takes minutes when it is built.
	ensure_shm
	if [ "$mode" = doorbell ]; then
		ivb_ivserver_build "$DEVVM_SERVER" "$ROOT" build
		# It outlives this script, as QEMU does, and like QEMU does not hold the state folder's lock.
		IVB_SERVER_CLOSE_FD=$lock_fd ivb_ivserver_start "$DEVVM_SERVER" "$DEVVM_SHM" "$DEVVM_SHM_SIZE" ivb-devvm \
			"$DEVVM_SERVER_PIDFILE" "$DEVVM_SERVER_LOG" --detach
		DEVVM_SOCKET=$IVB_SERVER_SOCKET
	fi

	if [ -f "$DEVVM_CLOUD_IMAGE" ]; then
		base=$DEVVM_CLOUD_IMAGE
		boot_args=()
		ivb_log "using the cloud image $base (it boots with its own boot loader)"
	else
		base=$("$ROOT/vm/dev-image.sh") || ivb_die "could not build the dev VM base image (see above)"
		devvm_prune_images "$base"
		devvm_built_image_paths
		boot_args=(-kernel "$DEVVM_KERNEL" -initrd "$DEVVM_INITRD"
			-append "root=LABEL=ivb-root ro console=ttyS0,115200")
	fi
	ensure_key
	make_seed
	ensure_disk "$base"
	ivb_detect_accel
	local shm_device
	# shellcheck disable=SC2054  # the commas belong to QEMU's option syntax
	if [ "$mode" = doorbell ]; then
		# One vector: each side rings the other's vector 0 (src/bell.c).
		shm_device=(-chardev "socket,id=ivshmem0,path=$DEVVM_SOCKET" -device "ivshmem-doorbell,chardev=ivshmem0,vectors=1")
	else
		shm_device=(-object "memory-backend-file,id=ivshmem0,share=on,mem-path=$DEVVM_SHM,size=$DEVVM_SHM_SIZE"
			-device "ivshmem-plain,memdev=ivshmem0")
	fi

	qemu_args=(
		-name ivb-dev -machine pc -accel "$IVB_ACCEL" -cpu "$IVB_CPU" -smp "$DEVVM_SMP" -m "$DEVVM_MEM"
		-nodefaults -no-user-config -display none -vga none
		-drive "file=$DEVVM_STATE/ivshmem-disk.qcow2,format=qcow2,if=virtio"
		-drive "file=$DEVVM_STATE/cloud-init.iso,format=raw,if=virtio,readonly=on"
		-netdev "user,id=n0,hostfwd=tcp:127.0.0.1:$DEVVM_PORT-:22" -device "virtio-net-pci,netdev=n0"
		"${shm_device[@]}"
		-serial "file:$DEVVM_SERIAL_LOG"
		-pidfile "$DEVVM_PIDFILE" -daemonize
		"${boot_args[@]}"
	)
	rm -f "$DEVVM_SERIAL_LOG" "$DEVVM_PIDFILE"
	start=$SECONDS
	rc=0
	# The lock is not QEMU's to hold: close it for the daemon.
	"${QEMU:-qemu-system-x86_64}" "${qemu_args[@]}" 2>"$DEVVM_STATE/qemu.log" {lock_fd}>&- || rc=$?
	if [ "$rc" -ne 0 ]; then
		if grep -q "host forwarding rule" "$DEVVM_STATE/qemu.log"; then
			ivb_die "QEMU could not forward 127.0.0.1:$DEVVM_PORT (port in use?): $(head -n1 "$DEVVM_STATE/qemu.log")"
		fi
		ivb_die "QEMU failed to start (exit $rc): $(head -n3 "$DEVVM_STATE/qemu.log")"
	fi
	pid=$(devvm_running_pid) || ivb_die "QEMU started but left no usable pid file ($DEVVM_PIDFILE)"
	started_pid=$pid
	{
		printf 'DEVVM_PORT=%q\n' "$DEVVM_PORT"
		printf 'DEVVM_KEY=%q\n' "$DEVVM_KEY"
		printf 'DEVVM_SHM=%q\n' "$DEVVM_SHM"
		printf 'DEVVM_ACCEL=%q\n' "$IVB_ACCEL"
		printf 'DEVVM_MODE=%q\n' "$mode"
		printf 'DEVVM_SOCKET=%q\n' "${DEVVM_SOCKET:-}"
	} >"$DEVVM_ENV_FILE"
	echo "dev VM started: QEMU pid $pid (accel $IVB_ACCEL, $DEVVM_MEM RAM, $device $DEVVM_SHM $DEVVM_SHM_SIZE, $mode mode)"
	ivb_log "waiting for cloud-init to finish (limit ${DEVVM_BOOT_TIMEOUT} s; serial console: $DEVVM_SERIAL_LOG)"

	rc=0
	devvm_wait_for_line "$DEVVM_SERIAL_LOG" "$DEVVM_READY_MARKER" "$DEVVM_BOOT_TIMEOUT" "$pid" || rc=$?
	case "$rc" in
	0) ;;
	1) ivb_die "QEMU exited during the boot; last lines of $DEVVM_SERIAL_LOG: $(tail -n 5 "$DEVVM_SERIAL_LOG" | tr -d '\r' | tr '\n' '|')" ;;
	*) ivb_die "cloud-init did not finish within ${DEVVM_BOOT_TIMEOUT} s (set DEVVM_BOOT_TIMEOUT); see $DEVVM_SERIAL_LOG" ;;
	esac
	ivb_log "cloud-init finished after $((SECONDS - start)) s; waiting for SSH (limit ${DEVVM_SSH_TIMEOUT} s)"

	local deadline=$((SECONDS + DEVVM_SSH_TIMEOUT))
	until devvm_ssh true </dev/null 2>"$DEVVM_STATE/ssh.log"; do
		kill -0 "$pid" 2>/dev/null || ivb_die "QEMU exited while waiting for SSH; see $DEVVM_SERIAL_LOG"
		[ "$SECONDS" -lt "$deadline" ] ||
			ivb_die "SSH did not answer within ${DEVVM_SSH_TIMEOUT} s: $(tail -n1 "$DEVVM_STATE/ssh.log")"
		# Poll interval between attempts: sshd gives no other sign of readiness to the host.
		sleep 1
	done
	started_pid=""
	IVB_SERVER_PID=""
	echo "dev VM ready after $((SECONDS - start)) s (boot to SSH): $(ssh_hint)"
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

#!/usr/bin/env bash
# The dev VM's boot, beside the bench VM's (vm/bench-vm.sh): the region file, the ivshmem server (doorbell
# mode), the base image (vm/dev-image.sh, or the official cloud image), the SSH key, the cloud-init seed and the
# disk, then QEMU in the background (daemonized: the VM outlives the script) and the waits for cloud-init and
# SSH. ./setup.sh is its front end (options, lock, status, stop). Source it after vm/lib.sh, vm/dev-lib.sh and
# vm/ivserver.sh, and call devvm_config first; it defines functions only.
# shellcheck disable=SC2034  # the DEVVM_* variables set here are read by the scripts that source this file

# Write the ssh key pair on first use (mode 0600), and repair its mode: ssh refuses a readable key.
devvm_ensure_key() {
	if [ ! -f "$DEVVM_KEY" ]; then
		ssh-keygen -q -t rsa -b 3072 -N "" -C "ivshmem-bench dev VM" -f "$DEVVM_KEY"
		ivb_log "generated the SSH key pair $DEVVM_KEY"
	fi
	[ -f "$DEVVM_KEY.pub" ] || ssh-keygen -y -f "$DEVVM_KEY" >"$DEVVM_KEY.pub"
	chmod 0600 "$DEVVM_KEY" "$DEVVM_KEY.pub"
}

# Write the NoCloud seed ISO from the templates. The instance id follows the public key, so cloud-init
# installs a new key even on a disk that has booted before.
devvm_make_seed() {
	local pubkey instance seed=$DEVVM_STATE/seed
	pubkey=$(cat "$DEVVM_KEY.pub")
	instance=ivb-dev-$(sha256sum <"$DEVVM_KEY.pub" | cut -c1-16)
	mkdir -p "$seed"
	# The key is base64 plus a comment without '|' or '&', so it is safe as a sed replacement.
	sed "s|@SSH_PUBLIC_KEY@|$pubkey|" "$DEVVM_ROOT/cloud-init-config/user-data" >"$seed/user-data"
	sed "s|@INSTANCE_ID@|$instance|" "$DEVVM_ROOT/cloud-init-config/meta-data" >"$seed/meta-data"
	genisoimage -quiet -output "$DEVVM_STATE/cloud-init.iso.tmp" -volid cidata -joliet -rock \
		"$seed/user-data" "$seed/meta-data"
	mv "$DEVVM_STATE/cloud-init.iso.tmp" "$DEVVM_STATE/cloud-init.iso"
}

# Create the VM's disk: a thin qcow2 overlay on the base image. An overlay on another (or a newer)
# base is replaced: its contents belong to a file system that no longer exists.
devvm_ensure_disk() {
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
devvm_ensure_shm() {
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

# Boot the dev VM in MODE (polling: ivshmem-plain; doorbell: ivshmem-doorbell and our server) and wait until
# cloud-init has finished and SSH answers. LOCK_FD is the caller's lock of the state folder, which neither QEMU
# nor the server may hold. Exits through ivb_die on failure. Arguments: MODE LOCK_FD.
# Sets, for the caller's EXIT trap, DEVVM_STARTED_PID (QEMU) and IVB_SERVER_PID (the server) while the boot is
# not done (both "" once it is: the VM and its server then outlive the script); and DEVVM_BOOT_S (seconds from
# QEMU's start to SSH), DEVVM_SOCKET, IVB_ACCEL. Writes DEVVM_ENV_FILE for run_test.sh --vm dev.
devvm_boot() {
	local mode=$1 lock_fd=$2 pid base boot_args qemu_args start rc device=ivshmem-plain
	[ "$mode" = polling ] || device=ivshmem-doorbell
	# What fails in a second fails before the image, which takes minutes when it is built.
	devvm_ensure_shm
	if [ "$mode" = doorbell ]; then
		ivb_ivserver_build "$DEVVM_SERVER" "$DEVVM_ROOT" build
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
		base=$("$DEVVM_ROOT/vm/dev-image.sh") || ivb_die "could not build the dev VM base image (see above)"
		devvm_prune_images "$base"
		devvm_built_image_paths
		boot_args=(-kernel "$DEVVM_KERNEL" -initrd "$DEVVM_INITRD"
			-append "root=LABEL=ivb-root ro console=ttyS0,115200")
	fi
	devvm_ensure_key
	devvm_make_seed
	devvm_ensure_disk "$base"
	ivb_detect_accel
	local shm_device
	# shellcheck disable=SC2054  # the commas belong to QEMU's option syntax
	if [ "$mode" = doorbell ]; then
		# One vector: each side rings the other's vector 0 (src/shared/bell.c).
		shm_device=(-chardev "socket,id=ivshmem0,path=$DEVVM_SOCKET" -device "ivshmem-doorbell,chardev=ivshmem0,vectors=$(ivb_default DOORBELL_VECTORS)")
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
	DEVVM_STARTED_PID=$pid
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
	DEVVM_STARTED_PID=""
	IVB_SERVER_PID=""
	DEVVM_BOOT_S=$((SECONDS - start))
}

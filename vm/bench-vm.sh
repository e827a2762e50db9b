#!/usr/bin/env bash
# The bench VM for run_test.sh (--vm bench): build its kernel and initramfs, prepare the region file, boot QEMU
# with the ivshmem device and the initramfs, follow its serial console, wait until guest_reader is ready and
# until it has exited, stop the VM. vm/dev-vm.sh and vm/loopback-vm.sh offer the same ivb_vm_* steps;
# vm/README.md says what each takes and sets.
# Source it after vm/lib.sh; it defines functions only. The caller sets IVB_CON_PID to "" before the first
# step, and calls ivb_vm_stop on every exit path.
# shellcheck disable=SC2034  # the IVB_* variables set here are read by the scripts that source this file

# Kernel command line: serial console; quiet (every console line costs time under TCG); panic=-1 reboots at
# once on a panic, which -no-reboot turns into QEMU exiting; oops=panic so an oops does not leave a half-dead
# guest behind. The rest only shortens the boot under TCG and touches nothing guest_reader measures:
# cryptomgr.notests skips the crypto self-tests (~0.3 s), rodata=off the read-only remapping of the kernel
# and its W+X scan (~0.2 s), ipv6.disable=1 the IPv6 stack's set-up (~0.15 s; the VM has no network).
# no_timer_check: on a loaded host the emulated CPU can miss the boot's check that timer interrupts arrive, and
# the kernel then panics ("IO-APIC + timer doesn't work!"): it did on the shared machine during make check.
readonly IVB_BENCH_APPEND="console=ttyS0 quiet panic=-1 oops=panic cryptomgr.notests rodata=off ipv6.disable=1 no_timer_check"
# qboot (Debian's qemu-system-data) starts the kernel ~0.4 s sooner than SeaBIOS under TCG.
readonly IVB_BENCH_BIOS=/usr/share/qemu/qboot.rom
# The kernel passes at most 32 arguments to init (CONFIG_INIT_ENV_ARG_LIMIT), init's name included.
readonly IVB_BENCH_MAX_INIT_ARGS=30
# guest_reader's exit status, which vm/init prints on the console before it powers off.
readonly IVB_BENCH_EXIT_RE='IVB-GUEST-EXIT [0-9]+'
# After guest_reader's exit status, how long the guest may take to power off.
readonly IVB_BENCH_POWEROFF_TIMEOUT=15
# The transports this VM offers beside ivshmem (run_test.sh --transports): the host reaches the guest through
# QEMU's devices, never through a socket or pipe of its own.
readonly IVB_VM_TRANSPORTS="ivshmem virtio-serial virtio-net vsock"
# virtio-net: QEMU's user network, its default guest address (hostfwd's target), set by vm/init from ivb.net=.
readonly IVB_BENCH_NET=10.0.2.0/24
readonly IVB_BENCH_GUEST_IP=10.0.2.15
# QEMU's own words when an address picked for a transport was taken by someone else between the pick and QEMU's
# start (the forwarded port: picked by bind-and-release; the guest CID: host-wide): a new pick can succeed.
readonly IVB_BENCH_ADDRESS_TAKEN_RE="Could not set up host forwarding rule|unable to set guest cid: Address already in use"
# vsock: the guest CID is random in 3 .. 3 + IVB_BENCH_CID_SPAN - 1 (CIDs are the host's, shared by every VM).
readonly IVB_BENCH_CID_SPAN=2147483648
# run_test.sh --repeat N: one boot, vm/init runs guest_reader N times in a row (ivb.repeat=N on the kernel
# command line), each a fresh process; IVB_VM_REPEAT is N (default 1).
IVB_VM_SAME_BOOT=1

# Check that every guest argument can travel on the kernel command line. Returns 1 after naming the first that
# cannot.
ivb_vm_check_guest_args() {
	local arg
	if [ $# -gt "$IVB_BENCH_MAX_INIT_ARGS" ]; then
		ivb_log "too many guest arguments ($#); the kernel passes at most $IVB_BENCH_MAX_INIT_ARGS to init"
		return 1
	fi
	for arg in "$@"; do
		if [[ ! $arg =~ $IVB_GUEST_ARG_RE ]]; then
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
# Needs IVB_ACCEL and IVB_CPU (ivb_detect_accel). With IVB_VM_DOORBELL_SOCKET set (doorbell mode), the device
# is ivshmem-doorbell, which gets the memory (SHM_PATH) and the eventfds from the ivshmem server listening there;
# otherwise ivshmem-plain maps SHM_PATH itself.
# Sets IVB_QEMU_CMD (array) and IVB_QEMU_T0_US, and, through ivb_spawn_follow, IVB_CHILD_PID (QEMU) and the
# console follower that ivb_console_wait reads.
ivb_bench_start() {
	local kernel=$1 initramfs=$2 shm=$3 bytes=$4 log=$5 qemu_err=$6 extra=$7
	shift 7
	[ "${1:-}" != -- ] || shift
	local append="$IVB_BENCH_APPEND${extra:+ $extra}${IVB_BENCH_TRANSPORT_APPEND:+ $IVB_BENCH_TRANSPORT_APPEND}" bios=() device
	[ -z "${IVB_VM_DOORBELL_SOCKET:-}" ] || append+=" ivb.doorbell=1"
	[ "${IVB_VM_REPEAT:-1}" -le 1 ] || append+=" ivb.repeat=$IVB_VM_REPEAT"
	[ $# -eq 0 ] || append+=" -- $*"
	[ ! -f "$IVB_BENCH_BIOS" ] || bios=(-bios "$IVB_BENCH_BIOS")
	# shellcheck disable=SC2054  # the commas belong to QEMU's option syntax
	if [ -n "${IVB_VM_DOORBELL_SOCKET:-}" ]; then
		# As many vectors as our server gives (a device with fewer refuses the server's eventfds): the host rings
		# the guest's vector 0, the guest rings vector i of the host for its consumer i (src/shared/bell.c).
		device=(-chardev "socket,id=ivb-doorbell,path=$IVB_VM_DOORBELL_SOCKET"
			-device "ivshmem-doorbell,chardev=ivb-doorbell,vectors=$(ivb_default DOORBELL_VECTORS)")
	else
		device=(-object "memory-backend-file,id=ivb-shm,share=on,mem-path=$shm,size=$bytes"
			-device ivshmem-plain,memdev=ivb-shm)
	fi
	# guest_reader keeps two pre-faulted private buffers as large as the region; the kernel and initramfs need
	# ~100 MiB more.
	local mib=$((bytes >> 20))
	local memory=${VM_MEMORY:-$((mib * 2 + 128 > 256 ? mib * 2 + 128 : 256))M}
	# shellcheck disable=SC2054  # the commas belong to QEMU's option syntax
	IVB_QEMU_CMD=(
		"${QEMU:-qemu-system-x86_64}" -name ivb-bench -machine pc -accel "$IVB_ACCEL" -cpu "$IVB_CPU"
		-smp "${VM_CPUS:-1}" -m "$memory"
		-nodefaults -no-user-config -display none -nic none -no-reboot "${bios[@]}"
		-kernel "$kernel" -initrd "$initramfs" -append "$append" "${device[@]}" "${IVB_BENCH_TRANSPORT_DEVICES[@]}"
		-chardev "file,id=ivb-console,path=$log" -serial chardev:ivb-console
	)
	: >"$log"
	IVB_QEMU_T0_US=$(ivb_now_us)
	# The chardev socket QEMU creates is its user's only (its folder is too: ivb_vm_transports).
	local mask
	mask=$(umask)
	umask 077
	ivb_spawn_follow "$log" "$qemu_err" "${IVB_QEMU_CMD[@]}"
	umask "$mask"
}

# The devices the transports need, and host_writer's --transport. Argument: the transports, comma-separated
# (each of IVB_VM_TRANSPORTS; run_test.sh checks). Call after ivb_vm_build. Sets IVB_VM_TRANSPORT_ARG (host_writer's
# --transport: virtio-serial:SOCKET, virtio-net:PORT), IVB_BENCH_TRANSPORT_DEVICES (QEMU's), IVB_BENCH_TRANSPORT_APPEND
# (vm/init's ivb.net=) and IVB_VM_TMP (a private folder for the chardev socket, which the caller removes at exit).
# A transport the VM cannot have stays in the list without its address: host_writer skips it with its reason;
# this says why on stderr. Called again after QEMU found an address taken (IVB_VM_ADDRESS_TAKEN), it picks new
# ones and keeps the folder.
ivb_vm_transports() {
	local list=$1 name port cid out=()
	IVB_BENCH_TRANSPORT_DEVICES=()
	IVB_BENCH_TRANSPORT_APPEND=
	# A socket left by the QEMU that failed: the next one creates its own.
	[ -z "$IVB_VM_TMP" ] || rm -f -- "$IVB_VM_TMP/virtio-serial.sock"
	local modules
	modules=$(vm/kernel.sh --modules) || true
	IVB_VM_TRANSPORT_ARG=
	for name in ${list//,/ }; do
		case $name in
		virtio-serial | virtio-net)
			if [ -z "$modules" ]; then
				ivb_log "$name skipped: KERNEL=$KERNEL comes without its virtio modules (KERNEL_MODULES=DIR)"
				out+=("$name")
				continue
			fi
			;;
		esac
		# shellcheck disable=SC2054  # the commas belong to QEMU's option syntax
		case $name in
		virtio-serial)
			# A unix socket path has at most 107 bytes: the chardev's lives in a short private folder.
			[ -n "$IVB_VM_TMP" ] || IVB_VM_TMP=$(mktemp -d "${TMPDIR:-/tmp}/ivb-vm.XXXXXX")
			IVB_BENCH_TRANSPORT_DEVICES+=(-device virtio-serial-pci,id=ivb-vser
				-chardev "socket,id=ivb-serial,path=$IVB_VM_TMP/virtio-serial.sock,server=on,wait=off"
				-device "virtserialport,bus=ivb-vser.0,chardev=ivb-serial,name=$(ivb_default SERIAL_PORT_NAME)")
			out+=("virtio-serial:$IVB_VM_TMP/virtio-serial.sock")
			;;
		virtio-net)
			# Forwarded from 127.0.0.1 only; restrict=on: the guest reaches nothing else.
			port=$(ivb_free_port) || ivb_die "cannot find a free TCP port on 127.0.0.1"
			IVB_BENCH_TRANSPORT_DEVICES+=(-netdev "user,id=ivb-net,net=$IVB_BENCH_NET,restrict=on,hostfwd=tcp:127.0.0.1:$port-$IVB_BENCH_GUEST_IP:$port"
				-device virtio-net-pci,netdev=ivb-net)
			IVB_BENCH_TRANSPORT_APPEND="ivb.net=$IVB_BENCH_GUEST_IP/${IVB_BENCH_NET#*/}"
			out+=("virtio-net:$port")
			;;
		vsock)
			# Without the device host_writer gets no CID and skips vsock with its reason (no /dev/vhost-vsock).
			if [ -r /dev/vhost-vsock ] && [ -w /dev/vhost-vsock ] && [ -n "$modules" ]; then
				cid=$((3 + $(od -An -N4 -tu4 /dev/urandom) % IVB_BENCH_CID_SPAN))
				IVB_BENCH_TRANSPORT_DEVICES+=(-device "vhost-vsock-pci,guest-cid=$cid")
				out+=("vsock:$cid")
			else
				[ -n "$modules" ] || [ ! -r /dev/vhost-vsock ] ||
					ivb_log "vsock skipped: KERNEL=$KERNEL comes without its vsock modules (KERNEL_MODULES=DIR)"
				out+=(vsock)
			fi
			;;
		*) out+=("$name") ;;
		esac
	done
	IVB_VM_TRANSPORT_ARG=$(IFS=,; echo "${out[*]}")
}

# Stop the bench VM if it still runs, and its console follower (SIGKILL after LIMIT seconds, default 5). Sets
# IVB_QEMU_STATUS to QEMU's exit status (empty if unknown or QEMU was never started).
ivb_vm_stop() {
	ivb_spawn_stop "${1:-5}"
	IVB_QEMU_STATUS=${IVB_CHILD_STATUS:-}
}

# Print the QEMU version for the manifest, e.g. "7.2.22 (Debian 1:7.2+dfsg-7+deb12u18+b3)".
ivb_qemu_version() {
	"${QEMU:-qemu-system-x86_64}" --version | sed -n '1s/^QEMU emulator version //p'
}

# Build what a run needs (make installs missing Debian packages), and check QEMU and the guest kernel.
# Arguments: BUILD_DIR MODE DRIVER MAKE_TARGET...   (the caller's targets, built in the same make)
# DRIVER: required (guest_reader --map wb), wanted (the map study) or "" (not needed): required, or wanted
# without KERNEL=, picks the initramfs with the driver. INITRAMFS=PATH replaces the initramfs built from this tree. Sets IVB_BENCH_INITRAMFS, IVB_BENCH_KERNEL,
# IVB_BENCH_KERNEL_VERSION, IVB_ACCEL and IVB_CPU, and IVB_VM_DEFAULT_SHM to "" (the VM has no region file of
# its own); exits through ivb_die on failure.
ivb_vm_build() {
	local build=$1 mode=$2 driver=$3 info
	shift 3
	local targets=("$@")
	IVB_VM_DEFAULT_SHM=
	if [ -n "${INITRAMFS:-}" ]; then
		IVB_BENCH_INITRAMFS=$INITRAMFS
	elif [ "$mode" = doorbell ] || [ "$driver" = required ] || { [ "$driver" = wanted ] && [ -z "${KERNEL:-}" ]; }; then
		# The initramfs with the guest driver: doorbell mode and guest_reader --map wb need it, the map study
		# wants it. It is built for Debian's kernel: with KERNEL= only what needs it gets it.
		IVB_BENCH_INITRAMFS=$build/bench-initramfs-doorbell.cpio
		targets+=(initramfs-doorbell)
	else
		IVB_BENCH_INITRAMFS=$build/bench-initramfs.cpio
		targets+=("$IVB_BENCH_INITRAMFS")
	fi
	make -s deps-vm "${targets[@]}" >&2 || ivb_die "the build failed"
	[ -f "$IVB_BENCH_INITRAMFS" ] || ivb_die "no initramfs at $IVB_BENCH_INITRAMFS"
	if [ "$mode" = doorbell ] && ! ivb_qemu_has_doorbell; then
		ivb_die "${QEMU:-qemu-system-x86_64} has no ivshmem-doorbell device ('-device help' does not list it);" \
			"doorbell mode needs it, polling mode does not"
	fi
	mapfile -t info < <(vm/kernel.sh) || true
	[ "${#info[@]}" -eq 2 ] || ivb_die "no guest kernel (see the message above)"
	IVB_BENCH_KERNEL=${info[0]}
	IVB_BENCH_KERNEL_VERSION=${info[1]}
	ivb_detect_accel
}

# Prepare the shared memory file (ivb_region_prepare). Arguments: SHM BYTES SIZE_AS_GIVEN. Sets IVB_VM_HOST_ARGS
# (host_writer's --size).
ivb_vm_prepare_region() {
	ivb_region_prepare "$@"
	IVB_VM_HOST_ARGS=(--size "$2")
}

# What run.json says about the VM. Sets IVB_VM_META (host_writer --meta arguments).
ivb_vm_meta() {
	IVB_VM_META=(--meta "accel=$IVB_ACCEL" --meta "qemu_version=$(ivb_qemu_version)"
		--meta "guest_kernel=$IVB_BENCH_KERNEL_VERSION")
}

# Doorbell mode: our ivshmem server hands QEMU and host_writer the region and each other's eventfds.
# Arguments: RUN_DIR SHM BYTES SERVER. Sets IVB_VM_DOORBELL_SOCKET.
ivb_vm_doorbell() {
	ivb_ivserver_start "$4" "$2" "$3" ivb-doorbell "" "$1/ivshmem_server.log"
	IVB_VM_DOORBELL_SOCKET=$IVB_SERVER_SOCKET
}

# Boot the bench VM in the background. Arguments: RUN_DIR SHM BYTES EXTRA_APPEND [-- GUEST_ARGS...]
# The console goes to RUN_DIR/guest.log, QEMU's stderr to RUN_DIR/qemu.stderr, its command to RUN_DIR/qemu.cmdline.
ivb_vm_start() {
	local dir=$1 shm=$2 bytes=$3 extra=$4
	shift 4
	ivb_log "booting the bench VM (${IVB_ACCEL}, kernel $IVB_BENCH_KERNEL_VERSION)"
	ivb_bench_start "$IVB_BENCH_KERNEL" "$IVB_BENCH_INITRAMFS" "$shm" "$bytes" "$dir/guest.log" "$dir/qemu.stderr" \
		"$extra" "$@"
	printf '%q ' "${IVB_QEMU_CMD[@]}" >"$dir/qemu.cmdline"
	echo >>"$dir/qemu.cmdline"
	IVB_VM_CONSOLE=$dir/guest.log
	IVB_BENCH_QEMU_ERR=$dir/qemu.stderr
	IVB_BENCH_RUNS_LEFT=${IVB_VM_REPEAT:-1}
}

# Explain on stderr why the bench VM did not get to guest_reader's ready line, and stop it.
# Arguments: ivb_console_wait's status, the limit it had.
ivb_bench_boot_failed() {
	local rc=$1 limit=$2 line=$IVB_CON_LINE console=$IVB_VM_CONSOLE
	ivb_vm_stop 5
	case $rc in
	0)
		ivb_show_guest_lines "$console"
		if [[ $line =~ IVB-ERROR\ (.*) ]]; then
			ivb_log "error: the guest reports: ${BASH_REMATCH[1]}; see $console"
		else
			IVB_VM_GUEST_RC=${line##* }
			ivb_log "error: guest_reader exited with status $IVB_VM_GUEST_RC before it was ready; see $console"
		fi
		;;
	1)
		if [ -n "${IVB_CON_PANIC:-}" ]; then
			ivb_log "error: the guest kernel panicked: ${IVB_CON_PANIC#*\] }; see $console"
		elif grep -Eq "$IVB_BENCH_ADDRESS_TAKEN_RE" "$IVB_BENCH_QEMU_ERR" 2>/dev/null; then
			# The caller may pick new addresses and boot again.
			IVB_VM_ADDRESS_TAKEN=1
			ivb_log "QEMU could not take an address picked for a transport (taken since):" \
				"$(grep -Eo "($IVB_BENCH_ADDRESS_TAKEN_RE).*" "$IVB_BENCH_QEMU_ERR" | head -n 1)"
		else
			[ ! -s "$IVB_BENCH_QEMU_ERR" ] || sed 's/^/  qemu: /' "$IVB_BENCH_QEMU_ERR" >&2
			ivb_log "error: QEMU exited (status $IVB_QEMU_STATUS) before the guest was ready; see $console"
		fi
		;;
	*)
		ivb_log "error: the guest did not get ready within $limit s; see $console"
		;;
	esac
}

# Wait at most LIMIT seconds for guest_reader's ready line. Sets IVB_VM_READY_S (seconds from QEMU's start,
# two decimals); returns 1 after saying why and stopping the VM if the guest does not get ready, with
# IVB_VM_ADDRESS_TAKEN=1 if QEMU could not take a transport's address (the caller may call ivb_vm_transports and
# boot again).
ivb_vm_wait_ready() {
	local limit=$1 rc=0 t1
	IVB_VM_ADDRESS_TAKEN=
	ivb_console_wait "$limit" "$IVB_READY_RE" "$IVB_BENCH_EXIT_RE" 'IVB-ERROR' || rc=$?
	if [ "$rc" -ne 0 ] || [[ ! $IVB_CON_LINE =~ $IVB_READY_RE ]]; then
		ivb_bench_boot_failed "$rc" "$limit"
		return 1
	fi
	t1=$(ivb_now_us)
	printf -v IVB_VM_READY_S '%d.%02d' $(((t1 - IVB_QEMU_T0_US) / 1000000)) \
		$(((t1 - IVB_QEMU_T0_US) % 1000000 / 10000))
	ivb_log "guest_reader ready ${IVB_VM_READY_S} s after QEMU started"
}

# Wait at most LIMIT seconds for guest_reader to end (it does once host_writer has completed or aborted the
# run; vm/init then reports its status and powers off, or starts the next of IVB_VM_REPEAT runs), then stop the
# VM unless it runs guest_reader again. Sets IVB_VM_GUEST_RC (empty if unknown). Does nothing if the VM no
# longer runs (ivb_vm_wait_ready stopped it and said why).
ivb_vm_wait_exit() {
	local limit=$1 rc=0
	[ -n "$IVB_CON_PID" ] || return 0
	ivb_console_wait "$limit" "$IVB_BENCH_EXIT_RE" || rc=$?
	if [ "$rc" -eq 0 ]; then
		IVB_VM_GUEST_RC=${IVB_CON_LINE##* }
		IVB_BENCH_RUNS_LEFT=$((IVB_BENCH_RUNS_LEFT - 1))
		# vm/init goes on to the next run after a guest_reader that succeeded.
		[ "$IVB_BENCH_RUNS_LEFT" -le 0 ] || [ "$IVB_VM_GUEST_RC" != 0 ] || return 0
		# Power-off: the console ends when QEMU does.
		ivb_console_wait "$IVB_BENCH_POWEROFF_TIMEOUT" || rc=$?
		[ "$rc" -eq 1 ] || ivb_log "the guest did not power off within $IVB_BENCH_POWEROFF_TIMEOUT s; stopping the VM"
	elif [ "$rc" -eq 1 ] && [ -n "${IVB_CON_PANIC:-}" ]; then
		ivb_log "the guest kernel panicked: ${IVB_CON_PANIC#*\] }"
	elif [ "$rc" -eq 1 ]; then
		ivb_log "the VM stopped without reporting guest_reader's exit status"
	elif [ "$rc" -eq 2 ]; then
		ivb_log "guest_reader did not exit within $limit s after host_writer ended; stopping the VM"
	fi
	ivb_vm_stop 5
}

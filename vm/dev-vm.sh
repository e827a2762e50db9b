#!/usr/bin/env bash
# The dev VM for run_test.sh (--vm dev): the VM that ./setup.sh started, with guest_reader copied, compiled and
# run in it by vm/dev-guest.sh. It offers the same ivb_vm_* steps as vm/bench-vm.sh (build, region, start, wait
# until ready, wait for exit, stop; vm/README.md); the VM itself is not booted or stopped here, only guest_reader
# (vm/dev-vm-boot.sh boots it, for ./setup.sh).
# Source it after vm/lib.sh; it defines functions only. The caller sets IVB_CON_PID to "" before the first step,
# and calls ivb_vm_stop on every exit path.
# shellcheck disable=SC2034  # the IVB_* variables set here are read by the scripts that source this file

IVB_DEV_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
readonly IVB_DEV_ROOT
# shellcheck source=vm/dev-lib.sh
. "$IVB_DEV_ROOT/vm/dev-lib.sh"

# run_test.sh --repeat N: vm/dev-guest.sh runs guest_reader anew for each run.
IVB_VM_SAME_BOOT=

# Guest arguments go over SSH, quoted: any will do.
ivb_vm_check_guest_args() { :; }

# The dev VM was started by ./setup.sh without the transports' devices: ivshmem only (run_test.sh --transports).
readonly IVB_VM_TRANSPORTS="ivshmem"

# host_writer's --transport: the list as it is. Sets IVB_VM_TRANSPORT_ARG.
ivb_vm_transports() { IVB_VM_TRANSPORT_ARG=$1; }

# Build what a run needs (the caller's MAKE_TARGETs; guest_reader is built in the guest) and read the running
# dev VM's settings (shared memory file, accelerator, mode), written by ./setup.sh. Arguments: BUILD_DIR MODE
# DRIVER MAKE_TARGET... (DRIVER unused: vm/dev-guest.sh loads the driver when the guest's options need it). Sets IVB_VM_DEFAULT_SHM (the VM's region file, the default of --shm); exits through ivb_die
# when the VM cannot serve MODE.
ivb_vm_build() {
	local mode=$2
	shift 3
	make -s "$@" >&2 || ivb_die "the build failed"
	devvm_config "$IVB_DEV_ROOT"
	devvm_load_env
	IVB_VM_DEFAULT_SHM=$DEVVM_SHM
	# A dev VM in doorbell mode (ivshmem-doorbell) serves polling runs too; one in polling mode has no interrupts.
	[ "$mode" = polling ] || [ "${DEVVM_MODE:-polling}" = doorbell ] ||
		ivb_die "the dev VM runs in polling mode (ivshmem-plain, no interrupts); restart it with ./setup.sh --mode doorbell"
}

# The dev VM's QEMU has the file mapped at its own size: it must exist and be mapped. Arguments: SHM BYTES
# SIZE_AS_GIVEN (unused). Sets IVB_VM_HOST_ARGS (none: host_writer takes the file's size).
ivb_vm_prepare_region() {
	local shm=$1
	[ -f "$shm" ] || ivb_die "$shm does not exist: is the dev VM running (./setup.sh)?"
	[ -n "$(ivb_file_mappers "$shm")" ] || ivb_die "no process maps $shm: is the dev VM running (./setup.sh)?"
	IVB_VM_HOST_ARGS=()
}

# What run.json says about the VM. Sets IVB_VM_META (host_writer --meta arguments).
ivb_vm_meta() { IVB_VM_META=(--meta "accel=${DEVVM_ACCEL:-unknown}"); }

# Doorbell mode: the ivshmem server that ./setup.sh --mode doorbell started (DEVVM_SOCKET), used as run_test.sh
# --doorbell-socket uses any running server (ivb_ivserver_use). Arguments: RUN_DIR SHM BYTES SERVER (unused).
# Sets IVB_VM_DOORBELL_SOCKET.
ivb_vm_doorbell() {
	[ -S "${DEVVM_SOCKET:-}" ] ||
		ivb_die "the dev VM's ivshmem server socket ${DEVVM_SOCKET:-(none)} is gone: restart it (./setup.sh --mode doorbell)"
	ivb_ivserver_use "$DEVVM_SOCKET"
}

# Start guest_reader in the dev VM: vm/dev-guest.sh copies, compiles and runs it, writing RUN_DIR/guest.log
# (IVB_VM_CONSOLE) as guest_reader prints. Arguments: RUN_DIR SHM BYTES EXTRA_APPEND (the last three unused) [-- GUEST_ARGS...]
ivb_vm_start() {
	local dir=$1
	shift 4
	[ "${1:-}" != -- ] || shift
	IVB_VM_CONSOLE=$dir/guest.log
	ivb_log "running guest_reader in the dev VM (vm/dev-guest.sh copies, compiles and starts it)"
	ivb_spawn_follow "$IVB_VM_CONSOLE" - vm/dev-guest.sh "$dir" -- "$@"
}

# Wait at most LIMIT seconds for guest_reader's ready line; returns 1 after saying why if it does not come.
# IVB_VM_READY_S stays empty (the copy and compile are not a boot time).
ivb_vm_wait_ready() { ivb_spawned_wait_ready "$1" vm/dev-guest.sh; }

# Wait at most LIMIT seconds for vm/dev-guest.sh to end (guest_reader ends once host_writer has completed or
# aborted the run), then stop it. Sets IVB_VM_GUEST_RC to its exit status (guest_reader's; empty if unknown).
ivb_vm_wait_exit() { ivb_spawned_wait_exit "$1" vm/dev-guest.sh 10; }

# Stop vm/dev-guest.sh if it still runs (it stops guest_reader in the VM), SIGKILL after LIMIT seconds
# (default 10). The dev VM keeps running.
ivb_vm_stop() { ivb_spawn_stop "${1:-10}"; }

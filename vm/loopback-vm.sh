#!/usr/bin/env bash
# No VM for run_test.sh (--vm loopback): guest_reader runs on the host over the same /dev/shm file, a fresh
# process per run. It offers the same ivb_vm_* steps as vm/bench-vm.sh (build, region, start, wait until
# ready, wait for exit, stop; vm/README.md), so that VM and loopback figures come from one command and one report
# format.
# In doorbell mode both programs join our ivshmem server, as tests/integration/loopback.sh does.
# Source it after vm/lib.sh and vm/ivserver.sh; it defines functions only. The caller sets IVB_CON_PID to ""
# before the first step, calls ivb_vm_stop on every exit path and removes IVB_VM_REMOVE_AT_EXIT if set.
# shellcheck disable=SC2034  # the IVB_* variables set here are read by the scripts that source this file

# Each run starts guest_reader anew: no boot to share between runs.
IVB_VM_SAME_BOOT=
# The region file of a loopback run, unless --shm names one: private to this run, removed at its end.
IVB_LOOPBACK_SHM=/dev/shm/ivb-run-loopback-$$

# The transports of one host (run_test.sh --transports); vm/bench-vm.sh's reach a VM.
readonly IVB_VM_TRANSPORTS="ivshmem unix tcp pipe"

# host_writer's --transport: the list as it is. Sets IVB_VM_TRANSPORT_ARG.
ivb_vm_transports() { IVB_VM_TRANSPORT_ARG=$1; }

# guest_reader's arguments are passed as they are.
ivb_vm_check_guest_args() { :; }

# Build guest_reader next to the caller's targets. Arguments: BUILD_DIR MODE DRIVER MAKE_TARGET... (MODE and
# DRIVER unused). Sets IVB_VM_DEFAULT_SHM and IVB_LOOPBACK_GUEST.
ivb_vm_build() {
	local build=$1
	shift 3
	IVB_LOOPBACK_GUEST=$build/guest_reader
	make -s "$@" "$IVB_LOOPBACK_GUEST" >&2 || ivb_die "the build failed"
	IVB_VM_DEFAULT_SHM=$IVB_LOOPBACK_SHM
}

# Prepare the region file (ivb_region_prepare). Arguments: SHM BYTES SIZE_AS_GIVEN. Sets IVB_VM_HOST_ARGS
# (host_writer's --size) and, for the default file, IVB_VM_REMOVE_AT_EXIT.
ivb_vm_prepare_region() {
	ivb_region_prepare "$@"
	IVB_VM_HOST_ARGS=(--size "$2")
	[ "$1" != "$IVB_LOOPBACK_SHM" ] || IVB_VM_REMOVE_AT_EXIT=$1
}

# What run.json says about the guest's side: it is this host (host_writer records its kernel and CPU).
ivb_vm_meta() { IVB_VM_META=(); }

# Doorbell mode: our ivshmem server, which both programs join. Arguments: RUN_DIR SHM BYTES SERVER.
# Sets IVB_VM_DOORBELL_SOCKET.
ivb_vm_doorbell() {
	ivb_ivserver_start "$4" "$2" "$3" ivb-loopback "" "$1/ivshmem_server.log"
	IVB_VM_DOORBELL_SOCKET=$IVB_SERVER_SOCKET
}

# Start guest_reader on the host over SHM, its output (stdout and stderr) in RUN_DIR/guest.log (IVB_VM_CONSOLE).
# Arguments: RUN_DIR SHM BYTES EXTRA_APPEND (the last two unused) [-- GUEST_ARGS...]
ivb_vm_start() {
	local dir=$1 shm=$2
	shift 4
	[ "${1:-}" != -- ] || shift
	# No SHM: the region is the one the ivshmem server shares (run_test.sh --doorbell-socket).
	local args=("$@")
	[ -z "$shm" ] || args=(--shm "$shm" "$@")
	[ -z "${IVB_VM_DOORBELL_SOCKET:-}" ] || args+=(--doorbell "$IVB_VM_DOORBELL_SOCKET")
	IVB_VM_CONSOLE=$dir/guest.log
	: >"$IVB_VM_CONSOLE"
	# exec: the pid ivb_spawn_follow reports, and stops, is guest_reader's.
	# shellcheck disable=SC2016  # expanded by the inner bash
	ivb_spawn_follow "$IVB_VM_CONSOLE" - bash -c 'log=$1; shift; exec "$@" >>"$log" 2>&1' guest_reader \
		"$IVB_VM_CONSOLE" "$IVB_LOOPBACK_GUEST" "${args[@]}"
}

# Wait at most LIMIT seconds for guest_reader's ready line; returns 1 after saying why if it does not come.
ivb_vm_wait_ready() { ivb_spawned_wait_ready "$1" guest_reader; }

# Wait at most LIMIT seconds for guest_reader to end (it does once host_writer has completed or aborted the
# run), then stop it. Sets IVB_VM_GUEST_RC to its exit status (empty if unknown).
ivb_vm_wait_exit() { ivb_spawned_wait_exit "$1" guest_reader 5; }

# Stop guest_reader if it still runs (SIGTERM, SIGKILL after LIMIT seconds, default 5).
ivb_vm_stop() { ivb_spawn_stop "${1:-5}"; }

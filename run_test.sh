#!/usr/bin/env bash
# One ivshmem-bench run end to end: build, boot the bench VM (or use the dev VM), run host_writer on the host
# and guest_reader in the guest, and leave the CSVs, run.json, the guest's console log and the analysis in
# results/<timestamp>/ (results/latest points to it). `make test` runs it with the seed's defaults.
# Run ./run_test.sh --help for the options.
set -euo pipefail

readonly IVB_PROG=run_test
TOP=$(cd "$(dirname "$0")" && pwd)
readonly TOP
# shellcheck source=vm/lib.sh
. "$TOP/vm/lib.sh"
# shellcheck source=vm/ivserver.sh
. "$TOP/vm/ivserver.sh"

readonly BUILD=${BUILD:-build}
readonly PYTHON=${PYTHON:-/usr/bin/python3}
readonly SERVER=$BUILD/ivshmem_server

SHM_DEFAULT=$(ivb_default SHM_PATH_DEFAULT)
SHM_SIZE_DEFAULT=$(ivb_default RUN_SHM_SIZE_DEFAULT)
STREAM_SECONDS_DEFAULT=$(ivb_default RUN_STREAM_SECONDS_DEFAULT)
STREAM_DIRECTION_DEFAULT=$(ivb_default RUN_STREAM_DIRECTION_DEFAULT)
RUN_MESSAGE_SIZES_DEFAULT=$(ivb_default RUN_MESSAGE_SIZES_DEFAULT)
RUN_TRANSPORT_SECONDS_DEFAULT=$(ivb_default RUN_TRANSPORT_SECONDS_DEFAULT)
readonly SHM_DEFAULT SHM_SIZE_DEFAULT STREAM_SECONDS_DEFAULT STREAM_DIRECTION_DEFAULT RUN_MESSAGE_SIZES_DEFAULT
readonly RUN_TRANSPORT_SECONDS_DEFAULT
readonly BOOT_TIMEOUT_DEFAULT=60
# In the dev VM, vm/dev-guest.sh first copies and compiles guest_reader (minutes under TCG).
readonly DEV_READY_TIMEOUT_DEFAULT=600
# After host_writer has finished, how long the guest may take to report its exit status and power off.
readonly GUEST_EXIT_TIMEOUT=30
# The same, when host_writer failed: the guest may never have heard of the host.
readonly GUEST_EXIT_GRACE=10
# Boots of one run when QEMU finds an address picked for a transport taken since (vm/bench-vm.sh).
readonly ADDRESS_ATTEMPTS=3

usage() {
	local d_iterations d_latency_frame d_bw_iterations d_frames d_ref_iterations d_timeout
	local d_stream_frames d_slots d_stream_policy d_verify d_message_sizes
	d_iterations=$(ivb_default ITERATIONS_DEFAULT)
	d_latency_frame=$(ivb_default LATENCY_FRAME_DEFAULT)
	d_bw_iterations=$(ivb_default BW_ITERATIONS_DEFAULT)
	d_frames=$(ivb_default FRAMES_DEFAULT)
	d_ref_iterations=$(ivb_default REF_ITERATIONS_DEFAULT)
	d_stream_frames=$(ivb_default STREAM_FRAMES_DEFAULT)
	d_slots=$(ivb_default STREAM_SLOTS_DEFAULT)
	d_stream_policy=$(ivb_default STREAM_POLICY_DEFAULT)
	d_verify=$(ivb_default STREAM_VERIFY_DEFAULT)
	d_timeout=$(ivb_default TIMEOUT_DEFAULT_S)
	d_message_sizes=$(ivb_default MESSAGE_SIZES_DEFAULT)
	cat <<EOF
Usage: ./run_test.sh [OPTION]...
Run one ivshmem-bench benchmark: host_writer on the host, guest_reader in a VM, results in results/<timestamp>/.

The run plan, for host_writer (guest_reader reads it from the region; host_writer's defaults apply):
  --iterations N         latency test iterations (default $d_iterations)
  --latency-frame F      frame of the latency test (default $d_latency_frame)
  --bw-iterations N      bandwidth iterations per frame (default $d_bw_iterations)
  --frames LIST          bandwidth frames, e.g. 1080p,1440p,4k or 64,4096,1M (default $d_frames)
  --ref-iterations N     reference iterations per frame (default $d_ref_iterations)
  --stream-seconds S     the stream test: frames through a ring of slots for S seconds per stream
                         frame (default $STREAM_SECONDS_DEFAULT here; 0: none)
  --stream-frames LIST, --slots N, --fps F, --stream-policy block|latest, --verify sha256|xxh3|none
                         the stream's frames ($d_stream_frames), slots ($d_slots), pace (0: as fast as possible), policy
                         ($d_stream_policy) and check ($d_verify); see host_writer --help
  --stream-direction LIST
                         each stream frame once per direction: host-to-guest, guest-to-host
                         (default $STREAM_DIRECTION_DEFAULT here)
  --transports LIST|all|none
                         compare ivshmem with the other transports, each carrying the stream frames
                         and the messages for --stream-seconds per test: in the bench VM
                         virtio-serial, virtio-net and vsock (its devices are added to the VM; vsock
                         needs /dev/vhost-vsock), in loopback unix, tcp[:PORT] and pipe; all: every
                         one of the place, with host_writer's message sizes ($d_message_sizes). Default in
                         the bench VM with a stream test: all, with --message-sizes $RUN_MESSAGE_SIZES_DEFAULT and
                         $RUN_TRANSPORT_SECONDS_DEFAULT s per test over a VM transport (a short comparison); elsewhere none.
                         A transport the machine cannot offer is skipped with its reason in
                         run.json and the report
  --message-sizes LIST   the small messages of the comparison (host_writer --message-sizes)
Both programs:
  --timeout SECONDS      limit of every wait for the other side (default $d_timeout)
Run:
  --mode polling|doorbell
                         how each side learns that the other has written: spinning on the state
                         word (polling, the default), or sleeping until the other rings: our
                         ivshmem_server, QEMU's ivshmem-doorbell and the guest's ivshmem_doorbell
                         driver (doorbell; default: \$IVSHMEM_MODE, else polling)
  --doorbell-socket PATH doorbell mode through the ivshmem server already listening at PATH (QEMU's
                         contrib ivshmem-server, or another) instead of ours; the region is the
                         one it shares (--shm, if given, must be that file; --shm-size only sizes
                         the bench VM's memory). Not with --vm dev: its server is its own
  --interval-us N        start messages N microseconds apart (16667: 60 fps) instead of back to back;
                         the waits in between show what each mode costs while idle
  --vm bench|dev|loopback
                         bench: the initramfs VM booted here (default); dev: the running dev VM
                         (vm/dev-guest.sh, see ./setup.sh); loopback: no VM, guest_reader on this host
                         over the same file (default --shm: a file of this run's own, removed at its end)
  --repeat N             N independent runs (fresh host_writer and guest_reader each) in
                         results/<timestamp>/run-1 ... run-N; the bench VM boots once and runs
                         guest_reader N times, the dev VM and loopback start it anew each run
  --start-order guest|host
                         boot the guest first and start host_writer once guest_reader is ready
                         (default), or start host_writer first (bench VM and loopback, one run only)
  --shm PATH             shared memory file (default $SHM_DEFAULT)
  --shm-size SIZE        its size, a power of two; K, M, G = KiB, MiB, GiB (default $SHM_SIZE_DEFAULT;
                         bench VM only: the dev VM's QEMU has the file mapped at its own size)
  --results DIR          where the timestamped result folders go (default results)
  --boot-timeout SECONDS limit for guest_reader to get ready: the bench VM's boot (default
                         $BOOT_TIMEOUT_DEFAULT), or the dev VM's copy and compile (default $DEV_READY_TIMEOUT_DEFAULT)
  --no-analysis          do not run analyze_results.py
  --no-map-study         do not pass host_writer --map-study=reference, which this script does by
                         default: the guest also times phases A-C of the reference messages
                         through uc, wc and wb (the driver's /dev/ivshmem-region), in a rotating
                         order; the latency and bandwidth round trips stay free of it
Testing and debugging:
  --guest-arg ARG        one more argument for guest_reader (repeatable)
  --host-arg ARG         one more argument for host_writer (repeatable)
  --append ARG           one more guest kernel command line parameter (repeatable)
  -h, --help             show this help and exit
Environment: IVSHMEM_MODE=polling|doorbell (as --mode);
  KERNEL=PATH guest kernel (default: Debian's, fetched with apt-get download into .cache/);
  INITRAMFS=PATH bench VM initramfs (default: built from this tree, see vm/build-initramfs.sh);
  ACCEL=kvm|tcg, CPU=MODEL, VM_MEMORY (twice the region + 128M, at least 256M), VM_CPUS (1),
  QEMU (qemu-system-x86_64).
Exit status: 0 every iteration succeeded in both programs, 1 a failure, 2 a usage error.
EOF
}

# Options (see usage). The run plan's (message counts, frames: the host's alone, guest_reader reads them
# from the region) and those both programs take.
plan_args=()
common_args=()
guest_extra=()
host_extra=()
append=
vm=bench
order=guest
shm=$SHM_DEFAULT
shm_given=
shm_size=
stream_seconds=
stream_direction=$STREAM_DIRECTION_DEFAULT
results_base=results
boot_timeout=
analysis=1
repeat=
map_study=1
mode=${IVSHMEM_MODE:-polling}
mode_given=
doorbell_socket=
interval_args=()
transports=
message_sizes=
transport_seconds_args=()

usage_error() {
	ivb_log "$*"
	echo "Try './run_test.sh --help'." >&2
	exit 2
}

# Check that option $2 has a value ($3) matching the extended regex $1.
need_value() {
	[ $# -ge 3 ] || usage_error "$2 needs a value"
	[[ $3 =~ $1 ]] || usage_error "invalid value for $2: '$3'"
}

while [ $# -gt 0 ]; do
	case $1 in
	--iterations | --bw-iterations | --ref-iterations)
		need_value '^[0-9]+$' "$@"
		plan_args+=("$1" "$2")
		shift 2
		;;
	--timeout)
		need_value '^[0-9]+$' "$@"
		# An unattended run bounds the first contact as every other wait (the programs wait 600 s for a person).
		common_args+=("$1" "$2" --connect-timeout "$2")
		shift 2
		;;
	--frames | --latency-frame | --stream-frames)
		need_value "$IVB_GUEST_ARG_RE" "$@"
		plan_args+=("$1" "$2")
		shift 2
		;;
	--stream-seconds)
		need_value '^[0-9]+$' "$@"
		stream_seconds=$2
		shift 2
		;;
	--stream-direction)
		need_value '^(host-to-guest|guest-to-host)(,(host-to-guest|guest-to-host))?$' "$@"
		stream_direction=$2
		shift 2
		;;
	--slots | --fps)
		need_value '^[0-9]+$' "$@"
		plan_args+=("$1" "$2")
		shift 2
		;;
	--stream-policy)
		need_value '^(block|latest)$' "$@"
		plan_args+=("$1" "$2")
		shift 2
		;;
	--verify)
		need_value '^(sha256|xxh3|none)$' "$@"
		plan_args+=("$1" "$2")
		shift 2
		;;
	--transports)
		need_value '^(all|none|[a-z-]+(:[0-9]+)?(,[a-z-]+(:[0-9]+)?)*)$' "$@"
		transports=$2
		shift 2
		;;
	--message-sizes)
		need_value "$IVB_GUEST_ARG_RE" "$@"
		message_sizes=$2
		shift 2
		;;
	--mode)
		need_value '^(polling|doorbell)$' "$@"
		mode=$2
		mode_given=1
		shift 2
		;;
	--doorbell-socket)
		need_value '^.+' "$@"
		doorbell_socket=$2
		shift 2
		;;
	--interval-us)
		need_value '^[0-9]+$' "$@"
		interval_args=("$1" "$2")
		shift 2
		;;
	--vm)
		need_value '^(bench|dev|loopback)$' "$@"
		vm=$2
		shift 2
		;;
	--repeat)
		need_value '^[1-9][0-9]*$' "$@"
		repeat=$2
		shift 2
		;;
	--start-order)
		need_value '^(guest|host)$' "$@"
		order=$2
		shift 2
		;;
	--shm)
		need_value '^/.+' "$@"
		shm=$2
		shm_given=1
		shift 2
		;;
	--shm-size)
		need_value '^[0-9]+[KMG]?$' "$@"
		shm_size=$2
		shift 2
		;;
	--results)
		need_value '.' "$@"
		results_base=$2
		shift 2
		;;
	--boot-timeout)
		need_value '^[1-9][0-9]*$' "$@"
		boot_timeout=$2
		shift 2
		;;
	--no-analysis)
		analysis=
		shift
		;;
	--no-map-study)
		map_study=
		shift
		;;
	--guest-arg)
		need_value '.' "$@"
		guest_extra+=("$2")
		shift 2
		;;
	--host-arg)
		need_value '.' "$@"
		host_extra+=("$2")
		shift 2
		;;
	--append)
		need_value '^[^[:space:]]+$' "$@"
		append+="${append:+ }$2"
		shift 2
		;;
	-h | --help)
		usage
		exit 0
		;;
	*)
		usage_error "unknown option '$1'"
		;;
	esac
done

[[ $mode =~ ^(polling|doorbell)$ ]] || usage_error "IVSHMEM_MODE must be polling or doorbell, not '$mode'"
if [ -n "$doorbell_socket" ]; then
	[ "$mode" = doorbell ] || [ -z "$mode_given" ] || usage_error "--doorbell-socket is for --mode doorbell, not $mode"
	[ "$vm" != dev ] || usage_error "--doorbell-socket is not for --vm dev: the dev VM's server is the one ./setup.sh started"
	mode=doorbell
	doorbell_socket=$(realpath -m -- "$doorbell_socket")
fi
if [ "$vm" = dev ]; then
	[ -x "$TOP/vm/dev-guest.sh" ] ||
		ivb_die "--vm dev needs vm/dev-guest.sh (the dev VM's guest runner), which is not in this tree yet; use --vm bench"
	[ "$order" = guest ] || usage_error "--start-order host is for the bench VM only"
	[ -z "$shm_size" ] || usage_error "--shm-size is for the bench VM only (the dev VM maps the file at its own size)"
fi
[ "$order" = guest ] || [ "${repeat:-1}" -eq 1 ] || usage_error "--start-order host is for one run, not --repeat $repeat"
shm_size=${shm_size:-$SHM_SIZE_DEFAULT}
plan_args+=(--stream-seconds "${stream_seconds:-$STREAM_SECONDS_DEFAULT}" --stream-direction "$stream_direction")
if [ -z "$boot_timeout" ]; then
	boot_timeout=$BOOT_TIMEOUT_DEFAULT
	[ "$vm" = bench ] || boot_timeout=$DEV_READY_TIMEOUT_DEFAULT
fi

# Convert a size with an optional K/M/G suffix (KiB, MiB, GiB) to bytes.
# K, M, G = KiB, MiB, GiB, as setup.sh reads its region size (the option's syntax is checked above).
shm_bytes=$(numfmt --from=iec "$shm_size")
# QEMU's ivshmem BAR must be a power of two (QEMU aborts otherwise); a region needs its 4 KiB header and data.
if [ "$shm_bytes" -lt 65536 ] || [ $((shm_bytes & (shm_bytes - 1))) -ne 0 ]; then
	usage_error "--shm-size must be a power of two of at least 64K, not $shm_size"
fi
guest_args=("${common_args[@]}" --mode "$mode" "${guest_extra[@]}")
# The bench VM boots the initramfs with our guest driver: guest_reader --map wb needs it, the map study wants
# it for its wb mapping. Where it cannot load, the guest says why and the map study runs without wb.
if [[ " ${guest_extra[*]} " =~ \ --map(\ |=)wb\  ]]; then
	driver=required
elif [ -n "$map_study" ]; then
	driver=wanted
else
	driver=
fi

# The VM's steps (ivb_vm_*), the same in all three: vm/README.md says what each takes and sets.
case $vm in
bench)
	# shellcheck source=vm/bench-vm.sh
	. "$TOP/vm/bench-vm.sh"
	;;
dev)
	# shellcheck source=vm/dev-vm.sh
	. "$TOP/vm/dev-vm.sh"
	;;
loopback)
	# shellcheck source=vm/loopback-vm.sh
	. "$TOP/vm/loopback-vm.sh"
	;;
esac
ivb_vm_check_guest_args "${guest_args[@]}" || exit 2

# The transport comparison: the place's transports (IVB_VM_TRANSPORTS), all of them by default in the bench VM
# with the short message list.
if [ -z "$transports" ] && [ "$vm" = bench ] && [ "${stream_seconds:-$STREAM_SECONDS_DEFAULT}" -gt 0 ]; then
	transports=all
	message_sizes=${message_sizes:-$RUN_MESSAGE_SIZES_DEFAULT}
	transport_seconds_args=(--transport-seconds "$RUN_TRANSPORT_SECONDS_DEFAULT")
fi
[ "$transports" != none ] || transports=
[ "$transports" != all ] || transports=${IVB_VM_TRANSPORTS// /,}
for name in ${transports//,/ }; do
	[[ " $IVB_VM_TRANSPORTS " == *" ${name%%:*} "* ]] ||
		usage_error "--transports: --vm $vm offers ${IVB_VM_TRANSPORTS// /, }, not '$name'"
	# The VM transports' addresses are the VM's (vm/bench-vm.sh), not the user's.
	[[ $name != *:* ]] || [ "${name%%:*}" = tcp ] || usage_error "--transports: only tcp takes a port, not '$name'"
done
[ -z "$transports" ] || [ "${stream_seconds:-$STREAM_SECONDS_DEFAULT}" -gt 0 ] ||
	usage_error "--transports needs a stream test: each transport test lasts --stream-seconds"
[ -z "$message_sizes" ] || [ -n "$transports" ] || usage_error "--message-sizes needs --transports"

# State that cleanup() undoes.
IVB_CON_PID=
host_pid=
IVB_SERVER_PID=
IVB_SERVER_DIR=
IVB_VM_REMOVE_AT_EXIT=
IVB_VM_TMP=
run_dir=

# shellcheck disable=SC2317  # called by the EXIT trap
cleanup() {
	local rc=$?
	trap - EXIT INT TERM
	# host_writer first: on SIGTERM it aborts the run and writes run.json with what it has measured.
	[ -z "$host_pid" ] || ivb_stop_child "$host_pid" host_writer 10
	# Then QEMU, or vm/dev-guest.sh (which stops guest_reader in the dev VM); then the ivshmem server.
	ivb_vm_stop 10
	ivb_ivserver_stop
	[ -z "$IVB_VM_REMOVE_AT_EXIT" ] || rm -f -- "$IVB_VM_REMOVE_AT_EXIT"
	[ -z "$IVB_VM_TMP" ] || rm -rf -- "$IVB_VM_TMP"
	[ -z "$run_dir" ] || [ "$rc" -eq 0 ] || ivb_log "the output of this run is in $run_dir"
	exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# Paths the user gave are relative to where they ran us; the default results folder is the repository's.
[ "$results_base" = results ] || results_base=$(realpath -m -- "$results_base")
if [ -n "${KERNEL:-}" ]; then
	KERNEL=$(realpath -m -- "$KERNEL")
	export KERNEL
fi
[ -z "${INITRAMFS:-}" ] || INITRAMFS=$(realpath -m -- "$INITRAMFS")
cd "$TOP"

# Build what this run needs; make installs missing Debian packages (deps-build, deps-vm, deps-analysis).
[ -f analyze_results.py ] || analysis=
make_targets=("$BUILD/host_writer")
[ -z "$analysis" ] || make_targets+=(deps-analysis)
ivb_vm_build "$BUILD" "$mode" "$driver" "${make_targets[@]}"
[ "$mode" = polling ] || [ "$vm" = dev ] || [ -n "$doorbell_socket" ] || ivb_ivserver_build "$SERVER" "$TOP" "$BUILD"
[ -n "$shm_given" ] || shm=${IVB_VM_DEFAULT_SHM:-$shm}
[ -z "$transports" ] || ivb_vm_transports "$transports"
if [ -z "$doorbell_socket" ]; then
	ivb_vm_prepare_region "$shm" "$shm_bytes" "$shm_size"
else
	# The server's region, at the server's size: nothing to prepare. Without --shm the programs take it from the
	# server alone; with it, they check that it is that file.
	IVB_VM_HOST_ARGS=()
	[ -n "$shm_given" ] || shm=
fi

# A new folder results/<UTC timestamp>[-N]; mkdir fails if another run took the name first. With --repeat,
# each run has a folder run-<i> in it.
mkdir -p "$results_base"
stamp=$(date -u +%Y%m%dT%H%M%SZ)
top_dir=$results_base/$stamp
n=1
until mkdir "$top_dir" 2>/dev/null; do
	n=$((n + 1))
	top_dir=$results_base/$stamp-$n
done
ln -sfn "$(basename "$top_dir")" "$results_base/latest"
count=${repeat:-1}
# A VM that runs guest_reader several times in one boot keeps its console (and QEMU's files) in the top folder.
IVB_VM_REPEAT=$count
same_boot=false
[ -z "$IVB_VM_SAME_BOOT" ] || [ "$count" -le 1 ] || same_boot=true
vm_dir=$top_dir

ivb_vm_meta
meta=(--meta "vm=$vm" --meta "start_order=$order" --meta "repeat_count=$count" --meta "same_boot=$same_boot"
	"${IVB_VM_META[@]}")
host_cmd=("$BUILD/host_writer" ${shm:+--shm "$shm"} "${plan_args[@]}" "${common_args[@]}" "${interval_args[@]}" --mode "$mode")
if [ "$mode" = doorbell ]; then
	# The bench VM's and loopback's ivshmem server is ours (vm/ivserver.sh) unless --doorbell-socket names one that
	# runs; the dev VM's is setup.sh's, used the same way.
	if [ -n "$doorbell_socket" ]; then
		ivb_ivserver_use "$doorbell_socket"
	else
		ivb_vm_doorbell "$top_dir" "$shm" "$shm_bytes" "$SERVER"
	fi
	host_cmd+=(--doorbell "$IVB_VM_DOORBELL_SOCKET")
fi
host_cmd+=("${IVB_VM_HOST_ARGS[@]}")
[ -z "$message_sizes" ] || host_cmd+=(--message-sizes "$message_sizes")
host_cmd+=("${transport_seconds_args[@]}")
# Before the user's --host-arg options, which may override it (e.g. --host-arg --map-study for every test).
[ -z "$map_study" ] || host_cmd+=(--map-study=reference)

# Run host_writer in the background and wait for it: a signal to this script then runs cleanup() at once
# (bash defers traps while a foreground child runs), which stops host_writer so that it writes its run.json.
# Sets host_rc.
run_host() {
	# The transports' addresses as the VM has them now (a boot again picks new ones).
	local transport=()
	[ -z "$transports" ] || transport=(--transport "$IVB_VM_TRANSPORT_ARG")
	"${host_cmd[@]}" "${transport[@]}" --out "$run_dir" "${meta[@]}" --meta "repeat_index=$index" "$@" "${host_extra[@]}" &
	host_pid=$!
}
wait_host() {
	wait "$host_pid" || host_rc=$?
	host_pid=
}

# One run: the guest (booted for it, or the next guest_reader of the same boot) and host_writer. Sets host_rc,
# guest_rc and status (0, or 1 after saying what failed).
run_once() {
	local start=$1 ready=() attempt=1
	host_rc=0
	IVB_VM_GUEST_RC=
	IVB_VM_READY_S=
	if [ "$order" = guest ]; then
		[ -z "$start" ] || ivb_vm_start "$vm_dir" "$shm" "$shm_bytes" "$append" -- "${guest_args[@]}"
		while ! ivb_vm_wait_ready "$boot_timeout"; do
			# A port or CID taken between its pick and QEMU's start: new ones, and boot again.
			if [ -n "$start" ] && [ -n "${IVB_VM_ADDRESS_TAKEN:-}" ] && [ "$attempt" -lt "$ADDRESS_ATTEMPTS" ]; then
				attempt=$((attempt + 1))
				ivb_vm_transports "$transports"
				ivb_log "booting again with new transport addresses ($IVB_VM_TRANSPORT_ARG; boot $attempt of $ADDRESS_ATTEMPTS)"
				ivb_vm_start "$vm_dir" "$shm" "$shm_bytes" "$append" -- "${guest_args[@]}"
				continue
			fi
			[ -z "${IVB_VM_ADDRESS_TAKEN:-}" ] || ivb_log "error: QEMU could not take the transports' addresses in $attempt boots"
			host_rc="not started"
			guest_rc=$IVB_VM_GUEST_RC
			status=1
			return
		done
		# The time to a ready guest_reader is a boot time only for the run that booted the VM.
		if [ -n "$start" ] && [ -n "$IVB_VM_READY_S" ]; then
			ready=(--meta "guest_ready_s=$IVB_VM_READY_S")
			ready_s=$IVB_VM_READY_S
		fi
		run_host "${ready[@]}"
	else
		run_host
		ivb_vm_start "$vm_dir" "$shm" "$shm_bytes" "$append" -- "${guest_args[@]}"
		# If the guest fails, host_writer ends on its own --timeout and writes what it has.
		ivb_vm_wait_ready "$boot_timeout" || ivb_log "waiting for host_writer to give up on the guest (--timeout)"
	fi
	wait_host
	# The guest ends once host_writer has completed or aborted the run.
	local limit=$GUEST_EXIT_TIMEOUT
	[ "$host_rc" -eq 0 ] || limit=$GUEST_EXIT_GRACE
	ivb_vm_wait_exit "$limit"
	guest_rc=$IVB_VM_GUEST_RC
	status=0
	if [ "$host_rc" -ne 0 ]; then
		ivb_log "host_writer failed (exit status $host_rc)"
		status=1
	fi
	if [ "${guest_rc:-x}" != 0 ]; then
		ivb_show_guest_lines "$console"
		ivb_log "guest_reader failed (exit status ${guest_rc:-unknown}); its output is in $console"
		status=1
	fi
}

ready_s=
status=0
runs_done=0
for ((index = 1; index <= count; index++)); do
	run_dir=$top_dir
	if [ -n "$repeat" ]; then
		run_dir=$top_dir/run-$index
		mkdir "$run_dir"
		ivb_log "run $index of $count"
	fi
	# A VM booted per run keeps its console in the run's folder.
	[ "$same_boot" = true ] || vm_dir=$run_dir
	console=$vm_dir/guest.log
	start=1
	[ "$same_boot" = false ] || [ "$index" -eq 1 ] || start=
	run_once "$start"
	runs_done=$index
	# A failed run ends the series: what it measured stays in its folder.
	[ "$status" -eq 0 ] || break
done

# Summary: where the results are and what the guest mapped.
# Print the string value of "KEY" in the object "SECTION" of run.json (pretty-printed: one member a line).
json_field() {
	sed -n "/^ *\"$1\": {/,/^ *}/ s/^ *\"$2\": \"\\([^\"]*\\)\".*/\\1/p" "$run_dir/run.json" 2>/dev/null | head -n 1 || true
}
mapping=$(json_field guest mapping)
echo "run_test: results in $top_dir ($results_base/latest)${repeat:+; $runs_done of $count runs in run-*/}"
if [ -n "$mapping" ]; then
	guest_device=$(json_field guest device)
	echo "run_test: guest mapping $mapping${guest_device:+ of $guest_device}, memory type" \
		"$(json_field guest memory_type), guest kernel $(json_field guest kernel)"
fi
[ -z "$ready_s" ] || echo "run_test: bench VM ($IVB_ACCEL): QEMU start to guest_reader ready ${ready_s} s"
if [ "$status" -eq 0 ]; then
	echo "run_test: PASS (host_writer and guest_reader exited 0${repeat:+ in every run})"
else
	echo "run_test: FAIL (host_writer ${host_rc:-}, guest_reader ${guest_rc:-unknown}${repeat:+, run $runs_done of $count})"
fi

# The analysis last, so that the terminal ends with its answer: of the run, or of the folder of runs (each
# run's own report, then one over all of them).
if [ -n "$analysis" ] && [ "$runs_done" -gt 0 ]; then
	ivb_log "analysing the results (analyze_results.py $top_dir)"
	if ! "$PYTHON" analyze_results.py "$top_dir"; then
		echo "run_test: FAIL (the analysis failed; the measurements are in $top_dir)"
		status=1
	fi
fi
exit "$status"

#!/usr/bin/env bash
# Run guest_reader in the running dev VM (./setup.sh): copy its sources in with scp, compile them there
# with gcc against libcrypto and libxxhash (only when they changed), and run `sudo ./guest_reader GUEST_ARGS...` over SSH.
# guest_reader finds the ivshmem PCI device itself. With --mode doorbell among GUEST_ARGS, the guest driver
# (guest/ivshmem_doorbell) is copied too, built in the guest against its kernel's headers (only when it
# changed) and loaded, so that guest_reader can wait on /dev/ivshmem-doorbell.
#
# Usage: vm/dev-guest.sh RESULTS_DIR -- [GUEST_ARGS...]
#   RESULTS_DIR/guest.log        guest_reader's stdout and stderr (written as they come)
#   RESULTS_DIR/guest-build.log  the compiler's output in the guest (and the driver's, in doorbell mode)
# Exit status: guest_reader's (0 the host completed the run, 1 a failure, 2 a usage error), or 3 when
# guest_reader could not be run (VM not running, copy, compile or SSH failure), with one line on stderr.
# The sources are the Makefile's GUEST_SRCS and SHARED_SRCS (make devvm-print-guest-sources) and the headers of
# src/guest and src/shared, copied into one folder in the guest.
set -euo pipefail

IVB_PROG=dev-guest
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
readonly ROOT
# shellcheck source=vm/lib.sh
. "$ROOT/vm/lib.sh"
# shellcheck source=vm/dev-lib.sh
. "$ROOT/vm/dev-lib.sh"

# Where the sources and the program live in the guest (relative to debian's home folder).
readonly REMOTE_DIR=ivshmem-bench
readonly GUEST_CFLAGS=(-std=c11 -O2 -D_GNU_SOURCE -Isrc -Wall -Wextra -Werror)
readonly GUEST_LIBS=(-lcrypto -lxxhash)
readonly EXIT_DEPLOY=3

usage() {
	sed -n '9,15s/^# \{0,1\}//p' "${BASH_SOURCE[0]}"
}

# Print one error line and exit with the deployment failure status.
deploy_die() {
	ivb_log "error: $*"
	exit "$EXIT_DEPLOY"
}

case "${1:-}" in
-h | --help) usage; exit 0 ;;
esac
if [ $# -lt 2 ] || [ "$2" != -- ] || [ -z "$1" ]; then
	ivb_log "usage: vm/dev-guest.sh RESULTS_DIR -- [GUEST_ARGS...] (see --help)"
	exit 2
fi
results=$1
shift 2
guest_args=("$@")

devvm_config "$ROOT"
devvm_running_pid >/dev/null || deploy_die "the dev VM is not running; start it with ./setup.sh"
devvm_load_env
[ -r "$DEVVM_KEY" ] || deploy_die "no SSH key $DEVVM_KEY; restart the dev VM with ./setup.sh"
mkdir -p "$results" || deploy_die "cannot create $results"

# The guest program's C files, as the Makefile lists them, and every header they may include.
read -r -a c_files < <(make -s --no-print-directory -C "$ROOT" devvm-print-guest-sources) ||
	deploy_die "cannot read GUEST_SRCS and SHARED_SRCS from the Makefile (make devvm-print-guest-sources)"
[ ${#c_files[@]} -gt 0 ] || deploy_die "the Makefile lists no guest sources (GUEST_SRCS, SHARED_SRCS)"
shopt -s nullglob
# The doorbell driver's interface header goes beside them: guest_reader includes it.
headers=("$ROOT"/src/shared/*.h "$ROOT"/src/guest/*.h "$ROOT"/guest/ivshmem_doorbell/ivshmem_doorbell.h)
shopt -u nullglob
files=()
remote_c_files=()
for f in "${c_files[@]}"; do
	[ -f "$ROOT/$f" ] || deploy_die "the Makefile lists $f, which does not exist"
	files+=("$ROOT/$f")
	remote_c_files+=("src/${f##*/}")
done
files+=("${headers[@]}")

# Compiled again only when the sources or the compile command changed.
compile=(gcc "${GUEST_CFLAGS[@]}" -o guest_reader "${remote_c_files[@]}" "${GUEST_LIBS[@]}")
build_id=$({
	printf '%s\n' "${compile[*]}"
	cat "${files[@]}"
} | sha256sum | cut -c1-64)

devvm_ssh_opts
remote=$(printf '%q ' cd "$REMOTE_DIR")
have=$(devvm_ssh "cat $REMOTE_DIR/build-id 2>/dev/null; test -x $REMOTE_DIR/guest_reader || echo missing" </dev/null) ||
	deploy_die "cannot reach the dev VM over SSH (port $DEVVM_PORT)"
if [ "$have" = "$build_id" ]; then
	echo "guest_reader is up to date in the dev VM (build $build_id)" >"$results/guest-build.log"
else
	ivb_log "copying ${#files[@]} source files into the dev VM and compiling guest_reader there"
	start=$SECONDS
	devvm_ssh "rm -rf $REMOTE_DIR && mkdir -p $REMOTE_DIR/src" </dev/null ||
		deploy_die "cannot create ~/$REMOTE_DIR in the dev VM"
	scp -q "${DEVVM_SSH_OPTS[@]}" -P "$DEVVM_PORT" "${files[@]}" "debian@127.0.0.1:$REMOTE_DIR/src/" ||
		deploy_die "scp of the guest sources into the dev VM failed"
	if ! devvm_ssh "$remote && $(printf '%q ' "${compile[@]}") && echo $build_id >build-id" \
		</dev/null >"$results/guest-build.log" 2>&1; then
		sed 's/^/  gcc: /' "$results/guest-build.log" | tail -n 20 >&2
		deploy_die "compiling guest_reader in the dev VM failed; see $results/guest-build.log"
	fi
	ivb_log "compiled guest_reader in the dev VM in $((SECONDS - start)) s"
fi

# Doorbell mode and --map wb: the guest driver, built in the guest against its own kernel's headers, then loaded.
# The driver's sources: its Kbuild, and every part and header in its folder.
readonly MODULE_FILES=("$ROOT"/guest/ivshmem_doorbell/{Kbuild,*.[ch]})
deploy_driver() {
	local module_id have reload=
	module_id=$(cat "${MODULE_FILES[@]}" | sha256sum | cut -c1-64)
	have=$(devvm_ssh "cat $REMOTE_DIR/module/build-id 2>/dev/null" </dev/null) || have=
	if [ "$have" != "$module_id" ]; then
		ivb_log "building the ivshmem_doorbell driver in the dev VM (its kernel's headers)"
		start=$SECONDS
		devvm_ssh "test -d /lib/modules/\$(uname -r)/build" </dev/null ||
			deploy_die "the dev VM has no headers of its kernel (/lib/modules/\$(uname -r)/build): its image predates doorbell mode; rebuild it (vm/dev-image.sh --force) and restart the VM"
		devvm_ssh "rm -rf $REMOTE_DIR/module && mkdir -p $REMOTE_DIR/module" </dev/null ||
			deploy_die "cannot create ~/$REMOTE_DIR/module in the dev VM"
		scp -q "${DEVVM_SSH_OPTS[@]}" -P "$DEVVM_PORT" "${MODULE_FILES[@]}" "debian@127.0.0.1:$REMOTE_DIR/module/" ||
			deploy_die "scp of the driver's sources into the dev VM failed"
		if ! devvm_ssh "cd $REMOTE_DIR/module && make -C /lib/modules/\$(uname -r)/build M=\$PWD modules && echo $module_id >build-id" \
			</dev/null >>"$results/guest-build.log" 2>&1; then
			tail -n 20 "$results/guest-build.log" | sed 's/^/  kbuild: /' >&2
			deploy_die "building the ivshmem_doorbell driver in the dev VM failed; see $results/guest-build.log"
		fi
		ivb_log "built the driver in the dev VM in $((SECONDS - start)) s"
		reload=1
	else
		echo "the ivshmem_doorbell driver is up to date in the dev VM (build $module_id)" >>"$results/guest-build.log"
	fi
	# A driver loaded from an earlier build is replaced; a missing file after loading means no ivshmem-doorbell.
	if ! devvm_ssh "if [ -d /sys/module/ivshmem_doorbell ] && [ -n '$reload' ]; then sudo rmmod ivshmem_doorbell; fi
		[ -d /sys/module/ivshmem_doorbell ] || sudo insmod $REMOTE_DIR/module/ivshmem_doorbell.ko" \
		</dev/null >>"$results/guest-build.log" 2>&1; then
		deploy_die "loading the ivshmem_doorbell driver in the dev VM failed: $(tail -n 1 "$results/guest-build.log")"
	fi
	# --map wb alone needs only /dev/ivshmem-region, which ivshmem-plain has too (guest_reader says if not).
	[ -z "$doorbell" ] || devvm_ssh "test -c /dev/ivshmem-doorbell" </dev/null ||
		deploy_die "the driver is loaded but there is no /dev/ivshmem-doorbell: the dev VM's device is ivshmem-plain; restart it with ./setup.sh --mode doorbell"
}

# Doorbell mode and guest_reader --map wb (the driver's write-back mapping) need the driver.
doorbell=
map_wb=
for ((i = 0; i + 1 < ${#guest_args[@]}; i++)); do
	[ "${guest_args[i]}" != --mode ] || [ "${guest_args[i + 1]}" != doorbell ] || doorbell=1
	[ "${guest_args[i]}" != --map ] || [ "${guest_args[i + 1]}" != wb ] || map_wb=1
done
[ -z "$doorbell$map_wb" ] || deploy_driver

# The remote sudo's pid, so that an interrupted run stops guest_reader in the guest (by pid) instead of
# leaving it waiting for a host that is gone.
ssh_pid=""
# shellcheck disable=SC2317  # called by the EXIT trap
cleanup() {
	if [ -n "$ssh_pid" ] && kill -0 "$ssh_pid" 2>/dev/null; then
		kill "$ssh_pid" 2>/dev/null || true
		devvm_ssh "test -s $REMOTE_DIR/run.pid && sudo kill \$(cat $REMOTE_DIR/run.pid)" </dev/null >/dev/null 2>&1 || true
	fi
}
trap cleanup EXIT
trap 'exit 143' TERM
trap 'exit 130' INT

quoted_args=""
[ ${#guest_args[@]} -eq 0 ] || quoted_args=$(printf '%q ' "${guest_args[@]}")
rc=0
devvm_ssh "$remote && echo \$\$ >run.pid && exec sudo ./guest_reader $quoted_args" \
	</dev/null >"$results/guest.log" 2>&1 &
ssh_pid=$!
wait "$ssh_pid" || rc=$?
ssh_pid=""
if [ "$rc" -eq 255 ]; then
	deploy_die "the SSH connection to the dev VM failed while guest_reader ran; see $results/guest.log"
fi
exit "$rc"

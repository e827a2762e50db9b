#!/usr/bin/env bash
# Check the fresh-machine path for real without touching this machine's packages: run make targets in a fresh
# clone inside a minimal Debian 12 root (a chroot), which installs what it needs from the apt archive as a
# newcomer's machine would. Root only; not part of make check (minutes, and the apt archive must be reachable).
#
# Usage: scripts/fresh-machine-check.sh [--repo PATH|URL] [--rev REV] [--runs N] [--keep] [MAKE-ARG...]
#   MAKE-ARG...   one make run in the clone (default: bench-loopback), e.g. bench-loopback REPEAT=1,
#                 or -j2 check-shell check-analysis
#   --repo        the repository to clone (default: the checkout this script is in); --rev the commit to check
#                 out (default: that checkout's HEAD, or the clone's default branch for --repo; commit first:
#                 uncommitted changes are not cloned)
#   --runs N      the same make run N times in a row in the same root (default 1; 2 checks the second run too)
#   --keep        keep the root afterwards (its path is printed) instead of removing it
# The root: mmdebstrap --variant=minbase (Debian's smallest installation with apt: no python3, no compiler, no
# procps) with git and make added, which a newcomer needs to clone and to type make; no sudo: make runs as root,
# as on these machines. It is built once from this machine's apt sources (as vm/dev-image.sh does) into
# ~/.cache/ivshmem-bench/fresh-root/ and copied for each check, so every check starts without the project's
# packages. Inside: its own mount and PID namespaces (nothing mounted leaks out, nothing started outlives the
# check), /proc, /sys and /dev bound from this machine, a fresh tmpfs on /dev/shm.
# Prints one line, PASS or FAIL, with the make run's log (the last lines of it on failure); exit 0 on pass.
set -euo pipefail

IVB_PROG=fresh-machine-check
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
readonly ROOT
# shellcheck source=vm/lib.sh
. "$ROOT/vm/lib.sh"
# shellcheck source=vm/dev-lib.sh
. "$ROOT/vm/dev-lib.sh"

readonly SUITE=bookworm
readonly VARIANT=minbase
readonly PACKAGES=(git make)
readonly CACHE=${XDG_CACHE_HOME:-${HOME:-/root}/.cache}/ivshmem-bench/fresh-root
# Where the clone lives inside the root.
readonly CLONE=/root/ivshmem-bench
readonly TAIL_LINES=30

usage() {
	sed -n '6,14s/^# \{0,1\}//p' "${BASH_SOURCE[0]}"
}

# The mounts inside() made, in order.
mounted=()
# Unmount what inside() mounted, in the reverse order.
unmount_all() {
	local i
	for ((i = ${#mounted[@]} - 1; i >= 0; i--)); do
		umount -- "${mounted[i]}" || ivb_log "warning: cannot unmount ${mounted[i]}"
	done
}

# Inside the new namespaces: mount what the root needs, run make RUNS times in the clone, unmount (also when
# make or a mount fails). Arguments: ROOTFS RUNS MAKE-ARG...
inside() {
	local rootfs=$1 runs=$2 run
	shift 2
	trap unmount_all EXIT
	mount -t proc proc "$rootfs/proc"
	mounted+=("$rootfs/proc")
	mount --bind /sys "$rootfs/sys"
	mounted+=("$rootfs/sys")
	mount --bind /dev "$rootfs/dev"
	mounted+=("$rootfs/dev")
	mount -t tmpfs -o mode=1777,nosuid,nodev shm "$rootfs/dev/shm"
	mounted+=("$rootfs/dev/shm")
	for ((run = 1; run <= runs; run++)); do
		echo "=== fresh-machine-check: run $run of $runs: make $*" >&2
		# shellcheck disable=SC2016  # $1 and $@ are the inner shell's
		env -i HOME=/root PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin LANG=C.UTF-8 TERM=dumb \
			chroot "$rootfs" /bin/sh -c 'cd "$1" && shift && exec make "$@"' sh "$CLONE" "$@" || return 1
	done
}

if [ "${1:-}" = --inside ]; then
	shift
	inside "$@"
	exit
fi

repo=$ROOT
rev=
runs=1
keep=0
while [ $# -gt 0 ]; do
	case "$1" in
	--repo) [ $# -ge 2 ] || ivb_die "--repo needs a path or URL"; repo=$2; shift 2 ;;
	--rev) [ $# -ge 2 ] || ivb_die "--rev needs a commit"; rev=$2; shift 2 ;;
	--runs) [ $# -ge 2 ] || ivb_die "--runs needs a count"; runs=$2; shift 2 ;;
	--keep) keep=1; shift ;;
	-h | --help) usage; exit 0 ;;
	--) shift; break ;;
	*) break ;;
	esac
done
[[ $runs =~ ^[1-9][0-9]*$ ]] || ivb_die "--runs must be a positive count, not '$runs'"
make_args=("$@")
[ ${#make_args[@]} -gt 0 ] || make_args=(bench-loopback)

[ "$(id -u)" -eq 0 ] || ivb_die "needs root (mmdebstrap into a folder, chroot, mounts); run it as root"
if [ -z "$rev" ] && [ "$repo" = "$ROOT" ]; then
	rev=$(git -C "$ROOT" rev-parse HEAD)
	[ -z "$(git -C "$ROOT" status --porcelain --untracked-files=no)" ] ||
		ivb_log "warning: $ROOT has uncommitted changes; checking HEAD (${rev:0:12}) without them"
fi
"$ROOT/scripts/need-packages.sh" mmdebstrap

sources=$(devvm_host_apt_sources) ||
	ivb_die "no enabled $SUITE entry in /etc/apt/sources.list{,.d/*}"
# The base root is built again when its recipe changes: the recipe's hash is in its name.
recipe=$(printf '%s\n' "$SUITE" "$VARIANT" "${PACKAGES[*]}" "$sources" | sha256sum | cut -c1-12)
readonly BASE=$CACHE/$SUITE-$VARIANT-$recipe
mkdir -p "$CACHE"
work=$(mktemp -d "$CACHE/run.XXXXXX")
readonly work
# apt downloads as the unprivileged _apt user, which must be able to enter the folders.
chmod 0755 "$work"
cleanup() {
	# The namespace's mounts end with it; never follow a mount that is somehow left over.
	if devvm_mounted_under "$work"; then
		return
	fi
	if [ "$keep" -eq 1 ] && [ -d "$work/root" ]; then
		ivb_log "kept the root: $work/root"
		return
	fi
	rm -rf --one-file-system "$work"
}
trap cleanup EXIT

if [ ! -d "$BASE" ]; then
	ivb_log "building the base root (Debian $SUITE $VARIANT + ${PACKAGES[*]}; about a minute, once) in $BASE"
	mmdebstrap --quiet --mode=root --variant="$VARIANT" --include="$(
		IFS=,
		echo "${PACKAGES[*]}"
	)" "$SUITE" "$work/base" - <<<"$sources" >"$work/mmdebstrap.log" 2>&1 || {
		tail -n "$TAIL_LINES" "$work/mmdebstrap.log" >&2
		ivb_die "mmdebstrap failed; the apt archive must be reachable"
	}
	# Older recipes' roots are of no further use. A check that ran beside this one may have built it first.
	find "$CACHE" -mindepth 1 -maxdepth 1 -type d -name "$SUITE-*" ! -name "${BASE##*/}" -exec rm -rf --one-file-system {} +
	mv -T "$work/base" "$BASE" 2>/dev/null || [ -d "$BASE" ] || ivb_die "cannot move the base root to $BASE"
fi

cp -a "$BASE" "$work/root"
# A machine's network settings, which minbase leaves to the installer: the host's DNS, the standard hosts file.
cp /etc/resolv.conf "$work/root/etc/resolv.conf"
printf '127.0.0.1 localhost\n::1 localhost ip6-localhost ip6-loopback\n' >"$work/root/etc/hosts"
git clone --quiet --no-hardlinks "$repo" "$work/root$CLONE" || ivb_die "cannot clone $repo"
if [ -n "$rev" ]; then
	git -C "$work/root$CLONE" checkout --quiet --detach "$rev" || ivb_die "cannot check out $rev in the clone of $repo"
fi
what="make ${make_args[*]} at $(git -C "$work/root$CLONE" rev-parse --short HEAD)"
[ "$runs" -eq 1 ] || what+=", $runs runs in a row"

mkdir -p "$CACHE/logs"
log=$(mktemp --suffix=.log "$CACHE/logs/$(date -u +%Y%m%dT%H%M%SZ)-XXXX")
start=$SECONDS
rc=0
# A private mount namespace: nothing mounted inside propagates back to this machine's mounts.
unshare --mount --propagation private --pid --fork -- "${BASH_SOURCE[0]}" --inside "$work/root" "$runs" "${make_args[@]}" >"$log" 2>&1 || rc=$?
seconds=$((SECONDS - start))
if [ "$rc" -ne 0 ]; then
	tail -n "$TAIL_LINES" "$log" | sed 's/^/  /' >&2
	echo "fresh-machine-check: FAIL: $what in a fresh Debian $SUITE root, exit $rc after ${seconds} s (log: $log)"
	exit 1
fi
echo "fresh-machine-check: PASS: $what in a fresh Debian $SUITE root, ${seconds} s (log: $log)"

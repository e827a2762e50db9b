#!/usr/bin/env bash
# Install the Debian packages named on the command line that are not installed yet. Every package install of
# the project goes through here (make's deps-* stamps, the test groups, setup.sh, vm/kernel.sh's list update).
# Usage: scripts/need-packages.sh PACKAGE...
#        scripts/need-packages.sh --update-lists    refresh apt's package lists only
# Prints one line per package it installs; apt's own output goes to a log file (IVB_APT_LOG, default
# ~/.cache/ivshmem-bench/apt.log, appended to), whose last lines it shows when apt fails, with one error line.
# Fails with one clear line when it cannot install (not root and no sudo).
# One run at a time installs: make runs test groups in parallel, and apt-get fails at once, rather than waits,
# when another apt-get update holds apt's lists lock (DPkg::Lock::Timeout covers only dpkg's own lock). So the
# apt steps run under one lock (flock on IVB_PACKAGES_LOCK, default /run/ivshmem-bench/packages.lock: a
# folder only root can write), and what is missing is checked again once the lock is held: the run that held
# it may have installed it. A run waits at most IVB_PACKAGES_LOCK_WAIT seconds (default 1800) for the lock.
set -euo pipefail

readonly LOG=${IVB_APT_LOG:-${XDG_CACHE_HOME:-${HOME:-/root}/.cache}/ivshmem-bench/apt.log}
readonly LOCK=${IVB_PACKAGES_LOCK:-/run/ivshmem-bench/packages.lock}
# Long enough for another run's whole install on a fresh machine (compilers, QEMU, pandas, chromium).
readonly LOCK_WAIT=${IVB_PACKAGES_LOCK_WAIT:-1800}
# How much of apt's output a failure shows.
readonly TAIL_LINES=15

# As given: a run that is not root runs again as root with them.
readonly ARGS=("$@")

[[ $LOCK_WAIT =~ ^[0-9]+$ ]] || { echo "need-packages: IVB_PACKAGES_LOCK_WAIT must be a number of seconds, not '$LOCK_WAIT'" >&2; exit 2; }
update_only=0
if [ "${1:-}" = --update-lists ]; then
	[ $# -eq 1 ] || { echo "need-packages: --update-lists takes no package names" >&2; exit 2; }
	update_only=1
	shift
fi
readonly update_only

# Set missing to the packages among the arguments that are not installed.
find_missing() {
	local pkg status
	missing=()
	for pkg in "$@"; do
		status=$(dpkg-query -W -f='${db:Status-Status}' "$pkg" 2>/dev/null || true)
		[ "$status" = "installed" ] || missing+=("$pkg")
	done
}

find_missing "$@"
[ ${#missing[@]} -eq 0 ] && [ "$update_only" -eq 0 ] && exit 0
if [ "$update_only" -eq 1 ]; then
	task="cannot update the package lists"
else
	task="cannot install: ${missing[*]}"
fi

as_root=1
if [ "$(id -u)" -ne 0 ]; then
	if ! { command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; }; then
		if [ "$update_only" -eq 1 ]; then
			echo "need-packages: $task: not root and no sudo" >&2
		else
			echo "need-packages: missing Debian packages: ${missing[*]}; run as root or install them with apt-get" >&2
		fi
		exit 1
	fi
	as_root=0
fi
if ! { mkdir -p "$(dirname "$LOG")" && touch "$LOG"; } 2>/dev/null; then
	echo "need-packages: cannot write the apt log $LOG (set IVB_APT_LOG); $task" >&2
	exit 1
fi
# The rest runs as root: the lock's folder is root's, and apt needs root. The log stays the user's file.
if [ "$as_root" -eq 0 ]; then
	exec sudo -n env IVB_APT_LOG="$LOG" IVB_PACKAGES_LOCK="$LOCK" IVB_PACKAGES_LOCK_WAIT="$LOCK_WAIT" \
		"$(realpath "$0")" "${ARGS[@]}"
fi

if ! { mkdir -p "$(dirname "$LOCK")" && exec {lock_fd}>>"$LOCK"; } 2>/dev/null; then
	echo "need-packages: cannot open the lock file $LOCK (set IVB_PACKAGES_LOCK); $task" >&2
	exit 1
fi
if ! flock -n "$lock_fd"; then
	echo "need-packages: waiting for another package install to finish (lock: $LOCK, at most $LOCK_WAIT s)" >&2
	if ! flock -w "$LOCK_WAIT" "$lock_fd"; then
		echo "need-packages: another package install held $LOCK for $LOCK_WAIT s; $task" >&2
		exit 1
	fi
fi
find_missing "${missing[@]}"
[ ${#missing[@]} -eq 0 ] && [ "$update_only" -eq 0 ] && exit 0

if [ "$update_only" -eq 1 ]; then
	echo "need-packages: updating the package lists (log: $LOG)" >&2
fi
for pkg in "${missing[@]}"; do
	echo "need-packages: installing $pkg (log: $LOG)" >&2
done

# Run apt-get ARGS with its output in the log (the lock stays with this script); on failure show the log's
# end and say WHAT failed.
apt_logged() {
	local what=$1
	shift
	echo "=== $(date -u +%Y-%m-%dT%H:%M:%SZ) apt-get $*" >>"$LOG"
	if ! apt-get "$@" </dev/null >>"$LOG" 2>&1 {lock_fd}>&-; then
		tail -n "$TAIL_LINES" "$LOG" | sed 's/^/  apt: /' >&2
		echo "need-packages: $what (log: $LOG)" >&2
		exit 1
	fi
}

export DEBIAN_FRONTEND=noninteractive
# A fresh machine may have no package lists yet; an update is cheap next to a failed install. An apt run that
# is not ours may hold dpkg's lock for a while: wait for it rather than fail.
apt_logged "apt-get update failed; $task" -o DPkg::Lock::Timeout=600 update -q
[ "$update_only" -eq 1 ] && exit 0
apt_logged "apt-get could not install: ${missing[*]}" -o DPkg::Lock::Timeout=600 install -y -q "${missing[@]}"

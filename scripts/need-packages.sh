#!/usr/bin/env bash
# Install the Debian packages named on the command line that are not installed yet.
# Usage: scripts/need-packages.sh PACKAGE...
# Prints one line per package it installs; apt's own output goes to a log file (IVB_APT_LOG, default
# ~/.cache/ivshmem-bench/apt.log, appended to), whose last lines it shows when apt fails, with one error line.
# Fails with one clear line when it cannot install (not root and no sudo).
set -euo pipefail

readonly LOG=${IVB_APT_LOG:-${XDG_CACHE_HOME:-${HOME:-/root}/.cache}/ivshmem-bench/apt.log}
# How much of apt's output a failure shows.
readonly TAIL_LINES=15

missing=()
for pkg in "$@"; do
	status=$(dpkg-query -W -f='${db:Status-Status}' "$pkg" 2>/dev/null || true)
	[ "$status" = "installed" ] || missing+=("$pkg")
done
[ ${#missing[@]} -eq 0 ] && exit 0

if [ "$(id -u)" -eq 0 ]; then
	as_root=()
elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
	as_root=(sudo -n)
else
	echo "need-packages: missing Debian packages: ${missing[*]}; run as root or install them with apt-get" >&2
	exit 1
fi

if ! { mkdir -p "$(dirname "$LOG")" && touch "$LOG"; } 2>/dev/null; then
	echo "need-packages: cannot write the apt log $LOG (set IVB_APT_LOG)" >&2
	exit 1
fi
for pkg in "${missing[@]}"; do
	echo "need-packages: installing $pkg (log: $LOG)" >&2
done

# Run apt-get ARGS as root with its output in the log; on failure show the log's end and say WHAT failed.
apt_logged() {
	local what=$1
	shift
	echo "=== $(date -u +%Y-%m-%dT%H:%M:%SZ) apt-get $*" >>"$LOG"
	if ! "${as_root[@]}" apt-get "$@" </dev/null >>"$LOG" 2>&1; then
		tail -n "$TAIL_LINES" "$LOG" | sed 's/^/  apt: /' >&2
		echo "need-packages: $what (log: $LOG)" >&2
		exit 1
	fi
}

export DEBIAN_FRONTEND=noninteractive
# A fresh machine may have no package lists yet; an update is cheap next to a failed install. Another apt run
# (a parallel make) holds the lock for a while: wait for it rather than fail.
apt_logged "apt-get update failed; cannot install: ${missing[*]}" -o DPkg::Lock::Timeout=600 update -q
apt_logged "apt-get could not install: ${missing[*]}" -o DPkg::Lock::Timeout=600 install -y -q "${missing[@]}"

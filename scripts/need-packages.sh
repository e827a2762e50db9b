#!/usr/bin/env bash
# Install the Debian packages named on the command line that are not installed yet.
# Usage: scripts/need-packages.sh PACKAGE...
# Says what it installs; fails with one clear line when it cannot install (not root and no sudo).
set -euo pipefail

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

echo "need-packages: installing missing Debian packages: ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
# A fresh machine may have no package lists yet; an update is cheap next to a failed install.
"${as_root[@]}" apt-get update -qq >&2
if ! "${as_root[@]}" apt-get install -y -qq "${missing[@]}" >&2; then
	echo "need-packages: apt-get could not install: ${missing[*]}" >&2
	exit 1
fi

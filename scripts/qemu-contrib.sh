#!/usr/bin/env bash
# QEMU's own ivshmem-server and ivshmem-client (QEMU's contrib/), built from Debian's source package of the
# installed qemu-system-x86 (the same version), for the interoperability tests and for users who want QEMU's
# server in place of ours (run_test.sh --doorbell-socket). Debian ships neither binary.
# Built once and cached, keyed by the source version, as the dev VM's image is: ~/.cache/ivshmem-bench/
# qemu-contrib/<source>-<version>/ (QEMU_CONTRIB_CACHE overrides the parent folder). Only what the two programs
# need is built (QEMU's utility library, no emulator): ~6 min on 2 busy cores, then nothing.
# The source comes through this machine's apt with its own deb-src list (the machine's Debian entries, as
# vm/dev-image.sh takes them) and its own package lists in the cache: /etc/apt is not touched.
#
# Usage: scripts/qemu-contrib.sh
#   Prints the folder holding ivshmem-server and ivshmem-client on stdout. Exit status 4 (skip) with one line
#   when the source package cannot be had (no apt archive with it, qemu-system-x86 not a Debian package);
#   1 when the build fails (its log is named).
set -euo pipefail

IVB_PROG=qemu-contrib
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
readonly ROOT
# shellcheck source=vm/lib.sh
. "$ROOT/vm/lib.sh"
# shellcheck source=vm/dev-lib.sh
. "$ROOT/vm/dev-lib.sh"

readonly BINARY_PACKAGE=qemu-system-x86
# What apt-get source, dpkg-source and QEMU's configure and meson need to build the two programs.
readonly BUILD_PACKAGES=(dpkg-dev gcc make pkg-config python3 meson ninja-build libglib2.0-dev xz-utils)
readonly EXIT_SKIP=4
readonly LOCK_WAIT=1800
# Everything QEMU's configure would build by default is off: no emulator, no firmware (the Debian source has
# none), no docs; the tools are on, which holds contrib/ivshmem-*.
readonly CONFIGURE_ARGS=(--target-list= --disable-system --disable-user --enable-tools --without-default-features
	--disable-docs --disable-install-blobs --meson=meson)
readonly TARGETS=(contrib/ivshmem-server/ivshmem-server contrib/ivshmem-client/ivshmem-client)

skip() {
	ivb_log "skip: $*"
	exit "$EXIT_SKIP"
}

[ $# -eq 0 ] || { ivb_log "usage: scripts/qemu-contrib.sh (no arguments)"; exit 2; }
source_name=$(dpkg-query -W -f='${source:Package}' "$BINARY_PACKAGE" 2>/dev/null) ||
	skip "$BINARY_PACKAGE is not installed as a Debian package: no source package to build QEMU's ivshmem-server from"
source_version=$(dpkg-query -W -f='${source:Version}' "$BINARY_PACKAGE")
readonly source_name source_version
cache_parent=${QEMU_CONTRIB_CACHE:-${XDG_CACHE_HOME:-${HOME:-/root}/.cache}/ivshmem-bench/qemu-contrib}
# The epoch's colon does not belong in a folder name.
readonly OUT=$cache_parent/$source_name-${source_version#*:}

if [ -x "$OUT/ivshmem-server" ] && [ -x "$OUT/ivshmem-client" ]; then
	echo "$OUT"
	exit 0
fi
mkdir -p "$cache_parent"
# One build at a time; the one that waited finds the binaries made.
exec {lock_fd}>>"$cache_parent/.lock"
flock -w "$LOCK_WAIT" "$lock_fd" || ivb_die "another build held $cache_parent/.lock for $LOCK_WAIT s"
if [ -x "$OUT/ivshmem-server" ] && [ -x "$OUT/ivshmem-client" ]; then
	echo "$OUT"
	exit 0
fi
"$ROOT/scripts/need-packages.sh" "${BUILD_PACKAGES[@]}" >&2 || ivb_die "cannot install ${BUILD_PACKAGES[*]}"

work=$(mktemp -d "$cache_parent/build.XXXXXX")
readonly work
# apt's unprivileged download user must be able to enter it.
chmod 0755 "$work"
# shellcheck disable=SC2317  # called by the EXIT trap
cleanup() { rm -rf -- "$work"; }
trap cleanup EXIT
readonly LOG=$work/build.log

# The machine's Debian entries as deb-src, in a private apt state: lists and downloads stay in $work.
mkdir -p "$work/apt/parts" "$work/apt/lists/partial" "$work/apt/cache/archives/partial" "$work/src"
sources=$(devvm_host_apt_sources) ||
	skip "no enabled Debian entry in /etc/apt/sources.list{,.d/*} to take $source_name's source from"
# shellcheck disable=SC2001  # the field is matched at a line's start, in either case: sed
sed 's/^\([Tt]ypes:\).*/\1 deb-src/' <<<"$sources" >"$work/apt/parts/ivb-src.sources"
apt_opts=(-q -o "Dir::Etc::SourceList=/dev/null" -o "Dir::Etc::SourceParts=$work/apt/parts"
	-o "Dir::State::Lists=$work/apt/lists" -o "Dir::Cache=$work/apt/cache" -o "Dir::Cache::pkgcache="
	-o "Dir::Cache::srcpkgcache=")
ivb_log "fetching Debian's source of $source_name $source_version (log: $LOG)"
apt-get "${apt_opts[@]}" update >>"$LOG" 2>&1 || skip "apt-get update of the deb-src lists failed: $(tail -n 1 "$LOG")"
(cd "$work/src" && apt-get "${apt_opts[@]}" source --download-only "$source_name=$source_version") >>"$LOG" 2>&1 ||
	skip "the archive does not have $source_name $source_version's source: $(tail -n 1 "$LOG")"
# dpkg-source applies Debian's patches; the files' hashes were checked by apt against the signed lists.
dsc=$(find "$work/src" -maxdepth 1 -name '*.dsc' -print -quit)
(cd "$work/src" && dpkg-source -x "$dsc" qemu) >>"$LOG" 2>&1 || ivb_die "dpkg-source -x failed; see $LOG"

ivb_log "building QEMU's ivshmem-server and ivshmem-client (a few minutes; log: $LOG)"
mkdir -p "$work/src/qemu/build"
(cd "$work/src/qemu/build" && ../configure "${CONFIGURE_ARGS[@]}") >>"$LOG" 2>&1 ||
	{ trap - EXIT; ivb_die "QEMU's configure failed; see $LOG"; }
ninja -j2 -C "$work/src/qemu/build" "${TARGETS[@]}" >>"$LOG" 2>&1 ||
	{ trap - EXIT; ivb_die "building ${TARGETS[*]} failed; see $LOG"; }

rm -rf -- "$OUT.tmp"
mkdir -p "$OUT.tmp"
for t in "${TARGETS[@]}"; do
	install -m 0755 "$work/src/qemu/build/$t" "$OUT.tmp/"
done
printf '%s %s\n' "$source_name" "$source_version" >"$OUT.tmp/VERSION"
rm -rf -- "$OUT"
mv -- "$OUT.tmp" "$OUT"
ivb_log "cached in $OUT"
echo "$OUT"

#!/usr/bin/env bash
# Build the bench VM's initramfs: a static busybox, a few applet links, vm/init and the static guest_reader;
# for doorbell mode also the ivshmem_doorbell driver (vm/init loads it when the kernel command line has
# ivb.doorbell=1); with --modules, the virtio modules of the transports (vm/kernel.sh --modules), which vm/init
# loads when the VM has a virtio device.
# Reproducible: the same inputs give the same bytes (sorted file list, fixed modes, owners and mtimes,
# cpio --reproducible). Uncompressed: the kernel unpacks it faster than it would decompress it under TCG.
# Usage: vm/build-initramfs.sh --out FILE [--guest-reader PATH] [--host-writer PATH] [--module PATH] [--modules DIR]
#                              [--busybox PATH] [--init PATH]
#   --host-writer   a static host_writer in /bin too (a test that runs both sides in the guest, with its own --init)
set -euo pipefail

IVB_PROG=build-initramfs.sh
# shellcheck source=vm/lib.sh
. "$(dirname "$0")/lib.sh"

# The applets vm/init uses, plus ls and dmesg for whoever debugs a boot.
readonly APPLETS="sh cat sed mount poweroff insmod tail ls dmesg ip"
# Every file gets this mtime; SOURCE_DATE_EPOCH overrides it as usual.
readonly EPOCH=${SOURCE_DATE_EPOCH:-0}

out=
guest_reader=
host_writer=
module=
modules=
busybox=/bin/busybox
init=$(dirname "$0")/init

usage() {
	echo "usage: $0 --out FILE [--guest-reader PATH] [--host-writer PATH] [--module PATH] [--modules DIR] [--busybox PATH]" \
		"[--init PATH]"
}

while [ $# -gt 0 ]; do
	case $1 in
	--out) out=${2:?--out needs a file}; shift 2 ;;
	--guest-reader) guest_reader=${2:?--guest-reader needs a file}; shift 2 ;;
	--host-writer) host_writer=${2:?--host-writer needs a file}; shift 2 ;;
	--module) module=${2:?--module needs a file}; shift 2 ;;
	--modules) modules=${2?--modules needs a folder}; shift 2 ;; # empty: none (a KERNEL= without modules)
	--busybox) busybox=${2:?--busybox needs a file}; shift 2 ;;
	--init) init=${2:?--init needs a file}; shift 2 ;;
	-h | --help) usage; exit 0 ;;
	*) usage >&2; exit 2 ;;
	esac
done
[ -n "$out" ] || { usage >&2; exit 2; }

# A program that needs a dynamic loader cannot run in an initramfs that has no libraries.
check_static() {
	[ -f "$1" ] || ivb_die "$1 not found${2:+ ($2)}"
	if LC_ALL=C readelf -l "$1" 2>/dev/null | grep -q 'INTERP'; then
		ivb_die "$1 is dynamically linked; the bench VM needs a static one${2:+ ($2)}"
	fi
}
check_static "$busybox" "install busybox-static"
[ -z "$guest_reader" ] || check_static "$guest_reader" "make build/guest_reader-static"
[ -z "$host_writer" ] || check_static "$host_writer" "make build/host_writer-static"
[ -f "$init" ] || ivb_die "$init not found"
[ -z "$module" ] || [ -f "$module" ] || ivb_die "$module not found (make doorbell-module)"
[ -z "$modules" ] || [ -f "$modules/order" ] || ivb_die "$modules/order not found (vm/kernel.sh --modules)"

stage=
# A name of its own: make check's lanes can pack the same archive at the same time (run_test.sh packs the
# driver's on every run); each renames a whole archive into place.
readonly TMP_OUT=$out.tmp.$$
cleanup() { [ -z "$stage" ] || rm -rf -- "$stage" "$TMP_OUT"; }
trap cleanup EXIT

mkdir -p "$(dirname "$out")"
stage=$(mktemp -d "$(dirname "$out")/initramfs.XXXXXX")
mkdir -p "$stage/bin" "$stage/dev" "$stage/proc" "$stage/sys"
install -m 0755 "$busybox" "$stage/bin/busybox"
for applet in $APPLETS; do
	ln -s busybox "$stage/bin/$applet"
done
install -m 0755 "$init" "$stage/init"
if [ -n "$guest_reader" ]; then
	# Debug information is useless in the guest and would double what the kernel unpacks at boot.
	strip --strip-debug -o "$stage/bin/guest_reader" "$guest_reader"
	chmod 0755 "$stage/bin/guest_reader"
fi
if [ -n "$host_writer" ]; then
	strip --strip-debug -o "$stage/bin/host_writer" "$host_writer"
	chmod 0755 "$stage/bin/host_writer"
fi
[ -z "$module" ] || install -m 0644 "$module" "$stage/ivshmem_doorbell.ko"
if [ -n "$modules" ]; then
	mkdir "$stage/modules"
	install -m 0644 "$modules/order" "$stage/modules/order"
	while read -r ko; do
		install -m 0644 "$modules/$ko" "$stage/modules/$ko"
	done <"$modules/order"
	chmod 0755 "$stage/modules"
fi
chmod 0755 "$stage" "$stage/bin" "$stage/dev" "$stage/proc" "$stage/sys"
find "$stage" -exec touch -h -d "@$EPOCH" {} +

(cd "$stage" && find . -mindepth 1 -printf '%P\n' | LC_ALL=C sort |
	cpio --create --format=newc --owner=0:0 --reproducible --quiet) >"$TMP_OUT"
mv -- "$TMP_OUT" "$out"

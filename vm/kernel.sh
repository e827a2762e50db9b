#!/usr/bin/env bash
# Find the bench VM's guest kernel and print two lines on stdout: the file to boot, and a description
# for the manifest. KERNEL=PATH uses that file as it is (bzImage or PVH vmlinux). Otherwise the Debian
# kernel that linux-image-amd64 currently depends on is fetched with `apt-get download` (never installed on
# the host), unpacked with dpkg-deb into .cache/kernel/, and reused by later runs.
# The bzImage is XZ-compressed; under TCG its decompressor costs ~3 s of a ~5 s boot, so the vmlinux inside
# is extracted once and booted through its PVH entry point, which QEMU starts directly.
# The virtio modules the bench VM's transports need (virtio-serial, virtio-net, vsock, and vsock's loopback
# transport, which lets the vsock VM test run both sides in one guest) are unpacked with it into modules/, with
# modules/order listing them in the order they load.
# Usage: vm/kernel.sh [--modules] [CACHE_DIR]     (default: .cache/kernel next to this script's parent)
#   --modules   print the modules folder instead (nothing with KERNEL=, unless KERNEL_MODULES=DIR names one)
set -euo pipefail

IVB_PROG=kernel.sh
# shellcheck source=vm/lib.sh
. "$(dirname "$0")/lib.sh"

readonly META_PACKAGE=linux-image-amd64
# The bench VM's virtio modules, each after what it needs (paths under lib/modules/<release>/kernel/).
readonly MODULES="drivers/virtio/virtio_ring.ko drivers/virtio/virtio.ko drivers/virtio/virtio_pci_legacy_dev.ko
drivers/virtio/virtio_pci_modern_dev.ko drivers/virtio/virtio_pci.ko drivers/char/virtio_console.ko net/core/failover.ko
drivers/net/net_failover.ko drivers/net/virtio_net.ko net/vmw_vsock/vsock.ko
net/vmw_vsock/vmw_vsock_virtio_transport_common.ko net/vmw_vsock/vmw_vsock_virtio_transport.ko
net/vmw_vsock/vsock_loopback.ko"
want_modules=
if [ "${1:-}" = --modules ]; then
	want_modules=1
	shift
fi
readonly CACHE=${1:-$(cd "$(dirname "$0")/.." && pwd)/.cache/kernel}

tmp=
cleanup() { [ -z "$tmp" ] || rm -rf -- "$tmp"; }
trap cleanup EXIT

# Print the package linux-image-amd64 depends on (linux-image-<abi>-amd64), or nothing.
# apt-cache takes ~1 s; the answer is kept in the cache until the package lists change.
current_package() {
	local lists stamp=$CACHE/current-package pkg
	lists=$(stat -c %Y /var/lib/apt/lists 2>/dev/null || echo none)
	if [ -f "$stamp" ] && [ "$(sed -n 1p "$stamp")" = "$lists" ]; then
		sed -n 2p "$stamp"
		return
	fi
	pkg=$(apt-cache depends "$META_PACKAGE" 2>/dev/null |
		sed -n 's/^ *Depends: \(linux-image-[0-9][^ ]*-amd64\)$/\1/p' | head -n 1)
	[ -z "$pkg" ] || printf '%s\n%s\n' "$lists" "$pkg" >"$stamp"
	echo "$pkg"
}

# Print the directory of an unpacked kernel in the cache, newest first; nothing if there is none.
newest_cached() {
	# Version-sorted so that 6.1.0-56 comes after 6.1.0-9.
	find "$CACHE" -mindepth 2 -maxdepth 2 -name kernel.info -printf '%h\n' | sort -rV | head -n 1
}

# Extract the uncompressed ELF vmlinux from an XZ-compressed bzImage. Returns non-zero if it cannot.
extract_vmlinux() {
	local bzimage=$1 out=$2 offset
	# The payload starts at the first XZ stream header (FD 37 7A 58 5A 00).
	offset=$(LC_ALL=C grep -abo -m 1 $'\xfd7zXZ\x00' "$bzimage" | head -n 1 | cut -d: -f1) || return 1
	[ -n "$offset" ] || return 1
	# xz stops reading at the end of the stream, so tail may die of SIGPIPE: that is expected.
	{ tail -c "+$((offset + 1))" "$bzimage" || true; } | xz -dc --single-stream >"$out.tmp" 2>/dev/null || return 1
	# An ELF file starts with 7F 'E' 'L' 'F'.
	[ "$(head -c 4 "$out.tmp" | od -An -tx1 | tr -d ' \n')" = 7f454c46 ] || return 1
	mv -- "$out.tmp" "$out"
}

# Download and unpack PACKAGE into the cache; set dir to its directory.
fetch() {
	local pkg=$1 deb version boot
	tmp=$(mktemp -d "${TMPDIR:-/tmp}/ivb-kernel.XXXXXX")
	local apt_opts=()
	# As root, apt downloads as the _apt user, who cannot write into a private temporary folder.
	[ "$(id -u)" -ne 0 ] || apt_opts=(-o APT::Sandbox::User=root)
	ivb_log "downloading $pkg with apt-get (not installed on the host)"
	(cd "$tmp" && apt-get download -qq "${apt_opts[@]}" "$pkg") >&2 ||
		ivb_die "apt-get download $pkg failed; set KERNEL=PATH to use a kernel you have"
	deb=$(find "$tmp" -maxdepth 1 -name "${pkg}_*.deb" | head -n 1)
	[ -n "$deb" ] || ivb_die "apt-get download $pkg produced no .deb file"
	version=$(dpkg-deb -f "$deb" Version)
	dir=$CACHE/${pkg}_$version
	mkdir -p "$tmp/x"
	local release m
	release=${pkg#linux-image-}
	# Only /boot and the virtio modules are needed; the other modules (hundreds of MB) stay in the .deb.
	local members=('./boot/*')
	for m in $MODULES; do
		members+=("./lib/modules/$release/kernel/$m")
	done
	dpkg-deb --fsys-tarfile "$deb" | tar -x -C "$tmp/x" --wildcards "${members[@]}" ||
		ivb_die "cannot unpack $deb"
	mkdir "$tmp/x/modules"
	for m in $MODULES; do
		mv -- "$tmp/x/lib/modules/$release/kernel/$m" "$tmp/x/modules/"
		basename "$m" >>"$tmp/x/modules/order"
	done
	rm -rf -- "$tmp/x/lib"
	[ -f "$tmp/x/boot/vmlinuz-$release" ] || ivb_die "$deb has no boot/vmlinuz-$release"
	if grep -qx 'CONFIG_PVH=y' "$tmp/x/boot/config-$release" 2>/dev/null &&
		extract_vmlinux "$tmp/x/boot/vmlinuz-$release" "$tmp/x/boot/vmlinux-$release"; then
		boot=boot/vmlinux-$release
	else
		ivb_log "warning: cannot extract a PVH vmlinux from $pkg; booting the compressed bzImage (slower)"
		boot=boot/vmlinuz-$release
	fi
	printf 'boot=%s\ndescription=%s\n' "$boot" "$release (Debian $pkg $version)" >"$tmp/x/kernel.info"
	rm -rf -- "$dir"
	mv -- "$tmp/x" "$dir"
}

# Print the value of KEY in a kernel.info file.
info() { sed -n "s/^$2=//p" "$1/kernel.info"; }

if [ -n "${KERNEL:-}" ] && [ -n "$want_modules" ]; then
	[ -z "${KERNEL_MODULES:-}" ] || [ -f "$KERNEL_MODULES/order" ] ||
		ivb_die "KERNEL_MODULES=$KERNEL_MODULES has no order file (the modules' names, in the order they load)"
	echo "${KERNEL_MODULES:-}"
	exit 0
fi
if [ -n "${KERNEL:-}" ]; then
	if [ ! -f "$KERNEL" ] || [ ! -r "$KERNEL" ]; then
		ivb_die "guest kernel not found: KERNEL=$KERNEL is not a readable file"
	fi
	echo "$KERNEL"
	echo "KERNEL=$KERNEL"
	exit 0
fi

mkdir -p "$CACHE"
# One look-and-fetch at a time: two builds started together (make -j2) would each fetch, and the second's
# replacement of the cache folder would pull it from under the first.
exec 9>"$CACHE/.lock"
flock 9
pkg=$(current_package)
if [ -z "$pkg" ] && [ -z "$(newest_cached)" ]; then
	# A fresh machine may have no package lists yet.
	ivb_log "apt-cache does not know $META_PACKAGE; updating the package lists"
	"$(dirname "$0")/../scripts/need-packages.sh" --update-lists || true
	pkg=$(current_package)
fi

dir=
if [ -n "$pkg" ]; then
	dir=$(find "$CACHE" -mindepth 1 -maxdepth 1 -type d -name "${pkg}_*" | sort -rV | head -n 1)
	# A cache from before the modules (or one of them) were unpacked with the kernel is fetched again.
	missing=
	for m in $MODULES; do
		[ -z "$dir" ] || [ -f "$dir/modules/${m##*/}" ] || missing=1
	done
	if [ -z "$dir" ] || [ ! -f "$dir/kernel.info" ] || [ ! -f "$dir/modules/order" ] || [ -n "$missing" ]; then
		fetch "$pkg"
	fi
else
	dir=$(newest_cached)
	[ -n "$dir" ] || ivb_die "cannot find a guest kernel: apt-cache does not know $META_PACKAGE and $CACHE is empty; set KERNEL=PATH"
	ivb_log "warning: apt-cache does not know $META_PACKAGE; using the cached $(basename "$dir")"
fi

if [ -n "$want_modules" ]; then
	[ ! -f "$dir/modules/order" ] || echo "$dir/modules"
	exit 0
fi
boot=$dir/$(info "$dir" boot)
[ -f "$boot" ] || ivb_die "the kernel cache $dir is incomplete (no $boot); remove it and retry"
echo "$boot"
info "$dir" description

#!/usr/bin/env bash
# Build the dev VM's base image from Debian packages, offline except for the apt archive:
# mmdebstrap (with this machine's apt sources) into a folder, mkfs.ext4 -d into a raw ext4 file system
# without mounting anything, qemu-img convert into a qcow2. The kernel and initrd are copied out of
# the image's /boot: QEMU boots them directly (the disk has no partition table and no boot loader).
# Reused when present: the recipe's hash (this file's) is part of the name. A failed build leaves only
# its temporary folder, which is removed on exit.
#
# Usage: vm/dev-image.sh [--force]
#   Prints the base image's path on stdout. Environment: DEVVM_CACHE (folder of the images),
#   DEVVM_APT_SOURCES (a deb822 sources file to use instead of this machine's apt sources).
set -euo pipefail

IVB_PROG=dev-image
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
readonly ROOT
# shellcheck source=vm/lib.sh
. "$ROOT/vm/lib.sh"
# shellcheck source=vm/dev-lib.sh
. "$ROOT/vm/dev-lib.sh"

readonly SUITE=bookworm
# The file system is as large as the VM's disk: sparse in the raw file, and qemu-img convert skips the
# unused blocks, so the qcow2 holds only the data. No resize at first boot.
readonly FS_SIZE=20G
readonly FS_LABEL=ivb-root
readonly PACKAGES=(
	linux-image-amd64 systemd-sysv udev dbus libpam-systemd systemd-resolved
	openssh-server cloud-init sudo
	gcc make libc6-dev libssl-dev libxxhash-dev pciutils
	# The headers of the image's kernel (the same linux-image-amd64 version): the doorbell mode's guest
	# driver is built in the VM (vm/dev-guest.sh).
	linux-headers-amd64
	procps iproute2 less
)

usage() {
	sed -n '9,11s/^# \{0,1\}//p' "${BASH_SOURCE[0]}"
}

force=0
case "${1:-}" in
"") ;;
--force) force=1 ;;
-h | --help) usage; exit 0 ;;
*) ivb_log "unknown argument '$1'; usage: vm/dev-image.sh [--force]"; exit 2 ;;
esac

devvm_config "$ROOT"
devvm_built_image_paths

if [ "$force" -eq 0 ] && [ -f "$DEVVM_BASE" ] && [ -f "$DEVVM_KERNEL" ] && [ -f "$DEVVM_INITRD" ]; then
	echo "$DEVVM_BASE"
	exit 0
fi

# mmdebstrap writes a folder with the right owners and device nodes only as root (its "root" mode), and
# mkfs.ext4 -d copies owners as it finds them.
[ "$(id -u)" -eq 0 ] || ivb_die "building the dev VM image needs root (mmdebstrap into a folder); run as root, or put debian-12-generic-amd64.qcow2 in $ROOT"
for tool in mmdebstrap mkfs.ext4 qemu-img; do
	command -v "$tool" >/dev/null 2>&1 || ivb_die "$tool is missing; run: scripts/need-packages.sh mmdebstrap e2fsprogs qemu-utils"
done

if [ -n "${DEVVM_APT_SOURCES:-}" ]; then
	[ -r "$DEVVM_APT_SOURCES" ] || ivb_die "DEVVM_APT_SOURCES: cannot read '$DEVVM_APT_SOURCES'"
	sources=$(cat "$DEVVM_APT_SOURCES")
else
	sources=$(devvm_apt_sources /etc/apt/sources.list /etc/apt/sources.list.d/*.list /etc/apt/sources.list.d/*.sources) ||
		ivb_die "no enabled $SUITE entry in /etc/apt/sources.list{,.d/*}; set DEVVM_APT_SOURCES to a deb822 sources file for Debian $SUITE"
fi

mkdir -p "$DEVVM_CACHE"
work=$(mktemp -d "$DEVVM_CACHE/build.XXXXXX")
readonly work
# apt downloads as the unprivileged _apt user, which must be able to enter the folder.
chmod 0755 "$work"
cleanup() {
	# mmdebstrap unmounts what it mounted, even when it fails; never follow a mount that is left over.
	if grep -q " $work/" /proc/mounts 2>/dev/null; then
		ivb_log "warning: file systems are still mounted under $work; leaving it for you to unmount and remove"
		return
	fi
	rm -rf --one-file-system "$work"
}
trap cleanup EXIT

# Write the rootfs's configuration: DHCP on the user-mode NIC with systemd-networkd, cloud-init looking
# only for the NoCloud seed, root file system by label. Argument: the rootfs folder.
customize_rootfs() {
	local rootfs=$1
	cat >"$rootfs/etc/systemd/network/20-ivb-dhcp.network" <<-'EOF'
		# ivshmem-bench dev VM: DHCP on QEMU's user-mode network.
		[Match]
		Name=en* eth*

		[Network]
		DHCP=yes
	EOF
	systemctl --root="$rootfs" --quiet enable systemd-networkd.service systemd-resolved.service
	cat >"$rootfs/etc/cloud/cloud.cfg.d/90-ivb-devvm.cfg" <<-'EOF'
		# ivshmem-bench dev VM: the seed ISO (NoCloud) is the only data source; systemd-networkd does DHCP;
		# the image's locale (C.UTF-8) stays: cloud-init's default en_US.UTF-8 is not generated here.
		datasource_list: [NoCloud, None]
		network: {config: disabled}
		locale: false
	EOF
	printf 'LANG=C.UTF-8\n' >"$rootfs/etc/default/locale"
	printf 'ivb-dev\n' >"$rootfs/etc/hostname"
	printf '127.0.0.1 localhost\n127.0.1.1 ivb-dev\n::1 localhost ip6-localhost ip6-loopback\n' >"$rootfs/etc/hosts"
}

start=$SECONDS
ivb_log "building the dev VM base image (Debian $SUITE from the apt archive; a few minutes, once)"
ivb_log "step 1/3: mmdebstrap into $work/rootfs"
# fstab is written before the kernel is installed, so that the initramfs includes fsck for the root.
mmdebstrap --mode=root --variant=minbase --include="$(
	IFS=,
	echo "${PACKAGES[*]}"
)" --essential-hook="printf 'LABEL=$FS_LABEL / ext4 errors=remount-ro 0 1\\n' >\"\$1/etc/fstab\"" \
	"$SUITE" "$work/rootfs" - <<<"$sources" ||
	ivb_die "mmdebstrap failed (see the messages above); the apt archive must be reachable"
customize_rootfs "$work/rootfs"

shopt -s nullglob
kernels=("$work"/rootfs/boot/vmlinuz-*)
initrds=("$work"/rootfs/boot/initrd.img-*)
shopt -u nullglob
if [ ${#kernels[@]} -ne 1 ] || [ ${#initrds[@]} -ne 1 ]; then
	ivb_die "expected one kernel and one initrd in the image's /boot, found ${#kernels[@]} and ${#initrds[@]}"
fi
cp "${kernels[0]}" "$work/vmlinuz"
cp "${initrds[0]}" "$work/initrd"
kernel_version=${kernels[0]##*/vmlinuz-}

ivb_log "step 2/3: mkfs.ext4 -d ($FS_SIZE, sparse)"
truncate -s "$FS_SIZE" "$work/root.ext4"
mkfs.ext4 -q -F -L "$FS_LABEL" -d "$work/rootfs" "$work/root.ext4"
rootfs_mb=$(du -sm --one-file-system "$work/rootfs" | cut -f1)

ivb_log "step 3/3: qemu-img convert to qcow2"
qemu-img convert -O qcow2 "$work/root.ext4" "$work/base.qcow2"

seconds=$((SECONDS - start))
{
	echo "built_utc=$(date -u +%Y-%m-%dT%H:%M:%SZ)"
	echo "build_seconds=$seconds"
	echo "suite=$SUITE"
	echo "kernel=$kernel_version"
	echo "rootfs_mb=$rootfs_mb"
	echo "qcow2_bytes=$(stat -c %s "$work/base.qcow2")"
	echo "packages=${PACKAGES[*]}"
} >"$work/info"

# The image goes last: its presence means the kernel, initrd and info next to it are complete.
mv "$work/vmlinuz" "$DEVVM_KERNEL"
mv "$work/initrd" "$DEVVM_INITRD"
mv "$work/info" "$DEVVM_BASE_INFO"
mv "$work/base.qcow2" "$DEVVM_BASE"
ivb_log "built $DEVVM_BASE in ${seconds} s (kernel $kernel_version, rootfs ${rootfs_mb} MB, qcow2 $(du -h "$DEVVM_BASE" | cut -f1))"
echo "$DEVVM_BASE"

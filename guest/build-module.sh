#!/usr/bin/env bash
# Build the ivshmem_doorbell guest driver (guest/ivshmem_doorbell/) on the host, for the bench VM's kernel.
# The kernel is the one vm/kernel.sh boots: Debian's linux-image-<abi>-amd64, the package linux-image-amd64
# depends on (or, without package lists, the newest one cached in .cache/kernel/). Its headers come from
# Debian: linux-headers-<abi>-amd64, linux-headers-<abi>-common and the linux-kbuild package they depend on,
# fetched with `apt-get download` (never installed on the host) and unpacked with dpkg-deb into
# .cache/kernel-headers/, where later runs find them. The compiler is the one the kernel was built with
# (gcc-12 on Debian 12), installed with scripts/need-packages.sh if missing.
# Usage: guest/build-module.sh --out FILE.ko [--work DIR]
#   KERNEL_ABI=6.1.0-56     build for this Debian kernel ABI instead
#   KERNEL_HEADERS=DIR      build against this prepared kernel tree (no download); needed with KERNEL=PATH
# Prints the module's path and vermagic on stdout; one error line on stderr and exit 1 on failure.
set -euo pipefail

readonly PROG=build-module.sh
TOP=$(cd "$(dirname "$0")/.." && pwd)
readonly TOP
readonly SRC="$TOP/guest/ivshmem_doorbell"
readonly HEADERS_CACHE="$TOP/.cache/kernel-headers"
readonly KERNEL_CACHE="$TOP/.cache/kernel"
readonly NEED="$TOP/scripts/need-packages.sh"

log() { echo "$PROG: $*" >&2; }
die() { log "error: $*"; exit 1; }
usage() { echo "usage: $0 --out FILE.ko [--work DIR]"; }

out=
work=
while [ $# -gt 0 ]; do
	case $1 in
	--out) out=${2:?--out needs a file}; shift 2 ;;
	--work) work=${2:?--work needs a folder}; shift 2 ;;
	-h | --help) usage; exit 0 ;;
	*) usage >&2; exit 2 ;;
	esac
done
[ -n "$out" ] || { usage >&2; exit 2; }
[ -n "$work" ] || work="$(dirname "$out")/doorbell-module"

tmp=
cleanup() { [ -z "$tmp" ] || rm -rf -- "$tmp"; }
trap cleanup EXIT

# The ABI of the kernel the bench VM boots, as vm/kernel.sh chooses it.
kernel_abi() {
	local pkg
	pkg=$(apt-cache depends linux-image-amd64 2>/dev/null |
		sed -n 's/^ *Depends: linux-image-\([0-9][^ ]*\)-amd64$/\1/p' | head -n 1)
	if [ -z "$pkg" ] && [ -d "$KERNEL_CACHE" ]; then
		pkg=$(find "$KERNEL_CACHE" -mindepth 1 -maxdepth 1 -type d -name 'linux-image-*-amd64_*' -printf '%f\n' |
			sed -n 's/^linux-image-\([0-9][^_]*\)-amd64_.*/\1/p' | sort -rV | head -n 1)
	fi
	echo "$pkg"
}

# apt-get download PACKAGE... into the current folder.
download() {
	local apt_opts=()
	# As root, apt downloads as the _apt user, who cannot write into a private temporary folder.
	[ "$(id -u)" -ne 0 ] || apt_opts=(-o APT::Sandbox::User=root)
	apt-get download -qq "${apt_opts[@]}" "$@" >&2
}

# Fetch and unpack the headers for ABI into the cache; print the headers folder.
fetch_headers() {
	local abi=$1 version dir deb depends common kbuild root
	# This runs in a command substitution, a subshell that does not inherit the EXIT trap.
	trap cleanup EXIT
	version=$(apt-cache policy "linux-headers-$abi-amd64" 2>/dev/null | sed -n 's/^ *Candidate: //p')
	if [ -z "$version" ] || [ "$version" = "(none)" ]; then
		local cached
		cached=$(find "$HEADERS_CACHE" -mindepth 1 -maxdepth 1 -type d -name "${abi}_*" 2>/dev/null | sort -rV | head -n 1)
		if [ -z "$cached" ] || [ ! -f "$cached/.complete" ]; then
			die "apt-cache knows no linux-headers-$abi-amd64 and none is cached; run apt-get update, or set KERNEL_HEADERS=DIR"
		fi
		echo "$cached/usr/src/linux-headers-$abi-amd64"
		return
	fi
	dir="$HEADERS_CACHE/${abi}_$version"
	if [ -f "$dir/.complete" ]; then
		echo "$dir/usr/src/linux-headers-$abi-amd64"
		return
	fi
	mkdir -p "$HEADERS_CACHE"
	tmp=$(mktemp -d "$HEADERS_CACHE/.fetch.XXXXXX")
	log "downloading linux-headers-$abi-amd64 $version and what it builds with (apt-get download; not installed)"
	(cd "$tmp" && download "linux-headers-$abi-amd64=$version") ||
		die "apt-get download linux-headers-$abi-amd64=$version failed"
	deb=$(find "$tmp" -maxdepth 1 -name "linux-headers-${abi}-amd64_*.deb" | head -n 1)
	[ -n "$deb" ] || die "apt-get download produced no linux-headers-$abi-amd64 package"
	# The arch package names its exact common part and the kbuild tools (scripts/, modpost, objtool).
	depends=$(dpkg-deb -f "$deb" Depends)
	common=$(echo "$depends" | tr ',' '\n' | sed -n "s/^ *\(linux-headers-$abi-common\) (= \([^)]*\)).*/\1=\2/p")
	kbuild=$(echo "$depends" | tr ',' '\n' | sed -n 's/^ *\(linux-kbuild-[0-9.]*\)\( .*\)\{0,1\}$/\1/p')
	if [ -z "$common" ] || [ -z "$kbuild" ]; then
		die "cannot find the common headers and kbuild packages in: $depends"
	fi
	(cd "$tmp" && download "$common" "$kbuild") || die "apt-get download $common $kbuild failed"
	root="$tmp/root"
	mkdir -p "$root"
	for deb in "$tmp"/*.deb; do
		dpkg-deb -x "$deb" "$root" || die "cannot unpack $deb"
	done
	# The arch Makefile includes the common one by its absolute /usr/src path; point it into the cache.
	local hdr="$root/usr/src/linux-headers-$abi-amd64"
	[ -f "$hdr/Makefile" ] || die "linux-headers-$abi-amd64 has no Makefile"
	sed -i "s|^include /usr/src/|include $dir/usr/src/|" "$hdr/Makefile"
	[ -e "$hdr/scripts/mod/modpost" ] || die "the kbuild tools are missing from $kbuild (no scripts/mod/modpost)"
	touch "$root/.complete"
	rm -rf -- "$dir"
	mv -- "$root" "$dir"
	rm -rf -- "$tmp"
	tmp=
	echo "$dir/usr/src/linux-headers-$abi-amd64"
}

# Print the compiler the kernel was built with (CC in Debian's .kernelvariables, e.g. gcc-12), after
# checking that it is here and is the version the kernel's configuration names.
kernel_compiler() {
	local hdr=$1 cc want have
	cc=$(sed -n 's/^CC = .*\(gcc-[0-9][0-9]*\)$/\1/p' "$hdr/.kernelvariables" 2>/dev/null | head -n 1)
	[ -n "$cc" ] || cc=gcc
	command -v "$cc" >/dev/null || "$NEED" "$cc" ||
		die "the kernel was built with $cc, which this machine cannot install"
	want=$(sed -n 's/^CONFIG_CC_VERSION_TEXT="\(.*\)"$/\1/p' "$hdr/.config" 2>/dev/null)
	have=$("$cc" --version | head -n 1)
	# The last word is the version, e.g. 12.2.0: another major version would build a module that may not load.
	if [ -n "$want" ] && [ "$want" != "$have" ]; then
		local want_major=${want##* } have_major=${have##* }
		[ "${want_major%%.*}" = "${have_major%%.*}" ] ||
			die "the kernel was built with '$want'; this machine has '$have'"
		log "warning: the kernel was built with '$want'; building with '$have'"
	fi
	echo "$cc"
}

if [ -n "${KERNEL_HEADERS:-}" ]; then
	hdr=$KERNEL_HEADERS
	[ -f "$hdr/Makefile" ] || die "KERNEL_HEADERS=$hdr is not a kernel tree (no Makefile)"
elif [ -n "${KERNEL:-}" ]; then
	die "KERNEL=$KERNEL is set: build the module against that kernel's tree with KERNEL_HEADERS=DIR"
else
	abi=${KERNEL_ABI:-$(kernel_abi)}
	[ -n "$abi" ] || die "cannot tell the bench VM's kernel: apt-cache knows no linux-image-amd64 and $KERNEL_CACHE is empty; run apt-get update or set KERNEL_ABI"
	[[ $abi =~ ^[0-9]+\.[0-9]+\.[0-9]+-[0-9]+$ ]] || die "KERNEL_ABI must look like 6.1.0-56, not '$abi'"
	hdr=$(fetch_headers "$abi")
fi
"$NEED" make kmod
cc=$(kernel_compiler "$hdr")

# Build in a copy: kbuild writes its objects next to the sources. Unchanged files keep their time stamps,
# so that an unchanged module is not rebuilt.
mkdir -p "$work"
stamp="headers=$hdr compiler=$cc"
up_to_date=1
[ -f "$out" ] && [ "$(cat "$work/.built-with" 2>/dev/null)" = "$stamp" ] || up_to_date=0
# The driver's sources: its Kbuild, and every part and header in its folder.
for src in "$SRC"/Kbuild "$SRC"/*.[ch]; do
	f=$(basename "$src")
	[ "$out" -nt "$src" ] || up_to_date=0
	cmp -s "$src" "$work/$f" || cp -p "$src" "$work/$f"
done
if [ "$up_to_date" -eq 1 ]; then
	# Even kbuild's no-op pass costs seconds; nothing it would read has changed.
	echo "$out"
	modinfo -F vermagic "$out"
	exit 0
fi
work=$(cd "$work" && pwd)
rm -f "$work/.built-with"
if ! make -C "$hdr" M="$work" CC="$cc" modules >"$work/build.log" 2>&1; then
	tail -n 20 "$work/build.log" >&2
	die "the module did not build against $hdr (log: $work/build.log)"
fi
[ -f "$work/ivshmem_doorbell.ko" ] || die "the build left no ivshmem_doorbell.ko (log: $work/build.log)"
mkdir -p "$(dirname "$out")"
cp "$work/ivshmem_doorbell.ko" "$out.tmp"
mv -- "$out.tmp" "$out"
echo "$stamp" >"$work/.built-with"
echo "$out"
modinfo -F vermagic "$out"

#!/usr/bin/env bash
# shellcheck disable=SC2015  # "check && pass || fail" is meant: pass never fails
# vm/kernel.sh with stand-ins for apt-cache and apt-get on PATH (no apt, no network): a kernel package built here
# with dpkg-deb is "downloaded" into an empty cache; two kernel.sh started together (make -j2 building both
# initramfs archives) both print the same kernel and modules, and the package is fetched once (the second waits
# for the first's lock, then finds the cache filled).
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/../.." && pwd)
readonly ROOT
WORK=$(mktemp -d "${TMPDIR:-/tmp}/ivb-kernel-cache.XXXXXX")
readonly WORK
trap 'rm -rf -- "$WORK"' EXIT
failed=0
pass() { echo "PASS kernel_cache_$1"; }
fail() {
	echo "FAIL kernel_cache_$1: $2"
	failed=1
}

readonly RELEASE=9.9.9-1-amd64 PKG=linux-image-9.9.9-1-amd64
# The package: a kernel image, its config (no PVH: nothing to extract) and every module kernel.sh unpacks.
tree=$WORK/pkg
mkdir -p "$tree/DEBIAN" "$tree/boot"
printf 'Package: %s\nVersion: 9.9.9-1\nArchitecture: amd64\nMaintainer: test <test@example.invalid>\nDescription: stand-in\n' \
	"$PKG" >"$tree/DEBIAN/control"
echo "not a kernel" >"$tree/boot/vmlinuz-$RELEASE"
echo "CONFIG_PVH=n" >"$tree/boot/config-$RELEASE"
modules_list=$(sed -n '/^readonly MODULES="/,/"$/p' "$ROOT/vm/kernel.sh" | sed 's/^readonly MODULES="//; s/"$//')
nmodules=$(echo "$modules_list" | wc -w)
for m in $modules_list; do
	mkdir -p "$tree/lib/modules/$RELEASE/kernel/$(dirname "$m")"
	: >"$tree/lib/modules/$RELEASE/kernel/$m"
done
dpkg-deb --root-owner-group -b "$tree" "$WORK/${PKG}_9.9.9-1_amd64.deb" >/dev/null

mkdir "$WORK/bin"
cat >"$WORK/bin/apt-cache" <<STUB
#!/bin/sh
echo "linux-image-amd64"
echo "  Depends: $PKG"
STUB
# A download takes a second (the window in which a second fetch would start) and is counted.
cat >"$WORK/bin/apt-get" <<STUB
#!/bin/sh
echo download >>"$WORK/downloads"
sleep 1
cp "$WORK/${PKG}_9.9.9-1_amd64.deb" .
STUB
chmod +x "$WORK/bin/apt-cache" "$WORK/bin/apt-get"

cache=$WORK/cache
pids=()
for i in 1 2; do
	PATH=$WORK/bin:$PATH "$ROOT/vm/kernel.sh" "$cache" >"$WORK/out$i" 2>"$WORK/err$i" &
	pids+=("$!")
done
rc1=0 rc2=0
wait "${pids[0]}" || rc1=$?
wait "${pids[1]}" || rc2=$?
[ "$rc1" -eq 0 ] && [ "$rc2" -eq 0 ] && pass both_succeed ||
	fail both_succeed "exit $rc1 and $rc2: $(cat "$WORK/err1" "$WORK/err2" | tr '\n' ' ')"
kernel=$(head -n 1 "$WORK/out1")
[ "$kernel" = "$cache/${PKG}_9.9.9-1/boot/vmlinuz-$RELEASE" ] && [ -f "$kernel" ] && cmp -s "$WORK/out1" "$WORK/out2" &&
	pass same_kernel || fail same_kernel "printed '$(cat "$WORK/out1")' and '$(cat "$WORK/out2")'"
[ "$(wc -l <"$WORK/downloads")" -eq 1 ] && pass fetched_once ||
	fail fetched_once "$(wc -l <"$WORK/downloads") downloads of one package"
modules=$(PATH=$WORK/bin:$PATH "$ROOT/vm/kernel.sh" --modules "$cache")
[ "$nmodules" -gt 0 ] && [ "$(wc -l <"$modules/order")" -eq "$nmodules" ] && [ "$(wc -l <"$WORK/downloads")" -eq 1 ] && pass modules_from_the_cache ||
	fail modules_from_the_cache "$modules: $(wc -l <"$modules/order" 2>/dev/null) modules, $(wc -l <"$WORK/downloads") downloads"
exit "$failed"

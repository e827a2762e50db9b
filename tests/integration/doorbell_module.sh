#!/usr/bin/env bash
# Checks of the built ivshmem_doorbell.ko (make doorbell-module) and of guest/build-module.sh's errors:
# modinfo shows the PCI alias of ivshmem (1af4:1110), GPL, no module dependencies (the bench VM's initramfs
# has no other modules), and the vermagic of the kernel the bench VM boots (checked against that kernel
# image's own vermagic string when vm/kernel.sh has it cached).
# Usage: tests/integration/doorbell_module.sh [BIN_DIR]   (default: build)
set -euo pipefail

readonly BIN=${1:-build}
readonly MODULE="$BIN/ivshmem_doorbell.ko"
HERE=$(cd "$(dirname "$0")" && pwd)
readonly HERE
TOP=$(cd "$HERE/../.." && pwd)
readonly TOP
readonly BUILD_MODULE="$TOP/guest/build-module.sh"
readonly ALIAS='pci:v00001AF4d00001110sv*sd*bc*sc*i*'

WORK=$(mktemp -d "${TMPDIR:-/tmp}/ivb-doorbell-module.XXXXXX")
readonly WORK

cleanup() { rm -rf "$WORK"; }
trap cleanup EXIT

# shellcheck source=tests/integration/checks.sh
. "$HERE/checks.sh"

# Run build-module.sh with ENV... and ARGS, expect exit WANT and one stderr line matching REGEX.
expect_error() {
	local name=$1 want=$2 regex=$3 rc=0
	shift 3
	env "$@" >"$WORK/$name.out" 2>"$WORK/$name.err" || rc=$?
	if [ "$rc" -eq "$want" ] && [ "$(wc -l <"$WORK/$name.err")" -eq 1 ] && grep -Eq -- "$regex" "$WORK/$name.err"; then
		pass "$name"
	else
		fail "$name" "exit $rc (want $want): $(head -c 300 "$WORK/$name.err")"
	fi
}

if [ ! -f "$MODULE" ]; then
	echo "doorbell_module: $MODULE not found; run make doorbell-module" >&2
	exit 1
fi

check module_alias_ivshmem "alias: $(modinfo -F alias "$MODULE" | tr '\n' ' ')" \
	[ "$(modinfo -F alias "$MODULE")" = "$ALIAS" ]
check module_license_gpl "license: $(modinfo -F license "$MODULE")" [ "$(modinfo -F license "$MODULE")" = GPL ]
check module_no_dependencies "depends: $(modinfo -F depends "$MODULE")" [ -z "$(modinfo -F depends "$MODULE")" ]

vermagic=$(modinfo -F vermagic "$MODULE")
# The bench VM's kernel as vm/kernel.sh caches it: the uncompressed vmlinux it boots, or the bzImage.
kernel=
if [ -z "${KERNEL:-}" ]; then
	kernel=$(find "$TOP/.cache/kernel" -path '*/boot/vmlinux-*' -type f 2>/dev/null | sort -rV | head -n 1)
	[ -n "$kernel" ] || kernel=$(find "$TOP/.cache/kernel" -path '*/boot/vmlinuz-*' -type f 2>/dev/null | sort -rV | head -n 1)
fi
if [ -n "$kernel" ]; then
	release=${kernel##*/vmlinu?-}
	check module_vermagic_release "vermagic '$vermagic' is not for $release" \
		[ "${vermagic%% *}" = "$release" ]
	# An uncompressed kernel carries its own vermagic string; a module loads only when it matches exactly.
	if [[ $kernel == */vmlinux-* ]]; then
		check module_vermagic_matches_kernel "'$vermagic' is not in $kernel" \
			grep -q -a -F -- "$vermagic" "$kernel"
	fi
else
	check module_vermagic_debian "vermagic: $vermagic" \
		grep -Eq '^[0-9]+\.[0-9]+\.[0-9]+-[0-9]+-amd64 SMP preempt mod_unload modversions $' <<<"$vermagic"
fi

expect_error build_bad_abi 1 '^build-module\.sh: error: KERNEL_ABI must look like 6\.1\.0-56' \
	KERNEL_ABI=latest "$BUILD_MODULE" --out "$WORK/x.ko"
expect_error build_custom_kernel_needs_headers 1 'KERNEL=/nowhere/bzImage is set: .*KERNEL_HEADERS=DIR' \
	KERNEL=/nowhere/bzImage "$BUILD_MODULE" --out "$WORK/x.ko"
expect_error build_headers_not_a_tree 1 "KERNEL_HEADERS=$WORK is not a kernel tree" \
	KERNEL_HEADERS="$WORK" "$BUILD_MODULE" --out "$WORK/x.ko"
rc=0
"$BUILD_MODULE" --bogus >/dev/null 2>&1 || rc=$?
check build_usage_error "exit $rc" [ "$rc" -eq 2 ]
check build_errors_leave_nothing "$(ls "$WORK")" [ ! -e "$WORK/x.ko" ]

echo "doorbell_module: $passed passed, $failed failed"
[ "$failed" -eq 0 ]

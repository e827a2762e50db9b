#!/usr/bin/env bash
# The initramfs is reproducible (same inputs, same bytes), holds what the guest needs, and make rebuilds it
# only when an input changes.
set -euo pipefail
T_NAME=initramfs
# shellcheck source=tests/vm/lib.sh
. "$(dirname "$0")/lib.sh"

cd "$T_TOP"
build=${BUILD:-build}
reader=$build/guest_reader-static
[ -x "$reader" ] || t_fail "$reader is missing (make $reader)"
vm/build-initramfs.sh --out "$T_TMP/a.cpio" --guest-reader "$reader"
# Different mtimes on the staged inputs must not matter.
cp -p "$reader" "$T_TMP/reader" && touch -d '2001-02-03' "$T_TMP/reader"
vm/build-initramfs.sh --out "$T_TMP/b.cpio" --guest-reader "$T_TMP/reader"
cmp -s "$T_TMP/a.cpio" "$T_TMP/b.cpio" || t_fail "two builds from the same inputs differ"
list=$(cpio -it --quiet <"$T_TMP/a.cpio")
for f in init bin/busybox bin/sh bin/guest_reader dev proc sys; do
	grep -qx "$f" <<<"$list" || t_fail "the initramfs has no $f"
done
owners=$(cpio -itv --quiet <"$T_TMP/a.cpio" | awk '$3 != "root" || $4 != "root"' | head -n 1)
[ -z "$owners" ] || t_fail "not owned by root:root: $owners"
# Up to date after `make`; out of date when vm/init (-W: as if modified) or guest_reader changes.
# (make -n, not -q: the order-only deps-vm prerequisite is phony, so -q always says "not up to date".)
make -s "$build/bench-initramfs.cpio" >/dev/null 2>&1 || t_fail "make $build/bench-initramfs.cpio failed"
# (The output is read whole: grep -q would stop reading early, and make's SIGPIPE would fail the pipeline.)
rebuilds() {
	local plan
	plan=$(make -n "$@" "$build/bench-initramfs.cpio" 2>&1) || t_fail "make -n $* failed: $plan"
	grep -q 'build-initramfs\.sh' <<<"$plan"
}
! rebuilds || t_fail "make would rebuild an up-to-date initramfs"
rebuilds -W vm/init || t_fail "make would not rebuild after vm/init changed"
rebuilds -W "$reader" || t_fail "make would not rebuild after guest_reader changed"
t_pass "$(stat -c %s "$T_TMP/a.cpio") bytes"

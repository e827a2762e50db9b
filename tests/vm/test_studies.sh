#!/usr/bin/env bash
# Bench VM with counters, the write-path study and the mapping study: their rows come back through BAR2.
set -euo pipefail
T_NAME=studies
# shellcheck source=tests/vm/lib.sh
. "$(dirname "$0")/lib.sh"

t_run --iterations 2 --bw-iterations 1 --frames 1080p --latency-frame 1M --ref-iterations 1 \
	--host-arg --write-study --host-arg --map-study
t_assert_no_qemu
t_assert_rc 0
dir=$(t_run_dir)
for f in write_study.csv mapping_study.csv phase_performance.csv latency_performance.csv; do
	[ -s "$dir/$f" ] || t_fail "$f is missing or empty"
done
# 2 latency + 1 bandwidth + 2 reference messages, each with the fresh-pages and non-temporal variants.
[ "$(grep -c ',memcpy_fresh_pages,' "$dir/write_study.csv")" -eq 5 ] || t_fail "fresh-pages rows"
[ "$(grep -c ',nt_store,' "$dir/write_study.csv")" -eq 5 ] || t_fail "non-temporal rows"
# Latency and bandwidth messages through uc, wc and wb (the driver's initramfs), each with the memory type the
# guest kernel reports for it once all three exist (pat_memtype_list; the page table entry for ivshmem_region).
# (Linux keeps the first type of a physical range for later mappings of it, and this guest gives even
# resource2_wc UC-: the CSV says so rather than assume WC.)
uc=$(grep -c ',resource2,uncached-minus,' "$dir/mapping_study.csv" || true)
wc=$(grep -cE ',resource2_wc,(uncached-minus|write-combining),' "$dir/mapping_study.csv" || true)
wb=$(grep -c ',ivshmem_region,write-back,' "$dir/mapping_study.csv" || true)
{ [ "$uc" -eq 3 ] && [ "$wc" -eq 3 ] && [ "$wb" -eq 3 ]; } ||
	t_fail "mapping rows: $uc resource2/uncached-minus, $wc resource2_wc, $wb ivshmem_region/write-back (expected 3 each)"
# The order rotates: every mapping goes first (order 0) in some message.
for m in resource2 resource2_wc ivshmem_region; do
	awk -F, -v m="$m" 'NR == 1 { for (i = 1; i <= NF; i++) col[$i] = i; next }
		$col["mapping"] == m && $col["order"] == 0 { found = 1 } END { exit !found }' "$dir/mapping_study.csv" ||
		t_fail "$m never goes first in the map study"
done
# TCG has no PMU: hardware counters are empty fields with a reason, never 0.
missing=$(t_json "$dir/run.json" guest counters_missing)
case "$missing" in
*cpu_cycles*) awk -F, 'NR > 1 && $21 != "" { bad = 1 } END { exit bad }' "$dir/latency_performance.csv" ||
	t_fail "guest_cpu_cycles has values though run.json says not measured" ;;
esac

# No driver (the initramfs without it): the study runs uc and wc, and run.json says why wb is missing.
make -C "$T_TOP" -s "${BUILD:-build}/bench-initramfs.cpio" >/dev/null 2>&1 || t_fail "make bench-initramfs.cpio failed"
INITRAMFS=${BUILD:-build}/bench-initramfs.cpio t_run --iterations 2 --bw-iterations 1 --frames 1080p \
	--latency-frame 1M --ref-iterations 1 --host-arg --map-study
t_assert_no_qemu
t_assert_rc 0
dir=$(t_run_dir)
{ [ "$(grep -c ',resource2,' "$dir/mapping_study.csv")" -eq 3 ] && [ "$(grep -c ',resource2_wc,' "$dir/mapping_study.csv")" -eq 3 ]; } ||
	t_fail "without the driver: not 3 resource2 and 3 resource2_wc rows"
! grep -q ',ivshmem_region,' "$dir/mapping_study.csv" || t_fail "ivshmem_region rows without the driver"
grep -q '"why": "no /dev/ivshmem-region (the ivshmem_doorbell driver is not loaded)"' "$dir/run.json" ||
	t_fail "run.json does not say why ivshmem_region is missing"
t_assert_stderr 'map study: the guest has no ivshmem_region mapping: no /dev/ivshmem-region'
t_pass "${T_SECONDS} s; guest counters: ${missing:-all measured}"

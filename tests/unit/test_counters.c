/* Unit tests: performance counters (derived metrics on known inputs, degrading when missing) and
 * the write-path variants of phase C. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "check.h"
#include "perfctr.h"
#include "phases.h"
#include "sha256.h"

static void test_derived_metrics(void)
{
	struct ivb_counts c;

	ivb_counts_none(&c);
	c.v[IVB_CTR_CYCLES] = 2000;
	c.v[IVB_CTR_INSTRUCTIONS] = 3000;
	c.v[IVB_CTR_L1D_REFS] = 400;
	c.v[IVB_CTR_L1D_MISSES] = 100;
	CHECK(ivb_ipc(&c) == 1.5);
	CHECK(ivb_cycles_per_byte(&c, 500) == 4.0);
	CHECK(ivb_l1_miss_rate(&c) == 0.25);
	/* Not measured, or nothing to divide by: no number rather than a made-up one. */
	CHECK(ivb_llc_miss_rate(&c) < 0);
	CHECK(ivb_cycles_per_byte(&c, 0) < 0);
	c.v[IVB_CTR_CYCLES] = IVB_CTR_NONE;
	CHECK(ivb_ipc(&c) < 0);
	c.v[IVB_CTR_CYCLES] = 0;
	CHECK(ivb_ipc(&c) < 0);
}

static void test_describe_missing(void)
{
	struct ivb_perf p;
	char buf[512];

	for (int i = 0; i < IVB_CTR_COUNT; i++) {
		p.fd[i] = 3;
		p.err[i] = 0;
	}
	ivb_perf_describe_missing(&p, buf, sizeof(buf));
	CHECK(buf[0] == '\0');
	p.fd[IVB_CTR_CYCLES] = -1;
	p.err[IVB_CTR_CYCLES] = ENOENT;
	p.fd[IVB_CTR_LLC_MISSES] = -1;
	p.err[IVB_CTR_LLC_MISSES] = ENOENT;
	ivb_perf_describe_missing(&p, buf, sizeof(buf));
	CHECK(strncmp(buf, "not measured: llc_misses, cpu_cycles (ENOENT", strlen("not measured: llc_misses, cpu_cycles (ENOENT")) == 0);
	/* A short buffer truncates but stays a string. */
	ivb_perf_describe_missing(&p, buf, 10);
	CHECK(strlen(buf) < 10);
}

/* Software counters exist on every Linux: page faults of a fresh mapping must show. */
static void test_software_counters_count(void)
{
	const size_t n = 64 * 4096;
	struct ivb_counts c;
	struct ivb_perf p;
	char missing[512];
	uint8_t *m;

	ivb_perf_open(&p);
	CHECK(p.fd[IVB_CTR_PAGE_FAULTS] >= 0 && p.fd[IVB_CTR_TASK_CLOCK_NS] >= 0);
	m = mmap(NULL, n, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	CHECK(m != MAP_FAILED);
	if (m == MAP_FAILED)
		return;
	ivb_perf_start(&p);
	memset(m, 1, n);
	ivb_perf_stop(&p, &c);
	CHECK(c.v[IVB_CTR_PAGE_FAULTS] != IVB_CTR_NONE && c.v[IVB_CTR_PAGE_FAULTS] >= 1);
	CHECK(c.v[IVB_CTR_TASK_CLOCK_NS] != IVB_CTR_NONE && c.v[IVB_CTR_TASK_CLOCK_NS] > 0);
	/* Whatever is missing is said, and what is missing reads as not measured, never 0. */
	ivb_perf_describe_missing(&p, missing, sizeof(missing));
	for (int i = 0; i < IVB_CTR_COUNT; i++) {
		if (p.fd[i] < 0) {
			CHECK(c.v[i] == IVB_CTR_NONE);
			CHECK(strstr(missing, ivb_counter_name((enum ivb_counter)i)) != NULL);
		}
	}
	munmap(m, n);
	ivb_perf_close(&p);
}

static void test_copy_nt(void)
{
	const size_t n = (1u << 20) + 77;
	uint8_t *src = malloc(n + 64), *dst = malloc(n + 64);

	CHECK(src != NULL && dst != NULL);
	if (src == NULL || dst == NULL)
		return;
	ivb_random_bytes(src, n + 64);
	/* Odd sizes and offsets: the edges go through plain copies. */
	for (size_t off = 0; off < 3; off++) {
		memset(dst, 0, n + 64);
		ivb_copy_nt(dst + off * 7, src + off, n - off * 5);
		CHECK(memcmp(dst + off * 7, src + off, n - off * 5) == 0);
		CHECK(dst[off * 7 + n - off * 5] == 0);
	}
	ivb_copy_nt(dst, src, 5);
	CHECK(memcmp(dst, src, 5) == 0);
	free(src);
	free(dst);
}

static void test_write_study(void)
{
	const size_t n = 1u << 20;
	uint8_t *src = ivb_alloc_prefaulted(n), *dst = ivb_alloc_prefaulted(n);
	struct ivb_huge_buffer huge;
	struct ivb_guest_study st;

	CHECK(src != NULL && dst != NULL);
	if (src == NULL || dst == NULL)
		return;
	ivb_random_bytes(src, n);
	memset(&st, 0, sizeof(st));
	CHECK(ivb_run_write_study(src, n, dst, NULL, &st) == 0);
	CHECK(st.fresh_ns > 0 && st.nt_ns > 0 && st.huge_ns == 0 && st.huge_kind == IVB_HUGE_NONE);
	/* A fresh 1 MiB mapping faults at least once, and about once per 4 KiB page at most (twice
	 * that leaves room for a sanitizer's shadow memory, which faults too). */
	CHECK(st.fresh_faults >= 1 && st.fresh_faults <= 2 * (n / 4096) + 64);
	CHECK(memcmp(src, dst, n) == 0);
	if (ivb_huge_alloc(&huge, n) == 0) {
		CHECK(huge.kind == IVB_HUGE_HUGETLB || huge.kind == IVB_HUGE_THP);
		CHECK(huge.size >= n && ((uintptr_t)huge.p & ((2u << 20) - 1)) == 0);
		CHECK(ivb_run_write_study(src, n, dst, &huge, &st) == 0);
		CHECK(st.huge_ns > 0 && st.huge_kind == huge.kind);
		CHECK(memcmp(src, huge.p, n) == 0);
		ivb_huge_free(&huge);
	}
	ivb_free_buffer(src, n);
	ivb_free_buffer(dst, n);
}

int main(void)
{
	RUN_TEST(test_derived_metrics);
	RUN_TEST(test_describe_missing);
	RUN_TEST(test_software_counters_count);
	RUN_TEST(test_copy_nt);
	RUN_TEST(test_write_study);
	return CHECK_SUMMARY("unit counters");
}

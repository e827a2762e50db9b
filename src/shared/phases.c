/* phases.c: pure reads, cache flushes, copies and the four timed guest phases. */
#include "phases.h"

#include <errno.h>
#include <stdatomic.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <unistd.h>

#if defined(__x86_64__) || defined(__i386__)
#include <cpuid.h>
#include <immintrin.h>
#endif

#include "clock.h"
#include "sha256.h"

/* Keeps the result of the pure reads alive, so the compiler cannot drop them. */
static volatile uint64_t read_sink;

uint64_t ivb_read_lines(const void *p, size_t n)
{
	const volatile uint8_t *b = p;
	uint64_t acc = 0;
	size_t i = 0;

	/* Four independent loads per step keep several misses in flight. */
	for (; i + 4 * IVB_CACHE_LINE <= n; i += 4 * IVB_CACHE_LINE) {
		acc ^= *(const volatile uint64_t *)(b + i);
		acc ^= *(const volatile uint64_t *)(b + i + IVB_CACHE_LINE);
		acc ^= *(const volatile uint64_t *)(b + i + 2 * IVB_CACHE_LINE);
		acc ^= *(const volatile uint64_t *)(b + i + 3 * IVB_CACHE_LINE);
	}
	/* The tail: one byte per line, as the last line may be partial. */
	for (; i < n; i += IVB_CACHE_LINE)
		acc ^= b[i];
	read_sink = acc;
	return acc;
}

enum flush_kind { FLUSH_UNKNOWN, FLUSH_NONE, FLUSH_CLFLUSH, FLUSH_CLFLUSHOPT };
static enum flush_kind flush_kind = FLUSH_UNKNOWN;

static enum flush_kind detect_flush(void)
{
#if defined(__x86_64__) || defined(__i386__)
	unsigned eax, ebx, ecx, edx;

	if (__get_cpuid_count(7, 0, &eax, &ebx, &ecx, &edx) && (ebx & (1u << 23)))
		return FLUSH_CLFLUSHOPT;
	if (__get_cpuid(1, &eax, &ebx, &ecx, &edx) && (edx & (1u << 19)))
		return FLUSH_CLFLUSH;
#endif
	return FLUSH_NONE;
}

const char *ivb_flush_method(void)
{
	if (flush_kind == FLUSH_UNKNOWN)
		flush_kind = detect_flush();
	switch (flush_kind) {
	case FLUSH_CLFLUSHOPT: return "clflushopt";
	case FLUSH_CLFLUSH: return "clflush";
	case FLUSH_NONE: return "none";
	case FLUSH_UNKNOWN: break;
	}
	return "none";
}

void ivb_flush_range(const void *p, size_t n)
{
	const char *b = (const char *)((uintptr_t)p & ~(uintptr_t)(IVB_CACHE_LINE - 1));
	const char *end = (const char *)p + n;

	if (flush_kind == FLUSH_UNKNOWN)
		flush_kind = detect_flush();
#if defined(__x86_64__) || defined(__i386__)
	if (flush_kind == FLUSH_CLFLUSHOPT) {
		for (; b < end; b += IVB_CACHE_LINE)
			__asm__ __volatile__("clflushopt %0" : "+m"(*(volatile char *)b));
	} else if (flush_kind == FLUSH_CLFLUSH) {
		for (; b < end; b += IVB_CACHE_LINE)
			__asm__ __volatile__("clflush %0" : "+m"(*(volatile char *)b));
	}
	/* clflushopt is ordered only by a fence; the timed read must start after it. */
	__asm__ __volatile__("mfence" ::: "memory");
#else
	(void)b;
	(void)end;
	atomic_thread_fence(memory_order_seq_cst);
#endif
}

void *ivb_alloc_prefaulted(size_t n)
{
	void *p = mmap(NULL, n, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1, 0);

	if (p == MAP_FAILED)
		return NULL;
	/* MAP_POPULATE may map the shared zero page for reads: write every page to own it. */
	memset(p, 0x5a, n);
	return p;
}

void ivb_free_buffer(void *p, size_t n)
{
	if (p != NULL)
		munmap(p, n);
}

/* Counters around one phase: started before its clock starts, read after it stops. */
static void counters_begin(struct ivb_perf *perf)
{
	if (perf != NULL)
		ivb_perf_start(perf);
}

static void counters_end(struct ivb_perf *perf, struct ivb_phase_counters *out)
{
	struct ivb_counts c;

	if (perf != NULL)
		ivb_perf_stop(perf, &c);
	else
		ivb_counts_none(&c);
	memcpy(out->v, c.v, sizeof(out->v));
}

int ivb_run_phases(const uint8_t *src, size_t n, uint8_t *dst, const uint8_t expected[IVB_SHA256_LEN],
		   struct ivb_perf *perf, struct ivb_guest_timing *t, struct ivb_phase_counters counters[IVB_NPHASES],
		   bool *match)
{
	uint8_t digest[IVB_SHA256_LEN];
	uint64_t t0, t1, flush_ns;
	int ret;

	counters_begin(perf);
	t0 = ivb_now_ns();
	ivb_read_lines(src, n);
	t1 = ivb_now_ns();
	counters_end(perf, &counters[0]);
	t->hot_read_ns = t1 - t0;

	t0 = ivb_now_ns();
	ivb_flush_range(src, n);
	t1 = ivb_now_ns();
	flush_ns = t1 - t0;

	counters_begin(perf);
	t0 = ivb_now_ns();
	ivb_read_lines(src, n);
	t1 = ivb_now_ns();
	counters_end(perf, &counters[1]);
	t->cold_read_ns = t1 - t0;

	t0 = ivb_now_ns();
	ivb_flush_range(src, n);
	t1 = ivb_now_ns();
	flush_ns += t1 - t0;
	t->flush_ns = flush_ns;

	counters_begin(perf);
	t0 = ivb_now_ns();
	memcpy(dst, src, n);
	/* The copy is done when its stores are globally visible, not when the loop ends. */
	atomic_thread_fence(memory_order_seq_cst);
	t1 = ivb_now_ns();
	counters_end(perf, &counters[2]);
	t->copy_ns = t1 - t0;

	counters_begin(perf);
	t0 = ivb_now_ns();
	ret = ivb_sha256(dst, n, digest);
	*match = ret == 0 && memcmp(digest, expected, IVB_SHA256_LEN) == 0;
	t1 = ivb_now_ns();
	counters_end(perf, &counters[3]);
	t->verify_ns = t1 - t0;
	return ret;
}

#if defined(__x86_64__)
__attribute__((target("avx2"))) static void copy_nt_avx2(uint8_t *d, const uint8_t *s, size_t n)
{
	for (size_t i = 0; i < n; i += 128) {
		__m256i a = _mm256_loadu_si256((const __m256i *)(s + i));
		__m256i b = _mm256_loadu_si256((const __m256i *)(s + i + 32));
		__m256i c = _mm256_loadu_si256((const __m256i *)(s + i + 64));
		__m256i e = _mm256_loadu_si256((const __m256i *)(s + i + 96));

		_mm256_stream_si256((__m256i *)(d + i), a);
		_mm256_stream_si256((__m256i *)(d + i + 32), b);
		_mm256_stream_si256((__m256i *)(d + i + 64), c);
		_mm256_stream_si256((__m256i *)(d + i + 96), e);
	}
}

static void copy_nt_sse2(uint8_t *d, const uint8_t *s, size_t n)
{
	for (size_t i = 0; i < n; i += 64) {
		__m128i a = _mm_loadu_si128((const __m128i *)(s + i));
		__m128i b = _mm_loadu_si128((const __m128i *)(s + i + 16));
		__m128i c = _mm_loadu_si128((const __m128i *)(s + i + 32));
		__m128i e = _mm_loadu_si128((const __m128i *)(s + i + 48));

		_mm_stream_si128((__m128i *)(d + i), a);
		_mm_stream_si128((__m128i *)(d + i + 16), b);
		_mm_stream_si128((__m128i *)(d + i + 32), c);
		_mm_stream_si128((__m128i *)(d + i + 48), e);
	}
}
#endif

uint64_t ivb_time_write(uint8_t *dst, const uint8_t *src, size_t n)
{
	uint64_t start = ivb_now_ns();

	memcpy(dst, src, n);
	atomic_thread_fence(memory_order_seq_cst);
	return ivb_now_ns() - start;
}

void ivb_copy_nt(void *dst, const void *src, size_t n)
{
	uint8_t *d = dst;
	const uint8_t *s = src;
	size_t head = 0, body = 0;

#if defined(__x86_64__)
	/* Streaming stores need an aligned destination: plain copies for the edges. */
	head = (size_t)(-(uintptr_t)d & 31);
	if (head > n)
		head = n;
	memcpy(d, s, head);
	body = (n - head) & ~(size_t)127;
	if (__builtin_cpu_supports("avx2"))
		copy_nt_avx2(d + head, s + head, body);
	else
		copy_nt_sse2(d + head, s + head, body);
	_mm_sfence();
#endif
	memcpy(d + head + body, s + head + body, n - head - body);
	atomic_thread_fence(memory_order_seq_cst);
}

int ivb_huge_alloc(struct ivb_huge_buffer *h, size_t n)
{
	const size_t huge = 2u << 20;
	size_t size = (n + huge - 1) & ~(huge - 1);
	void *p;

	memset(h, 0, sizeof(*h));
	p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_HUGETLB, -1, 0);
	if (p != MAP_FAILED) {
		h->kind = IVB_HUGE_HUGETLB;
	} else {
		/* Over-allocate so that a 2 MiB-aligned range exists for THP to back. */
		uint8_t *raw = mmap(NULL, size + huge, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		uint8_t *aligned;

		if (raw == MAP_FAILED)
			return -ENOMEM;
		aligned = (uint8_t *)(((uintptr_t)raw + huge - 1) & ~(uintptr_t)(huge - 1));
		if (aligned > raw)
			munmap(raw, (size_t)(aligned - raw));
		munmap(aligned + size, (size_t)(raw + size + huge - aligned - size));
		if (madvise(aligned, size, MADV_HUGEPAGE) < 0) {
			munmap(aligned, size);
			return -ENOMEM;
		}
		p = aligned;
		h->kind = IVB_HUGE_THP;
	}
	memset(p, 0x5a, size);
	h->p = p;
	h->size = size;
	return 0;
}

void ivb_huge_free(struct ivb_huge_buffer *h)
{
	if (h->p != NULL)
		munmap(h->p, h->size);
	memset(h, 0, sizeof(*h));
}

static long minor_faults(void)
{
	struct rusage ru;

	return getrusage(RUSAGE_THREAD, &ru) == 0 ? ru.ru_minflt : 0;
}

int ivb_run_write_study(const uint8_t *src, size_t n, uint8_t *dst, const struct ivb_huge_buffer *huge,
			struct ivb_guest_study *out)
{
	uint8_t *fresh;
	uint64_t t0, t1;
	long faults;

	out->fresh_ns = out->nt_ns = out->huge_ns = 0;
	out->fresh_faults = 0;
	out->huge_kind = huge != NULL && huge->p != NULL && huge->size >= n ? huge->kind : IVB_HUGE_NONE;

	fresh = mmap(NULL, n, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (fresh == MAP_FAILED)
		return -ENOMEM;
	ivb_flush_range(src, n);
	faults = minor_faults();
	t0 = ivb_now_ns();
	memcpy(fresh, src, n);
	atomic_thread_fence(memory_order_seq_cst);
	t1 = ivb_now_ns();
	faults = minor_faults() - faults;
	out->fresh_ns = t1 - t0;
	/* A copy into fresh pages always faults: no count means getrusage could not tell. */
	out->fresh_faults = faults > 0 && faults < UINT32_MAX ? (uint32_t)faults : IVB_FAULTS_UNKNOWN;
	munmap(fresh, n);

	ivb_flush_range(src, n);
	t0 = ivb_now_ns();
	ivb_copy_nt(dst, src, n);
	t1 = ivb_now_ns();
	out->nt_ns = t1 - t0;

	if (out->huge_kind != IVB_HUGE_NONE) {
		ivb_flush_range(src, n);
		t0 = ivb_now_ns();
		memcpy(huge->p, src, n);
		atomic_thread_fence(memory_order_seq_cst);
		t1 = ivb_now_ns();
		out->huge_ns = t1 - t0;
	}
	return 0;
}

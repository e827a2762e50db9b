/* phases.c: pure reads, cache flushes, copies and the four timed guest phases. */
#include "phases.h"

#include <errno.h>
#include <stdatomic.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#if defined(__x86_64__) || defined(__i386__)
#include <cpuid.h>
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

int ivb_run_phases(const uint8_t *src, size_t n, uint8_t *dst, const uint8_t expected[IVB_SHA256_LEN],
		   struct ivb_guest_timing *t, bool *match)
{
	uint8_t digest[IVB_SHA256_LEN];
	uint64_t t0, t1, flush_ns;
	int ret;

	t0 = ivb_now_ns();
	ivb_read_lines(src, n);
	t1 = ivb_now_ns();
	t->hot_read_ns = t1 - t0;

	t0 = ivb_now_ns();
	ivb_flush_range(src, n);
	t1 = ivb_now_ns();
	flush_ns = t1 - t0;

	t0 = ivb_now_ns();
	ivb_read_lines(src, n);
	t1 = ivb_now_ns();
	t->cold_read_ns = t1 - t0;

	t0 = ivb_now_ns();
	ivb_flush_range(src, n);
	t1 = ivb_now_ns();
	flush_ns += t1 - t0;
	t->flush_ns = flush_ns;

	t0 = ivb_now_ns();
	memcpy(dst, src, n);
	/* The copy is done when its stores are globally visible, not when the loop ends. */
	atomic_thread_fence(memory_order_seq_cst);
	t1 = ivb_now_ns();
	t->copy_ns = t1 - t0;

	t0 = ivb_now_ns();
	ret = ivb_sha256(dst, n, digest);
	*match = ret == 0 && memcmp(digest, expected, IVB_SHA256_LEN) == 0;
	t1 = ivb_now_ns();
	t->verify_ns = t1 - t0;
	return ret;
}

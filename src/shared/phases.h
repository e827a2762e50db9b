/* phases.h: the memory operations the guest times, shared with the reference measurements. */
#ifndef IVB_PHASES_H
#define IVB_PHASES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common.h"
#include "perfctr.h"

/* Read one 64-bit word of every 64-byte line in [p, p+n): the whole line crosses the bus. */
uint64_t ivb_read_lines(const void *p, size_t n);

/* Flush [p, p+n) from every cache level (clflushopt where the CPU has it, else clflush). */
void ivb_flush_range(const void *p, size_t n);

/* The flush instruction ivb_flush_range uses: "clflushopt", "clflush" or "none". */
const char *ivb_flush_method(void);

/*
 * Map n bytes of private anonymous memory and touch every page, so that no page fault
 * falls inside a timed copy. Returns: the buffer, or NULL with errno set.
 */
void *ivb_alloc_prefaulted(size_t n);
void ivb_free_buffer(void *p, size_t n);

/*
 * Run the four timed phases on n bytes at src, copying into dst (pre-faulted, at least n bytes):
 * A hot read, flush, B cold read, flush, C memcpy to dst, D SHA-256 of dst compared with expected.
 * Fills every field of t but total_ns; *match says whether the hash matched. With perf, the
 * counters of each phase go to counters[0..3] (started and read outside the timed window);
 * without, counters are marked not measured.
 * Returns: 0 on success, or -EIO if hashing failed.
 */
int ivb_run_phases(const uint8_t *src, size_t n, uint8_t *dst, const uint8_t expected[IVB_SHA256_LEN],
		   struct ivb_perf *perf, struct ivb_guest_timing *t, struct ivb_phase_counters counters[IVB_NPHASES],
		   bool *match);

/*
 * Phase W: write n bytes from src (private, cache-hot) to dst with memcpy, then fence, so that writes a
 * write-combining or uncached mapping still holds in its buffers are counted. Returns: the time in ns.
 */
uint64_t ivb_time_write(uint8_t *dst, const uint8_t *src, size_t n);

/* Copy n bytes with non-temporal stores (they bypass the caches), then fence. */
void ivb_copy_nt(void *dst, const void *src, size_t n);

/* A buffer backed by huge pages for the write study. */
struct ivb_huge_buffer {
	uint8_t *p;
	size_t size;
	enum ivb_huge_kind kind;
};

/*
 * Allocate and pre-fault at least n bytes of huge pages: MAP_HUGETLB when the system has a pool,
 * else transparent huge pages advised with MADV_HUGEPAGE. Returns: 0, or -ENOMEM (kind NONE).
 */
int ivb_huge_alloc(struct ivb_huge_buffer *h, size_t n);
void ivb_huge_free(struct ivb_huge_buffer *h);

/*
 * The write-path variants of phase C on n bytes at src: into freshly mapped pages, with
 * non-temporal stores into dst (pre-faulted), and into the huge-page buffer when there is one.
 * Each starts from a flushed source. Returns: 0, or -ENOMEM if fresh pages could not be mapped.
 */
int ivb_run_write_study(const uint8_t *src, size_t n, uint8_t *dst, const struct ivb_huge_buffer *huge,
			struct ivb_guest_study *out);

#endif /* IVB_PHASES_H */

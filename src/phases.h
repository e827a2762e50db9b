/* phases.h: the memory operations the guest times, shared with the reference measurements. */
#ifndef IVB_PHASES_H
#define IVB_PHASES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common.h"

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
 * Fills every field of t but total_ns; *match says whether the hash matched.
 * Returns: 0 on success, or -EIO if hashing failed.
 */
int ivb_run_phases(const uint8_t *src, size_t n, uint8_t *dst, const uint8_t expected[IVB_SHA256_LEN],
		   struct ivb_guest_timing *t, bool *match);

#endif /* IVB_PHASES_H */

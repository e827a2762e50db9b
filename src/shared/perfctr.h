/* perfctr.h: per-thread performance counters from perf_event_open, degrading to "not measured". */
#ifndef IVB_PERFCTR_H
#define IVB_PERFCTR_H

#include <stddef.h>
#include <stdint.h>

#include "common.h"

/* The counters of one measurement, in the order of the seed's CSV columns where it has them. */
enum ivb_counter {
	IVB_CTR_L1D_MISSES,
	IVB_CTR_L1D_REFS,
	IVB_CTR_LLC_MISSES,
	IVB_CTR_LLC_REFS,
	IVB_CTR_DTLB_MISSES,
	IVB_CTR_CYCLES,
	IVB_CTR_INSTRUCTIONS,
	IVB_CTR_CONTEXT_SWITCHES,
	IVB_CTR_PAGE_FAULTS,
	IVB_CTR_TASK_CLOCK_NS,
	IVB_CTR_COUNT
};

_Static_assert(IVB_CTR_COUNT == IVB_NCOUNTERS, "the region has one slot per counter");

/* A value that was not measured (no PMU, no permission): never 0 as a stand-in for unknown. */
#define IVB_CTR_NONE UINT64_MAX

struct ivb_counts {
	uint64_t v[IVB_CTR_COUNT]; /* IVB_CTR_NONE where not measured */
};

struct ivb_perf {
	int fd[IVB_CTR_COUNT];  /* -1 where the counter could not be opened */
	int err[IVB_CTR_COUNT]; /* errno of the failed open, 0 when open */
};

/* Short column-style name of a counter, e.g. "l1_cache_misses". */
const char *ivb_counter_name(enum ivb_counter c);

/*
 * Open every counter for the calling thread, user and kernel space where allowed, user space only
 * otherwise. Counters that cannot be opened stay closed with their errno recorded.
 * Returns: the number of counters opened (0 is not an error).
 */
int ivb_perf_open(struct ivb_perf *p);

/* Zero and enable the open counters. */
void ivb_perf_start(struct ivb_perf *p);

/* Disable the open counters and read them into out (IVB_CTR_NONE for the others). */
void ivb_perf_stop(struct ivb_perf *p, struct ivb_counts *out);

/* Close every counter. */
void ivb_perf_close(struct ivb_perf *p);

/*
 * One line naming the counters that are missing and why, e.g.
 * "not measured: l1_cache_misses, ... (ENOENT: no hardware PMU)"; empty when none is missing.
 */
void ivb_perf_describe_missing(const struct ivb_perf *p, char *buf, size_t len);

/* Mark every counter of c as not measured. */
void ivb_counts_none(struct ivb_counts *c);

/* Derived metrics; each returns a negative value when an input was not measured or is zero. */
double ivb_ratio(uint64_t numerator, uint64_t denominator);
double ivb_ipc(const struct ivb_counts *c);
double ivb_cycles_per_byte(const struct ivb_counts *c, uint64_t bytes);
double ivb_l1_miss_rate(const struct ivb_counts *c);
double ivb_llc_miss_rate(const struct ivb_counts *c);

#endif /* IVB_PERFCTR_H */

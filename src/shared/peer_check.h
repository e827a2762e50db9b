/* peer_check.h: what the host accepts of the guest's report beyond the protocol's own range checks.
 *
 * The guest's strings keep only a safe character set, so that they stay data in every CSV and JSON
 * file; its performance counters stay below what any machine could count in the phase they cover;
 * its phase timings fit in the host's own round trip. Every bound here is chosen so that no true
 * value can exceed it: it catches a wrapped, corrupt or made-up field, not a slow or unusual machine.
 */
#ifndef IVB_PEER_CHECK_H
#define IVB_PEER_CHECK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "perfctr.h"
#include "protocol.h"

/*
 * The safe set of a guest-written string (and of the schema's `text` kind): letters, digits and these.
 * Real values need no more: "write-back", "uncached-minus", "6.1.0-28-amd64", "5.15.0-rc4+",
 * "0000:00:03.0", "ivshmem_region". No separator, quote, space, backslash or control byte of CSV or JSON.
 */
#define IVB_TEXT_SAFE_PUNCT "_-.:/+"
/* What replaces a character outside the set: itself in the set, so a sanitised string is safe text. */
#define IVB_TEXT_REPLACEMENT '_'

/* The guest strings the host reads, as bits of struct ivb_host.unsafe_text. */
enum ivb_guest_text {
	IVB_TEXT_DEVICE = 1u << 0,     /* guest_info.device */
	IVB_TEXT_KERNEL = 1u << 1,     /* guest_info.kernel */
	IVB_TEXT_MEMTYPE = 1u << 2,    /* guest_info.memtype */
	IVB_TEXT_MAP_MEMTYPE = 1u << 3, /* map_study.memtype of any message */
};
#define IVB_TEXT_FIELDS 4u

/* Whether c belongs to the safe set. */
bool ivb_text_safe_char(int c);

/*
 * Copy the string at src (n bytes at most, NUL-terminated or not) into dst (n bytes; dst may be src),
 * replacing each character outside the safe set with IVB_TEXT_REPLACEMENT; dst is always NUL-terminated.
 * Returns: the number of characters replaced.
 */
size_t ivb_text_sanitize(char *dst, const char *src, size_t n);

/* The name of one enum ivb_guest_text bit, e.g. "memory_type" (the run.json key of that field). */
const char *ivb_guest_text_name(enum ivb_guest_text field);

/*
 * What each phase's counters can count beyond its timed window: they are enabled just before its
 * clock starts and read just after it stops (two ioctls, two clock reads: microseconds, even under
 * TCG), so the window they cover is the phase's time plus this, with a margin of 10^5.
 */
#define IVB_CTR_WINDOW_SLACK_NS 1000000000ull
/* No core runs faster (the overclocking records are below 9.5 GHz); counters are per thread. */
#define IVB_CTR_MAX_CYCLES_PER_NS 10ull
/*
 * Instructions retired and cache or TLB events per cycle: cores retire at most about 8 instructions
 * and issue at most a few loads and stores per cycle (a gather's 16 elements are still split over cycles).
 */
#define IVB_CTR_MAX_EVENTS_PER_CYCLE 64ull
/* A context switch out and back costs more than this (measured at 1-5 us; schedule() alone is ~0.3 us). */
#define IVB_CTR_MIN_SWITCH_NS 100ull
/*
 * Page faults: each page of the two buffers a phase touches (the message and the private copy) can
 * fault a few times (a read, a write after the zero page, a NUMA hint), and the program's own code,
 * data and stack pages (64 MiB: more than the static guest_reader's whole image) once each.
 */
#define IVB_CTR_FAULTS_PER_PAGE 4ull
#define IVB_CTR_FAULTS_EXTRA 16384ull

/* The largest value counter c can take in a phase of phase_ns (at most IVB_MAX_DURATION_NS) over bytes. */
uint64_t ivb_counter_bound(enum ivb_counter c, uint64_t phase_ns, uint64_t bytes);

/*
 * Replace every counter of rep above its bound for a message of bytes (phase durations from
 * rep->timing, already range-checked) with IVB_CTR_NONE, and a write-study fault count above it
 * with IVB_FAULTS_UNKNOWN: not measured, never a made-up number. The first one replaced is
 * described in note (len bytes), unless note already holds a description.
 * Returns: the number of values replaced.
 */
unsigned ivb_counters_bound(struct ivb_guest_report *rep, uint64_t bytes, char *note, size_t len);

/* The guest's phases by index, as phase_performance.csv and the notes name them ("A_hot_read", ...). */
extern const char *const ivb_phase_names[IVB_NPHASES];

/*
 * Clocks of host and guest run at rates that differ by far less than this factor, and a guest clock
 * ticks at least every 10 ms (jiffies at HZ=100, the coarsest a Linux clocksource gets): twice that
 * as slack.
 */
#define IVB_GUEST_CLOCK_FACTOR 2ull
#define IVB_GUEST_CLOCK_SLACK_NS 20000000ull

/*
 * Whether every guest duration of rep fits in the host's round trip of the same message: the guest
 * timed its work between seeing SENDING and acknowledging, inside the host's window, so none of it
 * (its total, which holds its phases, and each study time) can exceed roundtrip_ns x
 * IVB_GUEST_CLOCK_FACTOR + IVB_GUEST_CLOCK_SLACK_NS.
 */
bool ivb_timing_fits(const struct ivb_guest_report *rep, uint64_t roundtrip_ns);

_Static_assert(IVB_CTR_NONE == UINT64_MAX, "a saturated counter sum reads as not measured");

/* a + b, or UINT64_MAX where the sum does not fit. */
static inline uint64_t ivb_add_sat(uint64_t a, uint64_t b)
{
	uint64_t sum;

	return __builtin_add_overflow(a, b, &sum) ? UINT64_MAX : sum;
}

#endif /* IVB_PEER_CHECK_H */

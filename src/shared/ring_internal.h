/* ring_internal.h: what the ring's own files share (ring.c, ring_producer.c, ring_feeds.c, ring_consumer.c); not an API. */
#ifndef IVB_RING_INTERNAL_H
#define IVB_RING_INTERNAL_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include "ring.h"

/*
 * Interleaving points of the latest policy's handshake: one before each access to shared memory that
 * the other side's decisions depend on. tests/unit/test_ring_interleave.c builds the ring's files with
 * -DIVB_RING_STEPS and runs host and guest one step at a time through every order of these points,
 * because a stress test alone almost never hits the windows of a few instructions between a claim or
 * a mark and its re-check. Empty in the programs: their code is unchanged.
 */
#ifdef IVB_RING_STEPS
#define IVB_RING_STEP(where) ivb_ring_step(where)
#else
#define IVB_RING_STEP(where) ((void)0)
#endif

#define IVB_LATEST_SLOT_BITS 8u
#define IVB_LATEST_SLOT_MASK ((1u << IVB_LATEST_SLOT_BITS) - 1u)

/* The latest policy's word: (sequence + 1) << 8 | slot of a frame. */
static inline uint64_t ivb_latest_pack(uint64_t seq, uint32_t slot)
{
	return (seq + 1) << IVB_LATEST_SLOT_BITS | slot;
}

static inline uint64_t ivb_latest_seq1(uint64_t v)
{
	return v >> IVB_LATEST_SLOT_BITS;
}

static inline uint32_t ivb_latest_slot(uint64_t v)
{
	return (uint32_t)(v & IVB_LATEST_SLOT_MASK);
}

/* Consumer i's bit in a set of consumers, or slot i's in a set of slots. */
#define IVB_RING_BIT(i) (1u << (i))

/* Tell the caller what became of frame seq (in `slot`) for consumer i; r NULL: dropped. */
void ivb_ring_report(struct ivb_ring_producer *p, uint32_t i, uint64_t seq, uint32_t slot,
		     const struct ivb_ring_result *r);

/* Report the frame in `slot` dropped for every consumer that still owes it an outcome (p->pending). */
void ivb_ring_report_unresolved(struct ivb_ring_producer *p, uint32_t slot);

/* -EPROTO, with why (whylen bytes) saying what the peer wrote out of range. */
int ivb_ring_reject(char *why, size_t whylen, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* Whether a wake request whose generation we have not served yet is met by `value`. */
bool ivb_ring_wake_due(struct ivb_ring_wake *w, uint64_t value, bool ended, uint64_t *rung_gen);

/* Publish a new wake request: "ring me once the counter reaches at". */
void ivb_ring_wake_request(struct ivb_ring_wake *w, uint64_t at);

#endif /* IVB_RING_INTERNAL_H */

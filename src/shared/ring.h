/* ring.h: the stream test's ring of frame slots, laid out in the region's data buffer.
 *
 * In a stream the data buffer (common.h) starts with a control page, then nslots frame slots of
 * slot_stride bytes each (page aligned). One side produces frames, 1 to IVB_RING_MAX_CONSUMERS consume
 * every one of them (the host or the guest may play either role: the functions are role-neutral):
 *
 *   line 0          geometry   producer-owned   magic, slots, stride, frame size, policy, verification,
 *                                               consume mode, consumers, consumer timeout
 *   line 1          producer   producer-owned   head, latest, producer state
 *   lines 2-17      slot desc  producer-owned   per slot: the frame in it (sequence + 1), size, checksum
 *   lines 18-25     feeds      producer-owned   per consumer: live or dropped, the producer's wake request
 *   lines 26-161    consumers  consumer i owns  17 lines each (consumer i at line 26 + 17 i):
 *                                 its line      released, the slot being read, state, wake request, report
 *                                 16 results    per slot: the frame consumed, copy and verify time, status
 *   IVB_RING_CTL_SIZE          slot 0, slot 1, ...
 *
 * Policies:
 *   block   a classic single-producer ring: frame n goes in slot n % nslots once every live consumer
 *           has released frame n - nslots; each consumer consumes every frame in order. Nothing is ever
 *           overwritten before every live consumer released it.
 *   latest  the producer never waits: it writes into a slot that is neither the newest frame nor one
 *           any live consumer is reading, and publishes it as `latest`; each consumer always takes the
 *           newest frame (advance to last). A frame whose slot is reused before a consumer took it, or
 *           that found no free slot, is dropped for that consumer. A consumer claims a slot before
 *           reading it and the producer marks a slot invalid before writing it; both then re-check the
 *           other's word (sequentially consistent, Dekker style, once per consumer), so that they never
 *           both go ahead.
 *
 * Consumers (LGMP's subscribers): the producer keeps, per slot, the set of live consumers that still
 * owe it an outcome for the frame there; a slot is free again once that set is empty. A consumer that
 * holds the producer back (block: the producer's next slot waits for its release; latest: it holds a
 * claim) for longer than the consumer timeout is dropped by ivb_ring_drop_stalled: its feed says so, the
 * producer reports its unresolved frames as dropped for it, stops waiting for it and ignores its claims;
 * the others go on. The ring never reads a clock: the caller passes the time in.
 *
 * Wake requests (doorbell mode, the event index of virtio rings): a side about to sleep publishes
 * what it waits for and a new generation, re-checks, then sleeps; the other side rings only when it
 * sees a generation it has not rung for whose condition it just met, so a busy stream costs no
 * system call. Each consumer has its own request (in its line) and the producer one per consumer (in
 * that consumer's feed), so that a consumer rings the producer only for its own release.
 *
 * Everything a peer writes is untrusted: a consumer validates the geometry once and every sequence,
 * slot index and size it reads; the producer validates every consumer's results and counters.
 * Functions return 0 or a negative errno (-EAGAIN: nothing to do yet, -EPROTO: the peer wrote
 * something out of range) and never block: the caller waits, with its time limit and its bell.
 */
#ifndef IVB_RING_H
#define IVB_RING_H

#include <stdalign.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common.h"

#define IVB_RING_MAGIC 0x474e4952u /* "RING" in memory order */
#define IVB_RING_CTL_SIZE 12288u /* the control page(s): the slots start here, page aligned */
#define IVB_RING_MAX_SLOTS 16u
#define IVB_RING_MAX_CONSUMERS 8u
#define IVB_RING_SLOT_ALIGN 4096u
#define IVB_RING_CHECKSUM_LEN 32u
/* A frame starts with its sequence number (little-endian), so that a stale slot never verifies. */
#define IVB_RING_STAMP_LEN 8u
#define IVB_RING_MIN_FRAME 64u

enum ivb_ring_policy {
	IVB_RING_BLOCK = 1,  /* the producer waits for a free slot; every consumer consumes every frame */
	IVB_RING_LATEST = 2, /* the producer never waits; each consumer takes the newest frame */
};
#define IVB_RING_POLICY_MAX IVB_RING_LATEST

enum ivb_ring_verify {
	IVB_VERIFY_NONE = 1,   /* frames are copied, not checked (the report says so) */
	IVB_VERIFY_SHA256 = 2, /* OpenSSL SHA-256 of the payload */
	IVB_VERIFY_XXH3 = 3,   /* XXH3-128 of the payload (libxxhash) */
};
#define IVB_RING_VERIFY_MAX IVB_VERIFY_XXH3

/* How the consumer reads each frame. */
enum ivb_consume {
	IVB_CONSUME_COPY = 1,    /* copy the frame out of its slot, verify the copy, release */
	IVB_CONSUME_INPLACE = 2, /* verify the frame where it lies in its slot, then release */
};
#define IVB_CONSUME_MAX IVB_CONSUME_INPLACE

enum ivb_ring_state {
	IVB_RING_IDLE = 0,
	IVB_RING_STREAMING = 1,
	IVB_RING_DONE = 2, /* producer: no frame after head; consumer: it saw the end */
};

/* A consumer's standing, as the producer decides it (struct ivb_ring_feed.state). */
enum ivb_ring_feed_state {
	IVB_FEED_LIVE = 0,    /* the producer waits for it (block) and respects its claims (latest) */
	IVB_FEED_DROPPED = 1, /* it held the producer back past the consumer timeout: ignored from then on */
};

/* What a consumer reports for a frame, in ivb_ring_result.status. */
enum ivb_ring_status {
	IVB_FRAME_OK = 1,
	IVB_FRAME_BAD_CHECKSUM = 2, /* the payload does not match the checksum */
	IVB_FRAME_BAD_STAMP = 3,    /* the slot holds another frame (stale or overwritten) */
	IVB_FRAME_UNVERIFIED = 4,   /* copied only (IVB_VERIFY_NONE) */
};
#define IVB_FRAME_STATUS_MAX IVB_FRAME_UNVERIFIED

/* A wake request: "ring me once the counter reaches `at`"; gen changes with every new request. */
struct ivb_ring_wake {
	_Atomic uint64_t at;  /* 0: not sleeping */
	_Atomic uint64_t gen; /* stored after `at`, with release */
};

struct ivb_ring_desc {
	_Atomic uint64_t seq1; /* sequence + 1 of the frame in the slot; 0: empty or being written */
	uint64_t size;         /* bytes of the frame, stamp included */
	uint8_t checksum[IVB_RING_CHECKSUM_LEN]; /* of the payload after the stamp */
	uint8_t pad[16];
};

struct ivb_ring_result {
	_Atomic uint64_t seq1; /* sequence + 1 of the frame consumed from the slot; stored last */
	uint64_t copy_ns;      /* consumer clock: copy of the frame out of the slot; 0 when read in place */
	uint64_t verify_ns;    /* consumer clock: checksum of the frame (the copy, or the slot) and comparison */
	uint32_t status;       /* enum ivb_ring_status */
	uint8_t pad[36];
};

/* The producer's line for one consumer. */
struct ivb_ring_feed {
	_Atomic uint32_t state;          /* enum ivb_ring_feed_state */
	uint32_t pad0;
	_Atomic uint64_t dropped_head;   /* head when the consumer was dropped */
	struct ivb_ring_wake producer_wake; /* the producer sleeps until this consumer's `released` reaches at */
	uint8_t pad[32];
};

/* What one consumer owns: its line and its result per slot. */
struct ivb_ring_cons {
	_Atomic uint64_t released;       /* frames this consumer finished with */
	_Atomic uint64_t reading;        /* latest policy: the `latest` value it claimed; 0: none */
	_Atomic uint32_t consumer_state; /* enum ivb_ring_state */
	uint32_t pad0;
	struct ivb_ring_wake consumer_wake; /* the consumer sleeps until `head` reaches at */
	uint64_t private_copy_ns;   /* consumer clock: copy of one frame between private buffers */
	uint64_t private_verify_ns; /* consumer clock: its checksum */
	uint64_t cpu_ns;            /* the consumer's CPU time over the stream; these three valid once DONE */
	alignas(IVB_CACHE_LINE) struct ivb_ring_result result[IVB_RING_MAX_SLOTS];
};

struct ivb_ring_ctl {
	/* line 0: geometry, producer-owned, written before the stream starts */
	uint32_t magic;
	uint32_t nslots;
	uint32_t policy; /* enum ivb_ring_policy */
	uint32_t verify; /* enum ivb_ring_verify */
	uint64_t slot_stride;
	uint64_t frame_size;
	uint32_t consume;    /* enum ivb_consume */
	uint32_t nconsumers; /* 1 to IVB_RING_MAX_CONSUMERS */
	uint64_t consumer_timeout_ns; /* a consumer holding the producer back longer is dropped; 0: never */
	uint8_t pad0[16];

	/* line 1: producer */
	alignas(IVB_CACHE_LINE) _Atomic uint64_t head; /* frames published */
	_Atomic uint64_t latest;       /* latest policy: (sequence + 1) << 8 | slot of the newest frame */
	_Atomic uint32_t producer_state; /* enum ivb_ring_state */
	uint8_t pad1[44];

	/* lines 2-17: slot descriptors, producer-owned */
	alignas(IVB_CACHE_LINE) struct ivb_ring_desc desc[IVB_RING_MAX_SLOTS];
	/* lines 18-25: one feed per consumer, producer-owned */
	alignas(IVB_CACHE_LINE) struct ivb_ring_feed feed[IVB_RING_MAX_CONSUMERS];
	/* lines 26-161: consumer i owns cons[i] */
	alignas(IVB_CACHE_LINE) struct ivb_ring_cons cons[IVB_RING_MAX_CONSUMERS];
};

_Static_assert(sizeof(struct ivb_ring_desc) == IVB_CACHE_LINE, "a descriptor is one line");
_Static_assert(sizeof(struct ivb_ring_result) == IVB_CACHE_LINE, "a result is one line");
_Static_assert(sizeof(struct ivb_ring_feed) == IVB_CACHE_LINE, "a feed is one line");
_Static_assert(offsetof(struct ivb_ring_feed, producer_wake) == 16, "feed line layout");
_Static_assert(offsetof(struct ivb_ring_cons, consumer_wake) == 24, "consumer line layout");
_Static_assert(offsetof(struct ivb_ring_cons, result) == IVB_CACHE_LINE, "results from a consumer's second line");
_Static_assert(sizeof(struct ivb_ring_cons) == (1 + IVB_RING_MAX_SLOTS) * IVB_CACHE_LINE, "a consumer's lines");
_Static_assert(offsetof(struct ivb_ring_ctl, slot_stride) == 16, "geometry line layout");
_Static_assert(offsetof(struct ivb_ring_ctl, consume) == 32, "geometry line layout");
_Static_assert(offsetof(struct ivb_ring_ctl, consumer_timeout_ns) == 40, "geometry line layout");
_Static_assert(offsetof(struct ivb_ring_ctl, head) == 1 * IVB_CACHE_LINE, "producer on line 1");
_Static_assert(offsetof(struct ivb_ring_ctl, desc) == 2 * IVB_CACHE_LINE, "descriptors from line 2");
_Static_assert(offsetof(struct ivb_ring_ctl, feed) == 18 * IVB_CACHE_LINE, "feeds from line 18");
_Static_assert(offsetof(struct ivb_ring_ctl, cons) == 26 * IVB_CACHE_LINE, "consumers from line 26");
_Static_assert(sizeof(struct ivb_ring_ctl) == 162 * IVB_CACHE_LINE, "control lines");
_Static_assert(sizeof(struct ivb_ring_ctl) <= IVB_RING_CTL_SIZE, "control fits before the slots");
_Static_assert(IVB_RING_CTL_SIZE % IVB_RING_SLOT_ALIGN == 0, "the slots start page aligned");
_Static_assert(IVB_RING_MAX_CONSUMERS <= 32, "a consumer set is a uint32_t mask");

struct ivb_ring_geometry {
	uint32_t nslots;
	uint32_t policy;
	uint32_t verify;
	uint32_t consume;
	uint64_t slot_stride;
	uint64_t frame_size;
	uint32_t nconsumers;          /* 1 unless ivb_ring_geometry_consumers says otherwise */
	uint64_t consumer_timeout_ns; /* 0: no consumer is ever dropped */
};

/*
 * The geometry of nslots frames of frame_size bytes in a buffer of `capacity` bytes, for one consumer
 * that is never dropped (ivb_ring_geometry_consumers changes that).
 * Returns: 0, -EINVAL for a slot count, policy, verification, consume mode or frame size out of range,
 * or -ENOSPC when the slots do not fit (`need` then holds the bytes they would take).
 */
int ivb_ring_geometry_for(uint64_t capacity, uint32_t nslots, uint64_t frame_size, uint32_t policy,
			  uint32_t verify, uint32_t consume, struct ivb_ring_geometry *g, uint64_t *need);

/*
 * nconsumers consumers, each dropped once it holds the producer back longer than timeout_ns (0: never).
 * The space the ring needs does not change.
 * Returns: 0, or -EINVAL for 0 or more than IVB_RING_MAX_CONSUMERS consumers or a timeout above
 * IVB_MAX_DURATION_NS.
 */
int ivb_ring_geometry_consumers(struct ivb_ring_geometry *g, uint32_t nconsumers, uint64_t timeout_ns);

/* What a consumer reports at the end of a stream (its clock; 0: not measured). */
struct ivb_ring_guest_report {
	uint64_t private_copy_ns;   /* a frame's copy between private buffers */
	uint64_t private_verify_ns; /* its checksum */
	uint64_t cpu_ns;            /* CPU time over the stream */
};

/* What became of a published frame for one consumer, as the producer learns it. */
struct ivb_ring_outcome {
	uint64_t seq;
	uint32_t slot;      /* UINT32_MAX: the frame found no slot (latest) */
	uint32_t consumer;  /* the consumer this outcome is for: each live consumer gets one per frame */
	bool consumed;      /* false: dropped (latest policy, or unresolved when its consumer was dropped) */
	uint32_t status;    /* enum ivb_ring_status, when consumed */
	uint64_t copy_ns;   /* consumer clock, when consumed */
	uint64_t verify_ns;
};

typedef void (*ivb_ring_outcome_fn)(void *arg, const struct ivb_ring_outcome *o);

struct ivb_ring_producer {
	struct ivb_ring_ctl *ctl;
	uint8_t *slots;
	struct ivb_ring_geometry g;
	uint64_t next_seq;                          /* of the next frame to publish */
	uint64_t published;                         /* frames given a slot (latest: next_seq less the skipped) */
	uint64_t slot_seq1[IVB_RING_MAX_SLOTS];     /* the frame published in each slot, + 1 (0: none) */
	uint32_t pending[IVB_RING_MAX_SLOTS];       /* per slot: the live consumers that owe its frame an outcome */
	uint64_t slot_age[IVB_RING_MAX_SLOTS];      /* latest: when each slot was last written */
	uint32_t live;                              /* the consumers not dropped (bit i: consumer i) */
	uint32_t consumers_dropped;                 /* how many ivb_ring_drop_stalled dropped */
	/* Per consumer: */
	uint64_t collected[IVB_RING_MAX_CONSUMERS];     /* block: outcomes reported up to this frame */
	uint64_t released_seen[IVB_RING_MAX_CONSUMERS]; /* its released count as last read and accepted */
	uint64_t rung_gen[IVB_RING_MAX_CONSUMERS];      /* its wake generation already rung for */
	uint64_t held[IVB_RING_MAX_CONSUMERS];          /* what it held the producer back with (0: nothing) */
	uint64_t held_since[IVB_RING_MAX_CONSUMERS];    /* the caller's clock when that was first seen */
	ivb_ring_outcome_fn outcome;
	void *outcome_arg;
	char why[128];                              /* after -EPROTO: what a consumer wrote out of range */
};

/* Write the geometry into the control page at `buffer` and reset every consumer's lines. */
void ivb_ring_producer_init(struct ivb_ring_producer *p, void *buffer, const struct ivb_ring_geometry *g,
			    ivb_ring_outcome_fn outcome, void *arg);

/* The start of slot `slot`'s frame. */
uint8_t *ivb_ring_slot(const struct ivb_ring_producer *p, uint32_t slot);

/*
 * A slot to write the next frame into. Reports outcomes it learns on the way.
 * Returns: 0 with *slot set; -EAGAIN when no slot is free (block: wait, calling ivb_ring_drop_stalled,
 * and retry; latest: the frame is dropped, call ivb_ring_skip); -EPIPE when every consumer was dropped;
 * -EPROTO when a consumer's counters are out of range (p->why).
 */
int ivb_ring_acquire(struct ivb_ring_producer *p, uint32_t *slot);

/* Latest policy: the next frame found no free slot; it is reported dropped for every live consumer. */
void ivb_ring_skip(struct ivb_ring_producer *p);

/* Publish the frame written into `slot` (the stamp is written here); every live consumer owes it an outcome. */
void ivb_ring_publish(struct ivb_ring_producer *p, uint32_t slot, uint64_t size, const uint8_t *checksum);

/*
 * Report the outcomes of frames the consumers finished since the last call.
 * Returns: 0, or -EPROTO when a result or counter is out of range (p->why says which).
 */
int ivb_ring_collect(struct ivb_ring_producer *p);

/* No frame after the ones published. */
void ivb_ring_finish(struct ivb_ring_producer *p);

/*
 * After every live consumer said DONE (or the caller gave up on them): report every frame still
 * unresolved as dropped.
 * Returns: 0; -EPIPE (block) when a live consumer did not release every frame; or -EPROTO as ivb_ring_collect.
 */
int ivb_ring_settle(struct ivb_ring_producer *p);

/*
 * Drop every live consumer that has held the producer back for longer than the consumer timeout
 * (block: the slot of the producer's next frame waits for its release; latest: it holds a claim).
 * `now_ns` is the caller's clock (any, as long as it is the same for every call); a hold counts from
 * the first call that saw it, so call this while waiting (after each -EAGAIN of a block acquire) and
 * regularly under latest. A dropped consumer is marked in its feed, counted, no longer waited for and
 * its claims ignored; its unresolved frames are reported dropped for it at once.
 * Returns: the number of consumers dropped by this call, or -EPROTO as ivb_ring_collect.
 */
int ivb_ring_drop_stalled(struct ivb_ring_producer *p, uint64_t now_ns);

/* Whether consumer i is live (not dropped); false for an index out of range. */
bool ivb_ring_consumer_live(const struct ivb_ring_producer *p, uint32_t i);

/*
 * Whether a consumer sleeps on something the producer just provided: then ring it. The mask has bit i
 * set for each consumer to ring (each sleep is rung once); should_ring is whether the mask is not empty.
 */
uint32_t ivb_ring_producer_ring_mask(struct ivb_ring_producer *p);
bool ivb_ring_producer_should_ring(struct ivb_ring_producer *p);

/*
 * The producer is about to sleep until every live consumer's `released` reaches `at` (a wake request
 * in the feed of each one that has not).
 * Returns: true when it may sleep, false when the condition already holds (or those consumers are DONE).
 */
bool ivb_ring_producer_sleep(struct ivb_ring_producer *p, uint64_t at);
void ivb_ring_producer_awake(struct ivb_ring_producer *p);

/*
 * Frames the live consumers have all released, as they say, checked: each count never goes back and
 * never exceeds the frames published (a consumer releases each frame it took once). The least of the
 * live consumers' counts (block: the frame the producer waits for); with none live, every frame.
 * Returns: 0 with *released set, or -EPROTO (p->why says which bound it broke).
 */
int ivb_ring_released(struct ivb_ring_producer *p, uint64_t *released);

/* The same for consumer i alone, live or not. Returns: 0, -EINVAL for i out of range, or -EPROTO. */
int ivb_ring_released_by(struct ivb_ring_producer *p, uint32_t i, uint64_t *released);

/* Whether every live consumer said DONE (true when none is live); consumer i alone. */
bool ivb_ring_consumer_done(const struct ivb_ring_producer *p);
bool ivb_ring_consumer_done_by(const struct ivb_ring_producer *p, uint32_t i);

/* Whether every live consumer has attached (validated the geometry and takes frames); consumer i alone. */
bool ivb_ring_consumer_attached(const struct ivb_ring_producer *p);
bool ivb_ring_consumer_attached_by(const struct ivb_ring_producer *p, uint32_t i);

/*
 * Consumer 0's report at the end of the stream (a one-consumer ring's); consumer i's.
 * Returns: 0, -EAGAIN before DONE, -EINVAL for i out of range, or -EPROTO for durations out of range.
 */
int ivb_ring_read_guest_report(const struct ivb_ring_producer *p, struct ivb_ring_guest_report *rep);
int ivb_ring_read_report_by(const struct ivb_ring_producer *p, uint32_t i, struct ivb_ring_guest_report *rep);

struct ivb_ring_consumer {
	struct ivb_ring_ctl *ctl;
	uint8_t *slots;
	struct ivb_ring_geometry g; /* validated copy */
	uint32_t index;             /* this consumer's number: it writes only ctl->cons[index] */
	struct ivb_ring_cons *own;  /* &ctl->cons[index] */
	uint64_t next_seq;          /* block: the frame to consume next; latest: one past the last */
	uint64_t released;
	uint64_t rung_gen;
	uint64_t skipped;           /* latest: frames published that this consumer never took */
};

/* A frame the consumer holds until it releases it. */
struct ivb_ring_frame {
	uint64_t seq;
	uint32_t slot;
	const uint8_t *data; /* stamp included */
	uint64_t size;
	uint8_t checksum[IVB_RING_CHECKSUM_LEN]; /* copied when taken */
};

/*
 * Read and validate the geometry the producer wrote at `buffer` (capacity bytes from it mapped), as
 * consumer `index`. The producer does not start yet: it waits for ivb_ring_consumer_start.
 * Returns: 0, -EINVAL for an index of IVB_RING_MAX_CONSUMERS or more, or -EPROTO with `why` saying
 * which field is out of range (an index the ring has no consumer for included).
 */
int ivb_ring_consumer_open_as(struct ivb_ring_consumer *c, void *buffer, uint64_t capacity, uint32_t index,
			      char *why, size_t whylen);

/* ivb_ring_consumer_open_as consumer 0 (the consumer of a one-consumer ring). */
int ivb_ring_consumer_open(struct ivb_ring_consumer *c, void *buffer, uint64_t capacity, char *why,
			   size_t whylen);

/*
 * Tell the producer that frames may come (it starts its clock and its first frame now): call it once the
 * consumer is ready to take them, its buffers made, so that no frame is dropped for its start-up.
 */
void ivb_ring_consumer_start(struct ivb_ring_consumer *c);

/* ivb_ring_consumer_open, then ivb_ring_consumer_start when it succeeded (a consumer with nothing to prepare). */
int ivb_ring_consumer_attach(struct ivb_ring_consumer *c, void *buffer, uint64_t capacity, char *why,
			     size_t whylen);

/*
 * Take the next frame (block) or the newest (latest).
 * Returns: 0 with *f set; 1 when the stream has ended; -EAGAIN when nothing new is there yet;
 * -ESHUTDOWN when the producer dropped this consumer (it stops: its frames are no longer kept for it);
 * -EPROTO with `why` when the producer wrote something out of range.
 */
int ivb_ring_take(struct ivb_ring_consumer *c, struct ivb_ring_frame *f, char *why, size_t whylen);

/* Give the frame's slot back with what the consumer found. */
void ivb_ring_release(struct ivb_ring_consumer *c, const struct ivb_ring_frame *f, uint32_t status,
		      uint64_t copy_ns, uint64_t verify_ns);

/* The consumer saw the end (or gives up), with its report (NULL: nothing measured): the producer may settle. */
void ivb_ring_consumer_finish(struct ivb_ring_consumer *c, const struct ivb_ring_guest_report *rep);

/* Whether the producer sleeps on this consumer's release; then ring it. */
bool ivb_ring_consumer_should_ring(struct ivb_ring_consumer *c);

/*
 * The consumer is about to sleep until the next frame is published.
 * Returns: true when it may sleep, false when a frame (or the end, or its drop) already came.
 */
bool ivb_ring_consumer_sleep(struct ivb_ring_consumer *c);
void ivb_ring_consumer_awake(struct ivb_ring_consumer *c);

/* The stamp a frame must start with. */
void ivb_ring_stamp(uint8_t *frame, uint64_t seq);
uint64_t ivb_ring_read_stamp(const uint8_t *frame);

#ifdef IVB_RING_STEPS
/* Test builds only: the test's scheduler, called at each interleaving point of the ring (see ring_internal.h). */
void ivb_ring_step(const char *where);
#endif

#endif /* IVB_RING_H */

/* ring.h: the stream test's ring of frame slots, laid out in the region's data buffer.
 *
 * In a stream the data buffer (common.h) starts with a control page, then nslots frame slots of
 * slot_stride bytes each (page aligned):
 *
 *   line 0        geometry   host-owned   magic, slots, stride, frame size, policy, verification, consume mode
 *   line 1        producer   host-owned   head, latest, producer state, the host's wake request
 *   line 2        consumer   guest-owned  released, the slot being read, consumer state, wake request
 *   lines 3-18    slot desc  host-owned   per slot: the frame in it (sequence + 1), size, checksum
 *   lines 19-34   results    guest-owned  per slot: the frame consumed, copy and verify time, status
 *   IVB_RING_CTL_SIZE        slot 0, slot 1, ...
 *
 * Policies:
 *   block   a classic single-producer ring: frame n goes in slot n % nslots once the guest has
 *           released frame n - nslots; the guest consumes every frame in order. Nothing is ever
 *           overwritten before the guest released it.
 *   latest  the host never waits: it writes into a slot that is neither the newest frame nor the
 *           one the guest is reading, and publishes it as `latest`; the guest always takes the
 *           newest frame (advance to last). A frame whose slot is reused before the guest took it,
 *           or that found no free slot, is dropped. The guest claims a slot before reading it and
 *           the host marks a slot invalid before writing it; both then re-check the other's word
 *           (sequentially consistent, Dekker style), so that they never both go ahead.
 *
 * Wake requests (doorbell mode, the event index of virtio rings): a side about to sleep publishes
 * what it waits for and a new generation, re-checks, then sleeps; the other side rings only when it
 * sees a generation it has not rung for whose condition it just met, so a busy stream costs no
 * system call.
 *
 * Everything the peer writes is untrusted: the consumer validates the geometry once and every
 * sequence, slot index and size it reads; the producer validates every result and counter.
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
#define IVB_RING_CTL_SIZE 4096u
#define IVB_RING_MAX_SLOTS 16u
#define IVB_RING_SLOT_ALIGN 4096u
#define IVB_RING_CHECKSUM_LEN 32u
/* A frame starts with its sequence number (little-endian), so that a stale slot never verifies. */
#define IVB_RING_STAMP_LEN 8u
#define IVB_RING_MIN_FRAME 64u

enum ivb_ring_policy {
	IVB_RING_BLOCK = 1,  /* the host waits for a free slot; every frame is consumed */
	IVB_RING_LATEST = 2, /* the host never waits; the guest takes the newest frame */
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

/* What the guest reports for a frame, in ivb_ring_result.status. */
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
	uint64_t copy_ns;      /* guest clock: copy of the frame out of the slot; 0 when read in place */
	uint64_t verify_ns;    /* guest clock: checksum of the frame (the copy, or the slot) and comparison */
	uint32_t status;       /* enum ivb_ring_status */
	uint8_t pad[36];
};

struct ivb_ring_ctl {
	/* line 0: geometry, host-owned, written before the stream starts */
	uint32_t magic;
	uint32_t nslots;
	uint32_t policy; /* enum ivb_ring_policy */
	uint32_t verify; /* enum ivb_ring_verify */
	uint64_t slot_stride;
	uint64_t frame_size;
	uint32_t consume; /* enum ivb_consume */
	uint8_t pad0[28];

	/* line 1: producer, host-owned */
	alignas(IVB_CACHE_LINE) _Atomic uint64_t head; /* frames published */
	_Atomic uint64_t latest;       /* latest policy: (sequence + 1) << 8 | slot of the newest frame */
	_Atomic uint32_t producer_state; /* enum ivb_ring_state */
	uint32_t pad1a;
	struct ivb_ring_wake host_wake; /* the host sleeps until `released` reaches at */
	uint8_t pad1[24];

	/* line 2: consumer, guest-owned */
	alignas(IVB_CACHE_LINE) _Atomic uint64_t released; /* frames the guest finished with */
	_Atomic uint64_t reading;      /* latest policy: the `latest` value the guest claimed; 0: none */
	_Atomic uint32_t consumer_state; /* enum ivb_ring_state */
	uint32_t pad2a;
	struct ivb_ring_wake guest_wake; /* the guest sleeps until `head` reaches at */
	uint64_t private_copy_ns;   /* guest clock: copy of one frame between private buffers */
	uint64_t private_verify_ns; /* guest clock: its checksum */
	uint64_t cpu_ns;            /* the guest's CPU time over the stream; these three valid once DONE */

	/* lines 3-18: slot descriptors, host-owned */
	alignas(IVB_CACHE_LINE) struct ivb_ring_desc desc[IVB_RING_MAX_SLOTS];
	/* lines 19-34: results, guest-owned */
	alignas(IVB_CACHE_LINE) struct ivb_ring_result result[IVB_RING_MAX_SLOTS];
};

_Static_assert(sizeof(struct ivb_ring_desc) == IVB_CACHE_LINE, "a descriptor is one line");
_Static_assert(sizeof(struct ivb_ring_result) == IVB_CACHE_LINE, "a result is one line");
_Static_assert(offsetof(struct ivb_ring_ctl, slot_stride) == 16, "geometry line layout");
_Static_assert(offsetof(struct ivb_ring_ctl, consume) == 32, "geometry line layout");
_Static_assert(offsetof(struct ivb_ring_ctl, head) == 1 * IVB_CACHE_LINE, "producer on line 1");
_Static_assert(offsetof(struct ivb_ring_ctl, host_wake) == 1 * IVB_CACHE_LINE + 24, "producer line layout");
_Static_assert(offsetof(struct ivb_ring_ctl, released) == 2 * IVB_CACHE_LINE, "consumer on line 2");
_Static_assert(offsetof(struct ivb_ring_ctl, guest_wake) == 2 * IVB_CACHE_LINE + 24, "consumer line layout");
_Static_assert(offsetof(struct ivb_ring_ctl, desc) == 3 * IVB_CACHE_LINE, "descriptors from line 3");
_Static_assert(offsetof(struct ivb_ring_ctl, result) == 19 * IVB_CACHE_LINE, "results from line 19");
_Static_assert(sizeof(struct ivb_ring_ctl) == 35 * IVB_CACHE_LINE, "control lines");
_Static_assert(sizeof(struct ivb_ring_ctl) <= IVB_RING_CTL_SIZE, "control fits before the slots");

struct ivb_ring_geometry {
	uint32_t nslots;
	uint32_t policy;
	uint32_t verify;
	uint32_t consume;
	uint64_t slot_stride;
	uint64_t frame_size;
};

/*
 * The geometry of nslots frames of frame_size bytes in a buffer of `capacity` bytes.
 * Returns: 0, -EINVAL for a slot count, policy, verification, consume mode or frame size out of range,
 * or -ENOSPC when the slots do not fit (`need` then holds the bytes they would take).
 */
int ivb_ring_geometry_for(uint64_t capacity, uint32_t nslots, uint64_t frame_size, uint32_t policy,
			  uint32_t verify, uint32_t consume, struct ivb_ring_geometry *g, uint64_t *need);

/* What the guest reports at the end of a stream (guest clock; 0: not measured). */
struct ivb_ring_guest_report {
	uint64_t private_copy_ns;   /* a frame's copy between private buffers */
	uint64_t private_verify_ns; /* its checksum */
	uint64_t cpu_ns;            /* CPU time over the stream */
};

/* What became of a published frame, as the producer learns it. */
struct ivb_ring_outcome {
	uint64_t seq;
	uint32_t slot;
	bool consumed;      /* false: dropped (latest policy only) */
	uint32_t status;    /* enum ivb_ring_status, when consumed */
	uint64_t copy_ns;   /* guest clock, when consumed */
	uint64_t verify_ns;
};

typedef void (*ivb_ring_outcome_fn)(void *arg, const struct ivb_ring_outcome *o);

struct ivb_ring_producer {
	struct ivb_ring_ctl *ctl;
	uint8_t *slots;
	struct ivb_ring_geometry g;
	uint64_t next_seq;                          /* of the next frame to publish */
	uint64_t collected;                         /* block: outcomes reported up to this frame */
	uint64_t slot_seq1[IVB_RING_MAX_SLOTS];     /* latest: the frame published in each slot, unresolved */
	uint64_t slot_age[IVB_RING_MAX_SLOTS];      /* latest: when each slot was last written */
	uint64_t rung_gen;                          /* the guest wake generation already rung for */
	uint64_t published;                         /* frames given a slot (latest: next_seq less the skipped) */
	uint64_t released_seen;                     /* the guest's released count as last read and accepted */
	ivb_ring_outcome_fn outcome;
	void *outcome_arg;
	char why[128];                              /* after -EPROTO: what the guest wrote out of range */
};

/* Write the geometry into the control page at `buffer` and reset both sides' lines. */
void ivb_ring_producer_init(struct ivb_ring_producer *p, void *buffer, const struct ivb_ring_geometry *g,
			    ivb_ring_outcome_fn outcome, void *arg);

/* The start of slot `slot`'s frame. */
uint8_t *ivb_ring_slot(const struct ivb_ring_producer *p, uint32_t slot);

/*
 * A slot to write the next frame into. Reports outcomes it learns on the way.
 * Returns: 0 with *slot set; -EAGAIN when no slot is free (block: wait and retry; latest: the
 * frame is dropped, call ivb_ring_skip); -EPROTO when the guest's counters are out of range (p->why).
 */
int ivb_ring_acquire(struct ivb_ring_producer *p, uint32_t *slot);

/* Latest policy: the next frame found no free slot; it is reported dropped. */
void ivb_ring_skip(struct ivb_ring_producer *p);

/* Publish the frame written into `slot` (the stamp is written here). */
void ivb_ring_publish(struct ivb_ring_producer *p, uint32_t slot, uint64_t size, const uint8_t *checksum);

/*
 * Report the outcomes of frames the guest finished since the last call.
 * Returns: 0, or -EPROTO when a result or counter is out of range (p->why says which).
 */
int ivb_ring_collect(struct ivb_ring_producer *p);

/* No frame after the ones published. */
void ivb_ring_finish(struct ivb_ring_producer *p);

/*
 * After the consumer said DONE (or gave up on it): report every frame still unresolved as dropped.
 * Returns: 0, or -EPROTO as ivb_ring_collect.
 */
int ivb_ring_settle(struct ivb_ring_producer *p);

/* Whether the guest is sleeping on something the host just provided; then ring it. */
bool ivb_ring_producer_should_ring(struct ivb_ring_producer *p);

/*
 * The host is about to sleep until `released` reaches `at`.
 * Returns: true when it may sleep, false when the condition already holds.
 */
bool ivb_ring_producer_sleep(struct ivb_ring_producer *p, uint64_t at);
void ivb_ring_producer_awake(struct ivb_ring_producer *p);

/*
 * Frames the guest has released, as it says, checked: the count never goes back and never exceeds the
 * frames published (a guest releases each frame it took once).
 * Returns: 0 with *released set, or -EPROTO (p->why says which bound it broke).
 */
int ivb_ring_released(struct ivb_ring_producer *p, uint64_t *released);
bool ivb_ring_consumer_done(const struct ivb_ring_producer *p);

/* Whether the guest has attached to the ring (it validated the geometry and is taking frames). */
bool ivb_ring_consumer_attached(const struct ivb_ring_producer *p);

/*
 * The guest's report at the end of the stream.
 * Returns: 0, -EAGAIN before DONE, or -EPROTO for durations out of range.
 */
int ivb_ring_read_guest_report(const struct ivb_ring_producer *p, struct ivb_ring_guest_report *rep);

struct ivb_ring_consumer {
	struct ivb_ring_ctl *ctl;
	uint8_t *slots;
	struct ivb_ring_geometry g; /* validated copy */
	uint64_t next_seq;          /* block: the frame to consume next; latest: one past the last */
	uint64_t released;
	uint64_t rung_gen;
	uint64_t skipped;           /* latest: frames published that the guest never took */
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
 * Read and validate the geometry the host wrote at `buffer` (capacity bytes from it mapped). The host
 * does not start yet: it waits for ivb_ring_consumer_start.
 * Returns: 0, or -EPROTO with `why` saying which field is out of range.
 */
int ivb_ring_consumer_open(struct ivb_ring_consumer *c, void *buffer, uint64_t capacity, char *why,
			   size_t whylen);

/*
 * Tell the host that frames may come (it starts its clock and its first frame now): call it once the
 * consumer is ready to take them, its buffers made, so that no frame is dropped for its start-up.
 */
void ivb_ring_consumer_start(struct ivb_ring_consumer *c);

/* ivb_ring_consumer_open, then ivb_ring_consumer_start when it succeeded (a consumer with nothing to prepare). */
int ivb_ring_consumer_attach(struct ivb_ring_consumer *c, void *buffer, uint64_t capacity, char *why,
			     size_t whylen);

/*
 * Take the next frame (block) or the newest (latest).
 * Returns: 0 with *f set; 1 when the stream has ended; -EAGAIN when nothing new is there yet;
 * -EPROTO with `why` when the host wrote something out of range.
 */
int ivb_ring_take(struct ivb_ring_consumer *c, struct ivb_ring_frame *f, char *why, size_t whylen);

/* Give the frame's slot back with what the guest found. */
void ivb_ring_release(struct ivb_ring_consumer *c, const struct ivb_ring_frame *f, uint32_t status,
		      uint64_t copy_ns, uint64_t verify_ns);

/* The consumer saw the end (or gives up), with its report (NULL: nothing measured): the host may settle. */
void ivb_ring_consumer_finish(struct ivb_ring_consumer *c, const struct ivb_ring_guest_report *rep);

/* Whether the host sleeps on something the guest just provided; then ring it. */
bool ivb_ring_consumer_should_ring(struct ivb_ring_consumer *c);

/*
 * The guest is about to sleep until the next frame is published.
 * Returns: true when it may sleep, false when a frame (or the end) already came.
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

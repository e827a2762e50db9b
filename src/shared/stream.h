/* stream.h: the stream test's two loops over the ring (ring.h): the host produces frames for a set
 * time, paced or as fast as it can; the guest verifies each frame it takes, in its slot or in a copy
 * (enum ivb_consume). Both time with their own clock; only durations cross the region.
 */
#ifndef IVB_STREAM_H
#define IVB_STREAM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "bell.h"
#include "ring.h"

/*
 * The checksum of len bytes for `verify` (enum ivb_ring_verify) into out (zero-padded).
 * Returns: 0, or -EIO when the library failed, -EINVAL for an unknown kind.
 */
int ivb_checksum(uint32_t verify, const void *data, size_t len, uint8_t out[IVB_RING_CHECKSUM_LEN]);

/* The name of a verification kind ("sha256", "xxh3", "none") and back; -EINVAL if unknown. */
const char *ivb_verify_name(uint32_t verify);
int ivb_verify_parse(const char *s, uint32_t *verify);
const char *ivb_policy_name(uint32_t policy);
int ivb_policy_parse(const char *s, uint32_t *policy);
/* The name of a consume mode (enum ivb_consume: "copy", "inplace") and back; -EINVAL if unknown. */
const char *ivb_consume_name(uint32_t consume);
int ivb_consume_parse(const char *s, uint32_t *consume);

/*
 * The consumer's check of a frame's bytes (its copy, or the slot itself when read in place): the sequence stamp first, then the checksum of the payload
 * after it (verify: enum ivb_ring_verify). Returns: enum ivb_ring_status.
 */
uint32_t ivb_stream_check_copy(uint32_t verify, uint64_t seq, const uint8_t *copy, uint64_t size,
			       const uint8_t checksum[IVB_RING_CHECKSUM_LEN]);

/* One frame as the host saw it, reported when its fate is known. */
struct ivb_stream_frame {
	uint64_t seq;
	uint32_t slot;        /* UINT32_MAX: no free slot (latest) */
	bool dropped;
	uint32_t status;      /* enum ivb_ring_status when consumed */
	uint64_t publish_ns;  /* host clock, from the stream's start */
	uint64_t write_ns;    /* host: copy of the frame into its slot */
	uint64_t slot_wait_ns; /* host: waiting for a free slot (block) */
	uint64_t latency_ns;  /* host clock: publish to seeing the guest's release; 0 if dropped */
	uint64_t guest_copy_ns;   /* guest clock */
	uint64_t guest_verify_ns; /* guest clock */
	uint64_t rings;       /* doorbell rings the host sent for this frame */
	bool failed;          /* consumed, and the host does not accept it as checked (ivb_stream_produce) */
	const char *error;    /* when the guest's report is a lie: implausible_timing, accepted_corrupted_frame */
	uint64_t ready_ns;    /* host clock: written into its slot, about to be published (the guest's earliest) */
	uint32_t consumer;    /* the ring's consumer this fate is for (0 in a one-consumer ring) */
};

/*
 * The host's verdict on a consumed frame (sets failed and error): the verification it asked for (verify,
 * enum ivb_ring_verify) must have been done and passed; the frame it corrupted (corrupted) must have been
 * found bad; the guest's copy and check times must fit in window_ns, the host-measured time between the
 * frame's being ready and the guest's answer being seen.
 */
void ivb_stream_judge(struct ivb_stream_frame *f, uint32_t verify, bool corrupted, uint64_t window_ns);

typedef int (*ivb_stream_frame_fn)(void *arg, const struct ivb_stream_frame *f);

/* Whether the peer is still there (e.g. not ABORTED): 0, or a negative errno with `why` set. */
typedef int (*ivb_stream_check_fn)(void *arg, char *why, size_t whylen);

struct ivb_stream_host_totals {
	uint64_t produced;                             /* frames */
	uint64_t consumed, dropped, failed, unverified; /* outcomes: one per frame and live consumer */
	uint32_t consumers_dropped;                    /* consumers dropped for their timeout (ring.h) */
	uint64_t duration_ns;   /* from the first publish to the last outcome */
	uint64_t rings_sent;
};

struct ivb_stream_host {
	struct ivb_ring_producer ring;
	struct ivb_bell *bell; /* NULL: polling */
	int guest_peer;
	bool vector_per_consumer; /* doorbell: consumer i waits on the peer's vector i (else all on vector 0) */
	uint64_t seconds;
	uint32_t fps;            /* 0: as fast as possible */
	uint32_t window;         /* block: frames in flight at most (1: a ping-pong); 0: as many as the slots hold */
	uint64_t timeout_ns;     /* the longest wait for the guest */
	const uint8_t *const *sources; /* nsources distinct frames of the ring's frame size */
	const uint8_t (*checksums)[IVB_RING_CHECKSUM_LEN]; /* of each source's payload */
	uint32_t nsources;
	ivb_stream_frame_fn on_frame; /* called once per frame and consumer, in the order fates are learnt */
	void *arg;
	ivb_stream_check_fn check;    /* asked while waiting for the guest; NULL: never */
	void *check_arg;
	bool corrupt;                 /* flip a payload byte of frame corrupt_frame after its checksum was taken */
	uint64_t corrupt_frame;       /* counting from 0; the guest must fail it (a verification is needed) */
	struct ivb_stream_host_totals totals;
	const char *consumer;         /* who consumes, in the errors; NULL: the guest (the guest producer says "host") */
	char why[256];
	/*
	 * The record of each slot's unresolved frame (a slot holds at most one, under both policies: under
	 * latest a frame the guest keeps claimed can stay unresolved for any number of later frames), and
	 * of a frame dropped before it got a slot.
	 */
	struct ivb_stream_frame inflight[IVB_RING_MAX_SLOTS];
	struct ivb_stream_frame slotless;
	uint64_t noticed_ns; /* host clock before the ring call that reports outcomes: their latency's end */
	uint64_t start_ns;
	int callback_error;
};

/*
 * Produce frames into the ring for h->seconds, then end the stream and wait for the guest to finish
 * with what it took (timeout_ns from its last release, nslots timeouts at most). Every frame's fate for
 * each consumer reaches on_frame. A consumer that holds the producer back longer than the ring's consumer
 * timeout is dropped (ivb_ring_drop_stalled, counted in totals.consumers_dropped) and the others go on. A consumed frame fails (f->failed, counted in totals.failed) when the guest found
 * it bad, did not verify it as the ring asked, reported a copy and check longer than the host saw the
 * frame out (implausible_timing), or accepted the frame the host corrupted (accepted_corrupted_frame,
 * which also ends the stream with -EPROTO).
 * Returns: 0; -ETIMEDOUT when the guest stopped taking or releasing frames for timeout_ns; -EPIPE when
 * every consumer was dropped;
 * -EPROTO when it wrote something out of range; -EINTR on a stop request; check's or on_frame's error.
 * `why` says which.
 */
int ivb_stream_produce(struct ivb_stream_host *h);

struct ivb_stream_guest_totals {
	uint64_t taken, ok, bad, unverified, skipped;
	uint64_t rings_sent;
	uint64_t copy_ns_sum, verify_ns_sum;
};

/* What a consumer found in one frame it took and released, for its owner (the host's rows of a guest's frames). */
struct ivb_stream_taken {
	const struct ivb_ring_frame *frame;
	uint32_t status;      /* enum ivb_ring_status, as released */
	uint64_t taken_ns;    /* consumer clock: the take returned it */
	uint64_t released_ns; /* consumer clock: just after its release */
	uint64_t copy_ns, verify_ns;
	uint64_t skipped;     /* latest: frames published before it that the consumer never took */
};

/*
 * A consumer that trusts nothing the producer wrote (the host reading a guest's frames): the checksum each frame
 * must have comes from `expect`, not from the ring; every frame taken reaches on_frame after its release.
 */
struct ivb_stream_reader {
	/* The checksum frame f must have; an error (why set) ends the stream. */
	int (*expect)(void *arg, const struct ivb_ring_frame *f, const uint8_t **checksum, char *why, size_t whylen);
	int (*on_frame)(void *arg, const struct ivb_stream_taken *t); /* NULL: none; an error ends the stream */
	void *arg;
	const char *producer; /* who produces, in the errors ("guest") */
};

/*
 * Take frames from the ring until the host ends the stream, each as the ring's consume mode says: copy:
 * copy it into `scratch` (at least a slot's size), verify the copy, release it; inplace: verify it in its
 * slot (scratch unused, may be NULL), release it after the last byte was read (its copy time is 0). In
 * doorbell mode sleep on the bell when nothing is there.
 * Returns: 0; -ETIMEDOUT when no frame and no end came for timeout_ns; -EPROTO (why) when the
 * host wrote something out of range; -EINTR on a stop request; check's error (NULL: never asked);
 * -EINVAL for a copy without a scratch buffer.
 */
int ivb_stream_consume(struct ivb_ring_consumer *c, uint8_t *scratch, struct ivb_bell *bell, int host_peer,
		       uint64_t timeout_ns, ivb_stream_check_fn check, void *check_arg,
		       struct ivb_stream_guest_totals *t, char *why, size_t whylen);

/*
 * ivb_stream_consume with a reader (NULL: the guest's, which checks each frame against the checksum the host
 * wrote with it). Returns as ivb_stream_consume, or the reader's error.
 */
int ivb_stream_consume_with(struct ivb_ring_consumer *c, uint8_t *scratch, struct ivb_bell *bell, int peer,
			    uint64_t timeout_ns, ivb_stream_check_fn check, void *check_arg,
			    const struct ivb_stream_reader *reader, struct ivb_stream_guest_totals *t, char *why,
			    size_t whylen);

/*
 * What one frame costs each side on private memory: the pipeline's limit in the same run.
 * copy_ns: memcpy of size bytes between private buffers; verify_ns: the checksum of a copy
 * (medians of `repeats`). Returns: 0, or a negative errno.
 */
int ivb_stream_private_cost(uint32_t verify, const uint8_t *src, uint8_t *dst, uint64_t size, unsigned repeats,
			    uint64_t *copy_ns, uint64_t *verify_ns);

#endif /* IVB_STREAM_H */

/* ring_consumer.c: the consumer's side of the ring (ring.h): validating what the producer wrote, taking
 * and releasing frames. */
#include "ring_internal.h"

#include "protocol.h" /* IVB_MAX_DURATION_NS */

#include <errno.h>
#include <string.h>

int ivb_ring_consumer_open_as(struct ivb_ring_consumer *c, void *buffer, uint64_t capacity, uint32_t index,
			      char *why, size_t whylen)
{
	struct ivb_ring_ctl *ctl = buffer;
	struct ivb_ring_geometry g = {
		.nslots = ctl->nslots, .policy = ctl->policy, .verify = ctl->verify, .consume = ctl->consume,
		.slot_stride = ctl->slot_stride, .frame_size = ctl->frame_size,
	};
	struct ivb_ring_geometry want;
	uint64_t need = 0;
	int ret;

	memset(c, 0, sizeof(*c));
	if (index >= IVB_RING_MAX_CONSUMERS)
		return -EINVAL;
	if (ctl->magic != IVB_RING_MAGIC)
		return ivb_ring_reject(why, whylen, "ring magic 0x%08x is not 0x%08x", ctl->magic, IVB_RING_MAGIC);
	/* Recompute the geometry from the producer's own numbers: every field must agree with it. */
	ret = ivb_ring_geometry_for(capacity, g.nslots, g.frame_size, g.policy, g.verify, g.consume, &want, &need);
	if (ret == -ENOSPC)
		return ivb_ring_reject(why, whylen, "ring of %u slots of %llu bytes needs %llu bytes, mapped %llu", g.nslots,
				       (unsigned long long)g.frame_size, (unsigned long long)need, (unsigned long long)capacity);
	if (ret < 0)
		return ivb_ring_reject(why, whylen, "ring geometry out of range (slots %u, frame %llu, policy %u, verify %u, consume %u)",
				       g.nslots, (unsigned long long)g.frame_size, g.policy, g.verify, g.consume);
	if (want.slot_stride != g.slot_stride)
		return ivb_ring_reject(why, whylen, "ring slot stride %llu is not %llu", (unsigned long long)g.slot_stride,
				       (unsigned long long)want.slot_stride);
	g.nconsumers = ctl->nconsumers;
	g.consumer_timeout_ns = ctl->consumer_timeout_ns;
	if (ivb_ring_geometry_consumers(&want, g.nconsumers, g.consumer_timeout_ns) < 0)
		return ivb_ring_reject(why, whylen, "ring consumers out of range (%u consumers, timeout %llu ns)", g.nconsumers,
				       (unsigned long long)g.consumer_timeout_ns);
	if (index >= g.nconsumers)
		return ivb_ring_reject(why, whylen, "ring has %u consumers, none numbered %u", g.nconsumers, index);
	c->ctl = ctl;
	c->slots = (uint8_t *)buffer + IVB_RING_CTL_SIZE;
	c->g = g;
	c->index = index;
	c->own = &ctl->cons[index];
	return 0;
}

int ivb_ring_consumer_open(struct ivb_ring_consumer *c, void *buffer, uint64_t capacity, char *why,
			   size_t whylen)
{
	return ivb_ring_consumer_open_as(c, buffer, capacity, 0, why, whylen);
}

void ivb_ring_consumer_start(struct ivb_ring_consumer *c)
{
	atomic_store_explicit(&c->own->consumer_state, IVB_RING_STREAMING, memory_order_release);
}

int ivb_ring_consumer_attach(struct ivb_ring_consumer *c, void *buffer, uint64_t capacity, char *why,
			     size_t whylen)
{
	int ret = ivb_ring_consumer_open(c, buffer, capacity, why, whylen);

	if (ret == 0)
		ivb_ring_consumer_start(c);
	return ret;
}

static int take_block(struct ivb_ring_consumer *c, struct ivb_ring_frame *f, char *why, size_t whylen)
{
	uint64_t head = atomic_load_explicit(&c->ctl->head, memory_order_acquire);
	uint32_t slot = (uint32_t)(c->next_seq % c->g.nslots);
	struct ivb_ring_desc *d = &c->ctl->desc[slot];

	if (head < c->next_seq || head - c->next_seq > c->g.nslots)
		return ivb_ring_reject(why, whylen, "ring head %llu out of range (next frame %llu, %u slots)",
			      (unsigned long long)head, (unsigned long long)c->next_seq, c->g.nslots);
	if (head == c->next_seq)
		return atomic_load_explicit(&c->ctl->producer_state, memory_order_acquire) == IVB_RING_DONE &&
				       atomic_load_explicit(&c->ctl->head, memory_order_acquire) == head
			       ? 1
			       : -EAGAIN;
	if (atomic_load_explicit(&d->seq1, memory_order_acquire) != c->next_seq + 1)
		return ivb_ring_reject(why, whylen, "slot %u does not hold frame %llu", slot, (unsigned long long)c->next_seq);
	f->seq = c->next_seq;
	f->slot = slot;
	return 0;
}

static int take_latest(struct ivb_ring_consumer *c, struct ivb_ring_frame *f, char *why, size_t whylen)
{
	for (int attempt = 0; attempt < 4; attempt++) {
		uint64_t latest, seq1;
		uint32_t slot;

		IVB_RING_STEP("take: latest");
		latest = atomic_load_explicit(&c->ctl->latest, memory_order_seq_cst);
		seq1 = ivb_latest_seq1(latest);
		slot = ivb_latest_slot(latest);

		if (latest == 0 || seq1 <= c->next_seq) {
			if (seq1 < c->next_seq)
				return ivb_ring_reject(why, whylen, "ring latest frame %llu went back (had %llu)",
					      (unsigned long long)seq1, (unsigned long long)c->next_seq);
			return atomic_load_explicit(&c->ctl->producer_state, memory_order_acquire) == IVB_RING_DONE &&
					       atomic_load_explicit(&c->ctl->latest, memory_order_acquire) == latest
				       ? 1
				       : -EAGAIN;
		}
		if (slot >= c->g.nslots)
			return ivb_ring_reject(why, whylen, "ring latest slot %u out of range (%u slots)", slot, c->g.nslots);
		/* Claim, then check the slot still holds that frame (see acquire_latest). */
		IVB_RING_STEP("take: claim");
		atomic_store_explicit(&c->own->reading, latest, memory_order_seq_cst);
		IVB_RING_STEP("take: check");
		if (atomic_load_explicit(&c->ctl->desc[slot].seq1, memory_order_seq_cst) != seq1) {
			IVB_RING_STEP("take: unclaim");
			atomic_store_explicit(&c->own->reading, 0, memory_order_seq_cst);
			continue;
		}
		c->skipped += seq1 - 1 - c->next_seq;
		f->seq = seq1 - 1;
		f->slot = slot;
		return 0;
	}
	return -EAGAIN;
}

/*
 * 0 while the producer counts this consumer live; -ESHUTDOWN once it dropped it; -EPROTO for a state
 * out of range. The producer marks a drop before it writes any slot the consumer held.
 */
static int feed_state(struct ivb_ring_consumer *c, char *why, size_t whylen)
{
	uint32_t state = atomic_load_explicit(&c->ctl->feed[c->index].state, memory_order_seq_cst);

	switch ((enum ivb_ring_feed_state)state) {
	case IVB_FEED_LIVE:
		return 0;
	case IVB_FEED_DROPPED:
		return -ESHUTDOWN;
	}
	return ivb_ring_reject(why, whylen, "consumer %u's feed state %u out of range", c->index, state);
}

int ivb_ring_take(struct ivb_ring_consumer *c, struct ivb_ring_frame *f, char *why, size_t whylen)
{
	struct ivb_ring_desc *d;
	int ret = feed_state(c, why, whylen);

	if (ret < 0)
		return ret;
	ret = c->g.policy == IVB_RING_BLOCK ? take_block(c, f, why, whylen) : take_latest(c, f, why, whylen);
	/* A frame gone from under a consumer the producer dropped meanwhile is its drop, not a lie. */
	if (ret == -EPROTO && feed_state(c, why, whylen) == -ESHUTDOWN)
		return -ESHUTDOWN;
	if (ret != 0)
		return ret;
	d = &c->ctl->desc[f->slot];
	f->size = d->size;
	memcpy(f->checksum, d->checksum, IVB_RING_CHECKSUM_LEN);
	f->data = c->slots + (uint64_t)f->slot * c->g.slot_stride;
	if (f->size < IVB_RING_MIN_FRAME || f->size > c->g.slot_stride) {
		if (c->g.policy == IVB_RING_LATEST)
			atomic_store_explicit(&c->own->reading, 0, memory_order_seq_cst);
		return ivb_ring_reject(why, whylen, "frame %llu size %llu out of range (%u to %llu bytes)",
			      (unsigned long long)f->seq, (unsigned long long)f->size, IVB_RING_MIN_FRAME,
			      (unsigned long long)c->g.slot_stride);
	}
	return 0;
}

void ivb_ring_release(struct ivb_ring_consumer *c, const struct ivb_ring_frame *f, uint32_t status,
		      uint64_t copy_ns, uint64_t verify_ns)
{
	struct ivb_ring_result *r = &c->own->result[f->slot];

	IVB_RING_STEP("release: result");
	r->copy_ns = copy_ns;
	r->verify_ns = verify_ns;
	r->status = status;
	atomic_store_explicit(&r->seq1, f->seq + 1, memory_order_release);
	c->next_seq = f->seq + 1;
	c->released++;
	if (c->g.policy == IVB_RING_LATEST) {
		IVB_RING_STEP("release: unclaim");
		atomic_store_explicit(&c->own->reading, 0, memory_order_seq_cst);
	}
	/* Block: released counts frames in order, so it is also the next frame's sequence. */
	atomic_store_explicit(&c->own->released, c->g.policy == IVB_RING_BLOCK ? c->next_seq : c->released,
			      memory_order_seq_cst);
}

void ivb_ring_consumer_finish(struct ivb_ring_consumer *c, const struct ivb_ring_guest_report *rep)
{
	c->own->private_copy_ns = rep != NULL ? rep->private_copy_ns : 0;
	c->own->private_verify_ns = rep != NULL ? rep->private_verify_ns : 0;
	c->own->cpu_ns = rep != NULL ? rep->cpu_ns : 0;
	atomic_store_explicit(&c->own->consumer_state, IVB_RING_DONE, memory_order_seq_cst);
}

bool ivb_ring_consumer_should_ring(struct ivb_ring_consumer *c)
{
	bool ended = atomic_load_explicit(&c->own->consumer_state, memory_order_relaxed) == IVB_RING_DONE;

	return ivb_ring_wake_due(&c->ctl->feed[c->index].producer_wake, c->released, ended, &c->rung_gen);
}

bool ivb_ring_consumer_sleep(struct ivb_ring_consumer *c)
{
	ivb_ring_wake_request(&c->own->consumer_wake, c->next_seq + 1);
	return atomic_load_explicit(&c->ctl->head, memory_order_seq_cst) <= c->next_seq &&
	       atomic_load_explicit(&c->ctl->producer_state, memory_order_seq_cst) != IVB_RING_DONE &&
	       atomic_load_explicit(&c->ctl->feed[c->index].state, memory_order_seq_cst) == IVB_FEED_LIVE;
}

void ivb_ring_consumer_awake(struct ivb_ring_consumer *c)
{
	atomic_store_explicit(&c->own->consumer_wake.at, 0, memory_order_relaxed);
}

/* ring_producer.c: the producer's side of the ring (ring.h): which slot it may write when, and what it learns
 * of each frame from each consumer. What it knows of each consumer's standing (released counts, drops,
 * wake requests) is in ring_feeds.c. */
#include "ring_internal.h"

#include "protocol.h" /* IVB_MAX_DURATION_NS */

#include <errno.h>
#include <string.h>

/* A consumer's lines and feed back to their state before the stream. */
static void reset_consumer(struct ivb_ring_ctl *ctl, uint32_t i)
{
	struct ivb_ring_feed *fd = &ctl->feed[i];
	struct ivb_ring_cons *cn = &ctl->cons[i];

	atomic_store_explicit(&fd->state, IVB_FEED_LIVE, memory_order_relaxed);
	atomic_store_explicit(&fd->dropped_head, 0, memory_order_relaxed);
	atomic_store_explicit(&fd->producer_wake.at, 0, memory_order_relaxed);
	atomic_store_explicit(&fd->producer_wake.gen, 0, memory_order_relaxed);
	atomic_store_explicit(&cn->released, 0, memory_order_relaxed);
	atomic_store_explicit(&cn->reading, 0, memory_order_relaxed);
	atomic_store_explicit(&cn->consumer_state, IVB_RING_IDLE, memory_order_relaxed);
	atomic_store_explicit(&cn->consumer_wake.at, 0, memory_order_relaxed);
	atomic_store_explicit(&cn->consumer_wake.gen, 0, memory_order_relaxed);
	cn->private_copy_ns = 0;
	cn->private_verify_ns = 0;
	cn->cpu_ns = 0;
	for (uint32_t s = 0; s < IVB_RING_MAX_SLOTS; s++)
		atomic_store_explicit(&cn->result[s].seq1, 0, memory_order_relaxed);
}

void ivb_ring_producer_init(struct ivb_ring_producer *p, void *buffer, const struct ivb_ring_geometry *g,
			    ivb_ring_outcome_fn outcome, void *arg)
{
	struct ivb_ring_ctl *ctl = buffer;

	memset(p, 0, sizeof(*p));
	p->ctl = ctl;
	p->slots = (uint8_t *)buffer + IVB_RING_CTL_SIZE;
	p->g = *g;
	p->live = (uint32_t)((1ull << g->nconsumers) - 1);
	p->outcome = outcome;
	p->outcome_arg = arg;

	/* The consumers wait for a READY producer before they read any of this: plain stores suffice, the
	 * caller's release of its state publishes them. Every consumer's lines are reset too, so that a
	 * result of an earlier stream never counts. */
	atomic_store_explicit(&ctl->producer_state, IVB_RING_IDLE, memory_order_relaxed);
	ctl->magic = IVB_RING_MAGIC;
	ctl->nslots = g->nslots;
	ctl->policy = g->policy;
	ctl->verify = g->verify;
	ctl->consume = g->consume;
	ctl->slot_stride = g->slot_stride;
	ctl->frame_size = g->frame_size;
	ctl->nconsumers = g->nconsumers;
	ctl->consumer_timeout_ns = g->consumer_timeout_ns;
	atomic_store_explicit(&ctl->head, 0, memory_order_relaxed);
	atomic_store_explicit(&ctl->latest, 0, memory_order_relaxed);
	for (uint32_t s = 0; s < IVB_RING_MAX_SLOTS; s++)
		atomic_store_explicit(&ctl->desc[s].seq1, 0, memory_order_relaxed);
	for (uint32_t i = 0; i < IVB_RING_MAX_CONSUMERS; i++)
		reset_consumer(ctl, i);
	atomic_store_explicit(&ctl->producer_state, IVB_RING_STREAMING, memory_order_release);
}

uint8_t *ivb_ring_slot(const struct ivb_ring_producer *p, uint32_t slot)
{
	return p->slots + (uint64_t)slot * p->g.slot_stride;
}

/* Report the frame in `slot` dropped for every live consumer that still owes it an outcome. */
void ivb_ring_report_unresolved(struct ivb_ring_producer *p, uint32_t slot)
{
	for (uint32_t i = 0; i < p->g.nconsumers; i++) {
		if (p->pending[slot] & IVB_RING_BIT(i)) {
			p->pending[slot] &= ~IVB_RING_BIT(i);
			ivb_ring_report(p, i, p->slot_seq1[slot] - 1, slot, NULL);
		}
	}
}

void ivb_ring_report(struct ivb_ring_producer *p, uint32_t i, uint64_t seq, uint32_t slot,
		     const struct ivb_ring_result *r)
{
	struct ivb_ring_outcome o = { .seq = seq, .slot = slot, .consumer = i, .consumed = r != NULL };

	if (r != NULL) {
		o.status = r->status;
		o.copy_ns = r->copy_ns;
		o.verify_ns = r->verify_ns;
	}
	if (p->outcome != NULL)
		p->outcome(p->outcome_arg, &o);
}

/* Consumer i's result for the frame in `slot`, checked; -EAGAIN while it has none for it. */
static int read_result(struct ivb_ring_producer *p, uint32_t i, uint32_t slot, uint64_t seq1,
		       struct ivb_ring_result *out)
{
	struct ivb_ring_result *r = &p->ctl->cons[i].result[slot];
	uint64_t got;

	IVB_RING_STEP("collect: result");
	got = atomic_load_explicit(&r->seq1, memory_order_acquire);

	if (got != seq1)
		return -EAGAIN;
	out->copy_ns = r->copy_ns;
	out->verify_ns = r->verify_ns;
	out->status = r->status;
	if (out->status < IVB_FRAME_OK || out->status > IVB_FRAME_STATUS_MAX || out->copy_ns > IVB_MAX_DURATION_NS ||
	    out->verify_ns > IVB_MAX_DURATION_NS)
		return ivb_ring_reject(p->why, sizeof(p->why),
				       "consumer %u's result for frame %llu is out of range: status %u, copy %llu ns, check %llu ns",
				       i, (unsigned long long)(seq1 - 1), out->status, (unsigned long long)out->copy_ns,
				       (unsigned long long)out->verify_ns);
	return 0;
}

/* Block: consumer i's results in order up to its released count. */
static int collect_block(struct ivb_ring_producer *p, uint32_t i)
{
	uint64_t released;
	int ret = ivb_ring_released_by(p, i, &released);

	if (ret < 0)
		return ret;
	for (; p->collected[i] < released; p->collected[i]++) {
		uint32_t slot = (uint32_t)(p->collected[i] % p->g.nslots);
		struct ivb_ring_result r;

		ret = read_result(p, i, slot, p->collected[i] + 1, &r);
		/* A consumer releases a frame only after writing its result: a missing one is a lie. */
		if (ret == -EAGAIN)
			return ivb_ring_reject(p->why, sizeof(p->why), "consumer %u released frame %llu without a result for it",
					       i, (unsigned long long)p->collected[i]);
		if (ret < 0)
			return ret;
		/* Every frame up to the producer's next one had a slot, and this one's stays until i releases it. */
		p->pending[slot] &= ~IVB_RING_BIT(i);
		ivb_ring_report(p, i, p->collected[i], slot, &r);
	}
	return 0;
}

/* Latest: consumer i's result for any slot whose frame it still owes. */
static int collect_latest(struct ivb_ring_producer *p, uint32_t i)
{
	uint64_t released;
	/* Not needed to find the results, but a count out of range is a lie to say at once. */
	int ret = ivb_ring_released_by(p, i, &released);

	if (ret < 0)
		return ret;
	for (uint32_t s = 0; s < p->g.nslots; s++) {
		struct ivb_ring_result r;

		if (!(p->pending[s] & IVB_RING_BIT(i)))
			continue;
		ret = read_result(p, i, s, p->slot_seq1[s], &r);
		if (ret == -EAGAIN)
			continue;
		if (ret < 0)
			return ret;
		p->pending[s] &= ~IVB_RING_BIT(i);
		ivb_ring_report(p, i, p->slot_seq1[s] - 1, s, &r);
	}
	return 0;
}

int ivb_ring_collect(struct ivb_ring_producer *p)
{
	for (uint32_t i = 0; i < p->g.nconsumers; i++) {
		int ret;

		if (!(p->live & IVB_RING_BIT(i)))
			continue;
		ret = p->g.policy == IVB_RING_BLOCK ? collect_block(p, i) : collect_latest(p, i);
		if (ret < 0)
			return ret;
	}
	return 0;
}

/*
 * Latest: the slots the live consumers claim (bit s: slot s), each consumer's claim read with the
 * handshake's order, an interleaving point before each.
 */
static uint32_t claims(struct ivb_ring_producer *p, const char *where)
{
	uint32_t set = 0;

	(void)where;
	for (uint32_t i = 0; i < p->g.nconsumers; i++) {
		uint64_t reading;

		if (!(p->live & IVB_RING_BIT(i)))
			continue;
		IVB_RING_STEP(where);
		reading = atomic_load_explicit(&p->ctl->cons[i].reading, memory_order_seq_cst);
		/* A claim on a slot outside the ring (a lie) protects nothing. */
		if (reading != 0 && ivb_latest_slot(reading) < p->g.nslots)
			set |= IVB_RING_BIT(ivb_latest_slot(reading));
	}
	return set;
}

static int acquire_latest(struct ivb_ring_producer *p, uint32_t *slot)
{
	uint64_t latest = atomic_load_explicit(&p->ctl->latest, memory_order_relaxed);
	bool tried[IVB_RING_MAX_SLOTS] = { false };
	int ret = ivb_ring_collect(p);

	if (ret < 0)
		return ret;
	for (;;) {
		uint32_t taken = claims(p, "acquire: look"), best = UINT32_MAX;

		/* The least recently written slot that is neither the newest frame nor claimed. */
		for (uint32_t s = 0; s < p->g.nslots; s++) {
			if (tried[s] || (taken & IVB_RING_BIT(s)) || (latest != 0 && s == ivb_latest_slot(latest)))
				continue;
			if (best == UINT32_MAX || p->slot_age[s] < p->slot_age[best])
				best = s;
		}
		if (best == UINT32_MAX)
			return -EAGAIN;
		tried[best] = true;
		/* Mark the slot invalid, then look again at every live consumer's claim: one that claimed it
		 * in between sees the mark (and retries), or we see its claim (and leave the slot); never neither. */
		IVB_RING_STEP("acquire: mark");
		atomic_store_explicit(&p->ctl->desc[best].seq1, 0, memory_order_seq_cst);
		if (claims(p, "acquire: recheck") & IVB_RING_BIT(best))
			continue;
		/* No consumer can take this slot's frame any more: a result now or never. */
		ret = ivb_ring_collect(p);
		if (ret < 0)
			return ret;
		ivb_ring_report_unresolved(p, best);
		*slot = best;
		return 0;
	}
}

int ivb_ring_acquire(struct ivb_ring_producer *p, uint32_t *slot)
{
	uint32_t next;
	int ret;

	if (p->live == 0)
		return -EPIPE;
	if (p->g.policy == IVB_RING_LATEST)
		return acquire_latest(p, slot);
	ret = ivb_ring_collect(p);
	if (ret < 0)
		return ret;
	/* The slot is free once every live consumer reported the frame it held. */
	next = (uint32_t)(p->next_seq % p->g.nslots);
	if (p->pending[next] != 0)
		return -EAGAIN;
	*slot = next;
	return 0;
}

void ivb_ring_skip(struct ivb_ring_producer *p)
{
	for (uint32_t i = 0; i < p->g.nconsumers; i++)
		if (p->live & IVB_RING_BIT(i))
			ivb_ring_report(p, i, p->next_seq, UINT32_MAX, NULL);
	p->next_seq++;
	/* Keep head counting every frame produced, so that each consumer's drop count agrees. */
	atomic_store_explicit(&p->ctl->head, p->next_seq, memory_order_release);
}

void ivb_ring_publish(struct ivb_ring_producer *p, uint32_t slot, uint64_t size, const uint8_t *checksum)
{
	struct ivb_ring_desc *d = &p->ctl->desc[slot];
	uint64_t seq = p->next_seq++;

	ivb_ring_stamp(ivb_ring_slot(p, slot), seq);
	d->size = size;
	memcpy(d->checksum, checksum, IVB_RING_CHECKSUM_LEN);
	p->slot_seq1[slot] = seq + 1;
	p->pending[slot] = p->live;
	IVB_RING_STEP("publish: desc");
	atomic_store_explicit(&d->seq1, seq + 1, memory_order_release);
	p->published++;
	if (p->g.policy == IVB_RING_LATEST) {
		p->slot_age[slot] = seq + 1;
		IVB_RING_STEP("publish: latest");
		atomic_store_explicit(&p->ctl->latest, ivb_latest_pack(seq, slot), memory_order_seq_cst);
	}
	atomic_store_explicit(&p->ctl->head, seq + 1, memory_order_seq_cst);
}

void ivb_ring_finish(struct ivb_ring_producer *p)
{
	atomic_store_explicit(&p->ctl->producer_state, IVB_RING_DONE, memory_order_seq_cst);
}

int ivb_ring_settle(struct ivb_ring_producer *p)
{
	int ret = ivb_ring_collect(p);

	if (ret < 0)
		return ret;
	if (p->g.policy == IVB_RING_BLOCK) {
		/* Block never drops for a live consumer: what it did not release was lost with it. */
		for (uint32_t i = 0; i < p->g.nconsumers; i++)
			if ((p->live & IVB_RING_BIT(i)) && p->collected[i] != p->next_seq)
				return -EPIPE;
		return 0;
	}
	for (uint32_t s = 0; s < p->g.nslots; s++)
		ivb_ring_report_unresolved(p, s);
	return 0;
}

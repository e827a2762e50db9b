/* ring_producer.c: the producer's side of the ring (ring.h): which slot it may write when, and what it learns
 * of each frame from the consumer. */
#include "ring_internal.h"

#include "protocol.h" /* IVB_MAX_DURATION_NS */

#include <errno.h>
#include <string.h>

void ivb_ring_producer_init(struct ivb_ring_producer *p, void *buffer, const struct ivb_ring_geometry *g,
			    ivb_ring_outcome_fn outcome, void *arg)
{
	struct ivb_ring_ctl *ctl = buffer;

	memset(p, 0, sizeof(*p));
	p->ctl = ctl;
	p->slots = (uint8_t *)buffer + IVB_RING_CTL_SIZE;
	p->g = *g;
	p->outcome = outcome;
	p->outcome_arg = arg;

	/* The guest waits for a READY host before it reads any of this: plain stores suffice, the
	 * caller's release of its state publishes them. The guest's lines are reset too, so that a
	 * result of an earlier stream never counts. */
	atomic_store_explicit(&ctl->producer_state, IVB_RING_IDLE, memory_order_relaxed);
	ctl->magic = IVB_RING_MAGIC;
	ctl->nslots = g->nslots;
	ctl->policy = g->policy;
	ctl->verify = g->verify;
	ctl->consume = g->consume;
	ctl->slot_stride = g->slot_stride;
	ctl->frame_size = g->frame_size;
	atomic_store_explicit(&ctl->head, 0, memory_order_relaxed);
	atomic_store_explicit(&ctl->latest, 0, memory_order_relaxed);
	atomic_store_explicit(&ctl->host_wake.at, 0, memory_order_relaxed);
	atomic_store_explicit(&ctl->host_wake.gen, 0, memory_order_relaxed);
	atomic_store_explicit(&ctl->released, 0, memory_order_relaxed);
	atomic_store_explicit(&ctl->reading, 0, memory_order_relaxed);
	atomic_store_explicit(&ctl->consumer_state, IVB_RING_IDLE, memory_order_relaxed);
	atomic_store_explicit(&ctl->guest_wake.at, 0, memory_order_relaxed);
	atomic_store_explicit(&ctl->guest_wake.gen, 0, memory_order_relaxed);
	ctl->private_copy_ns = 0;
	ctl->private_verify_ns = 0;
	ctl->cpu_ns = 0;
	for (uint32_t s = 0; s < IVB_RING_MAX_SLOTS; s++) {
		atomic_store_explicit(&ctl->desc[s].seq1, 0, memory_order_relaxed);
		atomic_store_explicit(&ctl->result[s].seq1, 0, memory_order_relaxed);
	}
	atomic_store_explicit(&ctl->producer_state, IVB_RING_STREAMING, memory_order_release);
}

uint8_t *ivb_ring_slot(const struct ivb_ring_producer *p, uint32_t slot)
{
	return p->slots + (uint64_t)slot * p->g.slot_stride;
}

static void report(struct ivb_ring_producer *p, uint64_t seq, uint32_t slot, const struct ivb_ring_result *r)
{
	struct ivb_ring_outcome o = { .seq = seq, .slot = slot, .consumed = r != NULL };

	if (r != NULL) {
		o.status = r->status;
		o.copy_ns = r->copy_ns;
		o.verify_ns = r->verify_ns;
	}
	if (p->outcome != NULL)
		p->outcome(p->outcome_arg, &o);
}

/* A result the guest wrote for the frame in `slot`, checked; -EAGAIN while it has none for it. */
static int read_result(struct ivb_ring_producer *p, uint32_t slot, uint64_t seq1, struct ivb_ring_result *out)
{
	struct ivb_ring_result *r = &p->ctl->result[slot];
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
		return ivb_ring_reject(p->why, sizeof(p->why), "the guest's result for frame %llu is out of range: status %u, copy %llu ns, check %llu ns",
			      (unsigned long long)(seq1 - 1), out->status, (unsigned long long)out->copy_ns,
			      (unsigned long long)out->verify_ns);
	return 0;
}

int ivb_ring_released(struct ivb_ring_producer *p, uint64_t *released)
{
	/* Block: the guest releases in order, so its count is also a frame sequence. Latest: it counts
	 * frames taken, at most every frame that got a slot. Either way it never goes back. */
	uint64_t bound = p->g.policy == IVB_RING_BLOCK ? p->next_seq : p->published;
	uint64_t v = atomic_load_explicit(&p->ctl->released, memory_order_acquire);

	if (v < p->released_seen)
		return ivb_ring_reject(p->why, sizeof(p->why), "the guest's released count went back from %llu to %llu",
			      (unsigned long long)p->released_seen, (unsigned long long)v);
	if (v > bound)
		return ivb_ring_reject(p->why, sizeof(p->why), "the guest's released count %llu exceeds the %llu frames published",
			      (unsigned long long)v, (unsigned long long)bound);
	p->released_seen = v;
	*released = v;
	return 0;
}

static int collect_block(struct ivb_ring_producer *p)
{
	uint64_t released;
	int ret = ivb_ring_released(p, &released);

	if (ret < 0)
		return ret;
	for (; p->collected < released; p->collected++) {
		uint32_t slot = (uint32_t)(p->collected % p->g.nslots);
		struct ivb_ring_result r;

		ret = read_result(p, slot, p->collected + 1, &r);
		/* The guest releases a frame only after writing its result: a missing one is a lie. */
		if (ret == -EAGAIN)
			return ivb_ring_reject(p->why, sizeof(p->why), "the guest released frame %llu without a result for it",
				      (unsigned long long)p->collected);
		if (ret < 0)
			return ret;
		report(p, p->collected, slot, &r);
	}
	return 0;
}

static int collect_latest(struct ivb_ring_producer *p)
{
	uint64_t released;
	/* Not needed to find the results, but a count out of range is a lie to say at once. */
	int ret = ivb_ring_released(p, &released);

	if (ret < 0)
		return ret;
	for (uint32_t s = 0; s < p->g.nslots; s++) {
		struct ivb_ring_result r;

		if (p->slot_seq1[s] == 0)
			continue;
		ret = read_result(p, s, p->slot_seq1[s], &r);
		if (ret == -EAGAIN)
			continue;
		if (ret < 0)
			return ret;
		report(p, p->slot_seq1[s] - 1, s, &r);
		p->slot_seq1[s] = 0;
	}
	return 0;
}

int ivb_ring_collect(struct ivb_ring_producer *p)
{
	return p->g.policy == IVB_RING_BLOCK ? collect_block(p) : collect_latest(p);
}

static int acquire_latest(struct ivb_ring_producer *p, uint32_t *slot)
{
	uint64_t latest = atomic_load_explicit(&p->ctl->latest, memory_order_relaxed);
	bool tried[IVB_RING_MAX_SLOTS] = { false };
	int ret = collect_latest(p);

	if (ret < 0)
		return ret;
	for (;;) {
		uint64_t reading;
		uint32_t best = UINT32_MAX;

		IVB_RING_STEP("acquire: look");
		reading = atomic_load_explicit(&p->ctl->reading, memory_order_seq_cst);

		/* The least recently written slot that is neither the newest frame nor claimed. */
		for (uint32_t s = 0; s < p->g.nslots; s++) {
			if (tried[s] || (latest != 0 && s == ivb_latest_slot(latest)) ||
			    (reading != 0 && s == ivb_latest_slot(reading)))
				continue;
			if (best == UINT32_MAX || p->slot_age[s] < p->slot_age[best])
				best = s;
		}
		if (best == UINT32_MAX)
			return -EAGAIN;
		tried[best] = true;
		/* Mark the slot invalid, then look again: a guest that claimed it in between sees the
		 * mark (and retries), or we see its claim (and leave the slot); never neither. */
		IVB_RING_STEP("acquire: mark");
		atomic_store_explicit(&p->ctl->desc[best].seq1, 0, memory_order_seq_cst);
		IVB_RING_STEP("acquire: recheck");
		reading = atomic_load_explicit(&p->ctl->reading, memory_order_seq_cst);
		if (reading != 0 && ivb_latest_slot(reading) == best)
			continue;
		/* The guest cannot take this slot's frame any more: a result now or never. */
		ret = collect_latest(p);
		if (ret < 0)
			return ret;
		if (p->slot_seq1[best] != 0) {
			report(p, p->slot_seq1[best] - 1, best, NULL);
			p->slot_seq1[best] = 0;
		}
		*slot = best;
		return 0;
	}
}

int ivb_ring_acquire(struct ivb_ring_producer *p, uint32_t *slot)
{
	uint64_t released;
	int ret;

	if (p->g.policy == IVB_RING_LATEST)
		return acquire_latest(p, slot);
	ret = collect_block(p);
	if (ret < 0)
		return ret;
	released = p->collected;
	if (p->next_seq >= p->g.nslots && released <= p->next_seq - p->g.nslots)
		return -EAGAIN;
	*slot = (uint32_t)(p->next_seq % p->g.nslots);
	return 0;
}

void ivb_ring_skip(struct ivb_ring_producer *p)
{
	report(p, p->next_seq, UINT32_MAX, NULL);
	p->next_seq++;
	/* Keep head counting every frame produced, so that the guest's drop count agrees. */
	atomic_store_explicit(&p->ctl->head, p->next_seq, memory_order_release);
}

void ivb_ring_publish(struct ivb_ring_producer *p, uint32_t slot, uint64_t size, const uint8_t *checksum)
{
	struct ivb_ring_desc *d = &p->ctl->desc[slot];
	uint64_t seq = p->next_seq++;

	ivb_ring_stamp(ivb_ring_slot(p, slot), seq);
	d->size = size;
	memcpy(d->checksum, checksum, IVB_RING_CHECKSUM_LEN);
	IVB_RING_STEP("publish: desc");
	atomic_store_explicit(&d->seq1, seq + 1, memory_order_release);
	p->published++;
	if (p->g.policy == IVB_RING_LATEST) {
		p->slot_seq1[slot] = seq + 1;
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
		/* Block never drops: what the guest did not release was lost with it. */
		return p->collected == p->next_seq ? 0 : -EPIPE;
	}
	for (uint32_t s = 0; s < p->g.nslots; s++) {
		if (p->slot_seq1[s] != 0) {
			report(p, p->slot_seq1[s] - 1, s, NULL);
			p->slot_seq1[s] = 0;
		}
	}
	return 0;
}

bool ivb_ring_producer_should_ring(struct ivb_ring_producer *p)
{
	bool ended = atomic_load_explicit(&p->ctl->producer_state, memory_order_relaxed) == IVB_RING_DONE;

	return ivb_ring_wake_due(&p->ctl->guest_wake, p->next_seq, ended, &p->rung_gen);
}

bool ivb_ring_producer_sleep(struct ivb_ring_producer *p, uint64_t at)
{
	ivb_ring_wake_request(&p->ctl->host_wake, at);
	return atomic_load_explicit(&p->ctl->released, memory_order_seq_cst) < at &&
	       atomic_load_explicit(&p->ctl->consumer_state, memory_order_seq_cst) != IVB_RING_DONE;
}

void ivb_ring_producer_awake(struct ivb_ring_producer *p)
{
	atomic_store_explicit(&p->ctl->host_wake.at, 0, memory_order_relaxed);
}

bool ivb_ring_consumer_done(const struct ivb_ring_producer *p)
{
	return atomic_load_explicit(&p->ctl->consumer_state, memory_order_acquire) == IVB_RING_DONE;
}

bool ivb_ring_consumer_attached(const struct ivb_ring_producer *p)
{
	return atomic_load_explicit(&p->ctl->consumer_state, memory_order_acquire) != IVB_RING_IDLE;
}

int ivb_ring_read_guest_report(const struct ivb_ring_producer *p, struct ivb_ring_guest_report *rep)
{
	if (!ivb_ring_consumer_done(p))
		return -EAGAIN;
	rep->private_copy_ns = p->ctl->private_copy_ns;
	rep->private_verify_ns = p->ctl->private_verify_ns;
	rep->cpu_ns = p->ctl->cpu_ns;
	return rep->private_copy_ns > IVB_MAX_DURATION_NS || rep->private_verify_ns > IVB_MAX_DURATION_NS ||
			       rep->cpu_ns > IVB_MAX_DURATION_NS
		       ? -EPROTO
		       : 0;
}

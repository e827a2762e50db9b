/* ring.c: the ring of frame slots (ring.h): who may write which slot when, on both sides. */
#include "ring.h"

#include "protocol.h" /* IVB_MAX_DURATION_NS */

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

/*
 * Interleaving points of the latest policy's handshake: one before each access to shared memory that
 * the other side's decisions depend on. tests/unit/test_ring_interleave.c builds ring.c with
 * -DIVB_RING_STEPS and runs host and guest one step at a time through every order of these points,
 * because a stress test alone almost never hits the windows of a few instructions between a claim or
 * a mark and its re-check. Empty in the programs: their code is unchanged.
 */
#ifdef IVB_RING_STEPS
#define IVB_RING_STEP(where) ivb_ring_step(where)
#else
#define IVB_RING_STEP(where) ((void)0)
#endif

#define LATEST_SLOT_BITS 8u
#define LATEST_SLOT_MASK ((1u << LATEST_SLOT_BITS) - 1u)

static uint64_t latest_pack(uint64_t seq, uint32_t slot)
{
	return (seq + 1) << LATEST_SLOT_BITS | slot;
}

static uint64_t latest_seq1(uint64_t v)
{
	return v >> LATEST_SLOT_BITS;
}

static uint32_t latest_slot(uint64_t v)
{
	return (uint32_t)(v & LATEST_SLOT_MASK);
}

/* -EPROTO, with why (whylen bytes) saying what the peer wrote out of range. */
static int __attribute__((format(printf, 3, 4))) reject(char *why, size_t whylen, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(why, whylen, fmt, ap);
	va_end(ap);
	return -EPROTO;
}

static uint64_t round_up(uint64_t v, uint64_t to)
{
	return (v + to - 1) / to * to;
}

int ivb_ring_geometry_for(uint64_t capacity, uint32_t nslots, uint64_t frame_size, uint32_t policy,
			  uint32_t verify, uint32_t consume, struct ivb_ring_geometry *g, uint64_t *need)
{
	uint64_t stride;

	if (nslots < 2 || nslots > IVB_RING_MAX_SLOTS || policy < IVB_RING_BLOCK || policy > IVB_RING_POLICY_MAX ||
	    verify < IVB_VERIFY_NONE || verify > IVB_RING_VERIFY_MAX || consume < IVB_CONSUME_COPY ||
	    consume > IVB_CONSUME_MAX || frame_size < IVB_RING_MIN_FRAME ||
	    frame_size > UINT64_MAX / 2 / IVB_RING_MAX_SLOTS)
		return -EINVAL;
	stride = round_up(frame_size, IVB_RING_SLOT_ALIGN);
	*need = IVB_RING_CTL_SIZE + stride * nslots;
	if (*need > capacity)
		return -ENOSPC;
	*g = (struct ivb_ring_geometry){
		.nslots = nslots, .policy = policy, .verify = verify, .consume = consume, .slot_stride = stride,
		.frame_size = frame_size,
	};
	return 0;
}

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
		return reject(p->why, sizeof(p->why), "the guest's result for frame %llu is out of range: status %u, copy %llu ns, check %llu ns",
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
		return reject(p->why, sizeof(p->why), "the guest's released count went back from %llu to %llu",
			      (unsigned long long)p->released_seen, (unsigned long long)v);
	if (v > bound)
		return reject(p->why, sizeof(p->why), "the guest's released count %llu exceeds the %llu frames published",
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
			return reject(p->why, sizeof(p->why), "the guest released frame %llu without a result for it",
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
			if (tried[s] || (latest != 0 && s == latest_slot(latest)) ||
			    (reading != 0 && s == latest_slot(reading)))
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
		if (reading != 0 && latest_slot(reading) == best)
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

void ivb_ring_stamp(uint8_t *frame, uint64_t seq)
{
	for (unsigned i = 0; i < IVB_RING_STAMP_LEN; i++)
		frame[i] = (uint8_t)(seq >> (8 * i));
}

uint64_t ivb_ring_read_stamp(const uint8_t *frame)
{
	uint64_t v = 0;

	for (unsigned i = 0; i < IVB_RING_STAMP_LEN; i++)
		v |= (uint64_t)frame[i] << (8 * i);
	return v;
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
		atomic_store_explicit(&p->ctl->latest, latest_pack(seq, slot), memory_order_seq_cst);
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

/* Whether a wake request whose generation we have not served yet is met by `value`. */
static bool wake_due(struct ivb_ring_wake *w, uint64_t value, bool ended, uint64_t *rung_gen)
{
	uint64_t gen, at;

	atomic_thread_fence(memory_order_seq_cst);
	gen = atomic_load_explicit(&w->gen, memory_order_acquire);
	at = atomic_load_explicit(&w->at, memory_order_relaxed);
	if (gen == *rung_gen || at == 0 || (value < at && !ended))
		return false;
	*rung_gen = gen;
	return true;
}

bool ivb_ring_producer_should_ring(struct ivb_ring_producer *p)
{
	bool ended = atomic_load_explicit(&p->ctl->producer_state, memory_order_relaxed) == IVB_RING_DONE;

	return wake_due(&p->ctl->guest_wake, p->next_seq, ended, &p->rung_gen);
}

static void wake_request(struct ivb_ring_wake *w, uint64_t at)
{
	uint64_t gen = atomic_load_explicit(&w->gen, memory_order_relaxed) + 1;

	atomic_store_explicit(&w->at, at, memory_order_relaxed);
	atomic_store_explicit(&w->gen, gen, memory_order_release);
	atomic_thread_fence(memory_order_seq_cst);
}

bool ivb_ring_producer_sleep(struct ivb_ring_producer *p, uint64_t at)
{
	wake_request(&p->ctl->host_wake, at);
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

int ivb_ring_consumer_open(struct ivb_ring_consumer *c, void *buffer, uint64_t capacity, char *why,
			   size_t whylen)
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
	if (ctl->magic != IVB_RING_MAGIC)
		return reject(why, whylen, "ring magic 0x%08x is not 0x%08x", ctl->magic, IVB_RING_MAGIC);
	/* Recompute the geometry from the host's own numbers: every field must agree with it. */
	ret = ivb_ring_geometry_for(capacity, g.nslots, g.frame_size, g.policy, g.verify, g.consume, &want, &need);
	if (ret == -ENOSPC)
		return reject(why, whylen, "ring of %u slots of %llu bytes needs %llu bytes, mapped %llu", g.nslots,
			      (unsigned long long)g.frame_size, (unsigned long long)need, (unsigned long long)capacity);
	if (ret < 0)
		return reject(why, whylen, "ring geometry out of range (slots %u, frame %llu, policy %u, verify %u, consume %u)",
			      g.nslots, (unsigned long long)g.frame_size, g.policy, g.verify, g.consume);
	if (want.slot_stride != g.slot_stride)
		return reject(why, whylen, "ring slot stride %llu is not %llu", (unsigned long long)g.slot_stride,
			      (unsigned long long)want.slot_stride);
	c->ctl = ctl;
	c->slots = (uint8_t *)buffer + IVB_RING_CTL_SIZE;
	c->g = g;
	return 0;
}

void ivb_ring_consumer_start(struct ivb_ring_consumer *c)
{
	atomic_store_explicit(&c->ctl->consumer_state, IVB_RING_STREAMING, memory_order_release);
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
		return reject(why, whylen, "ring head %llu out of range (next frame %llu, %u slots)",
			      (unsigned long long)head, (unsigned long long)c->next_seq, c->g.nslots);
	if (head == c->next_seq)
		return atomic_load_explicit(&c->ctl->producer_state, memory_order_acquire) == IVB_RING_DONE &&
				       atomic_load_explicit(&c->ctl->head, memory_order_acquire) == head
			       ? 1
			       : -EAGAIN;
	if (atomic_load_explicit(&d->seq1, memory_order_acquire) != c->next_seq + 1)
		return reject(why, whylen, "slot %u does not hold frame %llu", slot, (unsigned long long)c->next_seq);
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
		seq1 = latest_seq1(latest);
		slot = latest_slot(latest);

		if (latest == 0 || seq1 <= c->next_seq) {
			if (seq1 < c->next_seq)
				return reject(why, whylen, "ring latest frame %llu went back (had %llu)",
					      (unsigned long long)seq1, (unsigned long long)c->next_seq);
			return atomic_load_explicit(&c->ctl->producer_state, memory_order_acquire) == IVB_RING_DONE &&
					       atomic_load_explicit(&c->ctl->latest, memory_order_acquire) == latest
				       ? 1
				       : -EAGAIN;
		}
		if (slot >= c->g.nslots)
			return reject(why, whylen, "ring latest slot %u out of range (%u slots)", slot, c->g.nslots);
		/* Claim, then check the slot still holds that frame (see acquire_latest). */
		IVB_RING_STEP("take: claim");
		atomic_store_explicit(&c->ctl->reading, latest, memory_order_seq_cst);
		IVB_RING_STEP("take: check");
		if (atomic_load_explicit(&c->ctl->desc[slot].seq1, memory_order_seq_cst) != seq1) {
			IVB_RING_STEP("take: unclaim");
			atomic_store_explicit(&c->ctl->reading, 0, memory_order_seq_cst);
			continue;
		}
		c->skipped += seq1 - 1 - c->next_seq;
		f->seq = seq1 - 1;
		f->slot = slot;
		return 0;
	}
	return -EAGAIN;
}

int ivb_ring_take(struct ivb_ring_consumer *c, struct ivb_ring_frame *f, char *why, size_t whylen)
{
	struct ivb_ring_desc *d;
	int ret;

	ret = c->g.policy == IVB_RING_BLOCK ? take_block(c, f, why, whylen) : take_latest(c, f, why, whylen);
	if (ret != 0)
		return ret;
	d = &c->ctl->desc[f->slot];
	f->size = d->size;
	memcpy(f->checksum, d->checksum, IVB_RING_CHECKSUM_LEN);
	f->data = c->slots + (uint64_t)f->slot * c->g.slot_stride;
	if (f->size < IVB_RING_MIN_FRAME || f->size > c->g.slot_stride) {
		if (c->g.policy == IVB_RING_LATEST)
			atomic_store_explicit(&c->ctl->reading, 0, memory_order_seq_cst);
		return reject(why, whylen, "frame %llu size %llu out of range (%u to %llu bytes)",
			      (unsigned long long)f->seq, (unsigned long long)f->size, IVB_RING_MIN_FRAME,
			      (unsigned long long)c->g.slot_stride);
	}
	return 0;
}

void ivb_ring_release(struct ivb_ring_consumer *c, const struct ivb_ring_frame *f, uint32_t status,
		      uint64_t copy_ns, uint64_t verify_ns)
{
	struct ivb_ring_result *r = &c->ctl->result[f->slot];

	IVB_RING_STEP("release: result");
	r->copy_ns = copy_ns;
	r->verify_ns = verify_ns;
	r->status = status;
	atomic_store_explicit(&r->seq1, f->seq + 1, memory_order_release);
	c->next_seq = f->seq + 1;
	c->released++;
	if (c->g.policy == IVB_RING_LATEST) {
		IVB_RING_STEP("release: unclaim");
		atomic_store_explicit(&c->ctl->reading, 0, memory_order_seq_cst);
	}
	/* Block: released counts frames in order, so it is also the next frame's sequence. */
	atomic_store_explicit(&c->ctl->released, c->g.policy == IVB_RING_BLOCK ? c->next_seq : c->released,
			      memory_order_seq_cst);
}

void ivb_ring_consumer_finish(struct ivb_ring_consumer *c, const struct ivb_ring_guest_report *rep)
{
	c->ctl->private_copy_ns = rep != NULL ? rep->private_copy_ns : 0;
	c->ctl->private_verify_ns = rep != NULL ? rep->private_verify_ns : 0;
	c->ctl->cpu_ns = rep != NULL ? rep->cpu_ns : 0;
	atomic_store_explicit(&c->ctl->consumer_state, IVB_RING_DONE, memory_order_seq_cst);
}

bool ivb_ring_consumer_should_ring(struct ivb_ring_consumer *c)
{
	bool ended = atomic_load_explicit(&c->ctl->consumer_state, memory_order_relaxed) == IVB_RING_DONE;

	return wake_due(&c->ctl->host_wake, c->released, ended, &c->rung_gen);
}

bool ivb_ring_consumer_sleep(struct ivb_ring_consumer *c)
{
	wake_request(&c->ctl->guest_wake, c->next_seq + 1);
	return atomic_load_explicit(&c->ctl->head, memory_order_seq_cst) <= c->next_seq &&
	       atomic_load_explicit(&c->ctl->producer_state, memory_order_seq_cst) != IVB_RING_DONE;
}

void ivb_ring_consumer_awake(struct ivb_ring_consumer *c)
{
	atomic_store_explicit(&c->ctl->guest_wake.at, 0, memory_order_relaxed);
}

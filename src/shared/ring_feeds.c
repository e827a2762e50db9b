/* ring_feeds.c: the producer's view of its consumers (ring.h): their released counts, states and reports as
 * they say them, checked; dropping the ones that hold it back too long; the wake requests both ways. */
#include "ring_internal.h"

#include "protocol.h" /* IVB_MAX_DURATION_NS */

#include <errno.h>

int ivb_ring_released_by(struct ivb_ring_producer *p, uint32_t i, uint64_t *released)
{
	/* Block: a consumer releases in order, so its count is also a frame sequence. Latest: it counts
	 * frames taken, at most every frame that got a slot. Either way it never goes back. */
	uint64_t bound = p->g.policy == IVB_RING_BLOCK ? p->next_seq : p->published, v;

	if (i >= p->g.nconsumers)
		return -EINVAL;
	v = atomic_load_explicit(&p->ctl->cons[i].released, memory_order_acquire);
	if (v < p->released_seen[i])
		return ivb_ring_reject(p->why, sizeof(p->why), "consumer %u's released count went back from %llu to %llu", i,
				       (unsigned long long)p->released_seen[i], (unsigned long long)v);
	if (v > bound)
		return ivb_ring_reject(p->why, sizeof(p->why), "consumer %u's released count %llu exceeds the %llu frames published",
				       i, (unsigned long long)v, (unsigned long long)bound);
	p->released_seen[i] = v;
	*released = v;
	return 0;
}

int ivb_ring_released(struct ivb_ring_producer *p, uint64_t *released)
{
	uint64_t least = p->g.policy == IVB_RING_BLOCK ? p->next_seq : p->published;

	for (uint32_t i = 0; i < p->g.nconsumers; i++) {
		uint64_t v = 0;
		int ret;

		if (!(p->live & IVB_RING_BIT(i)))
			continue;
		ret = ivb_ring_released_by(p, i, &v);
		if (ret < 0)
			return ret;
		if (v < least)
			least = v;
	}
	*released = least;
	return 0;
}

bool ivb_ring_consumer_live(const struct ivb_ring_producer *p, uint32_t i)
{
	return i < p->g.nconsumers && (p->live & IVB_RING_BIT(i));
}

/* Consumer i no longer counts: its feed says so, its unresolved frames are dropped for it. */
static void drop(struct ivb_ring_producer *p, uint32_t i)
{
	p->live &= ~IVB_RING_BIT(i);
	p->consumers_dropped++;
	atomic_store_explicit(&p->ctl->feed[i].dropped_head, p->next_seq, memory_order_relaxed);
	/* Before any slot it held is written again (the caller's next publish): a consumer that then
	 * finds its frame gone also finds why. */
	atomic_store_explicit(&p->ctl->feed[i].state, IVB_FEED_DROPPED, memory_order_seq_cst);
	if (p->g.policy == IVB_RING_BLOCK) {
		/* In frame order, as its outcomes came. */
		for (; p->collected[i] < p->next_seq; p->collected[i]++) {
			uint32_t slot = (uint32_t)(p->collected[i] % p->g.nslots);

			p->pending[slot] &= ~IVB_RING_BIT(i);
			ivb_ring_report(p, i, p->collected[i], slot, NULL);
		}
		return;
	}
	for (uint32_t s = 0; s < p->g.nslots; s++) {
		if (p->pending[s] & IVB_RING_BIT(i)) {
			p->pending[s] &= ~IVB_RING_BIT(i);
			ivb_ring_report(p, i, p->slot_seq1[s] - 1, s, NULL);
		}
	}
}

/* What consumer i holds the producer back with, as a value that changes with each new hold; 0: nothing. */
static uint64_t hold_of(struct ivb_ring_producer *p, uint32_t i)
{
	if (p->g.policy == IVB_RING_BLOCK) {
		uint32_t next = (uint32_t)(p->next_seq % p->g.nslots);

		/* The producer's next frame waits for its slot: frame next_seq - nslots's release. */
		return (p->pending[next] & IVB_RING_BIT(i)) ? p->next_seq + 1 : 0;
	}
	/* Latest: its claim; each claim names a newer frame than the last (a repeated one is its lie). */
	return atomic_load_explicit(&p->ctl->cons[i].reading, memory_order_acquire);
}

int ivb_ring_drop_stalled(struct ivb_ring_producer *p, uint64_t now_ns)
{
	int dropped = 0, ret = ivb_ring_collect(p);

	if (ret < 0)
		return ret;
	for (uint32_t i = 0; i < p->g.nconsumers; i++) {
		uint64_t hold;

		if (!(p->live & IVB_RING_BIT(i)))
			continue;
		hold = hold_of(p, i);
		if (hold == 0 || hold != p->held[i]) {
			p->held[i] = hold;
			p->held_since[i] = now_ns;
			continue;
		}
		if (p->g.consumer_timeout_ns != 0 && now_ns > p->held_since[i] &&
		    now_ns - p->held_since[i] > p->g.consumer_timeout_ns) {
			drop(p, i);
			dropped++;
		}
	}
	return dropped;
}

uint32_t ivb_ring_producer_ring_mask(struct ivb_ring_producer *p)
{
	bool ended = atomic_load_explicit(&p->ctl->producer_state, memory_order_relaxed) == IVB_RING_DONE;
	uint32_t mask = 0;

	for (uint32_t i = 0; i < p->g.nconsumers; i++)
		if ((p->live & IVB_RING_BIT(i)) &&
		    ivb_ring_wake_due(&p->ctl->cons[i].consumer_wake, p->next_seq, ended, &p->rung_gen[i]))
			mask |= IVB_RING_BIT(i);
	return mask;
}

bool ivb_ring_producer_should_ring(struct ivb_ring_producer *p)
{
	return ivb_ring_producer_ring_mask(p) != 0;
}

/* Whether live consumer i still keeps the producer from `at`. */
static bool lags(struct ivb_ring_producer *p, uint32_t i, uint64_t at)
{
	struct ivb_ring_cons *cn = &p->ctl->cons[i];

	return atomic_load_explicit(&cn->released, memory_order_seq_cst) < at &&
	       atomic_load_explicit(&cn->consumer_state, memory_order_seq_cst) != IVB_RING_DONE;
}

bool ivb_ring_producer_sleep(struct ivb_ring_producer *p, uint64_t at)
{
	uint32_t asked = 0;

	/* A request only in the feeds of the consumers that lag, so that the others do not ring. */
	for (uint32_t i = 0; i < p->g.nconsumers; i++) {
		if ((p->live & IVB_RING_BIT(i)) && lags(p, i, at)) {
			ivb_ring_wake_request(&p->ctl->feed[i].producer_wake, at);
			asked |= IVB_RING_BIT(i);
		}
	}
	for (uint32_t i = 0; i < p->g.nconsumers; i++)
		if ((asked & IVB_RING_BIT(i)) && lags(p, i, at))
			return true;
	return false;
}

void ivb_ring_producer_awake(struct ivb_ring_producer *p)
{
	for (uint32_t i = 0; i < p->g.nconsumers; i++)
		atomic_store_explicit(&p->ctl->feed[i].producer_wake.at, 0, memory_order_relaxed);
}

bool ivb_ring_consumer_done_by(const struct ivb_ring_producer *p, uint32_t i)
{
	return i < p->g.nconsumers &&
	       atomic_load_explicit(&p->ctl->cons[i].consumer_state, memory_order_acquire) == IVB_RING_DONE;
}

bool ivb_ring_consumer_done(const struct ivb_ring_producer *p)
{
	for (uint32_t i = 0; i < p->g.nconsumers; i++)
		if ((p->live & IVB_RING_BIT(i)) && !ivb_ring_consumer_done_by(p, i))
			return false;
	return true;
}

bool ivb_ring_consumer_attached_by(const struct ivb_ring_producer *p, uint32_t i)
{
	return i < p->g.nconsumers &&
	       atomic_load_explicit(&p->ctl->cons[i].consumer_state, memory_order_acquire) != IVB_RING_IDLE;
}

bool ivb_ring_consumer_attached(const struct ivb_ring_producer *p)
{
	for (uint32_t i = 0; i < p->g.nconsumers; i++)
		if ((p->live & IVB_RING_BIT(i)) && !ivb_ring_consumer_attached_by(p, i))
			return false;
	return true;
}

int ivb_ring_read_report_by(const struct ivb_ring_producer *p, uint32_t i, struct ivb_ring_guest_report *rep)
{
	const struct ivb_ring_cons *cn;

	if (i >= p->g.nconsumers)
		return -EINVAL;
	if (!ivb_ring_consumer_done_by(p, i))
		return -EAGAIN;
	cn = &p->ctl->cons[i];
	rep->private_copy_ns = cn->private_copy_ns;
	rep->private_verify_ns = cn->private_verify_ns;
	rep->cpu_ns = cn->cpu_ns;
	return rep->private_copy_ns > IVB_MAX_DURATION_NS || rep->private_verify_ns > IVB_MAX_DURATION_NS ||
			       rep->cpu_ns > IVB_MAX_DURATION_NS
		       ? -EPROTO
		       : 0;
}

int ivb_ring_read_guest_report(const struct ivb_ring_producer *p, struct ivb_ring_guest_report *rep)
{
	return ivb_ring_read_report_by(p, 0, rep);
}

/* ring.c: the ring of frame slots (ring.h): its geometry, the frame stamp and the wake requests both sides use.
 * Each side's rules are in ring_producer.c and ring_consumer.c. */
#include "ring_internal.h"

#include "protocol.h" /* IVB_MAX_DURATION_NS */

#include <errno.h>
#include <stdio.h>

int ivb_ring_reject(char *why, size_t whylen, const char *fmt, ...)
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
		.frame_size = frame_size, .nconsumers = 1, .consumer_timeout_ns = 0,
	};
	return 0;
}

int ivb_ring_geometry_consumers(struct ivb_ring_geometry *g, uint32_t nconsumers, uint64_t timeout_ns)
{
	if (nconsumers < 1 || nconsumers > IVB_RING_MAX_CONSUMERS || timeout_ns > IVB_MAX_DURATION_NS)
		return -EINVAL;
	g->nconsumers = nconsumers;
	g->consumer_timeout_ns = timeout_ns;
	return 0;
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

bool ivb_ring_wake_due(struct ivb_ring_wake *w, uint64_t value, bool ended, uint64_t *rung_gen)
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

void ivb_ring_wake_request(struct ivb_ring_wake *w, uint64_t at)
{
	uint64_t gen = atomic_load_explicit(&w->gen, memory_order_relaxed) + 1;

	atomic_store_explicit(&w->at, at, memory_order_relaxed);
	atomic_store_explicit(&w->gen, gen, memory_order_release);
	atomic_thread_fence(memory_order_seq_cst);
}

/* plan.c: counting and checking the run plan. */
#include "plan.h"

#include <errno.h>
#include <stdio.h>

#include "defaults.h"
#include "opts.h"

_Static_assert(IVB_PLAN_MAX_FRAMES == IVB_MAX_FRAMES, "the plan holds every frame --frames accepts");

bool ivb_plan_first_reference_size(const struct ivb_plan *p, size_t i)
{
	if (p->frame_bytes[i] == p->latency_frame_bytes)
		return false;
	for (size_t k = 0; k < i; k++)
		if (p->frame_bytes[k] == p->frame_bytes[i])
			return false;
	return true;
}

size_t ivb_plan_reference_sizes(const struct ivb_plan *p)
{
	size_t n = 1;

	for (size_t i = 0; i < p->nframes && i < IVB_PLAN_MAX_FRAMES; i++)
		n += ivb_plan_first_reference_size(p, i);
	return n;
}

uint64_t ivb_plan_messages(const struct ivb_plan *p)
{
	return p->warmup + p->latency_count + p->bandwidth_per_frame * p->nframes +
	       p->reference_per_frame * ivb_plan_reference_sizes(p) + p->nstreams;
}

uint64_t ivb_plan_largest(const struct ivb_plan *p)
{
	uint64_t max = p->latency_count > 0 || p->reference_per_frame > 0 ? p->latency_frame_bytes : 0;

	for (size_t i = 0; i < p->nframes && i < IVB_PLAN_MAX_FRAMES; i++)
		if ((p->bandwidth_per_frame > 0 || p->reference_per_frame > 0) && p->frame_bytes[i] > max)
			max = p->frame_bytes[i];
	return max;
}

int ivb_plan_check(const struct ivb_plan *p, uint64_t capacity, char *why, size_t n)
{
	/* Counts first: with them bounded, ivb_plan_messages cannot overflow. */
	if (p->warmup > IVB_MAX_WARMUP || p->latency_count > IVB_MAX_ITERATIONS ||
	    p->bandwidth_per_frame > IVB_MAX_ITERATIONS || p->reference_per_frame > IVB_MAX_ITERATIONS) {
		snprintf(why, n, "the host's plan has a message count above the limits (warm-up %llu, latency %llu, "
			 "bandwidth %llu, reference %llu)", (unsigned long long)p->warmup,
			 (unsigned long long)p->latency_count, (unsigned long long)p->bandwidth_per_frame,
			 (unsigned long long)p->reference_per_frame);
		return -EPROTO;
	}
	if (p->nframes > IVB_PLAN_MAX_FRAMES || p->nstreams > IVB_PLAN_MAX_FRAMES) {
		snprintf(why, n, "the host's plan lists %u frames and %u streams, at most %u of each fit", p->nframes,
			 p->nstreams, IVB_PLAN_MAX_FRAMES);
		return -EPROTO;
	}
	/* Only the sizes the plan sends must fit: --frames keeps its default when no test uses it. */
	if ((p->latency_count > 0 || p->reference_per_frame > 0) &&
	    (p->latency_frame_bytes == 0 || p->latency_frame_bytes > capacity)) {
		snprintf(why, n, "the host's plan has a %llu-byte latency frame; the buffer holds %llu",
			 (unsigned long long)p->latency_frame_bytes, (unsigned long long)capacity);
		return -EPROTO;
	}
	for (uint32_t i = 0; (p->bandwidth_per_frame > 0 || p->reference_per_frame > 0) && i < p->nframes; i++) {
		if (p->frame_bytes[i] == 0 || p->frame_bytes[i] > capacity) {
			snprintf(why, n, "the host's plan has a %llu-byte frame; the buffer holds %llu",
				 (unsigned long long)p->frame_bytes[i], (unsigned long long)capacity);
			return -EPROTO;
		}
	}
	if ((p->flags & ~IVB_MSG_FLAGS_ALL) != 0 || p->interval_us > IVB_MAX_INTERVAL_US) {
		snprintf(why, n, "the host's plan has unknown flags 0x%x or an interval of %llu us", p->flags,
			 (unsigned long long)p->interval_us);
		return -EPROTO;
	}
	if (ivb_plan_messages(p) == 0) {
		snprintf(why, n, "the host's plan sends no message");
		return -EPROTO;
	}
	return 0;
}

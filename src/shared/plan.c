/* plan.c: counting and checking the run plan. */
#include "plan.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "defaults.h"
#include "opts.h"
#include "protocol.h" /* IVB_MAX_DURATION_NS */

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
	       p->reference_per_frame * ivb_plan_reference_sizes(p) + p->nstreams + p->ntransports;
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
	if (p->ntransports > IVB_MAX_TRANSPORT_TESTS) {
		snprintf(why, n, "the host's plan lists %u transport tests, at most %u fit", p->ntransports,
			 IVB_MAX_TRANSPORT_TESTS);
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

static const char *const direction_names[] = {
	[IVB_DIR_HOST_TO_GUEST] = "host-to-guest", [IVB_DIR_GUEST_TO_HOST] = "guest-to-host", [IVB_DIR_BOTH] = "both",
};

const char *ivb_direction_name(uint32_t direction)
{
	return direction >= IVB_DIR_HOST_TO_GUEST && direction <= IVB_DIR_MAX ? direction_names[direction] : "unknown";
}

int ivb_direction_parse(const char *s, uint32_t *direction)
{
	for (uint32_t d = IVB_DIR_HOST_TO_GUEST; d <= IVB_DIR_MAX; d++) {
		if (strcmp(s, direction_names[d]) == 0) {
			*direction = d;
			return 0;
		}
	}
	return -EINVAL;
}

bool ivb_direction_h2g(uint32_t direction)
{
	return direction == IVB_DIR_HOST_TO_GUEST || direction == IVB_DIR_BOTH;
}

bool ivb_direction_g2h(uint32_t direction)
{
	return direction == IVB_DIR_GUEST_TO_HOST || direction == IVB_DIR_BOTH;
}

int ivb_stream_spec_check(const struct ivb_stream_spec *s, uint64_t msg_size, struct ivb_ring_geometry *g,
			  char *why, size_t n)
{
	uint64_t need = 0;

	if (s->direction < IVB_DIR_HOST_TO_GUEST || s->direction > IVB_DIR_MAX) {
		snprintf(why, n, "the host's stream direction %u is not one of 1-%u", s->direction, IVB_DIR_MAX);
		return -EPROTO;
	}
	if (!ivb_direction_g2h(s->direction))
		return 0;
	/* Both rings: the host's before g2h_offset, the guest's after it; alone, the guest's may start at 0. */
	if (s->g2h_offset % IVB_RING_SLOT_ALIGN != 0 || s->g2h_offset >= msg_size ||
	    (s->direction == IVB_DIR_BOTH && s->g2h_offset < IVB_RING_CTL_SIZE)) {
		snprintf(why, n, "the host's stream g2h_offset %llu is not a page inside the %llu-byte message",
			 (unsigned long long)s->g2h_offset, (unsigned long long)msg_size);
		return -EPROTO;
	}
	if (s->seconds == 0 || s->seconds > IVB_MAX_STREAM_SECONDS || s->fps > IVB_MAX_STREAM_FPS) {
		snprintf(why, n, "the host's stream asks for %llu s at %u frames/s (at most %u s, %u frames/s)",
			 (unsigned long long)s->seconds, s->fps, IVB_MAX_STREAM_SECONDS, IVB_MAX_STREAM_FPS);
		return -EPROTO;
	}
	if (ivb_ring_geometry_for(msg_size - s->g2h_offset, s->nslots, s->frame_size, s->policy, s->verify, s->consume, g,
				  &need) < 0) {
		snprintf(why, n, "the host's stream geometry is out of range or does not fit its %llu bytes (slots %u, "
			 "frame %llu, policy %u, verify %u, consume %u)", (unsigned long long)(msg_size - s->g2h_offset),
			 s->nslots, (unsigned long long)s->frame_size, s->policy, s->verify, s->consume);
		return -EPROTO;
	}
	if (ivb_ring_geometry_consumers(g, s->nconsumers, s->consumer_timeout_ns) < 0) {
		snprintf(why, n, "the host's stream asks for %u consumers with a timeout of %llu ns (1-%u, at most %llu ns)",
			 s->nconsumers, (unsigned long long)s->consumer_timeout_ns, IVB_RING_MAX_CONSUMERS,
			 (unsigned long long)IVB_MAX_DURATION_NS);
		return -EPROTO;
	}
	if (s->consumer_vectors > 1) {
		snprintf(why, n, "the host's stream says consumer vectors %u (0 or 1)", s->consumer_vectors);
		return -EPROTO;
	}
	return 0;
}

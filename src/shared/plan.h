/* plan.h: the run plan of common.h: how many messages of which sizes, computed the same on both sides. */
#ifndef IVB_PLAN_H
#define IVB_PLAN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common.h"
#include "ring.h"

/* Whether frame_bytes[i] is the first of its size among the reference sizes (the latency frame's first). */
bool ivb_plan_first_reference_size(const struct ivb_plan *p, size_t i);

/* The sizes the reference test measures: the latency frame, and each other bandwidth size once. */
size_t ivb_plan_reference_sizes(const struct ivb_plan *p);

/* Every message the plan sends, warm-up included. */
uint64_t ivb_plan_messages(const struct ivb_plan *p);

/* The largest message the plan sends (the warm-up's size); 0 if it sends none. */
uint64_t ivb_plan_largest(const struct ivb_plan *p);

/*
 * Check a plan read from the region against the buffer's capacity and the limits of defaults.h.
 * Returns: 0, or -EPROTO with why (n bytes) saying which field is out of range.
 */
int ivb_plan_check(const struct ivb_plan *p, uint64_t capacity, char *why, size_t n);

/* The name of a stream direction ("host-to-guest", "guest-to-host", "both") and back; -EINVAL if unknown. */
const char *ivb_direction_name(uint32_t direction);
int ivb_direction_parse(const char *s, uint32_t *direction);

/* Whether a stream message of `direction` has a ring the host produces into / the guest produces into. */
bool ivb_direction_h2g(uint32_t direction);
bool ivb_direction_g2h(uint32_t direction);

/*
 * Check a stream message's spec read from the region, for a message of msg_size bytes: the direction, and for a
 * guest-produced ring its place, time, pace and geometry (*g then holds the geometry, computed by ring.h).
 * Returns: 0, or -EPROTO with why (n bytes) naming the field out of range.
 */
int ivb_stream_spec_check(const struct ivb_stream_spec *s, uint64_t msg_size, struct ivb_ring_geometry *g,
			  char *why, size_t n);

#endif /* IVB_PLAN_H */

/* plan.h: the run plan of common.h: how many messages of which sizes, computed the same on both sides. */
#ifndef IVB_PLAN_H
#define IVB_PLAN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common.h"

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

#endif /* IVB_PLAN_H */

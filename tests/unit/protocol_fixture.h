/* protocol_fixture.h: the region the protocol tests share, and both sides bound on it, for test_protocol.c and
 * test_protocol_hostile.c (each its own program, each with its own copy of these). */
#ifndef IVB_PROTOCOL_FIXTURE_H
#define IVB_PROTOCOL_FIXTURE_H

#include <string.h>

#include "check.h"
#include "clock.h"
#include "common.h"
#include "plan.h"
#include "protocol.h"

#define REGION_SIZE (IVB_HEADER_SIZE + 65536u)
#define SHORT_NS (200ull * 1000 * 1000)
#define LONG_NS (10ull * IVB_NS_PER_SEC)

static struct ivb_region *region;

/* A plan that allows every exchange these tests make: 1000 latency messages of up to 4 KiB. */
static const struct ivb_plan test_plan = { .latency_count = 1000, .latency_frame_bytes = 4096 };

static void fresh_region(void)
{
	memset(region, 0, REGION_SIZE);
	ivb_stop_requested = 0;
}

static struct ivb_guest_info test_info(void)
{
	struct ivb_guest_info info;

	memset(&info, 0, sizeof(info));
	info.map_kind = IVB_MAP_SHM;
	info.map_size = REGION_SIZE;
	strcpy(info.kernel, "test-kernel");
	strcpy(info.memtype, "write-back");
	return info;
}

/* Bind a guest and a host in one thread: both conditions are already true when awaited. */
static void bind_both(struct ivb_host *h, struct ivb_guest *g)
{
	struct ivb_guest_info info = test_info();

	fresh_region();
	CHECK(ivb_host_init(h, region, REGION_SIZE, 42, SHORT_NS, NULL, &test_plan) == 0);
	CHECK(ivb_guest_bind(g, region, REGION_SIZE, SHORT_NS, &info, NULL) == 0);
	CHECK(ivb_host_wait_guest(h, &info) == 0);
}

#endif /* IVB_PROTOCOL_FIXTURE_H */

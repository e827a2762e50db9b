/* fuzz_region.c: the region fields each side reads from the other, filled from the fuzz input, through
 * the protocol's public functions (every wait with a zero time limit: one look, no sleep).
 * Input: one byte choosing the side, then the bytes laid over the other side's lines, twice (once for
 * the bind, once for the message that follows). */
#include <stdalign.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "protocol.h"

#define MAP_SIZE (2 * IVB_HEADER_SIZE)

static alignas(4096) unsigned char region_buf[MAP_SIZE];

/* Lay data over bytes [from, to) of the region; returns the bytes used. */
static size_t overlay(size_t from, size_t to, const uint8_t *data, size_t size)
{
	size_t n = size < to - from ? size : to - from;

	memcpy(region_buf + from, data, n);
	return n;
}

static void fuzz_host(const uint8_t *data, size_t size)
{
	struct ivb_region *r = (struct ivb_region *)region_buf;
	const size_t guest_from = offsetof(struct ivb_region, guest_state), guest_to = sizeof(struct ivb_region);
	static const uint8_t sha[IVB_SHA256_LEN];
	struct ivb_guest_summary sum;
	struct ivb_guest_info info;
	struct ivb_host h;
	struct ivb_ack ack;
	uint64_t sent;
	size_t used;

	if (ivb_host_init(&h, r, MAP_SIZE, 0x1234, 0, NULL, NULL) < 0)
		abort();
	used = overlay(guest_from, guest_to, data, size);
	if (ivb_host_wait_guest(&h, &info) < 0)
		return;
	if (ivb_host_send(&h, 64, IVB_MSG_LATENCY, 0, sha, &sent) < 0)
		abort();
	overlay(guest_from, guest_to, data + used, size - used);
	(void)ivb_host_wait_ack(&h, &ack);
	ivb_host_finish(&h);
	(void)ivb_host_wait_summary(&h, 0, &sum);
}

static void fuzz_guest(const uint8_t *data, size_t size)
{
	struct ivb_region *r = (struct ivb_region *)region_buf;
	const size_t host_to = offsetof(struct ivb_region, guest_state);
	struct ivb_guest_info info;
	struct ivb_message msg;
	struct ivb_guest g;
	size_t used;

	memset(&info, 0, sizeof(info));
	used = overlay(0, host_to, data, size);
	if (ivb_guest_bind(&g, r, MAP_SIZE, 0, &info, NULL) < 0)
		return;
	overlay(0, host_to, data + used, size - used);
	if (ivb_guest_wait_message(&g, &msg) == 0 && msg.error == IVB_MSG_OK && msg.size > g.capacity)
		abort(); /* a message the guest would read past its mapping */
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1)
		return 0;
	memset(region_buf, 0, sizeof(region_buf));
	if (data[0] & 1)
		fuzz_host(data + 1, size - 1);
	else
		fuzz_guest(data + 1, size - 1);
	return 0;
}

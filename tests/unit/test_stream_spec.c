/* Unit tests of the guest's check of a guest-to-host stream message's spec (plan.c ivb_stream_spec_check) for the
 * fields of several host consumers: their count, their timeout, and whether each waits on an interrupt vector of
 * its own. Every value the host writes there is untrusted on the guest. */
#include <errno.h>
#include <string.h>

#include "check.h"
#include "plan.h"

#define MSG_SIZE (4u << 20)

/* A spec the guest accepts: 3 slots of 64 KiB frames, two consumers, each on its own vector. */
static struct ivb_stream_spec good(void)
{
	return (struct ivb_stream_spec){ .direction = IVB_DIR_GUEST_TO_HOST, .nslots = 3, .policy = IVB_RING_BLOCK,
					 .verify = IVB_VERIFY_XXH3, .consume = IVB_CONSUME_INPLACE, .frame_size = 65536,
					 .seconds = 1, .nconsumers = 2, .consumer_vectors = 1,
					 .consumer_timeout_ns = 1000000000ull };
}

static void test_consumer_fields(void)
{
	struct ivb_stream_spec s = good();
	struct ivb_ring_geometry g;
	char why[256];

	CHECK(ivb_stream_spec_check(&s, MSG_SIZE, &g, why, sizeof(why)) == 0);
	CHECK(g.nconsumers == 2 && g.consumer_timeout_ns == 1000000000ull);
	s.consumer_vectors = 0;
	CHECK(ivb_stream_spec_check(&s, MSG_SIZE, &g, why, sizeof(why)) == 0);
	s.consumer_vectors = 2;
	CHECK(ivb_stream_spec_check(&s, MSG_SIZE, &g, why, sizeof(why)) == -EPROTO);
	CHECK(strcmp(why, "the host's stream says consumer vectors 2 (0 or 1)") == 0);
	s = good();
	s.nconsumers = IVB_RING_MAX_CONSUMERS + 1;
	CHECK(ivb_stream_spec_check(&s, MSG_SIZE, &g, why, sizeof(why)) == -EPROTO);
	CHECK(strstr(why, "consumers") != NULL);
}

int main(void)
{
	RUN_TEST(test_consumer_fields);
	return CHECK_SUMMARY("stream_spec");
}

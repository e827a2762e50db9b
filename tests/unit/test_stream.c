/* test_stream.c: the stream loops of both sides over one ring, as threads in one process. */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "stream_fixture.h"
#include "wait.h" /* ivb_stop_requested */

/* block, unpaced, xxh3: every frame produced is consumed and verified, each with a latency. */
static void test_block_unpaced_every_frame_verified(void)
{
	struct ivb_stream_host h;
	struct guest_run g = { 0 };
	struct tally t;

	host_setup(&h, IVB_RING_BLOCK, IVB_VERIFY_XXH3, 0, &t);
	CHECK(run(&h, &g) == 0);
	CHECK(g.ret == 0);
	CHECK(h.totals.produced > 10);
	CHECK(t.frames == h.totals.produced && t.max_seq + 1 == h.totals.produced);
	CHECK(h.totals.consumed == h.totals.produced && h.totals.dropped == 0 && h.totals.failed == 0);
	CHECK(g.t.ok == h.totals.produced && g.t.bad == 0);
	CHECK(t.with_latency == t.frames);
}

/*
 * latest at 200 fps: pacing holds (no frame before its time, none after the second), and every frame is
 * counted consumed or dropped. How many frames a loaded machine lets through in the second is not the test's.
 */
static void test_latest_paced(void)
{
	struct ivb_stream_host h;
	struct guest_run g = { 0 };
	struct tally t;

	host_setup(&h, IVB_RING_LATEST, IVB_VERIFY_SHA256, 200, &t);
	t.period_ns = IVB_NS_PER_SEC / 200;
	CHECK(run(&h, &g) == 0);
	CHECK(g.ret == 0);
	CHECK(h.totals.produced > 0 && h.totals.produced <= 200);
	CHECK(t.early == 0);
	CHECK(t.frames == h.totals.produced);
	CHECK(h.totals.consumed + h.totals.dropped == h.totals.produced);
	CHECK(h.totals.dropped == g.t.skipped);
	CHECK(h.totals.failed == 0);
}

/*
 * latest, unpaced: the guest holds its first frame while the host publishes 40 more into the other slots,
 * so that frame stays unresolved across many later ones (each frame's record once sat at seq % 32, and
 * the release of a frame 32 frames old aborted the host).
 */
static void test_latest_frame_held_across_many(void)
{
	struct ivb_stream_host h;
	struct guest_run g = { .hold_for = 40 };
	struct tally t;

	host_setup(&h, IVB_RING_LATEST, IVB_VERIFY_XXH3, 0, &t);
	CHECK(run(&h, &g) == 0);
	CHECK(g.ret == 0);
	CHECK(h.totals.produced > 40 && h.totals.dropped >= 38);
	CHECK(t.frames == h.totals.produced && t.dropped == h.totals.dropped);
	CHECK(h.totals.consumed + h.totals.dropped == h.totals.produced);
	CHECK(h.totals.failed == 0);
	CHECK(t.with_latency == h.totals.consumed);
}

/* A corrupted source: its frames fail verification, are counted, and the stream goes on. */
static void test_corrupted_frames_counted(void)
{
	struct ivb_stream_host h;
	struct guest_run g = { 0 };
	struct tally t;

	host_setup(&h, IVB_RING_BLOCK, IVB_VERIFY_XXH3, 100, &t);
	source_mem[1][FRAME / 2] ^= 0x40; /* after its checksum was taken */
	CHECK(run(&h, &g) == 0);
	CHECK(h.totals.failed > 0 && h.totals.failed == g.t.bad);
	CHECK(h.totals.failed >= h.totals.produced / NSOURCES - 1 && h.totals.failed <= h.totals.produced / NSOURCES + 1);
	CHECK(h.totals.consumed == h.totals.produced);
}

/* verify none: frames are counted as unverified, never as verified. */
static void test_unverified(void)
{
	struct ivb_stream_host h;
	struct guest_run g = { 0 };
	struct tally t;

	host_setup(&h, IVB_RING_BLOCK, IVB_VERIFY_NONE, 100, &t);
	CHECK(run(&h, &g) == 0);
	CHECK(h.totals.unverified == h.totals.produced && g.t.ok == 0 && h.totals.failed == 0);
}

/* The consumer stalls mid-stream: the host stops within its timeout and keeps what it measured. */
static void test_consumer_stalls(void)
{
	struct ivb_stream_host h;
	struct guest_run g = { .stop_after = 5 };
	struct tally t;
	uint64_t t0 = ivb_now_ns();

	host_setup(&h, IVB_RING_BLOCK, IVB_VERIFY_XXH3, 0, &t);
	h.timeout_ns = 300 * MS;
	CHECK(run(&h, &g) == -ETIMEDOUT);
	CHECK(strstr(h.why, "released no frame slot") != NULL);
	CHECK(t.frames == 5 && h.totals.consumed == 5);
	CHECK(ivb_now_ns() - t0 < 2000 * MS);
}

/* The producer never comes: the consumer stops within its timeout. */
static void test_producer_never_comes(void)
{
	struct ivb_stream_host h;
	struct ivb_ring_consumer c;
	struct ivb_stream_guest_totals gt;
	struct tally t;
	char why[256];

	host_setup(&h, IVB_RING_BLOCK, IVB_VERIFY_XXH3, 0, &t);
	CHECK(ivb_ring_consumer_attach(&c, buffer, CAPACITY, why, sizeof(why)) == 0);
	CHECK(ivb_stream_consume(&c, scratch, NULL, 0, 100 * MS, NULL, NULL, &gt, why, sizeof(why)) == -ETIMEDOUT);
	CHECK(strstr(why, "no frame") != NULL);
}

/* A stop request ends the consumer before its next frame, even with a frame waiting (a host that never pauses). */
static void test_consumer_stops_with_frames_waiting(void)
{
	struct ivb_stream_host h;
	struct ivb_ring_consumer c;
	struct ivb_stream_guest_totals gt;
	struct tally t;
	uint8_t sum[IVB_RING_CHECKSUM_LEN] = { 0 };
	uint32_t slot;
	char why[256];
	int ret;

	host_setup(&h, IVB_RING_BLOCK, IVB_VERIFY_XXH3, 0, &t);
	CHECK(ivb_ring_consumer_attach(&c, buffer, CAPACITY, why, sizeof(why)) == 0);
	CHECK(ivb_ring_acquire(&h.ring, &slot) == 0);
	ivb_ring_publish(&h.ring, slot, FRAME, sum);
	ivb_stop_requested = 1;
	ret = ivb_stream_consume(&c, scratch, NULL, 0, 100 * MS, NULL, NULL, &gt, why, sizeof(why));
	ivb_stop_requested = 0;
	CHECK(ret == -EINTR && gt.taken == 0);
}

/* ---- consuming in place ---- */

/*
 * block, unpaced, in place: every frame verified, each from its slot: the guest reports no copy, and
 * its scratch buffer (which a copy would go through) is never written.
 */
static void test_inplace_every_frame_verified_in_its_slot(void)
{
	struct ivb_stream_host h;
	struct guest_run g = { 0 };
	struct tally t;

	host_setup_mode(&h, IVB_RING_BLOCK, IVB_VERIFY_XXH3, IVB_CONSUME_INPLACE, 0, &t);
	memset(scratch, 0x5a, sizeof(scratch));
	CHECK(run(&h, &g) == 0);
	CHECK(g.ret == 0 && h.totals.produced > 10);
	CHECK(h.totals.consumed == h.totals.produced && h.totals.failed == 0 && g.t.ok == h.totals.produced);
	CHECK(g.t.copy_ns_sum == 0 && g.t.verify_ns_sum > 0);
	CHECK(t.no_copy == h.totals.consumed && t.with_latency == t.frames);
	for (size_t i = 0; i < sizeof(scratch); i++)
		if (scratch[i] != 0x5a) {
			CHECK(!"the in-place consumer wrote its scratch buffer");
			break;
		}
}

/* latest, unpaced, in place: a claimed slot is never rewritten while it is read, so no frame fails. */
static void test_inplace_latest_never_fails(void)
{
	struct ivb_stream_host h;
	struct guest_run g = { 0 };
	struct tally t;

	host_setup_mode(&h, IVB_RING_LATEST, IVB_VERIFY_SHA256, IVB_CONSUME_INPLACE, 0, &t);
	CHECK(run(&h, &g) == 0);
	CHECK(g.ret == 0);
	CHECK(h.totals.consumed > 0 && h.totals.consumed + h.totals.dropped == h.totals.produced);
	CHECK(h.totals.failed == 0 && g.t.bad == 0 && g.t.ok == h.totals.consumed);
	CHECK(h.totals.dropped == g.t.skipped && t.no_copy == h.totals.consumed);
}

/* --corrupt-frame, in place: the byte flipped in the slot is found there (one failed frame, the stream goes on). */
static void test_inplace_corrupt_frame_caught(void)
{
	struct ivb_stream_host h;
	struct guest_run g = { 0 };
	struct tally t;

	host_setup_mode(&h, IVB_RING_BLOCK, IVB_VERIFY_XXH3, IVB_CONSUME_INPLACE, 100, &t);
	h.corrupt = true;
	h.corrupt_frame = 3;
	CHECK(run(&h, &g) == 0 && g.ret == 0);
	CHECK(h.totals.failed == 1 && g.t.bad == 1 && t.failed == 1 && t.no_copy == h.totals.produced);
}

/* A copying consumer with nowhere to copy to: refused before any frame (in place needs no buffer). */
static void test_copy_needs_a_buffer(void)
{
	struct ivb_stream_host h;
	struct ivb_ring_consumer c;
	struct ivb_stream_guest_totals gt;
	struct tally t;
	char why[256];

	host_setup(&h, IVB_RING_BLOCK, IVB_VERIFY_XXH3, 0, &t);
	CHECK(ivb_ring_consumer_attach(&c, buffer, CAPACITY, why, sizeof(why)) == 0);
	CHECK(ivb_stream_consume(&c, NULL, NULL, 0, 100 * MS, NULL, NULL, &gt, why, sizeof(why)) == -EINVAL);
	CHECK(gt.taken == 0 && strstr(why, "buffer") != NULL);
}

static void test_names(void)
{
	uint32_t v;

	CHECK(ivb_consume_parse("inplace", &v) == 0 && v == IVB_CONSUME_INPLACE);
	CHECK(ivb_consume_parse("copy", &v) == 0 && v == IVB_CONSUME_COPY);
	CHECK(ivb_consume_parse("zerocopy", &v) == -EINVAL);
	CHECK(strcmp(ivb_consume_name(IVB_CONSUME_INPLACE), "inplace") == 0);
	CHECK(strcmp(ivb_consume_name(0), "unknown") == 0);

	CHECK(ivb_verify_parse("xxh3", &v) == 0 && v == IVB_VERIFY_XXH3);
	CHECK(ivb_verify_parse("md5", &v) == -EINVAL);
	CHECK(ivb_policy_parse("latest", &v) == 0 && v == IVB_RING_LATEST);
	CHECK(ivb_policy_parse("drop", &v) == -EINVAL);
	CHECK(strcmp(ivb_verify_name(IVB_VERIFY_SHA256), "sha256") == 0);
	CHECK(strcmp(ivb_policy_name(99), "unknown") == 0);
}

int main(void)
{
	RUN_TEST(test_names);
	RUN_TEST(test_block_unpaced_every_frame_verified);
	RUN_TEST(test_latest_paced);
	RUN_TEST(test_latest_frame_held_across_many);
	RUN_TEST(test_corrupted_frames_counted);
	RUN_TEST(test_unverified);
	RUN_TEST(test_consumer_stalls);
	RUN_TEST(test_producer_never_comes);
	RUN_TEST(test_consumer_stops_with_frames_waiting);
	RUN_TEST(test_inplace_every_frame_verified_in_its_slot);
	RUN_TEST(test_inplace_latest_never_fails);
	RUN_TEST(test_inplace_corrupt_frame_caught);
	RUN_TEST(test_copy_needs_a_buffer);
	return CHECK_SUMMARY("unit stream");
}

/* test_stream.c: the stream loops of both sides over one ring, as threads in one process. */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "clock.h"
#include "stream.h"

#define FRAME (64u * 1024u)
#define NSLOTS 3u
#define NSOURCES (NSLOTS + 1u)
#define CAPACITY (IVB_RING_CTL_SIZE + NSLOTS * FRAME)
#define MS (1000ull * 1000ull)

static _Alignas(4096) uint8_t buffer[CAPACITY];
static uint8_t source_mem[NSOURCES][FRAME];
static const uint8_t *sources[NSOURCES];
static uint8_t checksums[NSOURCES][IVB_RING_CHECKSUM_LEN];
static uint8_t scratch[FRAME];

struct tally {
	uint64_t frames, dropped, failed, with_latency, max_seq;
	uint64_t period_ns; /* a paced stream's: frame n is due at n * period_ns */
	uint64_t early;     /* frames published before they were due */
};

static int count_frame(void *arg, const struct ivb_stream_frame *f)
{
	struct tally *t = arg;

	t->frames++;
	t->dropped += f->dropped;
	t->failed += !f->dropped && f->status != IVB_FRAME_OK;
	t->with_latency += !f->dropped && f->latency_ns > 0 && f->guest_copy_ns > 0;
	if (f->seq > t->max_seq)
		t->max_seq = f->seq;
	t->early += f->publish_ns < f->seq * t->period_ns;
	return 0;
}

static void make_sources(uint32_t verify)
{
	for (uint32_t k = 0; k < NSOURCES; k++) {
		for (size_t i = 0; i < FRAME; i++)
			source_mem[k][i] = (uint8_t)(rand() >> 7);
		sources[k] = source_mem[k];
		CHECK(ivb_checksum(verify, source_mem[k] + IVB_RING_STAMP_LEN, FRAME - IVB_RING_STAMP_LEN,
				   checksums[k]) == 0);
	}
}

static void host_setup(struct ivb_stream_host *h, uint32_t policy, uint32_t verify, uint32_t fps, struct tally *t)
{
	struct ivb_ring_geometry g;
	uint64_t need;

	memset(h, 0, sizeof(*h));
	memset(t, 0, sizeof(*t));
	make_sources(verify);
	CHECK(ivb_ring_geometry_for(CAPACITY, NSLOTS, FRAME, policy, verify, &g, &need) == 0);
	ivb_ring_producer_init(&h->ring, buffer, &g, NULL, NULL);
	h->seconds = 1;
	h->fps = fps;
	h->timeout_ns = 2000 * MS;
	h->sources = sources;
	h->checksums = (const uint8_t(*)[IVB_RING_CHECKSUM_LEN])checksums;
	h->nsources = NSOURCES;
	h->on_frame = count_frame;
	h->arg = t;
}

struct guest_run {
	int ret;
	uint64_t stop_after; /* the guest stops taking frames after this many (0: never) */
	uint64_t hold_for;   /* the guest holds its first frame while the host publishes this many more */
	struct ivb_stream_guest_totals t;
	char why[256];
};

static void *guest(void *arg)
{
	struct guest_run *g = arg;
	struct ivb_ring_consumer c;

	g->ret = ivb_ring_consumer_attach(&c, buffer, CAPACITY, g->why, sizeof(g->why));
	if (g->ret == 0 && g->stop_after > 0) {
		/* A consumer that stalls: takes a few frames, then nothing (and never says DONE). */
		struct ivb_ring_frame f;

		for (uint64_t n = 0; n < g->stop_after;) {
			if (ivb_ring_take(&c, &f, g->why, sizeof(g->why)) == 0) {
				ivb_ring_release(&c, &f, IVB_FRAME_OK, 1, 1);
				n++;
			}
		}
		return NULL;
	}
	if (g->ret == 0 && g->hold_for > 0) {
		struct ivb_ring_frame f;

		while ((g->ret = ivb_ring_take(&c, &f, g->why, sizeof(g->why))) == -EAGAIN)
			;
		while (g->ret == 0 && atomic_load(&c.ctl->head) <= f.seq + g->hold_for &&
		       atomic_load(&c.ctl->producer_state) != IVB_RING_DONE)
			;
		if (g->ret == 0)
			ivb_ring_release(&c, &f, IVB_FRAME_OK, 1, 1);
	}
	if (g->ret == 0)
		g->ret = ivb_stream_consume(&c, scratch, NULL, 0, 2000 * MS, NULL, NULL, &g->t, g->why, sizeof(g->why));
	ivb_ring_consumer_finish(&c, NULL);
	return NULL;
}

static int run(struct ivb_stream_host *h, struct guest_run *g)
{
	pthread_t t;
	int ret;

	CHECK(pthread_create(&t, NULL, guest, g) == 0);
	ret = ivb_stream_produce(h);
	CHECK(pthread_join(t, NULL) == 0);
	return ret;
}

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

static void test_names(void)
{
	uint32_t v;

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
	return CHECK_SUMMARY("unit stream");
}

/* stream_fixture.h: the ring the stream tests share, its sources, the host's side set up on it and an honest
 * guest thread, for test_stream.c and test_stream_hostile.c (each its own program, each with its own copy). */
#ifndef IVB_STREAM_FIXTURE_H
#define IVB_STREAM_FIXTURE_H

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
	uint64_t frames, dropped, failed, with_latency, max_seq, implausible, accepted_corrupt;
	uint64_t period_ns; /* a paced stream's: frame n is due at n * period_ns */
	uint64_t early;     /* frames published before they were due */
	uint64_t no_copy; /* consumed frames the guest reported no copy for, but a verification */
};

static int count_frame(void *arg, const struct ivb_stream_frame *f)
{
	struct tally *t = arg;

	t->frames++;
	t->dropped += f->dropped;
	t->failed += !f->dropped && f->failed;
	t->implausible += f->error != NULL && strcmp(f->error, "implausible_timing") == 0;
	t->accepted_corrupt += f->error != NULL && strcmp(f->error, "accepted_corrupted_frame") == 0;
	t->with_latency += !f->dropped && f->latency_ns > 0 && f->guest_copy_ns + f->guest_verify_ns > 0;
	t->no_copy += !f->dropped && f->guest_copy_ns == 0 && f->guest_verify_ns > 0;
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

static void host_setup_mode(struct ivb_stream_host *h, uint32_t policy, uint32_t verify, uint32_t consume, uint32_t fps,
			    struct tally *t)
{
	struct ivb_ring_geometry g;
	uint64_t need;

	memset(h, 0, sizeof(*h));
	memset(t, 0, sizeof(*t));
	make_sources(verify);
	CHECK(ivb_ring_geometry_for(CAPACITY, NSLOTS, FRAME, policy, verify, consume, &g, &need) == 0);
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

/* A ring whose consumer copies each frame out (the mode most tests here need: it has a copy time). */
static void host_setup(struct ivb_stream_host *h, uint32_t policy, uint32_t verify, uint32_t fps, struct tally *t)
{
	host_setup_mode(h, policy, verify, IVB_CONSUME_COPY, fps, t);
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

/* The host's stream against guest_fn(arg) as a thread, until both are done. Returns: ivb_stream_produce's. */
static int run_with(struct ivb_stream_host *h, void *(*guest_fn)(void *), void *arg)
{
	pthread_t t;
	int ret;

	CHECK(pthread_create(&t, NULL, guest_fn, arg) == 0);
	ret = ivb_stream_produce(h);
	CHECK(pthread_join(t, NULL) == 0);
	return ret;
}

/* The host's stream against the honest guest. */
static int run(struct ivb_stream_host *h, struct guest_run *g)
{
	return run_with(h, guest, g);
}

#endif /* IVB_STREAM_FIXTURE_H */

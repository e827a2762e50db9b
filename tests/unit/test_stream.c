/* test_stream.c: the stream loops of both sides over one ring, as threads in one process. */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "check.h"
#include "clock.h"
#include "stream.h"
#include "wait.h" /* ivb_stop_requested */

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

/* ---- a hostile guest: what it writes into the ring's guest fields is its choice ---- */

/* A bound for the hostile guest's own waits (it gives up after it), far beyond any test's need. */
#define GUEST_PATIENCE_NS (10000 * MS)

static void nap_ms(long ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };

	nanosleep(&ts, NULL);
}

/* A guest that takes every frame and releases it with this status and these times, whatever it found. */
struct liar {
	uint32_t status;
	uint64_t copy_ns, verify_ns;
	int ret;
	char why[256];
};

static void *lying_guest(void *arg)
{
	struct liar *l = arg;
	struct ivb_ring_consumer c;
	struct ivb_ring_frame f;
	uint64_t give_up = ivb_now_ns() + GUEST_PATIENCE_NS;

	l->ret = ivb_ring_consumer_attach(&c, buffer, CAPACITY, l->why, sizeof(l->why));
	while (l->ret == 0 && ivb_now_ns() < give_up) {
		int ret = ivb_ring_take(&c, &f, l->why, sizeof(l->why));

		if (ret == 1)
			break;
		if (ret == 0)
			ivb_ring_release(&c, &f, l->status, l->copy_ns, l->verify_ns);
		else if (ret != -EAGAIN)
			l->ret = ret;
	}
	ivb_ring_consumer_finish(&c, NULL);
	return NULL;
}

static int run_liar(struct ivb_stream_host *h, struct liar *l)
{
	pthread_t t;
	int ret;

	CHECK(pthread_create(&t, NULL, lying_guest, l) == 0);
	ret = ivb_stream_produce(h);
	CHECK(pthread_join(t, NULL) == 0);
	return ret;
}

/* latest: a released count of 2^64 - 1 (more than was ever published) ends the stream at once, not never. */
static void test_latest_absurd_released_count_ends_the_stream(void)
{
	struct ivb_stream_host h;
	struct tally t;

	host_setup(&h, IVB_RING_LATEST, IVB_VERIFY_XXH3, 0, &t);
	atomic_store(&h.ring.ctl->cons[0].released, UINT64_MAX); /* written by the guest before the first frame */
	alarm(60); /* the host once spun here for ever: let the test fail instead of hanging */
	CHECK(ivb_stream_produce(&h) == -EPROTO);
	alarm(0);
	CHECK(strstr(h.why, "released count 18446744073709551615 exceeds") != NULL);
}

/* A guest that raises its released count one by one after the end, never saying DONE. */
struct creeper {
	_Atomic bool stop;
	uint64_t raised;
};

static void *creeping_guest(void *arg)
{
	struct creeper *cr = arg;
	struct ivb_ring_ctl *ctl = (struct ivb_ring_ctl *)buffer;
	uint64_t give_up = ivb_now_ns() + GUEST_PATIENCE_NS;

	atomic_store(&ctl->cons[0].consumer_state, IVB_RING_STREAMING);
	while (atomic_load(&ctl->producer_state) != IVB_RING_DONE && !atomic_load(&cr->stop) && ivb_now_ns() < give_up)
		nap_ms(1);
	/* Each step stays below the frames published (head counts them, with the dropped ones). */
	while (!atomic_load(&cr->stop) && ivb_now_ns() < give_up && cr->raised < atomic_load(&ctl->head) / 2) {
		atomic_store(&ctl->cons[0].released, ++cr->raised);
		nap_ms(10);
	}
	return NULL;
}

/*
 * latest: the end-of-stream wait gives the guest a timeout per release, but no more than a frame per slot
 * in all, however long it keeps raising its count (it raises it for up to 10 s here; the bound is 0.3 s).
 */
static void test_latest_creeping_released_count_is_bounded(void)
{
	struct ivb_stream_host h;
	struct creeper cr = { .stop = false };
	struct tally t;
	pthread_t tid;
	uint64_t t0;
	int ret;

	host_setup(&h, IVB_RING_LATEST, IVB_VERIFY_XXH3, 0, &t);
	h.timeout_ns = 100 * MS;
	t0 = ivb_now_ns();
	CHECK(pthread_create(&tid, NULL, creeping_guest, &cr) == 0);
	ret = ivb_stream_produce(&h);
	/* 1 s of frames and 0.3 s at most for the guest, whatever the scheduler did; the guest kept going for 10 s. */
	CHECK(ivb_now_ns() - t0 < GUEST_PATIENCE_NS / 2);
	atomic_store(&cr.stop, true);
	CHECK(pthread_join(tid, NULL) == 0);
	CHECK(ret == -ETIMEDOUT);
	CHECK(strstr(h.why, "did not finish the stream in time") != NULL);
}

/* A guest that releases frame 0, lets the host fill every slot, then lowers its count while the host waits. */
static void *backsliding_guest(void *arg)
{
	struct liar *l = arg;
	struct ivb_ring_consumer c;
	struct ivb_ring_frame f;
	uint64_t give_up = ivb_now_ns() + GUEST_PATIENCE_NS;
	int ret = -EAGAIN;

	l->ret = ivb_ring_consumer_attach(&c, buffer, CAPACITY, l->why, sizeof(l->why));
	while (l->ret == 0 && ret == -EAGAIN && ivb_now_ns() < give_up)
		ret = ivb_ring_take(&c, &f, l->why, sizeof(l->why));
	if (ret != 0)
		return NULL;
	ivb_ring_release(&c, &f, IVB_FRAME_OK, 1, 1);
	while (atomic_load(&c.ctl->head) < 1 + NSLOTS && ivb_now_ns() < give_up)
		;
	/* Most likely the host sleeps in its slot wait by now; the test passes wherever it is. */
	nap_ms(50);
	atomic_store(&c.ctl->cons[0].released, 0);
	return NULL;
}

/* block: a released count that goes back is refused at once, not found by the slot wait's timeout. */
static void test_block_released_count_going_back_is_refused(void)
{
	struct ivb_stream_host h;
	struct liar l = { 0 };
	struct tally t;
	pthread_t tid;
	int ret;

	host_setup(&h, IVB_RING_BLOCK, IVB_VERIFY_XXH3, 0, &t);
	h.timeout_ns = 20000 * MS; /* the guest thread has all the time it needs to lie */
	CHECK(pthread_create(&tid, NULL, backsliding_guest, &l) == 0);
	ret = ivb_stream_produce(&h);
	CHECK(pthread_join(tid, NULL) == 0);
	CHECK(ret == -EPROTO);
	CHECK(strstr(h.why, "released count went back from 1 to 0") != NULL);
}

/* A copy of an hour reported for frames the host saw back in milliseconds: implausible, failed. */
static void test_guest_times_beyond_the_frame_fail(void)
{
	struct ivb_stream_host h;
	struct liar l = { .status = IVB_FRAME_OK, .copy_ns = 3599 * IVB_NS_PER_SEC, .verify_ns = 1 };
	struct tally t;

	host_setup(&h, IVB_RING_BLOCK, IVB_VERIFY_XXH3, 100, &t);
	CHECK(run_liar(&h, &l) == 0 && l.ret == 0);
	CHECK(h.totals.consumed > 0 && h.totals.failed == h.totals.consumed);
	CHECK(t.implausible == h.totals.consumed && t.failed == h.totals.consumed);
}

/* xxh3 asked, every frame reported unverified: each is a failed frame, none merely unverified. */
static void test_unverified_when_asked_fails(void)
{
	struct ivb_stream_host h;
	struct liar l = { .status = IVB_FRAME_UNVERIFIED, .copy_ns = 1, .verify_ns = 0 };
	struct tally t;

	host_setup(&h, IVB_RING_BLOCK, IVB_VERIFY_XXH3, 100, &t);
	CHECK(run_liar(&h, &l) == 0 && l.ret == 0);
	CHECK(h.totals.consumed > 0 && h.totals.failed == h.totals.consumed && h.totals.unverified == 0);
	CHECK(t.failed == h.totals.consumed && t.implausible == 0);
}

/* --corrupt-frame: an honest guest finds the frame bad (one failed frame, the stream goes on). */
static void test_corrupt_frame_caught(void)
{
	struct ivb_stream_host h;
	struct guest_run g = { 0 };
	struct tally t;

	host_setup(&h, IVB_RING_BLOCK, IVB_VERIFY_SHA256, 100, &t);
	h.corrupt = true;
	h.corrupt_frame = 3;
	CHECK(run(&h, &g) == 0 && g.ret == 0);
	CHECK(h.totals.failed == 1 && g.t.bad == 1 && t.failed == 1 && t.accepted_corrupt == 0);
	CHECK(h.totals.consumed == h.totals.produced && h.totals.produced > 10);
}

/* --corrupt-frame: a guest that answers OK without reading fails the frame and stops the stream. */
static void test_corrupt_frame_accepted_stops(void)
{
	struct ivb_stream_host h;
	struct liar l = { .status = IVB_FRAME_OK, .copy_ns = 1, .verify_ns = 1 };
	struct tally t;

	host_setup(&h, IVB_RING_BLOCK, IVB_VERIFY_SHA256, 100, &t);
	h.corrupt = true;
	h.corrupt_frame = 3;
	CHECK(run_liar(&h, &l) == -EPROTO);
	CHECK(strstr(h.why, "the guest accepted frame 3 that the host corrupted on purpose") != NULL);
	CHECK(t.accepted_corrupt == 1 && t.failed == 1 && h.totals.failed == 1);
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
	RUN_TEST(test_latest_absurd_released_count_ends_the_stream);
	RUN_TEST(test_latest_creeping_released_count_is_bounded);
	RUN_TEST(test_block_released_count_going_back_is_refused);
	RUN_TEST(test_guest_times_beyond_the_frame_fail);
	RUN_TEST(test_unverified_when_asked_fails);
	RUN_TEST(test_corrupt_frame_caught);
	RUN_TEST(test_corrupt_frame_accepted_stops);
	RUN_TEST(test_consumer_stops_with_frames_waiting);
	RUN_TEST(test_inplace_every_frame_verified_in_its_slot);
	RUN_TEST(test_inplace_latest_never_fails);
	RUN_TEST(test_inplace_corrupt_frame_caught);
	RUN_TEST(test_copy_needs_a_buffer);
	return CHECK_SUMMARY("unit stream");
}

/* test_stream_hostile.c: a hostile guest on the stream's ring: what it writes into the ring's guest fields is its
 * choice (released counts out of bounds or going back, impossible times, frames unverified or accepted corrupt);
 * the host's stream loop bounds each, as threads in one process. */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "stream_fixture.h"

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

	host_setup(&h, IVB_RING_BLOCK, IVB_VERIFY_XXH3, 0, &t);
	h.timeout_ns = 20000 * MS; /* the guest thread has all the time it needs to lie */
	CHECK(run_with(&h, backsliding_guest, &l) == -EPROTO);
	CHECK(strstr(h.why, "released count went back from 1 to 0") != NULL);
}

/* A copy of an hour reported for frames the host saw back in milliseconds: implausible, failed. */
static void test_guest_times_beyond_the_frame_fail(void)
{
	struct ivb_stream_host h;
	struct liar l = { .status = IVB_FRAME_OK, .copy_ns = 3599 * IVB_NS_PER_SEC, .verify_ns = 1 };
	struct tally t;

	host_setup(&h, IVB_RING_BLOCK, IVB_VERIFY_XXH3, 100, &t);
	CHECK(run_with(&h, lying_guest, &l) == 0 && l.ret == 0);
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
	CHECK(run_with(&h, lying_guest, &l) == 0 && l.ret == 0);
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
	CHECK(run_with(&h, lying_guest, &l) == -EPROTO);
	CHECK(strstr(h.why, "the guest accepted frame 3 that the host corrupted on purpose") != NULL);
	CHECK(t.accepted_corrupt == 1 && t.failed == 1 && h.totals.failed == 1);
}


int main(void)
{
	RUN_TEST(test_latest_absurd_released_count_ends_the_stream);
	RUN_TEST(test_latest_creeping_released_count_is_bounded);
	RUN_TEST(test_block_released_count_going_back_is_refused);
	RUN_TEST(test_guest_times_beyond_the_frame_fail);
	RUN_TEST(test_unverified_when_asked_fails);
	RUN_TEST(test_corrupt_frame_caught);
	RUN_TEST(test_corrupt_frame_accepted_stops);
	return CHECK_SUMMARY("unit stream hostile");
}

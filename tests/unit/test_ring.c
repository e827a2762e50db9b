/* test_ring.c: the ring of frame slots, both sides in one process (threads for the races). */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "check.h"
#include "clock.h"
#include "ring.h"

#define FRAME 512u
#define CAPACITY (IVB_RING_CTL_SIZE + 8u * IVB_RING_SLOT_ALIGN)
#define WHY 256

static _Alignas(4096) uint8_t buffer[CAPACITY];

/* Every payload byte of frame `seq` is a function of seq and position, so a torn frame shows. */
static uint8_t pattern(uint64_t seq, size_t i)
{
	return (uint8_t)(seq * 131u + i * 7u + 1u);
}

static void write_frame(struct ivb_ring_producer *p, uint32_t slot, uint64_t seq)
{
	uint8_t *d = ivb_ring_slot(p, slot);

	for (size_t i = IVB_RING_STAMP_LEN; i < FRAME; i++)
		d[i] = pattern(seq, i);
}

/* Whether a copy of frame `seq` is whole: its stamp and every byte. */
static int frame_whole(const uint8_t *copy, uint64_t seq)
{
	if (ivb_ring_read_stamp(copy) != seq)
		return 0;
	for (size_t i = IVB_RING_STAMP_LEN; i < FRAME; i++)
		if (copy[i] != pattern(seq, i))
			return 0;
	return 1;
}

static void nap_us(long us)
{
	struct timespec ts = { .tv_sec = 0, .tv_nsec = us * 1000 };

	nanosleep(&ts, NULL);
}

struct outcomes {
	uint64_t consumed, dropped, bad, last_seq;
	int out_of_order;
};

static void count_outcome(void *arg, const struct ivb_ring_outcome *o)
{
	struct outcomes *oc = arg;

	if (o->consumed) {
		if (oc->consumed > 0 && o->seq <= oc->last_seq)
			oc->out_of_order = 1;
		oc->last_seq = o->seq;
		oc->consumed++;
		if (o->status != IVB_FRAME_OK)
			oc->bad++;
	} else {
		oc->dropped++;
	}
}

static void setup(struct ivb_ring_producer *p, uint32_t nslots, uint32_t policy, struct outcomes *oc)
{
	struct ivb_ring_geometry g;
	uint64_t need;

	memset(buffer, 0, sizeof(buffer));
	memset(oc, 0, sizeof(*oc));
	CHECK(ivb_ring_geometry_for(CAPACITY, nslots, FRAME, policy, IVB_VERIFY_NONE, IVB_CONSUME_COPY, &g, &need) == 0);
	ivb_ring_producer_init(p, buffer, &g, count_outcome, oc);
}

static void test_geometry(void)
{
	struct ivb_ring_geometry g;
	uint64_t need = 0;

	CHECK(ivb_ring_geometry_for(CAPACITY, 3, FRAME, IVB_RING_BLOCK, IVB_VERIFY_XXH3, IVB_CONSUME_COPY, &g, &need) == 0);
	CHECK(g.slot_stride == 4096 && need == IVB_RING_CTL_SIZE + 3 * 4096);
	CHECK(ivb_ring_geometry_for(CAPACITY, 8, 4097, IVB_RING_BLOCK, IVB_VERIFY_XXH3, IVB_CONSUME_COPY, &g, &need) == -ENOSPC);
	CHECK(need == IVB_RING_CTL_SIZE + 8 * 8192);
	CHECK(ivb_ring_geometry_for(CAPACITY, 1, FRAME, IVB_RING_BLOCK, IVB_VERIFY_XXH3, IVB_CONSUME_COPY, &g, &need) == -EINVAL);
	CHECK(ivb_ring_geometry_for(CAPACITY, 17, FRAME, IVB_RING_BLOCK, IVB_VERIFY_XXH3, IVB_CONSUME_COPY, &g, &need) == -EINVAL);
	CHECK(ivb_ring_geometry_for(CAPACITY, 3, 63, IVB_RING_BLOCK, IVB_VERIFY_XXH3, IVB_CONSUME_COPY, &g, &need) == -EINVAL);
	CHECK(ivb_ring_geometry_for(CAPACITY, 3, FRAME, 0, IVB_VERIFY_XXH3, IVB_CONSUME_COPY, &g, &need) == -EINVAL);
	CHECK(ivb_ring_geometry_for(CAPACITY, 3, FRAME, IVB_RING_LATEST, 9, IVB_CONSUME_COPY, &g, &need) == -EINVAL);
	CHECK(ivb_ring_geometry_for(CAPACITY, 3, FRAME, IVB_RING_LATEST, IVB_VERIFY_XXH3, 0, &g, &need) == -EINVAL);
	CHECK(ivb_ring_geometry_for(CAPACITY, 3, FRAME, IVB_RING_LATEST, IVB_VERIFY_XXH3, IVB_CONSUME_MAX + 1, &g, &need) ==
	      -EINVAL);
	CHECK(ivb_ring_geometry_for(CAPACITY, 3, FRAME, IVB_RING_BLOCK, IVB_VERIFY_XXH3, IVB_CONSUME_INPLACE, &g, &need) == 0);
	CHECK(g.consume == IVB_CONSUME_INPLACE);
	CHECK(ivb_ring_geometry_for(UINT64_MAX, 3, UINT64_MAX, IVB_RING_BLOCK, IVB_VERIFY_NONE, IVB_CONSUME_COPY, &g, &need) ==
	      -EINVAL);
}

/* The consumer side of the threaded tests: copy each frame slowly, check it is whole. */
struct consumer_run {
	int delay_every; /* sleep inside the copy of every n-th frame (0: never) */
	long delay_us;
	uint64_t taken, torn, skipped;
	int error;
};

static void *consume(void *arg)
{
	struct consumer_run *run = arg;
	struct ivb_ring_consumer c;
	char why[WHY];
	uint8_t copy[FRAME];

	if (ivb_ring_consumer_attach(&c, buffer, CAPACITY, why, sizeof(why)) != 0) {
		run->error = 1;
		atomic_store(&((struct ivb_ring_ctl *)buffer)->cons[0].consumer_state, IVB_RING_DONE);
		return NULL;
	}
	for (;;) {
		struct ivb_ring_frame f;
		int ret = ivb_ring_take(&c, &f, why, sizeof(why));

		if (ret == 1)
			break;
		if (ret == -EAGAIN)
			continue;
		if (ret < 0) {
			fprintf(stderr, "consumer: %s\n", why);
			run->error = 1;
			break;
		}
		/* Copy in two halves with a pause between: a producer that wrote into a slot still
		 * being read would tear the copy. */
		memcpy(copy, f.data, FRAME / 2);
		if (run->delay_every > 0 && f.seq % (uint64_t)run->delay_every == 0)
			nap_us(run->delay_us);
		memcpy(copy + FRAME / 2, f.data + FRAME / 2, FRAME / 2);
		if (!frame_whole(copy, f.seq))
			run->torn++;
		ivb_ring_release(&c, &f, frame_whole(copy, f.seq) ? IVB_FRAME_OK : IVB_FRAME_BAD_STAMP, 1, 1);
		run->taken++;
	}
	run->skipped = c.skipped;
	ivb_ring_consumer_finish(&c, NULL);
	return NULL;
}

/* The producer side; every wait is bounded, so that a broken ring fails instead of hanging. */
static void produce(struct ivb_ring_producer *p, uint64_t frames, long interval_us, uint64_t *waits)
{
	uint8_t checksum[IVB_RING_CHECKSUM_LEN] = { 0 };
	uint64_t deadline = ivb_now_ns() + 30 * IVB_NS_PER_SEC;

	for (uint64_t n = 0; n < frames; n++) {
		uint32_t slot;
		int ret;

		while ((ret = ivb_ring_acquire(p, &slot)) == -EAGAIN && p->g.policy == IVB_RING_BLOCK &&
		       !ivb_ring_consumer_done(p) && ivb_now_ns() < deadline)
			(*waits)++;
		if (ivb_ring_consumer_done(p) || ivb_now_ns() >= deadline) {
			CHECK(!"the consumer stopped or the ring stalled");
			break;
		}
		CHECK(ret == 0 || ret == -EAGAIN);
		if (ret == -EAGAIN) {
			ivb_ring_skip(p);
			continue;
		}
		write_frame(p, slot, p->next_seq);
		ivb_ring_publish(p, slot, FRAME, checksum);
		if (interval_us > 0)
			nap_us(interval_us);
	}
	ivb_ring_finish(p);
	while (!ivb_ring_consumer_done(p) && ivb_now_ns() < deadline)
		CHECK(ivb_ring_collect(p) == 0);
}

/*
 * Both sides as threads over a ring of 3 slots: `frames` frames, interval_us apart, the consumer pausing
 * inside its copy as `run` says. Checks what holds for both policies: the ring settles, no copy is torn,
 * every frame has one outcome and the guest's count of what it took agrees.
 */
static void run_threads(uint32_t policy, uint64_t frames, long interval_us, struct consumer_run *run,
			struct outcomes *oc, uint64_t *waits)
{
	struct ivb_ring_producer p;
	pthread_t t;

	*waits = 0;
	setup(&p, 3, policy, oc);
	CHECK(pthread_create(&t, NULL, consume, run) == 0);
	produce(&p, frames, interval_us, waits);
	CHECK(pthread_join(t, NULL) == 0);
	CHECK(ivb_ring_settle(&p) == 0);
	CHECK(run->error == 0 && run->torn == 0 && oc->bad == 0);
	CHECK(oc->consumed == run->taken && oc->consumed + oc->dropped == frames);
	CHECK(oc->dropped == run->skipped);
}

/* block: a slow consumer; every frame arrives whole, in order, and none is lost. */
static void test_block_slow_consumer_never_overwritten(void)
{
	struct consumer_run run = { .delay_every = 3, .delay_us = 200 };
	struct outcomes oc;
	uint64_t waits;

	run_threads(IVB_RING_BLOCK, 600, 0, &run, &oc, &waits);
	CHECK(run.taken == 600 && oc.dropped == 0 && !oc.out_of_order);
	CHECK(waits > 0); /* the producer did have to wait: the test exercised a full ring */
}

/* latest: a slow consumer never sees a torn frame, and host and guest agree on the drops. */
static void test_latest_slow_consumer_drops_agree(void)
{
	struct consumer_run run = { .delay_every = 1, .delay_us = 300 };
	struct outcomes oc;
	uint64_t waits;

	run_threads(IVB_RING_LATEST, 2000, 20, &run, &oc, &waits);
	CHECK(oc.dropped > 0); /* the consumer was slower than the producer */
}

/* latest at full speed on both sides: the claim and the mark keep every frame whole. */
static void test_latest_race(void)
{
	struct consumer_run run = { 0 };
	struct outcomes oc;
	uint64_t waits;

	run_threads(IVB_RING_LATEST, 100000, 0, &run, &oc, &waits);
}

/*
 * latest, one thread, so every order is the one written here: a consumer reading its claimed frame in place
 * (no copy) finds it whole after the producer published 20 more frames into the other slots.
 */
static void test_latest_claimed_slot_read_in_place(void)
{
	struct ivb_ring_producer p;
	struct ivb_ring_consumer c;
	struct ivb_ring_frame f;
	struct outcomes oc;
	uint8_t checksum[IVB_RING_CHECKSUM_LEN] = { 0 };
	char why[WHY];
	uint32_t slot;

	setup(&p, 3, IVB_RING_LATEST, &oc);
	CHECK(ivb_ring_consumer_attach(&c, buffer, CAPACITY, why, sizeof(why)) == 0);
	CHECK(ivb_ring_acquire(&p, &slot) == 0);
	write_frame(&p, slot, p.next_seq);
	ivb_ring_publish(&p, slot, FRAME, checksum);
	CHECK(ivb_ring_take(&c, &f, why, sizeof(why)) == 0 && f.seq == 0);
	for (uint64_t n = 0; n < 20; n++) {
		CHECK(ivb_ring_acquire(&p, &slot) == 0);
		CHECK(slot != f.slot);
		write_frame(&p, slot, p.next_seq);
		ivb_ring_publish(&p, slot, FRAME, checksum);
	}
	CHECK(frame_whole(f.data, f.seq));
	ivb_ring_release(&c, &f, IVB_FRAME_OK, 0, 1);
	CHECK(ivb_ring_collect(&p) == 0);
	/* frames 1-18 were overwritten; 19 and 20 are still in their slots */
	CHECK(oc.consumed == 1 && oc.bad == 0 && oc.dropped == 18);
}

/* latest, one thread: a consumer asleep for a known number of frames takes the newest. */
static void test_latest_known_drops(void)
{
	struct ivb_ring_producer p;
	struct ivb_ring_consumer c;
	struct ivb_ring_frame f;
	struct outcomes oc;
	uint8_t checksum[IVB_RING_CHECKSUM_LEN] = { 0 };
	char why[WHY];
	uint32_t slot;

	setup(&p, 3, IVB_RING_LATEST, &oc);
	CHECK(ivb_ring_consumer_attach(&c, buffer, CAPACITY, why, sizeof(why)) == 0);
	CHECK(ivb_ring_take(&c, &f, why, sizeof(why)) == -EAGAIN);
	for (int n = 0; n < 10; n++) {
		CHECK(ivb_ring_acquire(&p, &slot) == 0);
		write_frame(&p, slot, p.next_seq);
		ivb_ring_publish(&p, slot, FRAME, checksum);
	}
	/* Ten frames through three slots: seven were overwritten unseen; two still wait in slots. */
	CHECK(oc.dropped == 7);
	CHECK(ivb_ring_take(&c, &f, why, sizeof(why)) == 0);
	CHECK(f.seq == 9 && c.skipped == 9);
	CHECK(ivb_ring_read_stamp(f.data) == 9);
	/* The slot being read is never chosen, nor the newest: wrap around the others. */
	for (int n = 0; n < 6; n++) {
		CHECK(ivb_ring_acquire(&p, &slot) == 0);
		CHECK(slot != f.slot);
		write_frame(&p, slot, p.next_seq);
		ivb_ring_publish(&p, slot, FRAME, checksum);
	}
	CHECK(frame_whole(f.data, 9));
	ivb_ring_release(&c, &f, IVB_FRAME_OK, 5, 6);
	CHECK(ivb_ring_collect(&p) == 0);
	CHECK(oc.consumed == 1 && oc.last_seq == 9);
	CHECK(ivb_ring_take(&c, &f, why, sizeof(why)) == 0);
	CHECK(f.seq == 15 && c.skipped == 9 + 5);
	ivb_ring_release(&c, &f, IVB_FRAME_OK, 5, 6);
	ivb_ring_finish(&p);
	CHECK(ivb_ring_take(&c, &f, why, sizeof(why)) == 1);
	ivb_ring_consumer_finish(&c, NULL);
	CHECK(ivb_ring_settle(&p) == 0);
	CHECK(oc.consumed == 2 && oc.dropped == 14);
	CHECK(oc.dropped == c.skipped);
}

/*
 * latest, stepped by hand: a consumer that has opened the ring (and is still making its buffers) is not
 * attached, so the host, which starts its clock once the consumer is attached, has published nothing yet;
 * once it starts, the first frame the host publishes is the first it takes. This is the start-up order that
 * keeps a stream's first frames from being dropped for the guest's start-up, without timing a real run.
 */
static void test_latest_first_frame_after_start(void)
{
	struct ivb_ring_producer p;
	struct ivb_ring_consumer c;
	struct ivb_ring_frame f;
	struct outcomes oc;
	uint8_t checksum[IVB_RING_CHECKSUM_LEN] = { 0 };
	char why[WHY];
	uint32_t slot;

	setup(&p, 3, IVB_RING_LATEST, &oc);
	CHECK(!ivb_ring_consumer_attached(&p));
	CHECK(ivb_ring_consumer_open(&c, buffer, CAPACITY, why, sizeof(why)) == 0);
	CHECK(!ivb_ring_consumer_attached(&p));
	ivb_ring_consumer_start(&c);
	CHECK(ivb_ring_consumer_attached(&p));
	CHECK(ivb_ring_take(&c, &f, why, sizeof(why)) == -EAGAIN);
	CHECK(ivb_ring_acquire(&p, &slot) == 0);
	write_frame(&p, slot, p.next_seq);
	ivb_ring_publish(&p, slot, FRAME, checksum);
	CHECK(ivb_ring_take(&c, &f, why, sizeof(why)) == 0);
	CHECK(f.seq == 0 && c.skipped == 0 && frame_whole(f.data, 0));
	ivb_ring_release(&c, &f, IVB_FRAME_OK, 5, 6);
	ivb_ring_finish(&p);
	CHECK(ivb_ring_take(&c, &f, why, sizeof(why)) == 1);
	ivb_ring_consumer_finish(&c, NULL);
	CHECK(ivb_ring_settle(&p) == 0);
	CHECK(oc.consumed == 1 && oc.dropped == 0 && oc.last_seq == 0);
}

/* block, one thread: wrap-around many times, the producer waits exactly when the ring is full. */
static void test_block_wraps(void)
{
	struct ivb_ring_producer p;
	struct ivb_ring_consumer c;
	struct ivb_ring_frame f;
	struct outcomes oc;
	uint8_t checksum[IVB_RING_CHECKSUM_LEN] = { 0 };
	char why[WHY];
	uint32_t slot;

	setup(&p, 4, IVB_RING_BLOCK, &oc);
	CHECK(ivb_ring_consumer_attach(&c, buffer, CAPACITY, why, sizeof(why)) == 0);
	for (uint64_t n = 0; n < 4; n++) {
		CHECK(ivb_ring_acquire(&p, &slot) == 0 && slot == n);
		ivb_ring_publish(&p, slot, FRAME, checksum);
	}
	CHECK(ivb_ring_acquire(&p, &slot) == -EAGAIN);
	for (uint64_t n = 0; n < 1000; n++) {
		CHECK(ivb_ring_take(&c, &f, why, sizeof(why)) == 0);
		CHECK(f.seq == n && f.slot == n % 4 && ivb_ring_read_stamp(f.data) == n);
		ivb_ring_release(&c, &f, IVB_FRAME_OK, 1, 1);
		CHECK(ivb_ring_acquire(&p, &slot) == 0 && slot == (n + 4) % 4);
		ivb_ring_publish(&p, slot, FRAME, checksum);
		CHECK(ivb_ring_acquire(&p, &slot) == -EAGAIN);
	}
	CHECK(oc.consumed == 1000 && oc.dropped == 0 && !oc.out_of_order);
}

/* The event index: ring only a side that said it sleeps, once per sleep. */
static void test_wake_requests(void)
{
	struct ivb_ring_producer p;
	struct ivb_ring_consumer c;
	struct ivb_ring_frame f;
	struct outcomes oc;
	uint8_t checksum[IVB_RING_CHECKSUM_LEN] = { 0 };
	char why[WHY];
	uint32_t slot;

	setup(&p, 3, IVB_RING_BLOCK, &oc);
	CHECK(ivb_ring_consumer_attach(&c, buffer, CAPACITY, why, sizeof(why)) == 0);
	CHECK(!ivb_ring_producer_should_ring(&p)); /* nobody sleeps */
	CHECK(ivb_ring_consumer_sleep(&c));        /* nothing there: may sleep */
	CHECK(ivb_ring_acquire(&p, &slot) == 0);
	ivb_ring_publish(&p, slot, FRAME, checksum);
	CHECK(ivb_ring_producer_should_ring(&p));
	CHECK(ivb_ring_acquire(&p, &slot) == 0);
	ivb_ring_publish(&p, slot, FRAME, checksum);
	CHECK(!ivb_ring_producer_should_ring(&p)); /* the same sleep is rung once */
	ivb_ring_consumer_awake(&c);
	CHECK(!ivb_ring_consumer_sleep(&c)); /* frames are there: no sleep */
	ivb_ring_consumer_awake(&c);
	CHECK(ivb_ring_take(&c, &f, why, sizeof(why)) == 0);
	ivb_ring_release(&c, &f, IVB_FRAME_OK, 1, 1);
	CHECK(!ivb_ring_consumer_should_ring(&c)); /* the host does not sleep */
	for (int n = 0; n < 2; n++) {
		CHECK(ivb_ring_acquire(&p, &slot) == 0);
		ivb_ring_publish(&p, slot, FRAME, checksum);
	}
	CHECK(ivb_ring_acquire(&p, &slot) == -EAGAIN);
	CHECK(ivb_ring_producer_sleep(&p, 2)); /* the host waits for frame 1's release */
	CHECK(ivb_ring_take(&c, &f, why, sizeof(why)) == 0);
	ivb_ring_release(&c, &f, IVB_FRAME_OK, 1, 1);
	CHECK(ivb_ring_consumer_should_ring(&c));
	CHECK(!ivb_ring_consumer_should_ring(&c));
	ivb_ring_producer_awake(&p);
	/* The end wakes a sleeping consumer whatever it waited for. */
	for (int n = 0; n < 2; n++) {
		CHECK(ivb_ring_take(&c, &f, why, sizeof(why)) == 0);
		ivb_ring_release(&c, &f, IVB_FRAME_OK, 1, 1);
	}
	CHECK(ivb_ring_consumer_sleep(&c));
	ivb_ring_finish(&p);
	CHECK(ivb_ring_producer_should_ring(&p));
	CHECK(ivb_ring_take(&c, &f, why, sizeof(why)) == 1);
}

/* A hostile host: every field the consumer reads is checked. */
static void test_hostile_producer(void)
{
	struct ivb_ring_producer p;
	struct ivb_ring_consumer c;
	struct ivb_ring_frame f;
	struct outcomes oc;
	struct ivb_ring_ctl *ctl = (struct ivb_ring_ctl *)buffer;
	uint8_t checksum[IVB_RING_CHECKSUM_LEN] = { 0 };
	char why[WHY];
	uint32_t slot;

	setup(&p, 3, IVB_RING_BLOCK, &oc);
	ctl->magic = 0;
	CHECK(ivb_ring_consumer_attach(&c, buffer, CAPACITY, why, sizeof(why)) == -EPROTO);
	ctl->magic = IVB_RING_MAGIC;
	CHECK(ivb_ring_consumer_attach(&c, buffer, CAPACITY / 4, why, sizeof(why)) == -EPROTO);
	CHECK(strstr(why, "needs") != NULL);
	ctl->nslots = 200;
	CHECK(ivb_ring_consumer_attach(&c, buffer, CAPACITY, why, sizeof(why)) == -EPROTO);
	ctl->nslots = 3;
	ctl->consume = IVB_CONSUME_MAX + 1; /* a way of reading frames no consumer knows */
	CHECK(ivb_ring_consumer_attach(&c, buffer, CAPACITY, why, sizeof(why)) == -EPROTO);
	CHECK(strstr(why, "consume 3") != NULL);
	ctl->consume = IVB_CONSUME_COPY;
	ctl->slot_stride = 64; /* slots overlapping each other */
	CHECK(ivb_ring_consumer_attach(&c, buffer, CAPACITY, why, sizeof(why)) == -EPROTO);
	ctl->slot_stride = 4096;
	ctl->frame_size = UINT64_MAX;
	CHECK(ivb_ring_consumer_attach(&c, buffer, CAPACITY, why, sizeof(why)) == -EPROTO);
	ctl->frame_size = FRAME;
	CHECK(ivb_ring_consumer_attach(&c, buffer, CAPACITY, why, sizeof(why)) == 0);

	/* head far beyond what the ring holds */
	atomic_store(&ctl->head, 100);
	CHECK(ivb_ring_take(&c, &f, why, sizeof(why)) == -EPROTO);
	/* a descriptor for another frame than head says */
	atomic_store(&ctl->head, 1);
	atomic_store(&ctl->desc[0].seq1, 7);
	CHECK(ivb_ring_take(&c, &f, why, sizeof(why)) == -EPROTO);
	/* a size beyond the slot */
	atomic_store(&ctl->desc[0].seq1, 1);
	ctl->desc[0].size = 4097;
	CHECK(ivb_ring_take(&c, &f, why, sizeof(why)) == -EPROTO);
	CHECK(strstr(why, "size") != NULL);
	ctl->desc[0].size = FRAME;
	CHECK(ivb_ring_take(&c, &f, why, sizeof(why)) == 0);

	/* latest: a slot index out of range */
	setup(&p, 3, IVB_RING_LATEST, &oc);
	CHECK(ivb_ring_consumer_attach(&c, buffer, CAPACITY, why, sizeof(why)) == 0);
	CHECK(ivb_ring_acquire(&p, &slot) == 0);
	ivb_ring_publish(&p, slot, FRAME, checksum);
	atomic_store(&ctl->latest, (uint64_t)1 << 8 | 200);
	CHECK(ivb_ring_take(&c, &f, why, sizeof(why)) == -EPROTO);
	CHECK(strstr(why, "slot 200") != NULL);
}

/* A hostile guest: every counter and result the producer reads is checked. */
static void test_hostile_consumer(void)
{
	struct ivb_ring_producer p;
	struct outcomes oc;
	struct ivb_ring_ctl *ctl = (struct ivb_ring_ctl *)buffer;
	uint8_t checksum[IVB_RING_CHECKSUM_LEN] = { 0 };
	uint32_t slot;

	setup(&p, 3, IVB_RING_BLOCK, &oc);
	CHECK(ivb_ring_acquire(&p, &slot) == 0);
	ivb_ring_publish(&p, slot, FRAME, checksum);
	atomic_store(&ctl->cons[0].released, 5); /* more than was published */
	CHECK(ivb_ring_collect(&p) == -EPROTO);
	CHECK(ivb_ring_acquire(&p, &slot) == -EPROTO);
	atomic_store(&ctl->cons[0].released, 1); /* released without a result */
	CHECK(ivb_ring_collect(&p) == -EPROTO);
	ctl->cons[0].result[0].status = 77; /* a result with an unknown status */
	atomic_store(&ctl->cons[0].result[0].seq1, 1);
	CHECK(ivb_ring_collect(&p) == -EPROTO);
	ctl->cons[0].result[0].status = IVB_FRAME_OK;
	ctl->cons[0].result[0].copy_ns = UINT64_MAX; /* an absurd duration */
	CHECK(ivb_ring_collect(&p) == -EPROTO);
	ctl->cons[0].result[0].copy_ns = 10;
	CHECK(ivb_ring_collect(&p) == 0 && oc.consumed == 1);

	setup(&p, 3, IVB_RING_LATEST, &oc);
	CHECK(ivb_ring_acquire(&p, &slot) == 0);
	ivb_ring_publish(&p, slot, FRAME, checksum);
	ctl->cons[0].result[slot].status = 0;
	atomic_store(&ctl->cons[0].result[slot].seq1, 1);
	CHECK(ivb_ring_collect(&p) == -EPROTO);
	/* a claim on every slot cannot make the producer wait or write a claimed slot */
	ctl->cons[0].result[slot].status = IVB_FRAME_OK;
	atomic_store(&ctl->cons[0].reading, (uint64_t)1 << 8 | 1);
	for (int n = 0; n < 5; n++) {
		CHECK(ivb_ring_acquire(&p, &slot) == 0);
		CHECK(slot != 1);
		ivb_ring_publish(&p, slot, FRAME, checksum);
	}
}

/*
 * The guest's released count, as every host call reads it: never above the frames published (under latest
 * the skipped ones are not published), never going back, each refusal with its reason at once.
 */
static void test_hostile_released_count(void)
{
	struct ivb_ring_producer p;
	struct outcomes oc;
	struct ivb_ring_ctl *ctl = (struct ivb_ring_ctl *)buffer;
	uint8_t checksum[IVB_RING_CHECKSUM_LEN] = { 0 };
	uint64_t released = 0;
	uint32_t slot;

	setup(&p, 3, IVB_RING_LATEST, &oc);
	CHECK(ivb_ring_acquire(&p, &slot) == 0);
	ivb_ring_publish(&p, slot, FRAME, checksum);
	atomic_store(&ctl->cons[0].reading, (uint64_t)1 << 8 | slot); /* the guest holds frame 0 */
	for (int n = 0; n < 4; n++) {
		CHECK(ivb_ring_acquire(&p, &slot) == 0);
		ivb_ring_publish(&p, slot, FRAME, checksum);
	}
	atomic_store(&ctl->cons[0].released, UINT64_MAX); /* latest: collect never needed the count, yet it is checked */
	CHECK(ivb_ring_collect(&p) == -EPROTO);
	CHECK(strstr(p.why, "released count 18446744073709551615 exceeds the 5 frames published") != NULL);
	CHECK(ivb_ring_acquire(&p, &slot) == -EPROTO);
	atomic_store(&ctl->cons[0].released, 2);
	CHECK(ivb_ring_released(&p, &released) == 0 && released == 2);
	atomic_store(&ctl->cons[0].released, 1);
	CHECK(ivb_ring_collect(&p) == -EPROTO);
	CHECK(strstr(p.why, "released count went back from 2 to 1") != NULL);

	setup(&p, 2, IVB_RING_BLOCK, &oc);
	for (uint64_t n = 0; n < 2; n++) {
		CHECK(ivb_ring_acquire(&p, &slot) == 0);
		ivb_ring_publish(&p, slot, FRAME, checksum);
	}
	ctl->cons[0].result[0].status = IVB_FRAME_OK;
	atomic_store(&ctl->cons[0].result[0].seq1, 1);
	atomic_store(&ctl->cons[0].released, 1);
	CHECK(ivb_ring_acquire(&p, &slot) == 0 && oc.consumed == 1);
	ivb_ring_publish(&p, slot, FRAME, checksum);
	atomic_store(&ctl->cons[0].released, 0); /* back, while the host would wait for a slot */
	CHECK(ivb_ring_released(&p, &released) == -EPROTO);
	CHECK(strstr(p.why, "went back from 1 to 0") != NULL);
	atomic_store(&ctl->cons[0].released, 2);
	ctl->cons[0].result[1].status = 99;
	atomic_store(&ctl->cons[0].result[1].seq1, 2);
	CHECK(ivb_ring_collect(&p) == -EPROTO);
	CHECK(strstr(p.why, "result for frame 1 is out of range: status 99") != NULL);
}

int main(void)
{
	RUN_TEST(test_geometry);
	RUN_TEST(test_block_slow_consumer_never_overwritten);
	RUN_TEST(test_latest_slow_consumer_drops_agree);
	RUN_TEST(test_latest_race);
	RUN_TEST(test_latest_known_drops);
	RUN_TEST(test_latest_first_frame_after_start);
	RUN_TEST(test_latest_claimed_slot_read_in_place);
	RUN_TEST(test_block_wraps);
	RUN_TEST(test_wake_requests);
	RUN_TEST(test_hostile_producer);
	RUN_TEST(test_hostile_consumer);
	RUN_TEST(test_hostile_released_count);
	return CHECK_SUMMARY("unit ring");
}

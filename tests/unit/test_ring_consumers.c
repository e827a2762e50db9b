/* test_ring_consumers.c: the ring with several consumers: by hand where a property is about order, as threads
 * for the races. Time for the consumer timeout is passed in by the test, never slept. */
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "check.h"
#include "clock.h"
#include "ring.h"

#define FRAME 512u
#define CAPACITY (IVB_RING_CTL_SIZE + 8u * IVB_RING_SLOT_ALIGN)
#define WHY 256
#define MAX_FRAMES 5000u
/* A run of the threaded tests takes well under a second: one still going after this has hung. */
#define GIVE_UP_NS (60ull * IVB_NS_PER_SEC)
#define TIMEOUT_NS 1000u

static _Alignas(4096) uint8_t buffer[CAPACITY];
static const uint8_t checksum[IVB_RING_CHECKSUM_LEN];

static uint8_t pattern(uint64_t seq, size_t i)
{
	return (uint8_t)(seq * 131u + i * 7u + 1u);
}

static int frame_whole(const uint8_t *d, uint64_t seq)
{
	if (ivb_ring_read_stamp(d) != seq)
		return 0;
	for (size_t i = IVB_RING_STAMP_LEN; i < FRAME; i++)
		if (d[i] != pattern(seq, i))
			return 0;
	return 1;
}

/* Each consumer's outcomes as the producer reports them. */
struct outcomes {
	uint64_t consumed[IVB_RING_MAX_CONSUMERS], dropped[IVB_RING_MAX_CONSUMERS], bad[IVB_RING_MAX_CONSUMERS];
	uint64_t next[IVB_RING_MAX_CONSUMERS]; /* block: the frame whose outcome comes next */
	uint8_t got[IVB_RING_MAX_CONSUMERS][MAX_FRAMES];
	int disorder; /* an outcome out of frame order (block) or twice for one frame */
};

static void count_outcome(void *arg, const struct ivb_ring_outcome *o)
{
	struct outcomes *oc = arg;

	if (o->consumer >= IVB_RING_MAX_CONSUMERS || o->seq >= MAX_FRAMES || oc->got[o->consumer][o->seq]++ != 0) {
		oc->disorder = 1;
		return;
	}
	if (o->slot != UINT32_MAX && o->seq != oc->next[o->consumer] && o->consumed)
		oc->disorder |= 2; /* only meaningful under block: checked there */
	oc->next[o->consumer] = o->seq + 1;
	if (!o->consumed)
		oc->dropped[o->consumer]++;
	else if (o->status == IVB_FRAME_OK)
		oc->consumed[o->consumer]++;
	else
		oc->bad[o->consumer]++;
}

static void setup(struct ivb_ring_producer *p, uint32_t nslots, uint32_t policy, uint32_t nconsumers,
		  uint64_t timeout_ns, struct outcomes *oc)
{
	struct ivb_ring_geometry g;
	uint64_t need;

	memset(buffer, 0, sizeof(buffer));
	memset(oc, 0, sizeof(*oc));
	CHECK(ivb_ring_geometry_for(CAPACITY, nslots, FRAME, policy, IVB_VERIFY_NONE, IVB_CONSUME_INPLACE, &g, &need) == 0);
	CHECK(ivb_ring_geometry_consumers(&g, nconsumers, timeout_ns) == 0);
	ivb_ring_producer_init(p, buffer, &g, count_outcome, oc);
}

static void attach(struct ivb_ring_consumer *c, uint32_t index)
{
	char why[WHY];

	CHECK(ivb_ring_consumer_open_as(c, buffer, CAPACITY, index, why, sizeof(why)) == 0);
	ivb_ring_consumer_start(c);
}

static void write_publish(struct ivb_ring_producer *p, uint32_t slot)
{
	uint8_t *d = ivb_ring_slot(p, slot);

	for (size_t i = IVB_RING_STAMP_LEN; i < FRAME; i++)
		d[i] = pattern(p->next_seq, i);
	ivb_ring_publish(p, slot, FRAME, checksum);
}

/* Acquire, write and publish the next frame; the slot, or UINT32_MAX when acquire said no. */
static uint32_t produce(struct ivb_ring_producer *p)
{
	uint32_t slot;

	if (ivb_ring_acquire(p, &slot) != 0)
		return UINT32_MAX;
	write_publish(p, slot);
	return slot;
}

/* Take a frame, check it whole, release it: the return of ivb_ring_take. */
static int consume(struct ivb_ring_consumer *c, uint64_t *seq)
{
	struct ivb_ring_frame f;
	char why[WHY];
	int ret = ivb_ring_take(c, &f, why, sizeof(why));

	if (ret != 0)
		return ret;
	*seq = f.seq;
	ivb_ring_release(c, &f, frame_whole(f.data, f.seq) ? IVB_FRAME_OK : IVB_FRAME_BAD_STAMP, 0, 1);
	return 0;
}

static void test_geometry_and_open(void)
{
	struct ivb_ring_producer p;
	struct ivb_ring_consumer c;
	struct ivb_ring_ctl *ctl = (struct ivb_ring_ctl *)buffer;
	struct ivb_ring_geometry g;
	struct outcomes oc;
	char why[WHY];
	uint64_t need;

	CHECK(ivb_ring_geometry_for(CAPACITY, 3, FRAME, IVB_RING_BLOCK, IVB_VERIFY_NONE, IVB_CONSUME_COPY, &g, &need) == 0);
	CHECK(g.nconsumers == 1 && g.consumer_timeout_ns == 0);
	CHECK(ivb_ring_geometry_consumers(&g, 0, 1) == -EINVAL && ivb_ring_geometry_consumers(&g, 2, UINT64_MAX) == -EINVAL);
	CHECK(ivb_ring_geometry_consumers(&g, IVB_RING_MAX_CONSUMERS + 1, 1) == -EINVAL);
	CHECK(ivb_ring_geometry_consumers(&g, IVB_RING_MAX_CONSUMERS, 1000000000) == 0);

	setup(&p, 3, IVB_RING_BLOCK, 2, TIMEOUT_NS, &oc);
	CHECK(ivb_ring_consumer_open_as(&c, buffer, CAPACITY, 1, why, sizeof(why)) == 0 && c.index == 1);
	CHECK(ivb_ring_consumer_open_as(&c, buffer, CAPACITY, 2, why, sizeof(why)) == -EPROTO);
	CHECK(strstr(why, "ring has 2 consumers, none numbered 2") != NULL);
	CHECK(ivb_ring_consumer_open_as(&c, buffer, CAPACITY, IVB_RING_MAX_CONSUMERS, why, sizeof(why)) == -EINVAL);
	CHECK(ivb_ring_consumer_open(&c, buffer, CAPACITY, why, sizeof(why)) == 0 && c.index == 0); /* the old open */
	/* A producer's consumer count or timeout out of range. */
	ctl->nconsumers = IVB_RING_MAX_CONSUMERS + 1;
	CHECK(ivb_ring_consumer_open_as(&c, buffer, CAPACITY, 0, why, sizeof(why)) == -EPROTO);
	CHECK(strstr(why, "consumers out of range") != NULL);
	ctl->nconsumers = 2;
	ctl->consumer_timeout_ns = UINT64_MAX;
	CHECK(ivb_ring_consumer_open_as(&c, buffer, CAPACITY, 0, why, sizeof(why)) == -EPROTO);
	ctl->consumer_timeout_ns = TIMEOUT_NS;
	/* Not attached until every consumer is. */
	attach(&c, 0);
	CHECK(!ivb_ring_consumer_attached(&p) && ivb_ring_consumer_attached_by(&p, 0));
	attach(&c, 1);
	CHECK(ivb_ring_consumer_attached(&p));
}

/* block, by hand: a slot is written again only once every live consumer released its frame. */
static void test_block_slot_waits_for_every_consumer(void)
{
	struct ivb_ring_producer p;
	struct ivb_ring_consumer c0, c1;
	struct outcomes oc;
	uint64_t seq = 0, released = 0;

	setup(&p, 3, IVB_RING_BLOCK, 2, 0, &oc);
	attach(&c0, 0);
	attach(&c1, 1);
	for (int n = 0; n < 3; n++)
		CHECK(produce(&p) == (uint32_t)n);
	for (int n = 0; n < 3; n++)
		CHECK(consume(&c0, &seq) == 0 && seq == (uint64_t)n);
	/* Consumer 0 is done with every slot; consumer 1 holds all three. */
	CHECK(produce(&p) == UINT32_MAX);
	CHECK(ivb_ring_released(&p, &released) == 0 && released == 0);
	CHECK(oc.consumed[0] == 3 && oc.consumed[1] == 0);
	CHECK(consume(&c1, &seq) == 0 && seq == 0);
	CHECK(ivb_ring_released(&p, &released) == 0 && released == 1);
	CHECK(produce(&p) == 0);
	CHECK(produce(&p) == UINT32_MAX);
	for (int n = 1; n < 4; n++)
		CHECK(consume(&c1, &seq) == 0 && seq == (uint64_t)n);
	CHECK(consume(&c0, &seq) == 0 && seq == 3);
	ivb_ring_finish(&p);
	CHECK(consume(&c0, &seq) == 1 && consume(&c1, &seq) == 1);
	ivb_ring_consumer_finish(&c0, NULL);
	CHECK(!ivb_ring_consumer_done(&p) && ivb_ring_consumer_done_by(&p, 0));
	ivb_ring_consumer_finish(&c1, NULL);
	CHECK(ivb_ring_consumer_done(&p));
	CHECK(ivb_ring_settle(&p) == 0);
	CHECK(oc.consumed[0] == 4 && oc.consumed[1] == 4 && oc.dropped[0] + oc.dropped[1] == 0 && oc.disorder == 0);
}

/* latest, by hand: two consumers' claims both keep their slots; the producer writes around them. */
static void test_latest_every_claim_respected(void)
{
	struct ivb_ring_producer p;
	struct ivb_ring_consumer c0, c1;
	struct ivb_ring_frame f0, f1;
	struct outcomes oc;
	char why[WHY];

	setup(&p, 4, IVB_RING_LATEST, 2, 0, &oc);
	attach(&c0, 0);
	attach(&c1, 1);
	CHECK(produce(&p) != UINT32_MAX);
	CHECK(ivb_ring_take(&c0, &f0, why, sizeof(why)) == 0 && f0.seq == 0);
	CHECK(produce(&p) != UINT32_MAX);
	CHECK(ivb_ring_take(&c1, &f1, why, sizeof(why)) == 0 && f1.seq == 1 && f1.slot != f0.slot);
	for (int n = 0; n < 30; n++) {
		uint32_t slot = produce(&p);

		CHECK(slot != UINT32_MAX && slot != f0.slot && slot != f1.slot);
	}
	CHECK(frame_whole(f0.data, 0) && frame_whole(f1.data, 1));
	ivb_ring_release(&c0, &f0, IVB_FRAME_OK, 0, 1);
	ivb_ring_release(&c1, &f1, IVB_FRAME_OK, 0, 1);
	CHECK(ivb_ring_collect(&p) == 0);
	CHECK(oc.consumed[0] == 1 && oc.consumed[1] == 1);
	/* Frame 1 was consumer 1's, not consumer 0's, and the other way round; the other's claim kept each in
	 * its slot, so it is still unresolved for the consumer that did not take it, until the end. */
	CHECK(oc.got[0][1] == 0 && oc.got[1][0] == 0);
	ivb_ring_finish(&p);
	ivb_ring_consumer_finish(&c0, NULL);
	ivb_ring_consumer_finish(&c1, NULL);
	CHECK(ivb_ring_settle(&p) == 0);
	CHECK(oc.got[0][1] == 1 && oc.got[1][0] == 1);
	CHECK(oc.consumed[0] + oc.dropped[0] == p.next_seq && oc.consumed[1] + oc.dropped[1] == p.next_seq);
	CHECK(oc.disorder == 0 || oc.disorder == 2);
}

/* block, by hand: a consumer that never releases is dropped once it held the producer back longer than the
 * timeout (not at exactly the timeout); its frames are reported dropped for it, the other goes on. */
static void test_block_stalled_consumer_dropped(void)
{
	struct ivb_ring_producer p;
	struct ivb_ring_consumer c0, c1;
	struct ivb_ring_frame f;
	struct outcomes oc;
	char why[WHY];
	uint64_t seq = 0, released;

	setup(&p, 3, IVB_RING_BLOCK, 2, TIMEOUT_NS, &oc);
	attach(&c0, 0);
	attach(&c1, 1);
	for (int n = 0; n < 3; n++)
		CHECK(produce(&p) != UINT32_MAX);
	CHECK(consume(&c1, &seq) == 0 && seq == 0); /* consumer 1 takes one frame, then stalls */
	for (int n = 0; n < 3; n++)
		CHECK(consume(&c0, &seq) == 0);
	CHECK(produce(&p) == 0); /* slot 0: both released frame 0 */
	CHECK(produce(&p) == UINT32_MAX);
	/* Consumer 0 released everything: only consumer 1 holds the producer back, from t = 100. */
	CHECK(ivb_ring_drop_stalled(&p, 100) == 0);
	CHECK(ivb_ring_drop_stalled(&p, 100 + TIMEOUT_NS) == 0);
	CHECK(ivb_ring_consumer_live(&p, 1));
	CHECK(ivb_ring_drop_stalled(&p, 101 + TIMEOUT_NS) == 1);
	CHECK(!ivb_ring_consumer_live(&p, 1) && ivb_ring_consumer_live(&p, 0) && p.consumers_dropped == 1);
	/* Frames 1-3 were unresolved for consumer 1: dropped for it, in order. */
	CHECK(oc.consumed[1] == 1 && oc.dropped[1] == 3 && oc.got[1][3] == 1);
	CHECK(ivb_ring_take(&c1, &f, why, sizeof(why)) == -ESHUTDOWN);
	CHECK(!ivb_ring_consumer_sleep(&c1));
	/* Consumer 0 keeps every frame; consumer 1 gets no outcome for frames after its drop. */
	for (int n = 0; n < 50; n++) {
		CHECK(consume(&c0, &seq) == 0);
		CHECK(produce(&p) != UINT32_MAX);
	}
	CHECK(ivb_ring_released(&p, &released) == 0 && released == c0.next_seq);
	ivb_ring_finish(&p);
	while (consume(&c0, &seq) == 0)
		;
	CHECK(ivb_ring_take(&c1, &f, why, sizeof(why)) == -ESHUTDOWN);
	ivb_ring_consumer_finish(&c0, NULL);
	CHECK(ivb_ring_consumer_done(&p)); /* consumer 1 is no longer waited for */
	CHECK(ivb_ring_settle(&p) == 0);
	CHECK(oc.consumed[0] == p.next_seq && oc.dropped[0] == 0 && oc.consumed[1] + oc.dropped[1] == 4);
	CHECK(oc.disorder == 0);
}

/* block, by hand: a slow consumer that releases within the timeout each time is never dropped. */
static void test_block_slow_consumer_kept(void)
{
	struct ivb_ring_producer p;
	struct ivb_ring_consumer c0, c1;
	struct outcomes oc;
	uint64_t seq = 0, now = 0;

	setup(&p, 2, IVB_RING_BLOCK, 2, TIMEOUT_NS, &oc);
	attach(&c0, 0);
	attach(&c1, 1);
	for (int n = 0; n < 20; n++) {
		while (produce(&p) == UINT32_MAX) {
			/* Waits of 3/4 of the timeout each, 15 timeouts in all. */
			CHECK(ivb_ring_drop_stalled(&p, now) == 0);
			now += TIMEOUT_NS * 3 / 4;
			CHECK(ivb_ring_drop_stalled(&p, now) == 0);
			CHECK(consume(&c0, &seq) == 0 || seq == p.next_seq - 1);
			CHECK(consume(&c1, &seq) == 0);
		}
	}
	CHECK(p.consumers_dropped == 0 && ivb_ring_consumer_live(&p, 0) && ivb_ring_consumer_live(&p, 1));
}

/* latest, by hand: a consumer holding its claim past the timeout is dropped; its slot is free again. */
static void test_latest_stalled_claim_dropped(void)
{
	struct ivb_ring_producer p;
	struct ivb_ring_consumer c0, c1;
	struct ivb_ring_frame f1;
	struct outcomes oc;
	char why[WHY];
	uint64_t seq = 0;
	bool reused = false;

	setup(&p, 3, IVB_RING_LATEST, 2, TIMEOUT_NS, &oc);
	attach(&c0, 0);
	attach(&c1, 1);
	CHECK(produce(&p) != UINT32_MAX);
	CHECK(ivb_ring_take(&c1, &f1, why, sizeof(why)) == 0 && f1.seq == 0);
	CHECK(ivb_ring_drop_stalled(&p, 0) == 0);
	for (int n = 0; n < 10; n++) {
		CHECK(produce(&p) != f1.slot);
		CHECK(consume(&c0, &seq) == 0);
		CHECK(ivb_ring_drop_stalled(&p, (uint64_t)n * TIMEOUT_NS / 10) == 0);
	}
	CHECK(ivb_ring_drop_stalled(&p, TIMEOUT_NS + 1) == 1);
	CHECK(!ivb_ring_consumer_live(&p, 1) && oc.dropped[1] >= 1 && oc.got[1][0] == 1 && oc.consumed[1] == 0);
	for (int n = 0; n < 10; n++) {
		reused |= produce(&p) == f1.slot;
		CHECK(consume(&c0, &seq) == 0);
	}
	CHECK(reused); /* the dropped consumer's claim no longer keeps its slot */
	CHECK(ivb_ring_take(&c1, &f1, why, sizeof(why)) == -ESHUTDOWN);
	CHECK(ivb_ring_collect(&p) == 0);
	/* Consumer 0 took frames 1-20; frame 0 was consumer 1's claim until its drop, then its slot was reused. */
	CHECK(oc.consumed[0] == 20 && oc.bad[0] == 0 && oc.dropped[0] == 1 && oc.got[0][0] == 1);
}

/* Every consumer dropped: the producer has nobody to write for. */
static void test_all_dropped(void)
{
	struct ivb_ring_producer p;
	struct outcomes oc;
	uint32_t slot;

	setup(&p, 2, IVB_RING_BLOCK, 1, TIMEOUT_NS, &oc);
	CHECK(produce(&p) != UINT32_MAX && produce(&p) != UINT32_MAX);
	CHECK(ivb_ring_drop_stalled(&p, 5) == 0);
	CHECK(ivb_ring_drop_stalled(&p, 6 + TIMEOUT_NS) == 1);
	CHECK(ivb_ring_acquire(&p, &slot) == -EPIPE);
	CHECK(ivb_ring_consumer_done(&p) && oc.dropped[0] == 2);
}

/* Wake requests: the producer asks only the consumers that lag; each rings only for its own release. */
static void test_wake_requests_per_consumer(void)
{
	struct ivb_ring_producer p;
	struct ivb_ring_consumer c0, c1;
	struct outcomes oc;
	uint64_t seq;

	setup(&p, 2, IVB_RING_BLOCK, 2, 0, &oc);
	attach(&c0, 0);
	attach(&c1, 1);
	CHECK(ivb_ring_consumer_sleep(&c1));
	CHECK(produce(&p) == 0 && produce(&p) == 1);
	CHECK(ivb_ring_producer_ring_mask(&p) == 2u); /* consumer 1 sleeps on frame 0, consumer 0 never slept */
	ivb_ring_consumer_awake(&c1);
	CHECK(consume(&c0, &seq) == 0);
	CHECK(ivb_ring_producer_sleep(&p, 1)); /* consumer 1 still holds frame 0 */
	CHECK(!ivb_ring_consumer_should_ring(&c0)); /* consumer 0 was not asked */
	CHECK(consume(&c1, &seq) == 0);
	CHECK(ivb_ring_consumer_should_ring(&c1));
	CHECK(!ivb_ring_consumer_should_ring(&c1));
	ivb_ring_producer_awake(&p);
	CHECK(!ivb_ring_producer_sleep(&p, 1));
}

/* A hostile consumer 1: its counters and results are checked as consumer 0's are, and named. */
static void test_hostile_second_consumer(void)
{
	struct ivb_ring_producer p;
	struct ivb_ring_consumer c;
	struct ivb_ring_frame f;
	struct ivb_ring_ctl *ctl = (struct ivb_ring_ctl *)buffer;
	struct outcomes oc;
	char why[WHY];
	uint32_t slot;

	setup(&p, 3, IVB_RING_BLOCK, 2, 0, &oc);
	CHECK(produce(&p) == 0);
	atomic_store(&ctl->cons[1].released, 5);
	CHECK(ivb_ring_collect(&p) == -EPROTO && strstr(p.why, "consumer 1's released count 5 exceeds") != NULL);
	atomic_store(&ctl->cons[1].released, 1);
	ctl->cons[1].result[0].status = 42;
	atomic_store(&ctl->cons[1].result[0].seq1, 1);
	CHECK(ivb_ring_collect(&p) == -EPROTO && strstr(p.why, "consumer 1's result for frame 0") != NULL);

	setup(&p, 3, IVB_RING_LATEST, 2, TIMEOUT_NS, &oc);
	/* A claim on a slot outside the ring protects nothing and stalls nothing for long. */
	atomic_store(&ctl->cons[1].reading, (uint64_t)1 << 8 | 200);
	for (int n = 0; n < 6; n++)
		CHECK(ivb_ring_acquire(&p, &slot) == 0 && slot < 3 && (ivb_ring_publish(&p, slot, FRAME, checksum), 1));
	/* A producer that says a consumer's feed is in no known state. */
	atomic_store(&ctl->feed[0].state, 7);
	attach(&c, 0);
	CHECK(ivb_ring_take(&c, &f, why, sizeof(why)) == -EPROTO && strstr(why, "feed state 7") != NULL);
}

/* A consumer thread: takes frames, copying each in two halves with a pause between (a frame rewritten
 * meanwhile tears the copy), until the end or its drop; it stalls after stall_after frames until resumed. */
struct reader {
	uint32_t index;
	uint64_t stall_after; /* 0: never stalls */
	atomic_int stalling; /* set once it stalls */
	atomic_int resume;
	uint64_t taken, torn, skipped, last_seq;
	int out_of_order, error, end; /* end: the take that stopped it */
};

#define NAP_US(us) nanosleep(&(struct timespec){ .tv_sec = 0, .tv_nsec = (us) * 1000L }, NULL)

static void *read_frames(void *arg)
{
	struct reader *r = arg;
	struct ivb_ring_consumer c;
	uint64_t give_up = ivb_now_ns() + GIVE_UP_NS;
	uint8_t copy[FRAME];
	char why[WHY];

	if (ivb_ring_consumer_open_as(&c, buffer, CAPACITY, r->index, why, sizeof(why)) != 0) {
		r->error = 1;
		return NULL;
	}
	ivb_ring_consumer_start(&c);
	for (;;) {
		struct ivb_ring_frame f;
		int ret;

		if (r->stall_after != 0 && r->taken == r->stall_after)
			atomic_store(&r->stalling, 1);
		while (atomic_load(&r->stalling) && !atomic_load(&r->resume) && ivb_now_ns() < give_up)
			NAP_US(100);
		ret = ivb_ring_take(&c, &f, why, sizeof(why));
		if (ret == -EAGAIN && ivb_now_ns() < give_up) {
			sched_yield(); /* more threads than cores: let the producer run */
			continue;
		}
		if (ret != 0) {
			r->end = ret;
			break;
		}
		memcpy(copy, f.data, FRAME / 2);
		if (f.seq % 7 == 0)
			NAP_US(30);
		memcpy(copy + FRAME / 2, f.data + FRAME / 2, FRAME / 2);
		r->torn += !frame_whole(copy, f.seq);
		r->out_of_order |= r->taken > 0 && f.seq <= r->last_seq;
		r->last_seq = f.seq;
		ivb_ring_release(&c, &f, frame_whole(copy, f.seq) ? IVB_FRAME_OK : IVB_FRAME_BAD_STAMP, 0, 1);
		r->taken++;
	}
	r->skipped = c.skipped;
	ivb_ring_consumer_finish(&c, NULL);
	return NULL;
}

/*
 * The producer of the threaded tests: `frames` frames, every wait bounded. With `stalled`, the test's clock
 * moves (by a quarter of the timeout per wait) only once that consumer stalls and while consumer 0 has
 * released every frame, so that only the stalled consumer can be dropped, however the threads are scheduled.
 */
static void produce_all(struct ivb_ring_producer *p, uint64_t frames, struct reader *stalled)
{
	uint64_t deadline = ivb_now_ns() + GIVE_UP_NS, now = 0;

	for (uint64_t n = 0; n < frames; n++) {
		uint32_t slot;
		int ret;

		while ((ret = ivb_ring_acquire(p, &slot)) == -EAGAIN && p->g.policy == IVB_RING_BLOCK &&
		       ivb_now_ns() < deadline) {
			uint64_t r0 = 0;

			sched_yield();
			if (stalled == NULL)
				continue;
			if (atomic_load(&stalled->stalling) && ivb_ring_released_by(p, 0, &r0) == 0 && r0 == p->next_seq)
				now += TIMEOUT_NS / 4;
			CHECK(ivb_ring_drop_stalled(p, now) >= 0);
		}
		if (ret == -EAGAIN && p->g.policy == IVB_RING_LATEST) {
			ivb_ring_skip(p);
			continue;
		}
		if (ret != 0) {
			CHECK(!"the ring stalled or failed");
			break;
		}
		write_publish(p, slot);
	}
	ivb_ring_finish(p);
	if (stalled != NULL)
		atomic_store(&stalled->resume, 1);
	while (!ivb_ring_consumer_done(p) && ivb_now_ns() < deadline)
		CHECK(ivb_ring_collect(p) == 0);
	CHECK(ivb_ring_settle(p) == 0);
}

/* Run n reader threads against produce_all. */
static void run_readers(struct ivb_ring_producer *p, struct reader *r, uint32_t n, uint64_t frames,
			struct reader *stalled)
{
	pthread_t t[IVB_RING_MAX_CONSUMERS];

	for (uint32_t i = 0; i < n; i++) {
		r[i].index = i;
		CHECK(pthread_create(&t[i], NULL, read_frames, &r[i]) == 0);
	}
	produce_all(p, frames, stalled);
	for (uint32_t i = 0; i < n; i++)
		CHECK(pthread_join(t[i], NULL) == 0);
}

/* block, three consumer threads: every consumer gets every frame, whole and in order. */
static void test_block_threads_every_frame(void)
{
	static struct outcomes oc;
	struct reader r[3] = { 0 };
	struct ivb_ring_producer p;
	const uint64_t frames = 1000;

	setup(&p, 3, IVB_RING_BLOCK, 3, 0, &oc);
	run_readers(&p, r, 3, frames, NULL);
	for (uint32_t i = 0; i < 3; i++) {
		CHECK(r[i].error == 0 && r[i].end == 1 && r[i].taken == frames && r[i].torn == 0 && !r[i].out_of_order);
		CHECK(oc.consumed[i] == frames && oc.dropped[i] == 0 && oc.bad[i] == 0);
	}
	CHECK(oc.disorder == 0);
}

/* latest, two consumer threads at full speed: no frame torn, every frame has one outcome per consumer. */
static void test_latest_threads(void)
{
	static struct outcomes oc;
	struct reader r[2] = { 0 };
	struct ivb_ring_producer p;
	const uint64_t frames = MAX_FRAMES;

	setup(&p, 4, IVB_RING_LATEST, 2, 0, &oc);
	run_readers(&p, r, 2, frames, NULL);
	for (uint32_t i = 0; i < 2; i++) {
		CHECK(r[i].error == 0 && r[i].end == 1 && r[i].torn == 0 && !r[i].out_of_order);
		CHECK(oc.consumed[i] == r[i].taken && oc.bad[i] == 0 && oc.consumed[i] + oc.dropped[i] == frames);
		CHECK(oc.dropped[i] == r[i].skipped + (frames - 1 - r[i].last_seq));
	}
	CHECK((oc.disorder & 1) == 0);
}

/* block, two consumer threads, one stalling after 10 frames: it is dropped and learns it; the other keeps
 * every frame. */
static void test_block_threads_stalled_dropped(void)
{
	static struct outcomes oc;
	struct reader r[2] = { { 0 }, { .stall_after = 10 } };
	struct ivb_ring_producer p;
	const uint64_t frames = 2000;
	uint64_t dropped_head;

	setup(&p, 3, IVB_RING_BLOCK, 2, TIMEOUT_NS, &oc);
	run_readers(&p, r, 2, frames, &r[1]);
	dropped_head = atomic_load(&p.ctl->feed[1].dropped_head);
	CHECK(p.consumers_dropped == 1 && !ivb_ring_consumer_live(&p, 1));
	CHECK(r[0].error == 0 && r[0].end == 1 && r[0].taken == frames && r[0].torn == 0 && !r[0].out_of_order);
	CHECK(oc.consumed[0] == frames && oc.dropped[0] == 0);
	CHECK(r[1].end == -ESHUTDOWN && r[1].taken == 10 && r[1].torn == 0);
	/* It released 10 frames: the producer published 3 more into their slots before it waited for it. */
	CHECK(oc.consumed[1] == 10 && dropped_head == 10 + 3 && oc.dropped[1] == 3);
	CHECK(oc.disorder == 0);
}

int main(void)
{
	RUN_TEST(test_geometry_and_open);
	RUN_TEST(test_block_slot_waits_for_every_consumer);
	RUN_TEST(test_latest_every_claim_respected);
	RUN_TEST(test_block_stalled_consumer_dropped);
	RUN_TEST(test_block_slow_consumer_kept);
	RUN_TEST(test_latest_stalled_claim_dropped);
	RUN_TEST(test_all_dropped);
	RUN_TEST(test_wake_requests_per_consumer);
	RUN_TEST(test_hostile_second_consumer);
	RUN_TEST(test_block_threads_every_frame);
	RUN_TEST(test_latest_threads);
	RUN_TEST(test_block_threads_stalled_dropped);
	return CHECK_SUMMARY("unit ring_consumers");
}

/*
 * test_ring_interleave.c: the latest policy's claim/mark handshake under every interleaving of host and guest.
 *
 * test_ring.c races the two sides as free threads, which almost never lands in the few instructions between a
 * claim and its re-check. Here the ring's files are built with -DIVB_RING_STEPS: before each shared-memory access of the
 * handshake it calls ivb_ring_step(), where the side running asks the schedule who goes next. Producer and
 * consumer are two threads of which exactly one runs at a time (a semaphore each), so a run is one sequence of
 * the two sides' steps, decided by the schedule alone. A depth-first search over the choices replays every
 * such sequence of a few small scenarios and checks in each that the guest never holds a slot the host is
 * writing, that the frames it takes are whole, that it ends with the newest frame, and that both sides agree
 * on the fate of every frame. The model is sequential consistency, which the handshake's seq_cst accesses
 * give; weaker orderings of the other accesses are for ThreadSanitizer and test_ring.c's stress.
 * Scenarios of two consumers add a second one that took the newest frame before the run and holds its
 * claim through it: the producer must re-check every live consumer's claim, whichever of the two races it
 * (two consumers racing at once would multiply the runs past what make check can afford; consumers touch
 * no common field, so their relative order matters only through the producer's).
 */
#include <errno.h>
#include <pthread.h>
#include <semaphore.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "check.h"
#include "ring.h"

#define FRAME 64u
#define MAX_SLOTS 3u
#define CAPACITY (IVB_RING_CTL_SIZE + MAX_SLOTS * IVB_RING_SLOT_ALIGN)
#define MAX_FRAMES 8u
#define MAX_CHOICES 128
#define MAX_TRACE 128
#define WHY 256
#define NONE (-1)
/* A run takes microseconds: one still going after this is a deadlock. */
#define RUN_LIMIT_S 10

enum side { PRODUCER = 0, CONSUMER = 1, SIDES = 2 };

struct scenario {
	const char *name;
	uint32_t nslots;
	uint32_t before; /* frames published before the two sides start */
	uint32_t frames; /* frames the producer then publishes (or drops) */
	uint32_t takes;  /* meanwhile, calls of ivb_ring_take (each frame taken is checked and released) */
	/* The result lines (the consumer's store, the producer's collect) are not interleaving points: they
	 * decide what the producer reports, never which slot it takes. Fewer runs for the longer scenarios. */
	bool results_atomic;
	uint32_t nconsumers; /* 2: consumer `holder` holds the newest frame of `before` through the run */
	uint32_t racer;      /* the consumer that races the producer */
};

static _Alignas(4096) uint8_t buffer[CAPACITY];

/* The side this thread plays; the main thread plays none and runs straight through the steps. */
static _Thread_local int me = NONE;
static sem_t turn[SIDES]; /* posted to let a side take its next step */
static sem_t run_done;    /* posted by the side that finishes a run last */

/* A step taken: which side passed which point of the ring. */
struct step {
	int side;
	const char *where;
};

/* One run; only one thread touches it at a time, the semaphores order them. */
static struct {
	const struct scenario *sc;
	int prefix[MAX_CHOICES]; /* the choices to replay before taking the producer by default */
	int prefix_len;
	int choice[MAX_CHOICES]; /* the side chosen at each step where both could go */
	int nchoices;
	bool finished[SIDES];
	bool quit;
	struct step trace[MAX_TRACE];
	int ntrace;
	int writing; /* the slot between the producer's acquire and its publish */
	int holding; /* the slot the racing consumer claims, from its take to the end of its release */
	struct ivb_ring_frame held; /* the other consumer's frame, held through the run */
	int held_slot;
	uint64_t published_seq1; /* the newest frame published, + 1 */
	struct ivb_ring_producer p;
	struct ivb_ring_consumer c[2];
	uint32_t outcomes[2][MAX_FRAMES];
	uint64_t consumed[2], dropped[2], bad;
	char failure[160]; /* the first thing that went wrong in this run */
} run;

static void fail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static void fail(const char *fmt, ...)
{
	va_list ap;

	if (run.failure[0] != '\0')
		return;
	va_start(ap, fmt);
	vsnprintf(run.failure, sizeof(run.failure), fmt, ap);
	va_end(ap);
}

/* Who takes the next step: the replayed choice, else the producer (the search later tries the consumer). */
static int decide(void)
{
	int side;

	if (run.nchoices == MAX_CHOICES) {
		fail("more than %d choices: raise MAX_CHOICES", MAX_CHOICES);
		return me;
	}
	side = run.nchoices < run.prefix_len ? run.prefix[run.nchoices] : PRODUCER;
	run.choice[run.nchoices++] = side;
	return side;
}

static bool is_result_point(const char *where)
{
	return strcmp(where, "collect: result") == 0 || strcmp(where, "release: result") == 0;
}

void ivb_ring_step(const char *where)
{
	int other = 1 - me;

	if (me == NONE)
		return;
	if (!run.finished[other] && !(run.sc->results_atomic && is_result_point(where)) && decide() == other) {
		sem_post(&turn[other]);
		while (sem_wait(&turn[me]) != 0)
			;
	}
	if (run.ntrace < MAX_TRACE)
		run.trace[run.ntrace++] = (struct step){ me, where };
}

static uint8_t pattern(uint64_t seq, size_t i)
{
	return (uint8_t)(seq * 131u + i * 7u + 1u);
}

static void write_frame(uint32_t slot, uint64_t seq)
{
	uint8_t *d = ivb_ring_slot(&run.p, slot);

	for (size_t i = IVB_RING_STAMP_LEN; i < FRAME; i++)
		d[i] = pattern(seq, i);
}

static bool frame_whole(const uint8_t *data, uint64_t seq)
{
	if (ivb_ring_read_stamp(data) != seq)
		return false;
	for (size_t i = IVB_RING_STAMP_LEN; i < FRAME; i++)
		if (data[i] != pattern(seq, i))
			return false;
	return true;
}

static void count_outcome(void *arg, const struct ivb_ring_outcome *o)
{
	(void)arg;
	if (o->seq >= MAX_FRAMES || o->consumer >= run.sc->nconsumers) {
		fail("outcome for frame %llu of consumer %u, never published", (unsigned long long)o->seq, o->consumer);
		return;
	}
	run.outcomes[o->consumer][o->seq]++;
	if (!o->consumed)
		run.dropped[o->consumer]++;
	else if (o->status == IVB_FRAME_OK)
		run.consumed[o->consumer]++;
	else
		run.bad++;
}

/* Publish the next frame, or drop it when no slot is free; false when the ring failed. */
static bool produce_one(void)
{
	static const uint8_t checksum[IVB_RING_CHECKSUM_LEN];
	uint64_t seq = run.p.next_seq;
	uint32_t slot;
	int ret = ivb_ring_acquire(&run.p, &slot);

	if (ret == -EAGAIN) {
		ivb_ring_skip(&run.p);
		return true;
	}
	if (ret != 0 || slot >= run.sc->nslots) {
		fail("acquire for frame %llu: %d", (unsigned long long)seq, ret);
		return false;
	}
	if (run.holding == (int)slot || run.held_slot == (int)slot)
		fail("the producer acquired slot %u for frame %llu while a consumer holds it", slot,
		     (unsigned long long)seq);
	run.writing = (int)slot;
	write_frame(slot, seq);
	ivb_ring_publish(&run.p, slot, FRAME, checksum);
	run.writing = NONE;
	run.published_seq1 = seq + 1;
	return true;
}

/* Take the newest frame as consumer i, check it, release it: 0, or what ivb_ring_take returned. */
static int consume_one(uint32_t i)
{
	struct ivb_ring_frame f;
	char why[WHY];
	bool whole;
	int ret = ivb_ring_take(&run.c[i], &f, why, sizeof(why));

	if (ret == -EPROTO)
		fail("take: %s", why);
	if (ret != 0)
		return ret;
	if (run.writing == (int)f.slot)
		fail("the consumer took slot %u (frame %llu) while the producer writes it", f.slot,
		     (unsigned long long)f.seq);
	run.holding = (int)f.slot;
	whole = frame_whole(f.data, f.seq);
	if (!whole)
		fail("frame %llu taken from slot %u is not whole", (unsigned long long)f.seq, f.slot);
	ivb_ring_release(&run.c[i], &f, whole ? IVB_FRAME_OK : IVB_FRAME_BAD_STAMP, 1, 1);
	run.holding = NONE;
	return 0;
}

static void play(int side)
{
	if (side == PRODUCER) {
		for (uint32_t n = 0; n < run.sc->frames && produce_one(); n++)
			;
		return;
	}
	for (uint32_t n = 0; n < run.sc->takes; n++) {
		int ret = consume_one(run.sc->racer);

		if (ret != 0 && ret != -EAGAIN) {
			fail("take %u returned %d while the producer streams", n, ret);
			return;
		}
	}
}

static void *worker(void *arg)
{
	me = (int)(intptr_t)arg;
	for (;;) {
		while (sem_wait(&turn[me]) != 0)
			;
		if (run.quit)
			return NULL;
		play(me);
		run.finished[me] = true;
		sem_post(run.finished[1 - me] ? &run_done : &turn[1 - me]);
	}
}

/* After both sides: the consumers drain to the end, the producer settles; every frame has one fate per consumer. */
static void check_end(void)
{
	uint64_t frames = run.p.next_seq;

	ivb_ring_finish(&run.p);
	if (run.held_slot != NONE) {
		if (!frame_whole(run.held.data, run.held.seq))
			fail("the held frame %llu in slot %d was overwritten", (unsigned long long)run.held.seq, run.held_slot);
		ivb_ring_release(&run.c[1 - run.sc->racer], &run.held, IVB_FRAME_OK, 1, 1);
	}
	for (uint32_t i = 0; i < run.sc->nconsumers; i++) {
		struct ivb_ring_consumer *c = &run.c[i];
		int ret = 0;

		for (int n = 0; n < 3 && (ret = consume_one(i)) == 0; n++)
			;
		if (ret != 1)
			fail("consumer %u did not see the end after the newest frame (take: %d)", i, ret);
		if (c->next_seq != run.published_seq1)
			fail("consumer %u ended after frame %llu, the newest is %llu", i, (unsigned long long)c->next_seq,
			     (unsigned long long)run.published_seq1);
		ivb_ring_consumer_finish(c, NULL);
	}
	if (ivb_ring_settle(&run.p) != 0)
		fail("settle failed");
	for (uint32_t i = 0; i < run.sc->nconsumers; i++) {
		struct ivb_ring_consumer *c = &run.c[i];

		for (uint64_t s = 0; s < frames; s++)
			if (run.outcomes[i][s] != 1)
				fail("frame %llu has %u outcomes for consumer %u", (unsigned long long)s, run.outcomes[i][s], i);
		if (run.consumed[i] != c->released)
			fail("the producer counts %llu frames consumed by consumer %u, it released %llu",
			     (unsigned long long)run.consumed[i], i, (unsigned long long)c->released);
		/* A consumer counts the frames it stepped over; the ones after the newest were never published. */
		if (run.dropped[i] != c->skipped + (frames - c->next_seq))
			fail("the producer counts %llu frames dropped for consumer %u, it skipped %llu of %llu",
			     (unsigned long long)run.dropped[i], i, (unsigned long long)c->skipped, (unsigned long long)frames);
	}
	if (run.bad != 0)
		fail("%llu frames reported damaged", (unsigned long long)run.bad);
}

static void print_trace(void)
{
	fprintf(stderr, "  schedule (%d steps):\n", run.ntrace);
	for (int i = 0; i < run.ntrace; i++)
		fprintf(stderr, "    %s %s\n", run.trace[i].side == PRODUCER ? "producer" : "consumer", run.trace[i].where);
}

/* One run of the scenario under the schedule run.prefix (then the producer first at every new choice). */
static void run_once(const struct scenario *sc)
{
	struct ivb_ring_geometry g;
	char why[WHY];
	uint64_t need;
	struct timespec limit;

	memset(buffer, 0, sizeof(buffer));
	run.sc = sc;
	run.nchoices = 0;
	run.ntrace = 0;
	run.finished[PRODUCER] = run.finished[CONSUMER] = false;
	run.writing = run.holding = run.held_slot = NONE;
	run.published_seq1 = 0;
	memset(run.outcomes, 0, sizeof(run.outcomes));
	memset(run.consumed, 0, sizeof(run.consumed));
	memset(run.dropped, 0, sizeof(run.dropped));
	run.bad = 0;
	run.failure[0] = '\0';
	if (ivb_ring_geometry_for(CAPACITY, sc->nslots, FRAME, IVB_RING_LATEST, IVB_VERIFY_NONE, IVB_CONSUME_COPY, &g, &need) != 0 ||
	    ivb_ring_geometry_consumers(&g, sc->nconsumers, 0) != 0) {
		fail("no geometry for %u slots", sc->nslots);
		return;
	}
	ivb_ring_producer_init(&run.p, buffer, &g, count_outcome, NULL);
	for (uint32_t i = 0; i < sc->nconsumers; i++) {
		if (ivb_ring_consumer_open_as(&run.c[i], buffer, CAPACITY, i, why, sizeof(why)) != 0) {
			fail("attach: %s", why);
			return;
		}
		ivb_ring_consumer_start(&run.c[i]);
	}
	for (uint32_t n = 0; n < sc->before; n++)
		produce_one();
	if (sc->nconsumers == 2) {
		if (ivb_ring_take(&run.c[1 - sc->racer], &run.held, why, sizeof(why)) != 0) {
			fail("the holding consumer took nothing");
			return;
		}
		run.held_slot = (int)run.held.slot;
	}
	/* Both sides reach their first step before any shared access: the producer may as well start. */
	sem_post(&turn[PRODUCER]);
	clock_gettime(CLOCK_REALTIME, &limit);
	limit.tv_sec += RUN_LIMIT_S;
	while (sem_timedwait(&run_done, &limit) != 0) {
		if (errno == EINTR)
			continue;
		fprintf(stderr, "test_ring_interleave: %s: a run did not end within %d s\n", sc->name, RUN_LIMIT_S);
		print_trace();
		exit(1);
	}
	if (run.nchoices < run.prefix_len)
		fail("the run did not replay its schedule (%d of %d choices): it is not deterministic", run.nchoices,
		     run.prefix_len);
	check_end();
}

/* How many runs saw each side's re-check turn the other away: proof the search reaches both windows. */
struct coverage {
	uint64_t consumer_retried; /* the consumer found its claimed slot marked */
	uint64_t producer_left;    /* the producer found its marked slot claimed */
};

static void count_coverage(struct coverage *cov)
{
	const char *prev = NULL;
	bool retried = false, left = false;

	for (int i = 0; i < run.ntrace; i++) {
		const char *where = run.trace[i].where;

		if (run.trace[i].side == CONSUMER) {
			retried |= strcmp(where, "take: unclaim") == 0;
			continue;
		}
		/* After a re-check the producer goes on to collect or publish, unless it left the slot. */
		left |= prev != NULL && strcmp(prev, "acquire: recheck") == 0 && strcmp(where, "acquire: look") == 0;
		prev = where;
	}
	cov->consumer_retried += retried;
	cov->producer_left += left;
}

/* Every interleaving of the scenario; the number of runs, and of failed ones (the first one printed). */
static void explore(const struct scenario *sc, uint64_t *runs, uint64_t *failed, struct coverage *cov)
{
	struct timespec t0, t1;

	*runs = *failed = 0;
	memset(cov, 0, sizeof(*cov));
	clock_gettime(CLOCK_MONOTONIC, &t0);
	run.prefix_len = 0;
	for (;;) {
		int d;

		run_once(sc);
		(*runs)++;
		count_coverage(cov);
		if (run.failure[0] != '\0' && (*failed)++ == 0) {
			fprintf(stderr, "%s: %s\n", sc->name, run.failure);
			print_trace();
		}
		/* Depth first: the last choice that took the producer takes the consumer next time. */
		for (d = run.nchoices - 1; d >= 0 && run.choice[d] == CONSUMER; d--)
			;
		if (d < 0)
			break;
		memcpy(run.prefix, run.choice, (size_t)d * sizeof(run.prefix[0]));
		run.prefix[d] = CONSUMER;
		run.prefix_len = d + 1;
	}
	clock_gettime(CLOCK_MONOTONIC, &t1);
	printf("     %s: %llu interleavings, %llu failed, %.2f s (consumer retried in %llu, producer left a claimed "
	       "slot in %llu)\n",
	       sc->name, (unsigned long long)*runs, (unsigned long long)*failed,
	       (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9,
	       (unsigned long long)cov->consumer_retried, (unsigned long long)cov->producer_left);
}

/* Every interleaving of the scenario passes; returns how often each re-check fired in them. */
static struct coverage check_scenario(const struct scenario *sc)
{
	uint64_t runs, failed;
	struct coverage cov;

	explore(sc, &runs, &failed, &cov);
	CHECK(failed == 0);
	CHECK(runs > 1);
	return cov;
}

/* Two slots, the producer publishing two frames while the consumer takes one: the smallest ring that
 * reaches both windows (the consumer claims the older slot just as the producer marks it). */
static void test_two_slots_one_take(void)
{
	struct coverage cov = check_scenario(&(struct scenario){
		.name = "2 slots, 2 frames, 1 take", .nslots = 2, .before = 1, .frames = 2, .takes = 1,
		.nconsumers = 1 });

	/* A search that never reached a window would prove nothing about it. */
	CHECK(cov.consumer_retried > 0 && cov.producer_left > 0);
}

/* Three slots: a producer that leaves a claimed slot tries the next one; it takes three frames to come
 * back to the slot the consumer is about to claim. */
static void test_three_slots_one_take(void)
{
	struct coverage cov = check_scenario(&(struct scenario){ .name = "3 slots, 3 frames, 1 take", .nslots = 3,
								 .before = 1, .frames = 3, .takes = 1,
								 .results_atomic = true, .nconsumers = 1 });

	CHECK(cov.consumer_retried > 0 && cov.producer_left > 0);
}

/* Two takes of one frame each: both releases (result, then unclaim) race the producer's collects, the
 * second claim follows an unclaim. */
static void test_two_slots_two_takes(void)
{
	check_scenario(&(struct scenario){
		.name = "2 slots, 1 frame, 2 takes", .nslots = 2, .before = 1, .frames = 1, .takes = 2,
		.nconsumers = 1 });
}

/*
 * Two consumers, three slots: one holds frame 0's slot through the run while the other races the producer
 * over three frames; the producer finds the racer's claim (or the racer its mark) whichever consumer's claim
 * it reads first, and never touches the held slot.
 */
static void test_two_consumers_one_holding(void)
{
	for (uint32_t racer = 0; racer < 2; racer++) {
		struct coverage cov = check_scenario(&(struct scenario){
			.name = racer == 0 ? "2 consumers (1 holds), 3 slots, 3 frames, 1 take"
					   : "2 consumers (0 holds), 3 slots, 3 frames, 1 take",
			.nslots = 3, .before = 1, .frames = 3, .takes = 1, .results_atomic = true, .nconsumers = 2,
			.racer = racer });

		CHECK(cov.consumer_retried > 0 && cov.producer_left > 0);
	}
}

int main(void)
{
	pthread_t t[SIDES];

	setvbuf(stdout, NULL, _IOLBF, 0);

	for (int s = 0; s < SIDES; s++)
		sem_init(&turn[s], 0, 0);
	sem_init(&run_done, 0, 0);
	for (int s = 0; s < SIDES; s++)
		if (pthread_create(&t[s], NULL, worker, (void *)(intptr_t)s) != 0) {
			fprintf(stderr, "test_ring_interleave: cannot start a thread\n");
			return 1;
		}
	RUN_TEST(test_two_slots_one_take);
	RUN_TEST(test_three_slots_one_take);
	RUN_TEST(test_two_slots_two_takes);
	RUN_TEST(test_two_consumers_one_holding);
	run.quit = true;
	for (int s = 0; s < SIDES; s++) {
		sem_post(&turn[s]);
		pthread_join(t[s], NULL);
	}
	return CHECK_SUMMARY("unit ring_interleave");
}

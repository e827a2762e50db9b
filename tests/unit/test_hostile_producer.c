/* Unit tests: a hostile guest producer (a thread laying out the guest-to-host ring and writing into it what it
 * likes) against the host's real consumer (host_consume.c), rows (host_rows.c) and outputs (host_output.c):
 * an out-of-range slot, size or sequence stops the stream in one line with every row taken so far kept; frames
 * whose bytes are not the seed's fail, whatever checksum the guest wrote next to them; a lying total stops the run.
 * The same producer in a duplex stream (--stream-direction both, host_duplex.c), beside the real guest consumer of
 * the host's ring in another thread: both directions' rows, whole; a lie in the guest's ring stops the host's
 * producer too, at once, in one line naming the direction.
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "check.h"
#include "clock.h"
#include "csv_read.h"
#include "fake_guest.h"
#include "host.h"
#include "phases.h"
#include "scratch.h"
#include "sources.h"
#include "stream.h"

#define FRAME_BYTES 4096u
#define SLOTS 3u
#define RING_BYTES (IVB_RING_CTL_SIZE + SLOTS * FRAME_BYTES)
#define REGION_SIZE (IVB_HEADER_SIZE + 2 * RING_BYTES) /* room for a duplex stream's two rings */
#define FPS 20u
#define LONG_NS (10ull * IVB_NS_PER_SEC)
#define MAX_ROWS 64

/* What the fake guest producer does. */
enum producer_mode {
	HONEST,           /* the seed's frames, through the ring's own producer */
	CHANGED_FRAMES,   /* frame 1 of every cycle changed, with a checksum the guest computed over the change */
	SIZE_TOO_LARGE,   /* frame 0 says it is larger than its slot */
	SIZE_NOT_ASKED,   /* frame 0 is in range but smaller than the frames the host asked for */
	SLOT_OUT_OF_RANGE, /* latest: the newest frame is in slot 200 of 3 */
	SEQUENCE_BACK,    /* latest: frame 1 again once the host took frame 3 */
	SEQUENCE_JUMP,    /* latest: frame 2^40 right after frame 0 */
	PRODUCED_LIE,     /* honest frames, then a total of 0 frames produced */
};

struct guest_thread {
	enum producer_mode mode;
	struct ivb_region *region;
	int consumed; /* a duplex stream: the guest consumer's return */
};

static bool wait_for(_Atomic uint64_t *v, uint64_t at_least, struct ivb_region *r)
{
	const uint64_t give_up = ivb_now_ns() + LONG_NS;

	while (atomic_load(v) < at_least) {
		if (ivb_now_ns() > give_up || atomic_load(&r->host_state) == IVB_HOST_ABORTED)
			return false;
		nanosleep(&(struct timespec){ 0, 100000 }, NULL);
	}
	return true;
}

/* The guest's side of the stream: its ring laid out, then frames as the mode says. */
static void produce(struct guest_thread *gt, const struct ivb_message *msg)
{
	static struct ivb_stream_host h;
	const struct ivb_stream_spec spec = gt->region->stream;
	struct ivb_ring_producer *p = &h.ring;
	struct ivb_ring_geometry g;
	struct ivb_sources src;
	uint32_t slot = 0;
	char why[256];

	if (ivb_stream_spec_check(&spec, msg->size, &g, why, sizeof(why)) < 0 || !ivb_direction_g2h(spec.direction))
		return;
	CHECK(ivb_sources_alloc(&src, g.nslots + 1, g.frame_size) == 0);
	CHECK(ivb_sources_expand(&src, g.verify, spec.seed) == 0);
	if (gt->mode == CHANGED_FRAMES) {
		src.frame[1][FRAME_BYTES / 2] ^= 0x40;
		CHECK(ivb_checksum(g.verify, src.frame[1] + IVB_RING_STAMP_LEN, FRAME_BYTES - IVB_RING_STAMP_LEN,
				   src.checksum[1]) == 0);
	}
	memset(&h, 0, sizeof(h));
	ivb_ring_producer_init(p, ivb_buffer(gt->region) + spec.g2h_offset, &g, NULL, NULL);
	atomic_store(&gt->region->guest_stream.laid_sequence, msg->sequence);
	while (!ivb_ring_consumer_attached(p))
		nanosleep(&(struct timespec){ 0, 100000 }, NULL);
	h.seconds = spec.seconds;
	h.fps = spec.fps;
	h.timeout_ns = LONG_NS;
	h.sources = (const uint8_t *const *)src.frame;
	h.checksums = (const uint8_t(*)[IVB_RING_CHECKSUM_LEN])src.checksum;
	h.nsources = src.n;
	h.consumer = "host";
	switch (gt->mode) {
	case HONEST:
	case CHANGED_FRAMES:
	case PRODUCED_LIE:
		CHECK(ivb_stream_produce(&h) == 0);
		gt->region->guest_stream.produced = gt->mode == PRODUCED_LIE ? 0 : h.totals.produced;
		break;
	case SIZE_TOO_LARGE:
	case SIZE_NOT_ASKED:
		CHECK(ivb_ring_acquire(p, &slot) == 0);
		memcpy(ivb_ring_slot(p, slot), src.frame[0], FRAME_BYTES);
		ivb_ring_publish(p, slot, gt->mode == SIZE_TOO_LARGE ? g.slot_stride + 1 : FRAME_BYTES - 64, src.checksum[0]);
		break;
	case SLOT_OUT_OF_RANGE:
		atomic_store(&p->ctl->latest, (uint64_t)1 << 8 | 200u);
		atomic_store(&p->ctl->head, 1);
		break;
	case SEQUENCE_BACK:
		for (uint64_t k = 0; k < 4; k++) {
			CHECK(ivb_ring_acquire(p, &slot) == 0);
			memcpy(ivb_ring_slot(p, slot), src.frame[k % src.n], FRAME_BYTES);
			ivb_ring_publish(p, slot, FRAME_BYTES, src.checksum[k % src.n]);
			/* Each frame taken before the next: the host's last frame is 3 when frame 1 comes back. */
			if (!wait_for(&p->ctl->cons[0].released, k + 1, gt->region))
				break;
		}
		atomic_store(&p->ctl->latest, (uint64_t)(1 + 1) << 8 | slot);
		break;
	case SEQUENCE_JUMP:
		CHECK(ivb_ring_acquire(p, &slot) == 0);
		memcpy(ivb_ring_slot(p, slot), src.frame[0], FRAME_BYTES);
		ivb_ring_publish(p, slot, FRAME_BYTES, src.checksum[0]);
		if (wait_for(&p->ctl->cons[0].released, 1, gt->region)) {
			p->next_seq = 1ull << 40;
			CHECK(ivb_ring_acquire(p, &slot) == 0);
			ivb_ring_publish(p, slot, FRAME_BYTES, src.checksum[0]);
		}
		break;
	}
	/* The hostile modes wait for the host to give up on them. */
	if (gt->mode != HONEST && gt->mode != CHANGED_FRAMES && gt->mode != PRODUCED_LIE) {
		const uint64_t give_up = ivb_now_ns() + LONG_NS;

		while (atomic_load(&gt->region->host_state) != IVB_HOST_ABORTED && ivb_now_ns() < give_up)
			nanosleep(&(struct timespec){ 0, 1000000 }, NULL);
	}
	ivb_sources_free(&src);
}

static int host_alive(void *arg, char *why, size_t whylen)
{
	struct ivb_region *r = arg;

	if (atomic_load(&r->host_state) != IVB_HOST_ABORTED)
		return 0;
	snprintf(why, whylen, "the host aborted");
	return -ECONNRESET;
}

/* A duplex stream's other thread: the real guest consumer of the host's ring, up to g2h_offset. */
static void *consume_host_ring(void *arg)
{
	struct guest_thread *gt = arg;
	struct ivb_ring_consumer c;
	struct ivb_stream_guest_totals t;
	struct ivb_ring_guest_report rep = { 0 };
	char why[256];

	gt->consumed = ivb_ring_consumer_open(&c, ivb_buffer(gt->region), gt->region->stream.g2h_offset, why, sizeof(why));
	if (gt->consumed < 0)
		return NULL;
	ivb_ring_consumer_start(&c);
	gt->consumed = ivb_stream_consume(&c, NULL, NULL, 0, LONG_NS, host_alive, gt->region, &t, why, sizeof(why));
	ivb_ring_consumer_finish(&c, gt->consumed == 0 ? &rep : NULL);
	return NULL;
}

static void *guest_main(void *arg)
{
	struct guest_thread *gt = arg;
	struct ivb_guest_info info = { .map_kind = IVB_MAP_SHM, .map_size = REGION_SIZE };
	struct ivb_guest g;
	int ret = ivb_guest_bind(&g, gt->region, REGION_SIZE, LONG_NS, &info, NULL);

	while (ret == 0) {
		struct ivb_message msg;
		struct ivb_guest_report rep;

		ret = ivb_guest_wait_message(&g, &msg);
		if (ret != 0)
			break;
		memset(&rep, 0, sizeof(rep));
		memset(rep.counters, 0xff, sizeof(rep.counters));
		if (msg.kind == IVB_MSG_STREAM && gt->region->stream.direction == IVB_DIR_BOTH) {
			pthread_t consumer;

			CHECK(pthread_create(&consumer, NULL, consume_host_ring, gt) == 0);
			produce(gt, &msg);
			pthread_join(consumer, NULL);
		} else if (msg.kind == IVB_MSG_STREAM) {
			produce(gt, &msg);
		}
		if (atomic_load(&gt->region->host_state) == IVB_HOST_ABORTED)
			break;
		ivb_guest_ack(&g, &msg, &rep, IVB_MSG_OK);
		ret = ivb_guest_wait_host_ready(&g);
	}
	return NULL;
}

static char tmpdir[] = "/tmp/ivb-unit-producer-XXXXXX";
static struct ivb_run run; /* large: static */

/*
 * One guest-to-host stream (duplex: both ways at once) of FRAME_BYTES frames for `seconds` against a fake guest,
 * as host_writer's main runs it.
 */
static int run_against_for(enum producer_mode mode, uint32_t policy, const char *name, bool duplex, uint64_t seconds)
{
	struct guest_thread gt = { .mode = mode };
	struct ivb_host_config *cfg = &run.cfg;
	int ret = -EIO;

	CHECK(fake_guest_prepare(&run, REGION_SIZE, tmpdir, name) == 0);
	if (run.map.region == NULL)
		return -ENOMEM;
	gt.region = run.map.region;
	cfg->timeout_s = 5;
	cfg->plan = (struct ivb_plan){ .nstreams = 1 };
	cfg->stream_seconds = seconds;
	cfg->stream_frames_arg = "4096";
	CHECK(ivb_parse_frame("4096", &cfg->stream_frames[0]) == 0);
	cfg->nstream_frames = 1;
	cfg->slots = SLOTS;
	cfg->fps = FPS;
	cfg->stream_policy = policy;
	cfg->verify = IVB_VERIFY_XXH3;
	cfg->consume = IVB_CONSUME_INPLACE;
	cfg->stream_direction_arg = duplex ? "both" : "guest-to-host";
	cfg->stream_directions[0] = duplex ? IVB_DIR_BOTH : IVB_DIR_GUEST_TO_HOST;
	cfg->ndirections = 1;
	cfg->nconsumers = IVB_STREAM_CONSUMERS_DEFAULT;
	run.messages_total = 1;
	CHECK(fake_guest_run(&run, 0x4343, LONG_NS, false, guest_main, &gt, &ret) == 0);
	return ret;
}

static int run_against(enum producer_mode mode, uint32_t policy, const char *name)
{
	return run_against_for(mode, policy, name, false, 1);
}

static char rows[MAX_ROWS][IVB_COLUMNS_MAX][CSV_READ_FIELD];

/*
 * The rows of a direction as "frame:status:success," each; NULL if the file does not parse (every row of either
 * direction whole, with every column).
 */
static const char *outcomes_of(const char *name, const char *direction)
{
	static char buf[1 << 16], out[MAX_ROWS * 40];
	char path[512], header[IVB_COLUMNS_MAX][CSV_READ_FIELD];
	const char *p = buf;
	FILE *f;
	size_t n;
	int nrows = 0, got;

	snprintf(path, sizeof(path), "%s/%s/%s", tmpdir, name, ivb_tables[IVB_TABLE_STREAM].file);
	if ((f = fopen(path, "r")) == NULL)
		return NULL;
	n = fread(buf, 1, sizeof(buf) - 1, f);
	buf[n] = '\0';
	fclose(f);
	if (csv_read_row(&p, header, IVB_COLUMNS_MAX) != (int)ivb_tables[IVB_TABLE_STREAM].ncolumns)
		return NULL;
	out[0] = '\0';
	while (nrows < MAX_ROWS && (got = csv_read_row(&p, rows[nrows], IVB_COLUMNS_MAX)) > 0) {
		if (got != (int)ivb_tables[IVB_TABLE_STREAM].ncolumns ||
		    (strcmp(rows[nrows][IVB_COL_STREAM_DIRECTION], "guest-to-host") != 0 &&
		     strcmp(rows[nrows][IVB_COL_STREAM_DIRECTION], "host-to-guest") != 0))
			return NULL;
		if (strcmp(rows[nrows][IVB_COL_STREAM_DIRECTION], direction) != 0)
			continue;
		snprintf(out + strlen(out), sizeof(out) - strlen(out), "%s:%s:%s,", rows[nrows][IVB_COL_STREAM_FRAME],
			 rows[nrows][IVB_COL_STREAM_STATUS], rows[nrows][IVB_COL_STREAM_SUCCESS]);
		nrows++;
	}
	return out;
}

static const char *outcomes(const char *name)
{
	return outcomes_of(name, "guest-to-host");
}

/* Control: the seed's frames through the ring, every one checked ok by the host against its own frames. */
static void test_honest_producer_every_frame_ok(void)
{
	const char *got;

	CHECK(run_against(HONEST, IVB_RING_BLOCK, "honest") == 0);
	got = outcomes("honest");
	CHECK(got != NULL && strncmp(got, "0:ok:1,", 7) == 0 && strstr(got, ":0,") == NULL);
	CHECK(run.manifest.nstreams == 1 && run.manifest.streams[0].failed == 0 && run.manifest.streams[0].completed);
	CHECK(run.manifest.streams[0].produced == run.manifest.streams[0].consumed);
}

/* Frames whose bytes are not the seed's fail, though the guest's checksum matches what it wrote. */
static void test_changed_frames_fail_whatever_the_guest_checksum(void)
{
	const char *got;

	CHECK(run_against(CHANGED_FRAMES, IVB_RING_BLOCK, "changed") == 0);
	got = outcomes("changed");
	CHECK(got != NULL && strncmp(got, "0:ok:1,1:bad_checksum:0,", 24) == 0);
	CHECK(run.manifest.streams[0].failed > 0 && run.manifest.streams[0].completed);
}

static void check_stopped(const char *name, const char *reason)
{
	CHECK(strstr(run.host.why, reason) != NULL);
	if (strstr(run.host.why, reason) == NULL)
		fprintf(stderr, "%s: the host said: %s\n", name, run.host.why);
	CHECK(strchr(run.host.why, '\n') == NULL);
	CHECK(!run.manifest.streams[0].completed);
}

static void test_frame_larger_than_its_slot_stops_the_stream(void)
{
	CHECK(run_against(SIZE_TOO_LARGE, IVB_RING_BLOCK, "size-large") == -EPROTO);
	check_stopped("size-large", "frame 0 size 4097 out of range");
}

static void test_frame_of_another_size_stops_the_stream(void)
{
	CHECK(run_against(SIZE_NOT_ASKED, IVB_RING_BLOCK, "size-other") == -EPROTO);
	check_stopped("size-other", "frame 0 has size 4032, not the 4096 bytes the host asked for");
}

static void test_slot_out_of_range_stops_the_stream(void)
{
	CHECK(run_against(SLOT_OUT_OF_RANGE, IVB_RING_LATEST, "slot") == -EPROTO);
	check_stopped("slot", "latest slot 200 out of range");
}

/* The frames the host took before the sequence went back keep their rows. */
static void test_sequence_going_back_stops_the_stream_rows_kept(void)
{
	const char *got;

	CHECK(run_against(SEQUENCE_BACK, IVB_RING_LATEST, "back") == -EPROTO);
	check_stopped("back", "went back");
	got = outcomes("back");
	CHECK(got != NULL && strcmp(got, "0:ok:1,1:ok:1,2:ok:1,3:ok:1,") == 0);
}

static void test_sequence_jump_stops_the_stream(void)
{
	CHECK(run_against(SEQUENCE_JUMP, IVB_RING_LATEST, "jump") == -EPROTO);
	check_stopped("jump", "frame sequence jumped from 1 to 1099511627776");
	CHECK(outcomes("jump") != NULL && strcmp(outcomes("jump"), "0:ok:1,") == 0);
}

static void test_produced_count_below_the_frames_seen_stops_the_run(void)
{
	CHECK(run_against(PRODUCED_LIE, IVB_RING_BLOCK, "produced") == -EPROTO);
	check_stopped("produced", "the guest's produced count 0 disagrees");
}

/* Both ways at once, honest: each direction's rows whole and every frame ok, two completed streams. */
static void test_duplex_both_directions_every_frame_ok(void)
{
	const char *h2g, *g2h;

	CHECK(run_against_for(HONEST, IVB_RING_BLOCK, "duplex", true, 1) == 0);
	h2g = outcomes_of("duplex", "host-to-guest");
	CHECK(h2g != NULL && strncmp(h2g, "0:ok:1,", 7) == 0 && strstr(h2g, ":0,") == NULL);
	g2h = outcomes_of("duplex", "guest-to-host");
	CHECK(g2h != NULL && strncmp(g2h, "0:ok:1,", 7) == 0 && strstr(g2h, ":0,") == NULL);
	CHECK(run.manifest.nstreams == 2);
	for (size_t i = 0; i < run.manifest.nstreams && i < 2; i++) {
		const struct ivb_stream_record *s = &run.manifest.streams[i];

		CHECK(s->duplex && s->completed && s->failed == 0 && s->produced == s->consumed && s->produced > 0);
	}
	CHECK(run.manifest.streams[0].direction == IVB_DIR_HOST_TO_GUEST);
	CHECK(run.manifest.streams[1].direction == IVB_DIR_GUEST_TO_HOST);
}

/*
 * A lie in the guest's ring stops the host's own producer too: a 30-second stream ends at once (its next frame,
 * paced at FPS), in one line that names the direction; neither stream completed.
 */
static void test_duplex_lie_stops_both_directions(void)
{
	const uint64_t t0 = ivb_now_ns();

	CHECK(run_against_for(SIZE_TOO_LARGE, IVB_RING_BLOCK, "duplex-size", true, 30) == -EPROTO);
	CHECK(ivb_now_ns() - t0 < 15 * IVB_NS_PER_SEC);
	CHECK(strncmp(run.host.why, "guest-to-host stream 4096B: ", 28) == 0);
	check_stopped("duplex-size", "frame 0 size 4097 out of range");
	CHECK(run.manifest.nstreams == 2 && !run.manifest.streams[1].completed);
	CHECK(outcomes_of("duplex-size", "host-to-guest") != NULL);
}

int main(void)
{
	int ret;

	if (scratch_make(tmpdir) < 0)
		return 1;
	RUN_TEST(test_honest_producer_every_frame_ok);
	RUN_TEST(test_changed_frames_fail_whatever_the_guest_checksum);
	RUN_TEST(test_frame_larger_than_its_slot_stops_the_stream);
	RUN_TEST(test_frame_of_another_size_stops_the_stream);
	RUN_TEST(test_slot_out_of_range_stops_the_stream);
	RUN_TEST(test_sequence_going_back_stops_the_stream_rows_kept);
	RUN_TEST(test_sequence_jump_stops_the_stream);
	RUN_TEST(test_produced_count_below_the_frames_seen_stops_the_run);
	RUN_TEST(test_duplex_both_directions_every_frame_ok);
	RUN_TEST(test_duplex_lie_stops_both_directions);
	ret = CHECK_SUMMARY("unit hostile producer");
	scratch_remove(tmpdir);
	return ret;
}

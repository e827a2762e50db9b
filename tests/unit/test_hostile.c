/* Unit tests: a hostile guest (a thread writing what it likes through the guest's protocol calls and
 * into the stream ring's guest fields) against the host's real exchange and stream loops (host_run.c,
 * host_stream.c), rows (host_rows.c) and outputs (host_output.c): whatever it reports, the CSVs keep
 * their columns, run.json stays JSON, and a lie is a failure. */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "check.h"
#include "clock.h"
#include "csv_read.h"
#include "fake_guest.h"
#include "host.h"
#include "phases.h"
#include "scratch.h"
#include "sha256.h"
#include "stream.h"

#define REGION_SIZE (IVB_HEADER_SIZE + 65536u)
#define FRAME_BYTES 4096u
#define ITERATIONS 3u
#define LONG_NS (10ull * IVB_NS_PER_SEC)

/* What the fake guest does with each message. */
enum guest_mode {
	GUEST_HONEST,       /* hashes the data and reports what it found */
	GUEST_ACCEPT_ALL,   /* acknowledges OK without looking at the data */
	GUEST_SLOW_CLAIMS,  /* verifies, but claims seconds of work for a message the host saw back in microseconds */
	GUEST_HUGE_COUNTERS, /* verifies, and reports counters no phase could count (near 2^64, wrapping when summed) */
	GUEST_HOSTILE_TEXT, /* verifies, and names its memory types with CSV and JSON structure */
	/* Streams (GUEST_HONEST verifies each frame, GUEST_ACCEPT_ALL releases each as OK unread): */
	GUEST_STREAM_UNVERIFIED,      /* releases each frame as unverified, whatever the host asked */
	GUEST_STREAM_SLOW_CLAIMS,     /* releases each frame OK with an hour's copy */
	GUEST_STREAM_CPU_CLAIMS,      /* verifies, and reports an hour of CPU over the stream */
	GUEST_STREAM_ABSURD_RELEASED, /* says it released 2^64 - 1 frames before the first one */
};

/* Stream runs: 1 s at 10 frames per second (fewer rows than MAX_ROWS), 3 slots of STREAM_FRAME bytes. */
#define STREAM_FRAME "4096"
#define STREAM_FPS 10u
#define STREAM_SLOTS 3u
#define AN_HOUR_NS (3599ull * IVB_NS_PER_SEC) /* below IVB_MAX_DURATION_NS: only the plausibility check stops it */

static const char hostile_memtype[] = "a,b\"c\n";       /* a separator, a quote, a line break */
static const char hostile_kernel[] = "6.1\"},\"x\":{\"y\\"; /* would close run.json's object */
static const char hostile_map_memtype[] = "x\r\n1,2,3,4";

struct guest_thread {
	enum guest_mode mode;
	struct ivb_region *region;
	int end_ret;
};

/* The guest's side of a stream message: the ring's guest fields as the mode says. */
static void stream_guest(struct guest_thread *gt, const struct ivb_message *msg)
{
	static uint8_t scratch[65536];
	struct ivb_ring_consumer c;
	struct ivb_stream_guest_totals t;
	struct ivb_ring_guest_report rep = { .cpu_ns = gt->mode == GUEST_STREAM_CPU_CLAIMS ? AN_HOUR_NS : 1000 };
	const uint64_t give_up = ivb_now_ns() + LONG_NS;
	char why[256];

	if (ivb_ring_consumer_open(&c, ivb_buffer(gt->region), msg->size, why, sizeof(why)) < 0)
		return;
	if (gt->mode == GUEST_STREAM_ABSURD_RELEASED)
		atomic_store(&c.ctl->cons[0].released, UINT64_MAX);
	ivb_ring_consumer_start(&c);
	if (gt->mode == GUEST_STREAM_ABSURD_RELEASED) {
		/* It takes nothing and never says DONE: only the host's own bounds end the stream. */
		while (atomic_load(&c.ctl->producer_state) != IVB_RING_DONE && ivb_now_ns() < give_up)
			nanosleep(&(struct timespec){ 0, 1000000 }, NULL);
		return;
	}
	if (gt->mode == GUEST_HONEST || gt->mode == GUEST_STREAM_CPU_CLAIMS) {
		(void)ivb_stream_consume(&c, scratch, NULL, 0, LONG_NS, NULL, NULL, &t, why, sizeof(why));
	} else {
		/* Every frame released as the mode says, unread; until the end, or the host's stop. */
		for (int ret = 0; ret != 1 && ivb_now_ns() < give_up;) {
			struct ivb_ring_frame f;

			ret = ivb_ring_take(&c, &f, why, sizeof(why));
			if (ret == -EPROTO)
				break;
			if (ret == 0)
				ivb_ring_release(&c, &f,
						 gt->mode == GUEST_STREAM_UNVERIFIED ? IVB_FRAME_UNVERIFIED : IVB_FRAME_OK,
						 gt->mode == GUEST_STREAM_SLOW_CLAIMS ? AN_HOUR_NS : 1, 1);
		}
	}
	ivb_ring_consumer_finish(&c, &rep);
}

static void *guest_main(void *arg)
{
	struct guest_thread *gt = arg;
	struct ivb_guest_info info;
	struct ivb_guest g;

	memset(&info, 0, sizeof(info));
	info.map_kind = IVB_MAP_SHM;
	info.map_size = REGION_SIZE;
	strcpy(info.kernel, gt->mode == GUEST_HOSTILE_TEXT ? hostile_kernel : "6.1.0-28-amd64");
	strcpy(info.memtype, gt->mode == GUEST_HOSTILE_TEXT ? hostile_memtype : "write-back");
	gt->end_ret = ivb_guest_bind(&g, gt->region, REGION_SIZE, LONG_NS, &info, NULL);
	while (gt->end_ret == 0) {
		struct ivb_message msg;
		struct ivb_guest_report rep;
		uint8_t digest[IVB_SHA256_LEN];
		uint32_t error = IVB_MSG_OK;

		gt->end_ret = ivb_guest_wait_message(&g, &msg);
		if (gt->end_ret != 0)
			break;
		memset(&rep, 0, sizeof(rep));
		if (msg.kind == IVB_MSG_STREAM) {
			stream_guest(gt, &msg);
			ivb_guest_ack(&g, &msg, &rep, IVB_MSG_OK);
			gt->end_ret = ivb_guest_wait_host_ready(&g);
			continue;
		}
		memset(rep.counters, 0xff, sizeof(rep.counters));
		if (gt->mode != GUEST_ACCEPT_ALL) {
			ivb_sha256(ivb_buffer(gt->region), msg.size, digest);
			if (memcmp(digest, msg.sha256, IVB_SHA256_LEN) != 0)
				error = IVB_MSG_SHA256_MISMATCH;
		}
		if (gt->mode == GUEST_HUGE_COUNTERS) {
			for (unsigned p = 0; p < IVB_NPHASES; p++)
				for (unsigned i = 0; i < IVB_NCOUNTERS; i++)
					rep.counters[p].v[i] = (1ull << 62) + 1; /* four of them wrap to 4 */
			rep.counters[0].v[IVB_CTR_CYCLES] = UINT64_MAX - 1;
			/* A large but possible count stays a number: 10^9 cycles in a phase of a millisecond. */
			rep.timing.copy_ns = 1000000;
			rep.counters[2].v[IVB_CTR_CYCLES] = 1000000000;
		}
		if (gt->mode == GUEST_SLOW_CLAIMS)
			rep.timing.hot_read_ns = 2 * IVB_NS_PER_SEC;
		if (gt->mode == GUEST_HOSTILE_TEXT) {
			rep.map_study[0] = (struct ivb_map_study){ .hot_read_ns = 1, .cold_read_ns = 1, .copy_ns = 1,
								   .write_ns = 1, .map_kind = IVB_MAP_RESOURCE2_WC };
			strcpy(rep.map_study[0].memtype, hostile_map_memtype);
		}
		rep.timing.total_ns = ivb_now_ns() - msg.seen_ns + rep.timing.hot_read_ns + rep.timing.copy_ns;
		ivb_guest_ack(&g, &msg, &rep, error);
		gt->end_ret = ivb_guest_wait_host_ready(&g);
	}
	return NULL;
}

static char tmpdir[] = "/tmp/ivb-unit-hostile-XXXXXX";
static struct ivb_run run; /* large: static */

/* Options of one run: the latency test only, ITERATIONS messages of FRAME_BYTES. */
struct run_opts {
	enum guest_mode mode;
	uint64_t corrupt_iteration;
	bool counters, map_study;
	uint32_t stream_policy; /* 0: the latency test; else one stream of this policy instead */
	uint32_t verify;
	bool corrupt_frame_set;
	uint64_t corrupt_frame;
};

/* Run host_writer's tests against a fake guest, as host_writer's main does. Returns: ivb_run_all's result. */
static int run_against(const struct run_opts *o, const char *name)
{
	struct guest_thread gt = { .mode = o->mode };
	struct ivb_host_config *cfg = &run.cfg;
	int ret = -EIO;

	CHECK(fake_guest_prepare(&run, REGION_SIZE, tmpdir, name) == 0);
	if (run.map.region == NULL)
		return -ENOMEM;
	gt.region = run.map.region;
	cfg->iterations = ITERATIONS;
	CHECK(ivb_parse_frame("4096", &cfg->latency_frame) == 0);
	cfg->timeout_s = 10;
	cfg->corrupt_iteration = o->corrupt_iteration;
	cfg->counters = o->counters;
	cfg->map_study = o->map_study;
	cfg->plan = (struct ivb_plan){ .latency_count = ITERATIONS, .latency_frame_bytes = FRAME_BYTES,
				       .flags = (o->counters ? IVB_MSG_FLAG_COUNTERS : 0) |
						(o->map_study ? IVB_MSG_FLAG_MAP_STUDY : 0) };
	if (o->stream_policy != 0) {
		cfg->iterations = 0;
		cfg->plan.latency_count = 0;
		cfg->plan.nstreams = 1;
		cfg->stream_seconds = 1;
		cfg->stream_frames_arg = STREAM_FRAME;
		CHECK(ivb_parse_frame(STREAM_FRAME, &cfg->stream_frames[0]) == 0);
		cfg->nstream_frames = 1;
		cfg->slots = STREAM_SLOTS;
		cfg->fps = STREAM_FPS;
		cfg->stream_policy = o->stream_policy;
		cfg->verify = o->verify;
		cfg->consume = IVB_CONSUME_COPY;
		cfg->stream_direction_arg = "host-to-guest";
		cfg->stream_directions[0] = IVB_DIR_HOST_TO_GUEST;
		cfg->ndirections = 1;
		cfg->corrupt_frame_set = o->corrupt_frame_set;
		cfg->corrupt_frame = o->corrupt_frame;
	}
	run.buffer_size = FRAME_BYTES;
	run.frame = ivb_alloc_prefaulted(FRAME_BYTES);
	run.reference = ivb_alloc_prefaulted(FRAME_BYTES);
	run.messages_total = o->stream_policy != 0 ? 1 : ITERATIONS;
	CHECK(fake_guest_run(&run, 0x4242, LONG_NS, true, guest_main, &gt, &ret) == 0);
	ivb_free_buffer(run.frame, FRAME_BYTES);
	ivb_free_buffer(run.reference, FRAME_BYTES);
	return ret;
}

static char *slurp(const char *name, const char *file)
{
	static char buf[65536];
	char path[512];
	FILE *f;
	size_t n;

	snprintf(path, sizeof(path), "%s/%s/%s", tmpdir, name, file);
	f = fopen(path, "r");
	if (f == NULL)
		return NULL;
	n = fread(buf, 1, sizeof(buf) - 1, f);
	buf[n] = '\0';
	fclose(f);
	return buf;
}

#define MAX_ROWS 16

/* Read a CSV of table t into rows; every row must have the table's columns. Returns: the data rows, or -1. */
static int read_table(const char *name, enum ivb_table t, char rows[MAX_ROWS][IVB_COLUMNS_MAX][CSV_READ_FIELD])
{
	const char *p = slurp(name, ivb_tables[t].file);
	char header[IVB_COLUMNS_MAX][CSV_READ_FIELD];
	int n, nrows = 0;

	if (p == NULL || csv_read_row(&p, header, IVB_COLUMNS_MAX) != (int)ivb_tables[t].ncolumns)
		return -1;
	while ((n = csv_read_row(&p, nrows < MAX_ROWS ? rows[nrows] : header, IVB_COLUMNS_MAX)) > 0) {
		if (n != (int)ivb_tables[t].ncolumns || nrows == MAX_ROWS) {
			fprintf(stderr, "%s: row %d has %d fields, not %zu\n", ivb_tables[t].file, nrows + 1, n,
				ivb_tables[t].ncolumns);
			return -1;
		}
		nrows++;
	}
	return n < 0 ? -1 : nrows;
}

static char rows[MAX_ROWS][IVB_COLUMNS_MAX][CSV_READ_FIELD];

/* The success column of each latency row, e.g. "101"; NULL if the file does not parse. */
static const char *latency_successes(const char *name)
{
	static char flags[MAX_ROWS + 1];
	int n = read_table(name, IVB_TABLE_LATENCY, rows);

	if (n < 0)
		return NULL;
	for (int i = 0; i < n; i++)
		flags[i] = rows[i][IVB_COL_LATENCY_SUCCESS][0];
	flags[n] = '\0';
	return flags;
}

/* Debian's python3 reads run.json as JSON and checks expr on it (d); skipped where there is none. */
static int python_check(const char *name, const char *expr)
{
	char cmd[1024];

	if (access("/usr/bin/python3", X_OK) != 0)
		return 0;
	snprintf(cmd, sizeof(cmd),
		 "/usr/bin/python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); sys.exit(0 if (%s) else 1)' "
		 "%s/%s/run.json",
		 expr, tmpdir, name);
	return system(cmd);
}

/* Control: an honest guest catches the corrupted message; the run goes on and records it. */
static void test_honest_guest_catches_the_corruption(void)
{
	const struct run_opts o = { .mode = GUEST_HONEST, .corrupt_iteration = 2 };
	const char *flags;

	CHECK(run_against(&o, "honest") == 0);
	flags = latency_successes("honest");
	CHECK(flags != NULL && strcmp(flags, "101") == 0);
	CHECK(run.manifest.nfailures == 1 && strcmp(run.manifest.failures[0].error, "sha256_mismatch") == 0);
}

/* A guest that acknowledges OK without checking: the corrupted message is its failure, and the run stops. */
static void test_guest_accepting_a_corrupted_message_fails(void)
{
	const struct run_opts o = { .mode = GUEST_ACCEPT_ALL, .corrupt_iteration = 2 };
	const char *flags;

	CHECK(run_against(&o, "accept-all") == -EPROTO);
	CHECK(strstr(run.host.why, "the guest accepted message 2 that the host corrupted on purpose") != NULL);
	flags = latency_successes("accept-all");
	CHECK(flags != NULL && strcmp(flags, "10") == 0);
	CHECK(run.manifest.nfailures == 1 && run.manifest.failures[0].iteration == 2);
	CHECK(python_check("accept-all", "d[\"status\"] == \"aborted\" and \"corrupted on purpose\" in d[\"abort_reason\"]") ==
	      0);
}

/* Seconds of guest work inside a microsecond round trip: a failure named implausible_timing. */
static void test_guest_timings_beyond_the_round_trip_fail(void)
{
	const struct run_opts o = { .mode = GUEST_SLOW_CLAIMS };
	const char *flags;

	CHECK(run_against(&o, "slow") == 0);
	flags = latency_successes("slow");
	CHECK(flags != NULL && strcmp(flags, "000") == 0);
	CHECK(run.manifest.latency.succeeded == 0 && run.manifest.nfailures == ITERATIONS);
	CHECK(run.manifest.nfailures > 0 && strcmp(run.manifest.failures[0].error, "implausible_timing") == 0);
	CHECK(python_check("slow", "[f[\"error\"] for f in d[\"failures\"]] == [\"implausible_timing\"] * 3") == 0);
}

/* Counters near 2^64: empty fields and a note, never a number, and no total that wrapped. */
static void test_impossible_counters_are_not_numbers(void)
{
	const struct run_opts o = { .mode = GUEST_HUGE_COUNTERS, .counters = true };
	int n;

	CHECK(run_against(&o, "counters") == 0);
	CHECK(run.manifest.latency.succeeded == ITERATIONS);
	n = read_table("counters", IVB_TABLE_PHASE_PERF, rows);
	CHECK(n == (int)(ITERATIONS * IVB_NPHASES));
	for (int r = 0; r < n; r++) {
		CHECK(rows[r][IVB_COL_PHASE_PERF_TLB_MISSES][0] == '\0');
		CHECK(rows[r][IVB_COL_PHASE_PERF_PAGE_FAULTS][0] == '\0');
		if (r % IVB_NPHASES == 2)
			CHECK(strcmp(rows[r][IVB_COL_PHASE_PERF_CPU_CYCLES], "1000000000") == 0);
		else
			CHECK(rows[r][IVB_COL_PHASE_PERF_CPU_CYCLES][0] == '\0');
	}
	n = read_table("counters", IVB_TABLE_LATENCY_PERF, rows);
	CHECK(n == (int)ITERATIONS);
	for (int r = 0; r < n; r++) {
		CHECK(rows[r][IVB_COL_LATENCY_PERF_GUEST_TLB_MISSES][0] == '\0');
		CHECK(rows[r][IVB_COL_LATENCY_PERF_GUEST_CPU_CYCLES][0] == '\0');
		CHECK(rows[r][IVB_COL_LATENCY_PERF_GUEST_PAGE_FAULTS][0] == '\0');
	}
	/* 39 values a message: all 40 but phase C's possible cycle count. */
	CHECK(python_check("counters", "d[\"guest\"][\"counters_out_of_range\"][\"values\"] == 3 * 39 and "
				       "d[\"guest\"][\"counters_out_of_range\"][\"first\"].startswith(\"message 1: phase "
				       "A_hot_read l1_cache_misses 4611686018427387905 above its bound \")") == 0);
}

/* A sum of the guest's four phases that does not fit in 64 bits is not measured, never a wrapped number. */
static void test_counter_totals_never_wrap(void)
{
	static const enum ivb_table tables[2] = { IVB_TABLE_LATENCY, IVB_TABLE_LATENCY_PERF };
	struct ivb_guest_info guest = { .map_kind = IVB_MAP_SHM };
	struct ivb_frame frame;
	struct ivb_outputs out;
	struct ivb_row_key key = { "latency", IVB_MSG_LATENCY, 1, &frame, &guest };
	struct ivb_sample s;
	char path[512];
	int n;

	memset(&out, 0, sizeof(out));
	memset(&s, 0, sizeof(s));
	CHECK(ivb_parse_frame("4096", &frame) == 0);
	snprintf(path, sizeof(path), "%s/totals", tmpdir);
	CHECK(mkdir(path, 0700) == 0);
	for (size_t i = 0; i < 2; i++) {
		const enum ivb_table t = tables[i];

		snprintf(path, sizeof(path), "%s/totals/%s", tmpdir, ivb_tables[t].file);
		CHECK(ivb_csv_open_table(&out.csv[t], path, t) == 0);
		out.open[t] = true;
	}
	s.have_guest = s.have_roundtrip = s.success = true;
	ivb_counts_none(&s.host_counts);
	for (unsigned p = 0; p < IVB_NPHASES; p++)
		for (unsigned i = 0; i < IVB_NCOUNTERS; i++)
			s.report.counters[p].v[i] = (1ull << 62) + 1; /* four of them wrap to 4 */
	s.report.counters[0].v[IVB_CTR_CYCLES] = s.report.counters[1].v[IVB_CTR_CYCLES] = 5;
	s.report.counters[2].v[IVB_CTR_CYCLES] = s.report.counters[3].v[IVB_CTR_CYCLES] = 5;
	CHECK(ivb_rows_write(&out, &key, &s) == 0);
	CHECK(ivb_csv_close(&out.csv[IVB_TABLE_LATENCY]) == 0 && ivb_csv_close(&out.csv[IVB_TABLE_LATENCY_PERF]) == 0);
	n = read_table("totals", IVB_TABLE_LATENCY_PERF, rows);
	CHECK(n == 1);
	CHECK(n == 1 && rows[0][IVB_COL_LATENCY_PERF_GUEST_TLB_MISSES][0] == '\0');
	CHECK(n == 1 && rows[0][IVB_COL_LATENCY_PERF_GUEST_INSTRUCTIONS][0] == '\0');
	CHECK(n == 1 && strcmp(rows[0][IVB_COL_LATENCY_PERF_GUEST_CPU_CYCLES], "20") == 0);
}

/* The status and success columns of each stream row, e.g. "ok:1,bad_checksum:0,"; NULL if the file does not parse. */
static const char *stream_outcomes(const char *name)
{
	static char out[MAX_ROWS * 32];
	int n = read_table(name, IVB_TABLE_STREAM, rows);

	if (n < 0)
		return NULL;
	out[0] = '\0';
	for (int i = 0; i < n; i++)
		snprintf(out + strlen(out), sizeof(out) - strlen(out), "%s:%s,", rows[i][IVB_COL_STREAM_STATUS],
			 rows[i][IVB_COL_STREAM_SUCCESS]);
	return out;
}

/* Whether every stream row reads outcome (e.g. "implausible_timing:0"), and there is at least one. */
static bool every_stream_row(const char *name, const char *outcome)
{
	const char *got = stream_outcomes(name);
	char one[64];

	snprintf(one, sizeof(one), "%s,", outcome);
	if (got == NULL || got[0] == '\0')
		return false;
	for (const char *p = got; *p != '\0'; p += strlen(one))
		if (strncmp(p, one, strlen(one)) != 0)
			return false;
	return true;
}

/* latest: a released count of 2^64 - 1 before the first frame ends the stream at once with the reason. */
static void test_stream_absurd_released_count_stops_the_run(void)
{
	const struct run_opts o = { .mode = GUEST_STREAM_ABSURD_RELEASED, .stream_policy = IVB_RING_LATEST,
				    .verify = IVB_VERIFY_XXH3 };

	CHECK(run_against(&o, "stream-absurd") == -EPROTO);
	CHECK(strstr(run.host.why, "released count 18446744073709551615 exceeds") != NULL);
	CHECK(python_check("stream-absurd", "d[\"status\"] == \"aborted\" and \"released count\" in d[\"abort_reason\"]") == 0);
}

/* An hour's copy of frames the host saw back within a frame period: every row implausible_timing, success 0. */
static void test_stream_guest_times_beyond_the_frame_fail(void)
{
	const struct run_opts o = { .mode = GUEST_STREAM_SLOW_CLAIMS, .stream_policy = IVB_RING_BLOCK,
				    .verify = IVB_VERIFY_XXH3 };
	const struct ivb_stream_record *s = &run.manifest.streams[0];

	CHECK(run_against(&o, "stream-slow") == 0);
	CHECK(every_stream_row("stream-slow", "implausible_timing:0"));
	CHECK(s->consumed > 0 && s->failed == s->consumed);
}

/* sha256 asked, nothing verified: every frame a failed frame (not an unverified one), and the run says so. */
static void test_stream_unverified_when_asked_fails(void)
{
	const struct run_opts o = { .mode = GUEST_STREAM_UNVERIFIED, .stream_policy = IVB_RING_BLOCK,
				    .verify = IVB_VERIFY_SHA256 };
	const struct ivb_stream_record *s = &run.manifest.streams[0];

	CHECK(run_against(&o, "stream-unverified") == 0);
	CHECK(every_stream_row("stream-unverified", "unverified:0"));
	CHECK(s->consumed > 0 && s->failed == s->consumed && s->unverified == 0);
	CHECK(python_check("stream-unverified", "d[\"streams\"][0][\"failed\"] == d[\"streams\"][0][\"consumed\"] > 0") == 0);
}

/* An hour of guest CPU over a 1 s stream: left out of run.json, never reported per frame. */
static void test_stream_guest_cpu_beyond_the_stream_left_out(void)
{
	const struct run_opts o = { .mode = GUEST_STREAM_CPU_CLAIMS, .stream_policy = IVB_RING_BLOCK,
				    .verify = IVB_VERIFY_XXH3 };

	CHECK(run_against(&o, "stream-cpu") == 0);
	CHECK(every_stream_row("stream-cpu", "ok:1"));
	CHECK(!run.manifest.streams[0].guest_cpu_known);
	CHECK(python_check("stream-cpu", "\"guest_cpu_s\" not in d[\"streams\"][0]") == 0);
}

/* --corrupt-frame 2: an honest guest fails that frame alone; the stream goes on. */
static void test_stream_honest_guest_catches_the_corrupt_frame(void)
{
	const struct run_opts o = { .mode = GUEST_HONEST, .stream_policy = IVB_RING_BLOCK, .verify = IVB_VERIFY_SHA256,
				    .corrupt_frame_set = true, .corrupt_frame = 2 };
	const char *got;

	CHECK(run_against(&o, "stream-corrupt") == 0);
	got = stream_outcomes("stream-corrupt");
	CHECK(got != NULL && strncmp(got, "ok:1,ok:1,bad_checksum:0,ok:1,", 30) == 0);
	CHECK(run.manifest.streams[0].failed == 1);
}

/* --corrupt-frame 2: a guest that accepts it unread fails that frame and stops the run. */
static void test_stream_guest_accepting_the_corrupt_frame_fails(void)
{
	const struct run_opts o = { .mode = GUEST_ACCEPT_ALL, .stream_policy = IVB_RING_BLOCK, .verify = IVB_VERIFY_SHA256,
				    .corrupt_frame_set = true, .corrupt_frame = 2 };
	const char *got;

	CHECK(run_against(&o, "stream-accept") == -EPROTO);
	CHECK(strstr(run.host.why, "the guest accepted frame 2 that the host corrupted on purpose") != NULL);
	got = stream_outcomes("stream-accept");
	CHECK(got != NULL && strstr(got, "ok:1,ok:1,accepted_corrupted_frame:0,") == got);
	CHECK(python_check("stream-accept", "d[\"status\"] == \"aborted\" and d[\"options\"][\"corrupt_frame\"] == 2") == 0);
}

/* Memory types and a kernel name made of CSV and JSON structure: data in every file, sanitised, and said so. */
static void test_guest_strings_stay_data(void)
{
	const struct run_opts o = { .mode = GUEST_HOSTILE_TEXT, .map_study = true };
	int n;

	CHECK(run_against(&o, "text") == 0);
	n = read_table("text", IVB_TABLE_MAP_STUDY, rows);
	/* One row per message: the study's one mapping (slot 0) the fake guest reports. */
	CHECK(n == (int)ITERATIONS);
	for (int r = 0; r < n; r++) {
		CHECK(strcmp(rows[r][IVB_COL_MAP_STUDY_MEMORY_TYPE], "x__1_2_3_4") == 0);
		CHECK(strcmp(rows[r][IVB_COL_MAP_STUDY_SUCCESS], "1") == 0);
	}
	CHECK(python_check("text", "d[\"guest\"][\"memory_type\"] == \"a_b_c_\" and "
				   "d[\"guest\"][\"kernel\"] == \"6.1____x_:__y_\" and "
				   "d[\"guest\"][\"unsafe_text_replaced\"] == "
				   "[\"kernel\", \"memory_type\", \"map_study_memory_type\"]") == 0);
}

int main(void)
{
	int ret;

	if (scratch_make(tmpdir) < 0)
		return 1;
	RUN_TEST(test_honest_guest_catches_the_corruption);
	RUN_TEST(test_guest_accepting_a_corrupted_message_fails);
	RUN_TEST(test_guest_timings_beyond_the_round_trip_fail);
	RUN_TEST(test_impossible_counters_are_not_numbers);
	RUN_TEST(test_counter_totals_never_wrap);
	RUN_TEST(test_guest_strings_stay_data);
	RUN_TEST(test_stream_absurd_released_count_stops_the_run);
	RUN_TEST(test_stream_guest_times_beyond_the_frame_fail);
	RUN_TEST(test_stream_unverified_when_asked_fails);
	RUN_TEST(test_stream_guest_cpu_beyond_the_stream_left_out);
	RUN_TEST(test_stream_honest_guest_catches_the_corrupt_frame);
	RUN_TEST(test_stream_guest_accepting_the_corrupt_frame_fails);
	ret = CHECK_SUMMARY("unit hostile");
	scratch_remove(tmpdir);
	return ret;
}

/* host_writer: the host side of ivshmem-bench.
 *
 * Writes random frames into the shared region, times its own copy and the round trip to the
 * guest's acknowledgement, collects the guest's phase timings, and writes the CSVs and run.json.
 */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "bell.h"
#include "cli.h"
#include "clock.h"
#include "common.h"
#include "csv.h"
#include "host_rows.h"
#include "ivserver.h"
#include "manifest.h"
#include "opts.h"
#include "perfctr.h"
#include "phases.h"
#include "protocol.h"
#include "region.h"
#include "sha256.h"

#define PROG "host_writer"
#define OUT_DIR_DEFAULT "."
#define ITERATIONS_DEFAULT 100u
#define LATENCY_FRAME_DEFAULT "4k"
#define BW_ITERATIONS_DEFAULT 10u
#define FRAMES_DEFAULT "1080p,1440p,4k"
#define REF_ITERATIONS_DEFAULT 3u
#define WARMUP_DEFAULT 1u
#define MAX_ITERATIONS 10000000u
#define MAX_TIMEOUT_S 86400u
/* One message a minute is the slowest stream worth timing. */
#define MAX_INTERVAL_US 60000000u
/* How long the host waits for the guest's summary (its CPU time) after the run. */
#define SUMMARY_TIMEOUT_S 5u


struct config {
	const char *shm_path;
	uint64_t size; /* 0: the file's size, or the default for a new file */
	const char *out_dir;
	uint64_t iterations;
	const char *latency_frame_arg;
	struct ivb_frame latency_frame;
	uint64_t bw_iterations;
	const char *frames_arg;
	struct ivb_frame frames[IVB_MAX_FRAMES];
	size_t nframes;
	uint64_t ref_iterations;
	uint64_t warmup;
	uint64_t timeout_s;
	uint64_t corrupt_iteration; /* measured message to corrupt, counting from 1; 0: none */
	bool counters;    /* performance counters on both sides */
	bool write_study; /* the guest also times the write-path variants of phase C */
	bool map_study;   /* the guest also times phases A-C through its other mapping of BAR2 */
	bool doorbell_mode;   /* notify with the ivshmem server's eventfds instead of polling */
	const char *doorbell; /* the server's socket; NULL: the default one */
	uint64_t interval_us; /* start messages this far apart; 0: back to back */
	const char *meta[IVB_MAX_META];
	size_t nmeta;
};

/* Everything one run owns, so that every exit path can flush and record it. */
struct run {
	struct config cfg;
	struct ivb_mapping map;
	struct ivb_host host;
	struct ivb_manifest manifest;
	struct ivb_outputs out;
	struct ivb_perf perf;
	struct ivb_bell bell;
	uint64_t last_send_ns; /* when the last message started, for --interval-us */
	char guest_summary_why[IVB_WHY_LEN];
	char host_counters_missing[512], guest_counters_missing[512];
	bool guest_counters_reported;
	uint8_t *frame;     /* private source of each message */
	uint8_t *reference; /* private destination of the host's reference copy */
	size_t buffer_size;
	uint64_t messages_total, messages_done;
	uint64_t measured; /* measured messages sent so far; warm-up messages do not count */
	bool warmup_failed;
	uint64_t progress_last_ns;
	bool progress_tty;
};

static void usage(FILE *out)
{
	fprintf(out,
		"Usage: " PROG " [OPTION]...\n"
		"Send random frames through an ivshmem region to guest_reader and time every stage.\n"
		"\n"
		"  --shm PATH             region file (default " IVB_SHM_PATH_DEFAULT ")\n"
		"  --size BYTES           region size; K, M, G suffixes are KiB, MiB, GiB\n"
		"                         (default: the file's size, or 64M for a new file)\n"
		"  --out DIR              folder for the CSVs and run.json (default " OUT_DIR_DEFAULT ")\n"
		"  --iterations N         latency test iterations (default %u; 0 skips the test)\n"
		"  --latency-frame F      frame of the latency test (default " LATENCY_FRAME_DEFAULT ")\n"
		"  --bw-iterations N      bandwidth test iterations per frame (default %u; 0 skips)\n"
		"  --frames LIST          bandwidth frames: 1080p, 1440p, 4k or byte counts, comma-separated\n"
		"                         (default " FRAMES_DEFAULT ")\n"
		"  --ref-iterations N     reference iterations per frame: the guest's phases on private\n"
		"                         memory and the host's plain memcpy (default %u; 0 skips)\n"
		"  --warmup N             unrecorded messages of the largest size before the tests\n"
		"                         (default %u): first-touch costs stay out of the results\n"
		"  --timeout SECONDS      limit of every wait for the guest (default %u)\n"
		"  --meta KEY=VALUE       add a fact to run.json's \"meta\" (repeatable)\n"
		"  --no-counters          do not measure performance counters (they cost a few system\n"
		"                         calls per phase, outside the timed windows but inside the round trip)\n"
		"  --write-study          the guest also times phase C's write-path variants: fresh pages,\n"
		"                         non-temporal stores, huge pages (write_study.csv)\n"
		"  --mode polling|doorbell\n"
		"                         how each side learns that the other has written: spin on the\n"
		"                         state word (polling, the default), or sleep until the other side\n"
		"                         rings through an ivshmem server (doorbell; the guest must use it\n"
		"                         too)\n"
		"  --doorbell SOCKET      doorbell mode through the ivshmem server at SOCKET (default\n"
		"                         $XDG_RUNTIME_DIR/ivshmem-bench/ivshmem.sock, as ivshmem_server)\n"
		"  --interval-us N        start messages N microseconds apart, as a stream at a frame rate\n"
		"                         would (16667: 60 fps); both sides wait idle in between (default 0:\n"
		"                         back to back)\n"
		"  --map-study            the guest also times phases A-C through its other mapping of the\n"
		"                         region (resource2 vs resource2_wc) (mapping_study.csv)\n"
		"  --corrupt-iteration N  testing: flip a byte of measured message N after hashing it\n"
		"  --help                 show this help and exit\n"
		"\n"
		"Exit status: 0 every iteration succeeded, 1 a failure, 2 a usage error.\n",
		ITERATIONS_DEFAULT, BW_ITERATIONS_DEFAULT, REF_ITERATIONS_DEFAULT, WARMUP_DEFAULT, IVB_TIMEOUT_DEFAULT_S);
}

static void parse_args(int argc, char **argv, struct config *cfg)
{
	enum { OPT_SHM = 256, OPT_SIZE, OPT_OUT, OPT_ITER, OPT_LAT_FRAME, OPT_BW_ITER, OPT_FRAMES, OPT_REF_ITER,
	       OPT_WARMUP, OPT_TIMEOUT, OPT_META, OPT_NO_COUNTERS, OPT_WRITE_STUDY, OPT_MAP_STUDY,
	       OPT_DOORBELL, OPT_MODE, OPT_INTERVAL, OPT_CORRUPT, OPT_HELP };
	static const struct option options[] = {
		{ "shm", required_argument, NULL, OPT_SHM },
		{ "size", required_argument, NULL, OPT_SIZE },
		{ "out", required_argument, NULL, OPT_OUT },
		{ "iterations", required_argument, NULL, OPT_ITER },
		{ "latency-frame", required_argument, NULL, OPT_LAT_FRAME },
		{ "bw-iterations", required_argument, NULL, OPT_BW_ITER },
		{ "frames", required_argument, NULL, OPT_FRAMES },
		{ "ref-iterations", required_argument, NULL, OPT_REF_ITER },
		{ "warmup", required_argument, NULL, OPT_WARMUP },
		{ "timeout", required_argument, NULL, OPT_TIMEOUT },
		{ "meta", required_argument, NULL, OPT_META },
		{ "no-counters", no_argument, NULL, OPT_NO_COUNTERS },
		{ "write-study", no_argument, NULL, OPT_WRITE_STUDY },
		{ "map-study", no_argument, NULL, OPT_MAP_STUDY },
		{ "doorbell", required_argument, NULL, OPT_DOORBELL },
		{ "mode", required_argument, NULL, OPT_MODE },
		{ "interval-us", required_argument, NULL, OPT_INTERVAL },
		{ "corrupt-iteration", required_argument, NULL, OPT_CORRUPT },
		{ "help", no_argument, NULL, OPT_HELP },
		{ NULL, 0, NULL, 0 },
	};
	bool polling_asked = false;
	int opt, ret;

	*cfg = (struct config){
		.shm_path = IVB_SHM_PATH_DEFAULT,
		.out_dir = OUT_DIR_DEFAULT,
		.iterations = ITERATIONS_DEFAULT,
		.latency_frame_arg = LATENCY_FRAME_DEFAULT,
		.bw_iterations = BW_ITERATIONS_DEFAULT,
		.frames_arg = FRAMES_DEFAULT,
		.ref_iterations = REF_ITERATIONS_DEFAULT,
		.warmup = WARMUP_DEFAULT,
		.counters = true,
		.timeout_s = IVB_TIMEOUT_DEFAULT_S,
	};
	opterr = 0; /* our own one-line messages, not getopt's */
	while ((opt = getopt_long(argc, argv, ":", options, NULL)) != -1) {
		switch (opt) {
		case OPT_SHM: cfg->shm_path = optarg; break;
		case OPT_SIZE:
			if (ivb_parse_size(optarg, IVB_REGION_MIN_SIZE, SIZE_MAX, &cfg->size) < 0)
				ivb_die_usage(PROG, "--size needs a byte count of at least %u (suffixes K, M, G), not '%s'",
					  IVB_REGION_MIN_SIZE, optarg);
			break;
		case OPT_OUT: cfg->out_dir = optarg; break;
		case OPT_ITER: cfg->iterations = ivb_parse_count_or_die(PROG, "--iterations", optarg, 0, MAX_ITERATIONS); break;
		case OPT_LAT_FRAME: cfg->latency_frame_arg = optarg; break;
		case OPT_BW_ITER:
			cfg->bw_iterations = ivb_parse_count_or_die(PROG, "--bw-iterations", optarg, 0, MAX_ITERATIONS);
			break;
		case OPT_FRAMES: cfg->frames_arg = optarg; break;
		case OPT_REF_ITER:
			cfg->ref_iterations = ivb_parse_count_or_die(PROG, "--ref-iterations", optarg, 0, MAX_ITERATIONS);
			break;
		case OPT_WARMUP: cfg->warmup = ivb_parse_count_or_die(PROG, "--warmup", optarg, 0, 1000); break;
		case OPT_TIMEOUT: cfg->timeout_s = ivb_parse_count_or_die(PROG, "--timeout", optarg, 1, MAX_TIMEOUT_S); break;
		case OPT_META:
			if (strchr(optarg, '=') == NULL || optarg[0] == '=')
				ivb_die_usage(PROG, "--meta needs KEY=VALUE, not '%s'", optarg);
			if (cfg->nmeta == IVB_MAX_META)
				ivb_die_usage(PROG, "at most %u --meta options", IVB_MAX_META);
			cfg->meta[cfg->nmeta++] = optarg;
			break;
		case OPT_NO_COUNTERS: cfg->counters = false; break;
		case OPT_WRITE_STUDY: cfg->write_study = true; break;
		case OPT_MAP_STUDY: cfg->map_study = true; break;
		case OPT_DOORBELL:
			cfg->doorbell = optarg;
			cfg->doorbell_mode = true;
			break;
		case OPT_MODE:
			cfg->doorbell_mode = ivb_parse_mode_or_die(PROG, optarg);
			polling_asked = !cfg->doorbell_mode;
			break;
		case OPT_INTERVAL:
			cfg->interval_us = ivb_parse_count_or_die(PROG, "--interval-us", optarg, 0, MAX_INTERVAL_US);
			break;
		case OPT_CORRUPT:
			cfg->corrupt_iteration = ivb_parse_count_or_die(PROG, "--corrupt-iteration", optarg, 1, UINT64_MAX);
			break;
		case OPT_HELP: usage(stdout); exit(IVB_EXIT_OK);
		case ':': ivb_die_usage(PROG, "%s needs a value", argv[optind - 1]);
		default: ivb_die_usage(PROG, "unknown option '%s'", argv[optind - 1]);
		}
	}
	if (optind < argc)
		ivb_die_usage(PROG, "unexpected argument '%s'", argv[optind]);
	if (polling_asked && cfg->doorbell != NULL)
		ivb_die_usage(PROG, "--doorbell is for --mode doorbell, not polling");
	ret = ivb_parse_frame(cfg->latency_frame_arg, &cfg->latency_frame);
	if (ret < 0)
		ivb_die_usage(PROG, "--latency-frame needs 1080p, 1440p, 4k or a byte count, not '%s'", cfg->latency_frame_arg);
	ret = ivb_parse_frame_list(cfg->frames_arg, cfg->frames, IVB_MAX_FRAMES, &cfg->nframes);
	if (ret == -E2BIG)
		ivb_die_usage(PROG, "--frames takes at most %u frames", IVB_MAX_FRAMES);
	if (ret < 0)
		ivb_die_usage(PROG, "--frames needs a comma-separated list of 1080p, 1440p, 4k or byte counts, not '%s'",
			  cfg->frames_arg);
	if (cfg->iterations + cfg->bw_iterations + cfg->ref_iterations == 0)
		ivb_die_usage(PROG, "nothing to do: --iterations, --bw-iterations and --ref-iterations are all 0");
}

/*
 * Whether frames[i] is the first of its size among the reference frames (the latency frame, then
 * the bandwidth frames): a size is measured on private memory once, whatever lists it twice.
 */
static bool first_reference_size(const struct config *cfg, size_t i)
{
	if (cfg->frames[i].size == cfg->latency_frame.size)
		return false;
	for (size_t k = 0; k < i; k++)
		if (cfg->frames[k].size == cfg->frames[i].size)
			return false;
	return true;
}

static size_t reference_frames(const struct config *cfg)
{
	size_t n = 1;

	for (size_t i = 0; i < cfg->nframes; i++)
		n += first_reference_size(cfg, i);
	return n;
}

/* The largest message this configuration sends. */
static uint64_t largest_message(const struct config *cfg)
{
	uint64_t max = cfg->iterations > 0 || cfg->ref_iterations > 0 ? cfg->latency_frame.size : 0;

	for (size_t i = 0; i < cfg->nframes; i++)
		if ((cfg->bw_iterations > 0 || cfg->ref_iterations > 0) && cfg->frames[i].size > max)
			max = cfg->frames[i].size;
	return max;
}

/*
 * The region size this run will use, known before anything is created: --size, or the existing
 * file's size, or the default. Returns: 0, or a negative errno (a symlink is -ELOOP).
 */
static int planned_region_size(const struct config *cfg, uint64_t *size)
{
	struct stat st;

	if (cfg->size != 0) {
		*size = cfg->size;
		return 0;
	}
	if (lstat(cfg->shm_path, &st) < 0) {
		if (errno != ENOENT)
			return -errno;
		*size = IVB_SHM_SIZE_DEFAULT;
		return 0;
	}
	if (S_ISLNK(st.st_mode))
		return -ELOOP;
	*size = st.st_size > 0 ? (uint64_t)st.st_size : IVB_SHM_SIZE_DEFAULT;
	return 0;
}

/*
 * A guest may already wait on an existing region that is too small for this run: mark it
 * ABORTED so that the guest stops now instead of at its time limit. Never creates or grows it.
 */
static void abort_existing_region(const struct config *cfg)
{
	struct ivb_mapping map;
	struct ivb_host host;
	struct stat st;
	uint64_t session;

	if (lstat(cfg->shm_path, &st) < 0 || !S_ISREG(st.st_mode) || (uint64_t)st.st_size < IVB_REGION_MIN_SIZE)
		return;
	if (ivb_shm_create(cfg->shm_path, (uint64_t)st.st_size, &map) < 0)
		return;
	if (ivb_random_bytes(&session, sizeof(session)) == 0 &&
	    ivb_host_init(&host, map.region, map.size, session | 1, 0, NULL) == 0)
		ivb_host_abort(&host, IVB_ABORT_FAILURE);
	ivb_unmap(&map);
}

static int make_dir(const char *path)
{
	char buf[4096];
	size_t len = strlen(path);

	if (len == 0 || len >= sizeof(buf))
		return -ENAMETOOLONG;
	memcpy(buf, path, len + 1);
	/* mkdir -p: each parent in turn, then the folder itself. */
	for (char *p = buf + 1; *p; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		if (mkdir(buf, 0755) < 0 && errno != EEXIST)
			return -errno;
		*p = '/';
	}
	if (mkdir(buf, 0755) < 0 && errno != EEXIST)
		return -errno;
	return 0;
}

static void record_failure(struct run *run, const char *test, const char *frame, uint64_t iteration,
			   const char *error)
{
	struct ivb_manifest *m = &run->manifest;

	if (m->nfailures == IVB_MAX_FAILURES) {
		m->failures_dropped++;
		return;
	}
	m->failures[m->nfailures++] = (struct ivb_failure){ test, frame, iteration, error };
}

static void progress(struct run *run, const char *test, bool force)
{
	uint64_t now = ivb_now_ns();

	/* A line a second at most, or a live counter on a terminal. */
	if (!force && now - run->progress_last_ns < (run->progress_tty ? 100000000ull : IVB_NS_PER_SEC))
		return;
	run->progress_last_ns = now;
	fprintf(stderr, "%s" PROG ": %s: %llu/%llu messages%s", run->progress_tty ? "\r" : "", test,
		(unsigned long long)run->messages_done, (unsigned long long)run->messages_total,
		run->progress_tty ? "" : "\n");
	if (run->progress_tty && force)
		fputc('\n', stderr);
}

static const char *error_token(int ret)
{
	switch (ret) {
	case -ETIMEDOUT: return "timeout";
	case -EINTR: return "interrupted";
	case -ECONNRESET: return "guest_aborted";
	case -EPROTO: return "protocol_error";
	default: return "host_failure";
	}
}

/* Say once which counters the guest could not measure, from the errno values it reported. */
static void note_guest_counters(struct run *run, const struct ivb_guest_study *study)
{
	struct ivb_perf missing;

	if (!run->cfg.counters || run->guest_counters_reported)
		return;
	run->guest_counters_reported = true;
	for (unsigned i = 0; i < IVB_NCOUNTERS; i++) {
		missing.err[i] = study->counter_errno[i];
		missing.fd[i] = study->counter_errno[i] == 0 ? 0 : -1;
	}
	ivb_perf_describe_missing(&missing, run->guest_counters_missing, sizeof(run->guest_counters_missing));
	if (run->guest_counters_missing[0])
		fprintf(stderr, PROG ": guest counters %s\n", run->guest_counters_missing);
}

/*
 * --interval-us: start this message interval_us after the last one started, as a stream at a fixed
 * frame rate would: the frame is ready, and from here it is written, sent and acknowledged.
 */
static void pace(struct run *run)
{
	uint64_t interval_ns = run->cfg.interval_us * 1000u;

	if (interval_ns != 0 && run->last_send_ns != 0) {
		uint64_t due = run->last_send_ns + interval_ns;
		struct timespec ts = { (time_t)(due / IVB_NS_PER_SEC), (long)(due % IVB_NS_PER_SEC) };

		/* A signal ends the sleep early; the wait that follows then stops the run. */
		if (ivb_now_ns() < due)
			clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL);
	}
	run->last_send_ns = ivb_now_ns();
}

/*
 * Send one message of size bytes and wait for its acknowledgement; counted is false for warm-up.
 * Returns: 0 when the exchange completed (s->success says whether the guest verified the data),
 * or a negative errno when the run cannot go on (run->host.why or errno says why).
 */
static int exchange(struct run *run, uint64_t size, enum ivb_msg_kind kind, bool counted, struct ivb_sample *s)
{
	uint8_t *shared = ivb_buffer(run->map.region);
	uint8_t sha[IVB_SHA256_LEN];
	struct ivb_ack ack;
	uint64_t t0, t1, sent_ns;
	int ret;

	memset(s, 0, sizeof(*s));
	/* Outside any timing: fresh random data and its hash. */
	ret = ivb_random_bytes(run->frame, size);
	if (ret == 0)
		ret = ivb_sha256(run->frame, size, sha);
	if (ret < 0) {
		snprintf(run->host.why, sizeof(run->host.why), "OpenSSL could not generate or hash the frame");
		s->error = "host_failure";
		return ret;
	}
	pace(run);
	if (kind == IVB_MSG_REFERENCE) {
		t0 = ivb_now_ns();
		memcpy(run->reference, run->frame, size);
		atomic_thread_fence(memory_order_seq_cst);
		t1 = ivb_now_ns();
		s->host_reference_ns = t1 - t0;
	}
	if (run->cfg.counters)
		ivb_perf_start(&run->perf);
	t0 = ivb_now_ns();
	memcpy(shared, run->frame, size);
	atomic_thread_fence(memory_order_seq_cst);
	t1 = ivb_now_ns();
	if (run->cfg.counters)
		ivb_perf_stop(&run->perf, &s->host_counts);
	else
		ivb_counts_none(&s->host_counts);
	s->host_memcpy_ns = t1 - t0;
	if (counted && ++run->measured == run->cfg.corrupt_iteration)
		shared[size / 2] ^= 0x01;

	ret = ivb_host_send(&run->host, size, kind,
			    (run->cfg.counters ? IVB_MSG_FLAG_COUNTERS : 0) | (run->cfg.write_study ? IVB_MSG_FLAG_WRITE_STUDY : 0) |
				    (run->cfg.map_study ? IVB_MSG_FLAG_MAP_STUDY : 0),
			    sha, &sent_ns);
	if (ret < 0) {
		snprintf(run->host.why, sizeof(run->host.why), "message of %llu bytes does not fit the region",
			 (unsigned long long)size);
		s->error = "host_failure";
		return ret;
	}
	ret = ivb_host_wait_ack(&run->host, &ack);
	if (ret < 0) {
		s->error = error_token(ret);
		return ret;
	}
	s->have_roundtrip = true;
	s->roundtrip_ns = ack.acked_ns - sent_ns;
	if (ack.error_code == IVB_MSG_OK) {
		s->have_guest = true;
		s->guest = ack.report.timing;
		s->report = ack.report;
		s->success = true;
		note_guest_counters(run, &ack.report.study);
	} else {
		s->error = ivb_msg_error_name(ack.error_code);
	}
	ret = ivb_host_next(&run->host);
	if (ret < 0 && s->error == NULL)
		s->error = error_token(ret);
	return ret;
}

/*
 * Run `count` messages of one test and frame, writing a row for each.
 * Returns: 0 when the test ran to its end (some iterations may have failed), or a negative errno
 * when the run must stop; the row of the message that failed is written first.
 */
static int run_test(struct run *run, const char *test, enum ivb_msg_kind kind, const struct ivb_frame *f,
		    uint64_t count, struct ivb_test_count *tally)
{
	struct ivb_row_key key = { test, kind, 0, f, &run->manifest.guest };

	for (uint64_t i = 1; i <= count; i++) {
		struct ivb_sample s;
		int ret = exchange(run, f->size, kind, true, &s);
		int wret = 0;

		tally->done++;
		tally->succeeded += s.success;
		run->messages_done++;
		if (!s.success || ret < 0) {
			record_failure(run, test, f->name, i, s.error ? s.error : "unknown");
			if (ret == 0)
				fprintf(stderr, PROG ": %s %s iteration %llu: the guest reported %s\n", test, f->name,
					(unsigned long long)i, s.error);
		}
		key.iteration = i;
		wret = ivb_rows_write(&run->out, &key, &s);
		if (wret < 0) {
			snprintf(run->host.why, sizeof(run->host.why), "cannot write the %s CSV: %s", test, strerror(-wret));
			return wret;
		}
		if (ret < 0)
			return ret;
		progress(run, test, false);
	}
	return 0;
}

static int open_outputs(struct run *run)
{
	const struct config *cfg = &run->cfg;
	/* The seed's three files always; counters and studies when the run collects them. */
	const bool wanted[IVB_NTABLES] = {
		[IVB_TABLE_LATENCY] = true,
		[IVB_TABLE_BANDWIDTH] = true,
		[IVB_TABLE_REFERENCE] = true,
		[IVB_TABLE_LATENCY_PERF] = cfg->counters,
		[IVB_TABLE_BANDWIDTH_PERF] = cfg->counters,
		[IVB_TABLE_PHASE_PERF] = cfg->counters,
		[IVB_TABLE_WRITE_STUDY] = cfg->write_study,
		[IVB_TABLE_MAP_STUDY] = cfg->map_study,
	};
	char path[4096];
	int ret;

	ret = make_dir(cfg->out_dir);
	if (ret < 0) {
		fprintf(stderr, PROG ": cannot create %s: %s\n", cfg->out_dir, strerror(-ret));
		return ret;
	}
	for (unsigned t = 0; t < IVB_NTABLES; t++) {
		if (!wanted[t])
			continue;
		snprintf(path, sizeof(path), "%s/%s", cfg->out_dir, ivb_tables[t].file);
		ret = ivb_csv_open_table(&run->out.csv[t], path, (enum ivb_table)t);
		if (ret < 0) {
			fprintf(stderr, PROG ": cannot write %s: %s\n", path, strerror(-ret));
			return ret;
		}
		run->out.open[t] = true;
	}
	return 0;
}

static void close_outputs(struct run *run)
{
	for (unsigned t = 0; t < IVB_NTABLES; t++)
		ivb_csv_close(&run->out.csv[t]);
}

/* Doorbell mode: join the ivshmem server. Returns: 0, or -1 after saying why. */
static int join_doorbell(struct run *run)
{
	char path[IVSERVER_SOCK_PATH_LEN], why[IVB_BELL_WHY_LEN];
	const char *socket_path = run->cfg.doorbell;
	int ret;

	if (socket_path == NULL) {
		ret = ivserver_default_socket_path(path, sizeof(path));
		if (ret < 0) {
			fprintf(stderr, PROG ": no default ivshmem server socket (%s): give --doorbell SOCKET\n",
				ret == -ENOENT ? "XDG_RUNTIME_DIR is unset" : strerror(-ret));
			return -1;
		}
		socket_path = path;
	}
	ret = ivb_bell_open(&run->bell, socket_path, NULL, run->cfg.timeout_s * IVB_NS_PER_SEC, why, sizeof(why));
	if (ret < 0) {
		fprintf(stderr, PROG ": %s\n", why);
		return -1;
	}
	fprintf(stderr, PROG ": doorbell mode: ivshmem peer %d of %s\n", run->bell.id, socket_path);
	return 0;
}

/* Doorbell mode: the host's counts, into the manifest. */
static void record_host_bell(struct run *run)
{
	if (run->cfg.doorbell_mode)
		run->manifest.host_bell = (struct ivb_bell_record){ .known = true, .peer_id = run->bell.id,
								    .rings_sent = run->bell.rings_sent,
								    .rings_received = run->bell.rings_received,
								    .late_wakeups = run->bell.late_wakeups };
}

/* After a completed run: the guest's CPU time and doorbell counts, into the manifest. */
static void record_guest_summary(struct run *run)
{
	struct ivb_manifest *m = &run->manifest;
	struct ivb_guest_summary s;
	uint64_t limit_s = run->cfg.timeout_s < SUMMARY_TIMEOUT_S ? run->cfg.timeout_s : SUMMARY_TIMEOUT_S;
	int ret = ivb_host_wait_summary(&run->host, limit_s * IVB_NS_PER_SEC, &s);

	record_host_bell(run);
	if (ret < 0) {
		snprintf(run->guest_summary_why, sizeof(run->guest_summary_why), "%s", run->host.why);
		m->guest_cpu_missing = run->guest_summary_why;
		fprintf(stderr, PROG ": %s\n", run->host.why);
		return;
	}
	m->guest_cpu = (struct ivb_cpu_record){ .known = true, .user_s = (double)s.cpu_user_ns / 1e9,
						.sys_s = (double)s.cpu_sys_ns / 1e9, .wall_s = (double)s.wall_ns / 1e9,
						.messages = s.messages };
	if (run->cfg.doorbell_mode)
		m->guest_bell = (struct ivb_bell_record){ .known = true, .peer_id = run->host.guest_peer,
							  .rings_sent = s.rings_sent, .rings_received = s.rings_received,
							  .late_wakeups = s.late_wakeups };
}

static void init_manifest(struct run *run, uint64_t region_size)
{
	struct ivb_manifest *m = &run->manifest;
	const struct config *cfg = &run->cfg;

	m->status = "running";
	ivb_utc_now(m->started_utc);
	m->shm_path = cfg->shm_path;
	m->region_size = region_size;
	m->buffer_capacity = region_size - IVB_HEADER_SIZE;
	m->iterations = cfg->iterations;
	m->latency_frame = cfg->latency_frame.name;
	m->bw_iterations = cfg->bw_iterations;
	m->frames = cfg->frames_arg;
	m->ref_iterations = cfg->ref_iterations;
	m->warmup = cfg->warmup;
	m->latency_frame_bytes = cfg->latency_frame.size;
	m->timeout_s = cfg->timeout_s;
	m->corrupt_iteration = cfg->corrupt_iteration;
	m->flush_method = ivb_flush_method();
	m->counters = cfg->counters;
	m->write_study = cfg->write_study;
	m->map_study = cfg->map_study;
	m->mode = cfg->doorbell_mode ? "doorbell" : "polling";
	m->interval_us = cfg->interval_us;
	m->host_counters_missing = run->host_counters_missing;
	m->guest_counters_missing = run->guest_counters_missing;
	for (size_t i = 0; i < cfg->nmeta; i++)
		m->meta[i] = cfg->meta[i];
	m->nmeta = cfg->nmeta;
	m->latency.planned = cfg->iterations;
	m->bandwidth.planned = cfg->bw_iterations * cfg->nframes;
	m->reference.planned = cfg->ref_iterations * reference_frames(cfg);
}

static void write_manifest(struct run *run, const char *status)
{
	int ret;

	run->manifest.status = status;
	ivb_utc_now(run->manifest.finished_utc);
	ret = ivb_manifest_write(run->cfg.out_dir, &run->manifest);
	if (ret < 0)
		fprintf(stderr, PROG ": cannot write %s/run.json: %s\n", run->cfg.out_dir, strerror(-ret));
}

/* Every test in order: warm-up, latency, bandwidth per frame, reference per frame. */
static int run_all(struct run *run)
{
	const struct config *cfg = &run->cfg;
	int ret;

	for (uint64_t i = 1; i <= cfg->warmup; i++) {
		struct ivb_sample s;

		ret = exchange(run, run->buffer_size, IVB_MSG_LATENCY, false, &s);
		if (!s.success) {
			run->warmup_failed = true;
			record_failure(run, "warmup", "largest", i, s.error ? s.error : "unknown");
			fprintf(stderr, PROG ": warm-up message %llu: %s\n", (unsigned long long)i, s.error ? s.error : "failed");
		}
		if (ret < 0)
			return ret;
	}
	if (cfg->iterations > 0) {
		ret = run_test(run, "latency", IVB_MSG_LATENCY, &cfg->latency_frame, cfg->iterations, &run->manifest.latency);
		if (ret < 0)
			return ret;
	}
	for (size_t i = 0; i < cfg->nframes && cfg->bw_iterations > 0; i++) {
		ret = run_test(run, "bandwidth", IVB_MSG_BANDWIDTH, &cfg->frames[i], cfg->bw_iterations,
			       &run->manifest.bandwidth);
		if (ret < 0)
			return ret;
	}
	if (cfg->ref_iterations > 0) {
		ret = run_test(run, "reference", IVB_MSG_REFERENCE, &cfg->latency_frame, cfg->ref_iterations,
			       &run->manifest.reference);
		for (size_t i = 0; ret == 0 && i < cfg->nframes; i++)
			if (first_reference_size(cfg, i))
				ret = run_test(run, "reference", IVB_MSG_REFERENCE, &cfg->frames[i], cfg->ref_iterations,
					       &run->manifest.reference);
		if (ret < 0)
			return ret;
	}
	return 0;
}

static enum ivb_abort_reason abort_reason_for(int ret)
{
	switch (ret) {
	case -EINTR: return IVB_ABORT_SIGNAL;
	case -ETIMEDOUT: return IVB_ABORT_TIMEOUT;
	case -EPROTO:
	case -ECONNRESET: return IVB_ABORT_PROTOCOL;
	default: return IVB_ABORT_FAILURE;
	}
}

int main(int argc, char **argv)
{
	static struct run run; /* large; static keeps it off the stack */
	struct ivb_cpu_span cpu;
	struct config *cfg = &run.cfg;
	uint64_t region_size = 0, largest, session;
	const struct ivb_test_count *l = &run.manifest.latency, *b = &run.manifest.bandwidth,
				    *r = &run.manifest.reference;
	int ret;

	parse_args(argc, argv, cfg);
	largest = largest_message(cfg);
	ret = planned_region_size(cfg, &region_size);
	if (ret < 0) {
		fprintf(stderr, PROG ": cannot use %s: %s\n", cfg->shm_path,
			ret == -ELOOP ? "it is a symbolic link" : strerror(-ret));
		return IVB_EXIT_FAILURE;
	}
	/* Before anything starts: a region too small for the largest frame is an error now, not later. */
	if (region_size < IVB_REGION_MIN_SIZE || region_size - IVB_HEADER_SIZE < largest) {
		fprintf(stderr, PROG ": region %s is too small: %llu bytes hold %llu bytes of data after the header, "
			"the largest frame needs %llu\n", cfg->shm_path, (unsigned long long)region_size,
			(unsigned long long)(region_size > IVB_HEADER_SIZE ? region_size - IVB_HEADER_SIZE : 0),
			(unsigned long long)largest);
		abort_existing_region(cfg);
		return IVB_EXIT_FAILURE;
	}
	ivb_install_stop_signals();
	ret = ivb_shm_create(cfg->shm_path, region_size, &run.map);
	if (ret < 0) {
		fprintf(stderr, PROG ": cannot map %s: %s\n", cfg->shm_path,
			ret == -EBUSY ? "another host_writer is using it" :
			ret == -EINVAL ? "not a regular file of a usable size" : strerror(-ret));
		return IVB_EXIT_FAILURE;
	}
	/* Own every page of the region we will write before any timing: a first write faults. */
	memset(ivb_buffer(run.map.region), 0, largest);
	run.buffer_size = largest;
	run.frame = ivb_alloc_prefaulted(largest);
	run.reference = ivb_alloc_prefaulted(largest);
	if (run.frame == NULL || run.reference == NULL) {
		fprintf(stderr, PROG ": cannot allocate two %llu-byte frame buffers: %s\n", (unsigned long long)largest,
			strerror(errno));
		return IVB_EXIT_FAILURE;
	}
	if (cfg->doorbell_mode && join_doorbell(&run) < 0)
		return IVB_EXIT_FAILURE;
	if (cfg->counters) {
		ivb_perf_open(&run.perf);
		ivb_perf_describe_missing(&run.perf, run.host_counters_missing, sizeof(run.host_counters_missing));
		if (run.host_counters_missing[0])
			fprintf(stderr, PROG ": host counters %s\n", run.host_counters_missing);
	}
	init_manifest(&run, run.map.size);
	if (open_outputs(&run) < 0)
		return IVB_EXIT_FAILURE;
	write_manifest(&run, "running");

	if (ivb_random_bytes(&session, sizeof(session)) < 0 || (session |= 1) == 0) {
		fprintf(stderr, PROG ": OpenSSL could not generate a session id\n");
		return IVB_EXIT_FAILURE;
	}
	ret = ivb_host_init(&run.host, run.map.region, run.map.size, session, cfg->timeout_s * IVB_NS_PER_SEC,
			    cfg->doorbell_mode ? &run.bell : NULL);
	if (ret < 0) {
		fprintf(stderr, PROG ": cannot initialise %s: %s\n", cfg->shm_path, strerror(-ret));
		return IVB_EXIT_FAILURE;
	}
	if (run.host.why[0])
		fprintf(stderr, PROG ": %s: %s\n", cfg->shm_path, run.host.why);
	fprintf(stderr, PROG ": region %s ready (%zu bytes); waiting for the guest\n", cfg->shm_path, run.map.size);

	run.progress_tty = isatty(STDERR_FILENO);
	run.messages_total = run.manifest.latency.planned + run.manifest.bandwidth.planned + run.manifest.reference.planned;
	ret = ivb_host_wait_guest(&run.host, &run.manifest.guest);
	if (ret == 0) {
		run.manifest.guest_known = 1;
		fprintf(stderr, PROG ": guest bound: mapping %s%s%s, memory type %s\n",
			ivb_map_kind_name((enum ivb_map_kind)run.manifest.guest.map_kind),
			run.manifest.guest.device[0] ? " of " : "", run.manifest.guest.device,
			run.manifest.guest.memtype[0] ? run.manifest.guest.memtype : "unknown");
		write_manifest(&run, "running");
		ivb_cpu_span_start(&cpu);
		ret = run_all(&run);
		ivb_cpu_span_end(&cpu);
		run.manifest.host_cpu = (struct ivb_cpu_record){ .known = true, .user_s = cpu.user_s, .sys_s = cpu.sys_s,
								  .wall_s = cpu.wall_s,
								  .messages = run.messages_done + cfg->warmup };
		record_host_bell(&run);
	}
	if (ret < 0) {
		enum ivb_abort_reason reason = abort_reason_for(ret);

		ivb_host_abort(&run.host, reason);
		if (ivb_stop_signal != 0)
			snprintf(run.host.why, sizeof(run.host.why), "stopped by signal %d (%s)", ivb_stop_signal,
				 strsignal(ivb_stop_signal));
		run.manifest.abort_reason = run.host.why[0] ? run.host.why : strerror(-ret);
		fprintf(stderr, PROG ": %s\n", run.manifest.abort_reason);
		write_manifest(&run, "aborted");
	} else {
		ivb_host_finish(&run.host);
		progress(&run, "done", true);
		record_guest_summary(&run);
		write_manifest(&run, "completed");
	}
	close_outputs(&run);
	printf(PROG ": %llu/%llu iterations succeeded (latency %llu/%llu, bandwidth %llu/%llu, reference %llu/%llu)%s\n",
	       (unsigned long long)(l->succeeded + b->succeeded + r->succeeded),
	       (unsigned long long)(l->planned + b->planned + r->planned),
	       (unsigned long long)l->succeeded, (unsigned long long)l->planned,
	       (unsigned long long)b->succeeded, (unsigned long long)b->planned,
	       (unsigned long long)r->succeeded, (unsigned long long)r->planned,
	       ret < 0 ? "; run aborted" : "");
	if (cfg->counters)
		ivb_perf_close(&run.perf);
	if (cfg->doorbell_mode) {
		ivb_bell_report_late(&run.bell, PROG);
		ivb_bell_close(&run.bell);
	}
	ivb_free_buffer(run.frame, run.buffer_size);
	ivb_free_buffer(run.reference, run.buffer_size);
	ivb_unmap(&run.map);
	if (ret < 0)
		return IVB_EXIT_FAILURE;
	return !run.warmup_failed && l->succeeded + b->succeeded + r->succeeded == l->planned + b->planned + r->planned
		       ? IVB_EXIT_OK
		       : IVB_EXIT_FAILURE;
}

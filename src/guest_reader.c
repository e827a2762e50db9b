/* guest_reader: the guest side of ivshmem-bench.
 *
 * Maps the region (BAR2 of the ivshmem PCI device, or a /dev/shm file in loopback), then for each
 * message times the four phases (hot read, cold read, copy out, SHA-256 verify), reports them
 * through the region and acknowledges, until the host completes the run.
 */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/utsname.h>
#include <unistd.h>

#include "cli.h"
#include "clock.h"
#include "common.h"
#include "defaults.h"
#include "opts.h"
#include "pci.h"
#include "perfctr.h"
#include "phases.h"
#include "map_study.h"
#include "protocol.h"
#include "region.h"
#include "stream.h"

#define PROG "guest_reader"
#define MAP_DEFAULT "uc"


struct config {
	const char *shm_path; /* loopback when set */
	const char *device;   /* PCI address, or NULL for the first ivshmem device */
	const char *sysfs_root;
	bool doorbell_mode;
	const char *doorbell; /* a server's socket or the driver's file; NULL: the driver's file of our device */
	const char *dev_dir;  /* where the driver's files are (/dev) */
	bool wc;
	bool wb;              /* through our driver's /dev/ivshmem-region */
	uint64_t timeout_s;
	uint64_t connect_timeout_s; /* the wait for the host (and, in loopback, its file) to come */
};

static void usage(FILE *out)
{
	fprintf(out,
		"Usage: " PROG " [OPTION]...\n"
		"Receive frames from host_writer through an ivshmem region, time and verify them.\n"
		"The tests are the host's: it publishes its plan in the region.\n"
		"\n"
		"  --shm PATH             loopback: map this file instead of the PCI device\n"
		"  --device BDF           use this PCI device (default: the first %04x:%04x device)\n"
		"  --map uc|wc|wb         map BAR2 through resource2 (uc), resource2_wc (wc), or the\n"
		"                         ivshmem_doorbell driver's /dev/ivshmem-region (wb, write-back)\n"
		"                         (default " MAP_DEFAULT ")\n"
		"  --sysfs-root DIR       where PCI devices are listed (default " IVB_PCI_SYSFS_DEFAULT ")\n"
		"  --timeout SECONDS      limit of every wait for the host once in contact (default %u)\n"
		"  --connect-timeout SECONDS\n"
		"                         how long to wait for the host to come, e.g. while a person starts\n"
		"                         host_writer (default %u; a line every %u s meanwhile)\n"
		"  --mode polling|doorbell\n"
		"                         spin on the host's state word (polling, the default), or sleep\n"
		"                         until the host rings (doorbell: in a VM through the\n"
		"                         ivshmem_doorbell driver's /dev/ivshmem-doorbell of the mapped\n"
		"                         device; in loopback through an ivshmem server, see --doorbell)\n"
		"  --doorbell PATH        doorbell mode through PATH: an ivshmem server's socket (loopback)\n"
		"                         or the driver's file\n"
		"  --dev-dir DIR          where the driver's files are (default /dev)\n"
		"  --help                 show this help and exit\n"
		"\n"
		"Exit status: 0 the host completed the run, 1 a failure, 2 a usage error.\n",
		IVB_PCI_VENDOR, IVB_PCI_DEVICE, IVB_TIMEOUT_DEFAULT_S, IVB_CONNECT_TIMEOUT_DEFAULT_S, IVB_CONNECT_NOTICE_S);
}

static void parse_args(int argc, char **argv, struct config *cfg)
{
	enum { OPT_SHM = 256, OPT_DEVICE, OPT_MAP, OPT_SYSFS, OPT_TIMEOUT, OPT_CONNECT_TIMEOUT, OPT_DOORBELL, OPT_MODE, OPT_DEV_DIR, OPT_HELP };
	static const struct option options[] = {
		{ "shm", required_argument, NULL, OPT_SHM },
		{ "device", required_argument, NULL, OPT_DEVICE },
		{ "map", required_argument, NULL, OPT_MAP },
		{ "sysfs-root", required_argument, NULL, OPT_SYSFS },
		{ "timeout", required_argument, NULL, OPT_TIMEOUT },
		{ "connect-timeout", required_argument, NULL, OPT_CONNECT_TIMEOUT },
		{ "doorbell", required_argument, NULL, OPT_DOORBELL },
		{ "mode", required_argument, NULL, OPT_MODE },
		{ "dev-dir", required_argument, NULL, OPT_DEV_DIR },
		{ "help", no_argument, NULL, OPT_HELP },
		{ NULL, 0, NULL, 0 },
	};
	bool map_given = false, polling_asked = false;
	int opt;

	*cfg = (struct config){ .sysfs_root = IVB_PCI_SYSFS_DEFAULT, .dev_dir = "/dev", .timeout_s = IVB_TIMEOUT_DEFAULT_S,
				.connect_timeout_s = IVB_CONNECT_TIMEOUT_DEFAULT_S };
	opterr = 0; /* our own one-line messages, not getopt's */
	while ((opt = getopt_long(argc, argv, ":", options, NULL)) != -1) {
		switch (opt) {
		case OPT_SHM: cfg->shm_path = optarg; break;
		case OPT_DEVICE: cfg->device = optarg; break;
		case OPT_MAP:
			if (strcmp(optarg, "uc") != 0 && strcmp(optarg, "wc") != 0 && strcmp(optarg, "wb") != 0)
				ivb_die_usage(PROG, "--map needs uc, wc or wb, not '%s'", optarg);
			cfg->wc = strcmp(optarg, "wc") == 0;
			cfg->wb = strcmp(optarg, "wb") == 0;
			map_given = true;
			break;
		case OPT_SYSFS: cfg->sysfs_root = optarg; break;
		case OPT_TIMEOUT: cfg->timeout_s = ivb_parse_count_or_die(PROG, "--timeout", optarg, 1, IVB_MAX_TIMEOUT_S); break;
		case OPT_CONNECT_TIMEOUT:
			cfg->connect_timeout_s = ivb_parse_count_or_die(PROG, "--connect-timeout", optarg, 1, IVB_MAX_TIMEOUT_S);
			break;
		case OPT_DOORBELL:
			cfg->doorbell = optarg;
			cfg->doorbell_mode = true;
			break;
		case OPT_MODE:
			cfg->doorbell_mode = ivb_parse_mode_or_die(PROG, optarg);
			polling_asked = !cfg->doorbell_mode;
			break;
		case OPT_DEV_DIR: cfg->dev_dir = optarg; break;
		case OPT_HELP: usage(stdout); exit(IVB_EXIT_OK);
		case ':': ivb_die_usage(PROG, "%s needs a value", argv[optind - 1]);
		default: ivb_die_usage(PROG, "unknown option '%s'", argv[optind - 1]);
		}
	}
	if (optind < argc)
		ivb_die_usage(PROG, "unexpected argument '%s'", argv[optind]);
	if (cfg->shm_path != NULL && (cfg->device != NULL || map_given))
		ivb_die_usage(PROG, "--shm maps a file; it does not go with --device or --map");
	if (polling_asked && cfg->doorbell != NULL)
		ivb_die_usage(PROG, "--doorbell is for --mode doorbell, not polling");
	if (cfg->doorbell_mode && cfg->shm_path != NULL && cfg->doorbell == NULL)
		ivb_die_usage(PROG, "loopback doorbell mode needs --doorbell SOCKET (the ivshmem server's)");
}

/* --map wb: through the driver; when it cannot, say which mappings still work. Returns: 0 or a negative errno. */
static int map_region_wb(const struct config *cfg, const char *bdf, struct ivb_mapping *map)
{
	char others[64];
	int ret = ivb_pci_map_region_wb(cfg->sysfs_root, cfg->dev_dir, bdf, map);

	if (ret == 0)
		return 0;
	ivb_pci_sysfs_mappings(cfg->sysfs_root, bdf, others, sizeof(others));
	if (ret == -ENOENT)
		fprintf(stderr, PROG ": --map wb: no %s/ivshmem-region for %s (the ivshmem_doorbell driver is not loaded); "
			"still available: %s\n", cfg->dev_dir, bdf, others);
	else
		fprintf(stderr, PROG ": --map wb: cannot map BAR2 of %s through the ivshmem_doorbell driver: %s "
			"(dmesg says why); still available: %s\n", bdf, strerror(-ret), others);
	return ret;
}

static int map_region(const struct config *cfg, struct ivb_mapping *map)
{
	char bdf[IVB_DEVICE_LEN];
	int ret;

	if (cfg->shm_path != NULL) {
		/* The host may not have created the file yet: wait for it as for the host, in slices to say so. */
		for (uint64_t waited = 0;; waited += IVB_CONNECT_NOTICE_S) {
			uint64_t slice = cfg->connect_timeout_s - waited < IVB_CONNECT_NOTICE_S ? cfg->connect_timeout_s - waited
												  : IVB_CONNECT_NOTICE_S;

			ret = ivb_shm_open(cfg->shm_path, slice * IVB_NS_PER_SEC, (const volatile int *)&ivb_stop_requested, map);
			if (ret != -ETIMEDOUT || waited + slice >= cfg->connect_timeout_s)
				break;
			fprintf(stderr, PROG ": waiting for host_writer to create %s (%llu s of %llu s; --connect-timeout)\n",
				cfg->shm_path, (unsigned long long)(waited + slice), (unsigned long long)cfg->connect_timeout_s);
		}
		if (ret < 0)
			fprintf(stderr, PROG ": cannot map %s: %s\n", cfg->shm_path,
				ret == -ETIMEDOUT ? "it did not appear in time (is host_writer running?)" :
				ret == -EINVAL ? "not a regular file" : strerror(-ret));
		return ret;
	}
	ret = ivb_pci_find(cfg->sysfs_root, cfg->device, bdf);
	if (ret < 0) {
		if (cfg->device != NULL)
			fprintf(stderr, PROG ": %s is not an ivshmem device (%04x:%04x) under %s\n", cfg->device,
				IVB_PCI_VENDOR, IVB_PCI_DEVICE, cfg->sysfs_root);
		else
			fprintf(stderr, PROG ": no ivshmem device (%04x:%04x) under %s: %s\n", IVB_PCI_VENDOR,
				IVB_PCI_DEVICE, cfg->sysfs_root, ret == -ENODEV ? "none found" : strerror(-ret));
		return ret;
	}
	if (cfg->wb)
		return map_region_wb(cfg, bdf, map);
	ret = ivb_pci_map_bar2(cfg->sysfs_root, bdf, cfg->wc, map);
	if (ret < 0)
		fprintf(stderr, PROG ": cannot map BAR2 of %s through %s: %s\n", bdf, cfg->wc ? "resource2_wc" : "resource2",
			ret == -ENOENT && cfg->wc ? "no resource2_wc (BAR2 not prefetchable?)" : strerror(-ret));
	return ret;
}

static void describe(const struct ivb_mapping *map, struct ivb_guest_info *info)
{
	struct utsname uts;

	memset(info, 0, sizeof(*info));
	info->map_kind = map->kind;
	info->map_size = map->size;
	snprintf(info->device, sizeof(info->device), "%s", map->device);
	snprintf(info->memtype, sizeof(info->memtype), "%s", map->memtype[0] ? map->memtype : "unknown");
	if (uname(&uts) == 0)
		snprintf(info->kernel, sizeof(info->kernel), "%.*s", (int)sizeof(info->kernel) - 1, uts.release);
}

/* Counts of one run. */
struct tally {
	uint64_t messages;
	uint64_t verified;
	uint64_t failed;
	/* The stream messages: left out of the summary's CPU and messages (each stream reports its own). */
	uint64_t streams;
	double stream_user_s, stream_sys_s, stream_wall_s;
};

/* What the guest works with besides the region. */
struct workspace {
	uint8_t *copy;        /* phase C's destination, pre-faulted */
	uint8_t *private_src; /* reference messages: a private copy of the data */
	size_t buffer_size;   /* of copy and private_src: the largest message so far */
	struct ivb_perf perf;
	struct ivb_huge_buffer huge; /* the write study's huge-page buffer, made on first use */
	bool huge_tried;
	struct ivb_guest *g;
	struct ivb_map_set study; /* the map study's mappings, made on its first message */
};

/*
 * Make the private buffers hold n bytes, pre-faulted. They grow with the largest message (the
 * host's warm-up message is its largest), so a small run does not pay for the whole region.
 * Returns: 0, or -ENOMEM.
 */
static int ensure_buffers(struct workspace *w, size_t n)
{
	const size_t step = 2u << 20;
	size_t size;

	if (n <= w->buffer_size)
		return 0;
	size = (n + step - 1) / step * step;
	ivb_free_buffer(w->copy, w->buffer_size);
	ivb_free_buffer(w->private_src, w->buffer_size);
	w->copy = ivb_alloc_prefaulted(size);
	w->private_src = ivb_alloc_prefaulted(size);
	w->buffer_size = size;
	if (w->copy == NULL || w->private_src == NULL) {
		fprintf(stderr, PROG ": cannot allocate two %zu-byte buffers: %s\n", size, strerror(errno));
		ivb_free_buffer(w->copy, size);
		ivb_free_buffer(w->private_src, size);
		w->copy = w->private_src = NULL;
		w->buffer_size = 0;
		return -ENOMEM;
	}
	return 0;
}

/* While a stream runs: a host that aborted is noticed at once, not at the time limit. */
static int host_alive(void *arg, char *why, size_t whylen)
{
	const struct ivb_region *r = arg;

	if (atomic_load_explicit(&r->host_state, memory_order_acquire) == IVB_HOST_ABORTED) {
		snprintf(why, whylen, "the host aborted during the stream");
		return -ECONNRESET;
	}
	return 0;
}

/*
 * A stream message: take frames from the ring the host laid in the buffer until it ends the stream,
 * then say what a frame costs on private memory. Returns: enum ivb_msg_error.
 */
static uint32_t stream(struct workspace *w, uint8_t *shared, const struct ivb_message *msg)
{
	struct ivb_ring_consumer c;
	struct ivb_stream_guest_totals t;
	struct ivb_ring_guest_report rep = { 0 };
	struct ivb_cpu_span cpu;
	char why[IVB_WHY_LEN];
	int ret = ivb_ring_consumer_open(&c, shared, msg->size, why, sizeof(why));

	if (ret < 0) {
		fprintf(stderr, PROG ": stream: %s\n", why);
		return IVB_MSG_BAD_SIZE;
	}
	/*
	 * The scratch copy and the private-cost buffers: a slot's size each, pre-faulted. Before the host
	 * starts: for 4K frames this takes longer than a frame period, whose frames would be dropped.
	 */
	if (ensure_buffers(w, c.g.slot_stride) < 0) {
		ivb_ring_consumer_finish(&c, NULL);
		return IVB_MSG_GUEST_FAILURE;
	}
	ivb_ring_consumer_start(&c);
	/* A doorbell-mode host sleeps until we start. A lost ring costs it a sleep slice, nothing more. */
	if (w->g->bell != NULL)
		(void)ivb_bell_ring(w->g->bell, w->g->host_peer);
	ivb_cpu_span_start(&cpu);
	ret = ivb_stream_consume(&c, w->copy, w->g->bell, w->g->host_peer, w->g->timeout_ns, host_alive, w->g->r, &t,
				 why, sizeof(why));
	ivb_cpu_span_end(&cpu);
	if (ret < 0) {
		fprintf(stderr, PROG ": stream: %s\n", why);
		ivb_ring_consumer_finish(&c, NULL);
		return IVB_MSG_GUEST_FAILURE;
	}
	rep.cpu_ns = (uint64_t)((cpu.user_s + cpu.sys_s) * 1e9);
	memset(w->private_src, 0xa5, c.g.frame_size);
	if (ivb_stream_private_cost(c.g.verify, w->private_src, w->copy, c.g.frame_size, 5, &rep.private_copy_ns,
				    &rep.private_verify_ns) < 0)
		rep.private_copy_ns = rep.private_verify_ns = 0;
	ivb_ring_consumer_finish(&c, &rep);
	fprintf(stderr, PROG ": stream of %llu-byte frames: %llu taken, %llu verified, %llu failed, %llu skipped%s\n",
		(unsigned long long)c.g.frame_size, (unsigned long long)t.taken, (unsigned long long)t.ok,
		(unsigned long long)t.bad, (unsigned long long)t.skipped, t.unverified ? " (not verified: --verify none)" : "");
	return IVB_MSG_OK;
}

/* Run the phases (and the write study when asked) on one valid message. Returns: enum ivb_msg_error. */
static uint32_t process(struct workspace *w, const uint8_t *shared, const struct ivb_message *msg,
			struct ivb_guest_report *rep)
{
	const uint8_t *src = shared;
	bool match = false;

	if (msg->kind == IVB_MSG_STREAM)
		return stream(w, (uint8_t *)shared, msg);
	if (ensure_buffers(w, msg->size) < 0)
		return IVB_MSG_GUEST_FAILURE;
	/* Reference: the same phases on private memory, to compare with the region. */
	if (msg->kind == IVB_MSG_REFERENCE) {
		memcpy(w->private_src, shared, msg->size);
		src = w->private_src;
	}
	if (ivb_run_phases(src, msg->size, w->copy, msg->sha256, (msg->flags & IVB_MSG_FLAG_COUNTERS) ? &w->perf : NULL,
			   &rep->timing, rep->counters, &match) < 0)
		return IVB_MSG_GUEST_FAILURE;
	if (!match)
		return IVB_MSG_SHA256_MISMATCH;
	if (msg->flags & IVB_MSG_FLAG_WRITE_STUDY) {
		if (!w->huge_tried) {
			w->huge_tried = true;
			if (ivb_huge_alloc(&w->huge, w->buffer_size) < 0)
				fprintf(stderr, PROG ": no huge-page buffer: the write study runs without it\n");
		}
		if (ivb_run_write_study(src, msg->size, w->copy, &w->huge, &rep->study) < 0)
			return IVB_MSG_GUEST_FAILURE;
	}
	/* The host sets the flag on the messages the study runs on (reference ones: the region still holds the data). */
	if (msg->flags & IVB_MSG_FLAG_MAP_STUDY)
		return ivb_map_set_run(&w->study, msg->size, w->copy, msg->sha256, rep->map_study);
	return IVB_MSG_OK;
}

/*
 * Serve messages until the host completes the run.
 * Returns: 0 when it did, or a negative errno (g->why says why).
 */
static int serve(struct ivb_guest *g, struct workspace *w, struct tally *t)
{
	uint8_t *shared = ivb_buffer(g->r);

	for (;;) {
		struct ivb_message msg;
		struct ivb_guest_report rep;
		uint32_t error;
		int ret = ivb_guest_wait_message(g, &msg);

		if (ret == 1)
			return 0;
		if (ret < 0)
			return ret;
		memset(&rep, 0, sizeof(rep));
		memset(rep.counters, 0xff, sizeof(rep.counters));
		for (unsigned i = 0; i < IVB_NCOUNTERS; i++)
			rep.study.counter_errno[i] = (uint8_t)(w->perf.fd[i] >= 0 ? 0 : w->perf.err[i] > 255 ? 255 : w->perf.err[i]);
		error = msg.error;
		if (error == IVB_MSG_OK && msg.kind == IVB_MSG_STREAM) {
			struct ivb_cpu_span cpu;

			ivb_cpu_span_start(&cpu);
			error = process(w, shared, &msg, &rep);
			ivb_cpu_span_end(&cpu);
			t->streams++;
			t->stream_user_s += cpu.user_s;
			t->stream_sys_s += cpu.sys_s;
			t->stream_wall_s += cpu.wall_s;
		} else if (error == IVB_MSG_OK) {
			error = process(w, shared, &msg, &rep);
		}
		rep.timing.total_ns = ivb_now_ns() - msg.seen_ns;
		ivb_guest_ack(g, &msg, &rep, error);
		t->messages++;
		if (error == IVB_MSG_OK)
			t->verified++;
		else
			t->failed++;
		if (error != IVB_MSG_OK)
			fprintf(stderr, PROG ": message %llu: %s\n", (unsigned long long)msg.sequence,
				ivb_msg_error_name(error));
		ret = ivb_guest_wait_host_ready(g);
		if (ret < 0)
			return ret;
	}
}

/*
 * Doorbell mode: the given socket or file; in a VM by default the driver's file of the device we
 * mapped. Returns: 0, or -1 after saying why.
 */
static int join_doorbell(const struct config *cfg, const struct ivb_mapping *map, struct ivb_bell *bell)
{
	char why[IVB_BELL_WHY_LEN];
	int ret;

	if (cfg->doorbell != NULL)
		ret = ivb_bell_open(bell, cfg->doorbell, map->device[0] ? map->device : NULL,
				    cfg->timeout_s * IVB_NS_PER_SEC, why, sizeof(why));
	else
		ret = ivb_bell_open_device_of(bell, cfg->dev_dir, map->device, why, sizeof(why));
	if (ret < 0) {
		fprintf(stderr, PROG ": doorbell mode: %s\n", why);
		return -1;
	}
	fprintf(stderr, PROG ": doorbell mode: ivshmem peer %d\n", bell->id);
	return 0;
}

/* x, or 0 where clock granularity made a difference of nearly equal times negative. */
static double positive(double x)
{
	return x > 0 ? x : 0;
}

/* The run is complete: tell the host what it cost this side. */
static void publish_summary(struct ivb_guest *g, const struct ivb_cpu_span *cpu, const struct tally *t)
{
	struct ivb_guest_summary s;

	memset(&s, 0, sizeof(s));
	/* The lock-step messages' cost, as the host records its own: the streams report theirs in the ring. */
	s.cpu_user_ns = (uint64_t)(positive(cpu->user_s - t->stream_user_s) * 1e9);
	s.cpu_sys_ns = (uint64_t)(positive(cpu->sys_s - t->stream_sys_s) * 1e9);
	s.wall_ns = (uint64_t)(positive(cpu->wall_s - t->stream_wall_s) * 1e9);
	s.messages = t->messages - t->streams;
	ivb_guest_publish_summary(g, &s);
}

/* While the first contact lasts: say what we wait for, so that a person starting the host by hand knows. */
static void waiting_for_host(void *ctx, uint64_t waited_s, uint64_t limit_s)
{
	(void)ctx;
	fprintf(stderr, PROG ": waiting for host_writer to make the region ready (%llu s of %llu s; --connect-timeout)\n",
		(unsigned long long)waited_s, (unsigned long long)limit_s);
}

int main(int argc, char **argv)
{
	struct config cfg;
	struct ivb_mapping map;
	struct ivb_guest_info info;
	struct ivb_guest g;
	struct ivb_bell bell;
	struct ivb_cpu_span cpu = { 0 }; /* no span without a host */
	struct tally t = { 0 };
	struct workspace w;
	char missing[512];
	int ret;

	parse_args(argc, argv, &cfg);
	const struct ivb_first_contact contact = { cfg.connect_timeout_s * IVB_NS_PER_SEC,
						   IVB_CONNECT_NOTICE_S * IVB_NS_PER_SEC, waiting_for_host, NULL };
	ivb_install_stop_signals();
	if (map_region(&cfg, &map) < 0)
		return IVB_EXIT_FAILURE;
	if (map.size < IVB_REGION_MIN_SIZE) {
		fprintf(stderr, PROG ": the region has %zu bytes, less than the %u a header and a page need\n", map.size,
			IVB_REGION_MIN_SIZE);
		ivb_unmap(&map);
		return IVB_EXIT_FAILURE;
	}
	/* Pre-faulted before the first message: no page fault may fall inside phase C. */
	memset(&w, 0, sizeof(w));
	ivb_map_set_init(&w.study, &map, cfg.shm_path, cfg.sysfs_root, cfg.dev_dir);
	w.g = &g;
	ivb_perf_open(&w.perf);
	ivb_perf_describe_missing(&w.perf, missing, sizeof(missing));
	if (missing[0])
		fprintf(stderr, PROG ": counters %s\n", missing);
	describe(&map, &info);
	fprintf(stderr, PROG ": mapped %s%s%s (%zu bytes, memory type %s, flush %s); waiting for the host\n",
		ivb_map_kind_name(map.kind), map.device[0] ? " of " : " ", map.device[0] ? map.device : cfg.shm_path,
		map.size, info.memtype, ivb_flush_method());

	if (cfg.doorbell_mode && join_doorbell(&cfg, &map, &bell) < 0) {
		ivb_unmap(&map);
		return IVB_EXIT_FAILURE;
	}
	ret = ivb_guest_bind_contact(&g, map.region, map.size, &contact, cfg.timeout_s * IVB_NS_PER_SEC, &info,
				     cfg.doorbell_mode ? &bell : NULL);
	if (ret == 0) {
		/* Map every page of the buffer now: a first touch inside phase A would time a page fault. */
		for (size_t off = 0; off < g.capacity; off += 4096)
			(void)*(volatile uint8_t *)(ivb_buffer(map.region) + off);
		fprintf(stderr, PROG ": bound to the host; expecting %llu messages (its plan)\n", (unsigned long long)g.planned);
		ivb_cpu_span_start(&cpu);
		ret = serve(&g, &w, &t);
		ivb_cpu_span_end(&cpu);
		if (ret == 0)
			publish_summary(&g, &cpu, &t);
	}
	if (ret < 0) {
		ivb_guest_abort(&g, ret == -EINTR ? IVB_ABORT_SIGNAL : ret == -ETIMEDOUT ? IVB_ABORT_TIMEOUT
											 : IVB_ABORT_PROTOCOL);
		if (ivb_stop_signal != 0)
			fprintf(stderr, PROG ": stopped by signal %d (%s)\n", ivb_stop_signal, strsignal(ivb_stop_signal));
		else
			fprintf(stderr, PROG ": %s\n", g.why[0] ? g.why : strerror(-ret));
	}
	printf(PROG ": %llu messages, %llu verified, %llu failed; mapping %s%s%s, memory type %s; "
	       "cpu user %.3f s sys %.3f s in %.3f s%s\n",
	       (unsigned long long)t.messages, (unsigned long long)t.verified, (unsigned long long)t.failed,
	       ivb_map_kind_name(map.kind), map.device[0] ? " of " : "", map.device,
	       map.memtype[0] ? map.memtype : "unknown", cpu.user_s, cpu.sys_s, cpu.wall_s,
	       ret < 0 ? "; stopped early" : "");
	ivb_perf_close(&w.perf);
	ivb_huge_free(&w.huge);
	ivb_map_set_close(&w.study);
	if (cfg.doorbell_mode) {
		printf(PROG ": doorbell: peer %d, %llu rings sent, %llu received, %llu late wake-ups\n", bell.id,
		       (unsigned long long)bell.rings_sent, (unsigned long long)bell.rings_received,
		       (unsigned long long)bell.late_wakeups);
		ivb_bell_report_late(&bell, PROG);
		ivb_bell_close(&bell);
	}
	ivb_free_buffer(w.copy, w.buffer_size);
	ivb_free_buffer(w.private_src, w.buffer_size);
	ivb_unmap(&map);
	return ret < 0 || t.failed > 0 ? IVB_EXIT_FAILURE : IVB_EXIT_OK;
}

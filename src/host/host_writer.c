/* host_writer: the host side of ivshmem-bench.
 *
 * Writes random frames into the shared region, times its own copy and the round trip to the
 * guest's acknowledgement, collects the guest's phase timings, and writes the CSVs and run.json.
 * Its options are in host_options.c, its parts in host.h.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
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
#include "defaults.h"
#include "host.h"
#include "ivserver.h"
#include "opts.h"
#include "perfctr.h"
#include "phases.h"
#include "protocol.h"
#include "region.h"
#include "sha256.h"
#include "stream.h"


/* Doorbell mode's region: the one the ivshmem server shares, whose fd it handed us (-1: none, a driver's file). */
static int server_region_fd(const struct ivb_run *run)
{
	return run->bell_open ? run->bell.link.shm_fd : -1;
}

/*
 * The region size this run will use, known before anything is created: the server's region's in doorbell
 * mode, else --size, or the existing file's size, or the default. Returns: 0, or a negative errno (a
 * symlink is -ELOOP).
 */
static int planned_region_size(const struct ivb_run *run, uint64_t *size)
{
	const struct ivb_host_config *cfg = &run->cfg;
	struct stat st;

	if (server_region_fd(run) >= 0) {
		if (fstat(server_region_fd(run), &st) < 0)
			return -errno;
		*size = (uint64_t)st.st_size;
		return 0;
	}
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
 * Map the region, locked against a second host_writer: the server's (never resized) in doorbell mode, else the
 * file at --shm, grown to size if smaller. Returns: 0 or a negative errno (as ivb_shm_create).
 */
static int map_region(const struct ivb_run *run, uint64_t size, struct ivb_mapping *m)
{
	int fd, ret;

	if (server_region_fd(run) < 0)
		return ivb_shm_create(run->cfg.shm_path, size, m);
	/* The link keeps its own fd: the mapping gets a copy. */
	fd = fcntl(server_region_fd(run), F_DUPFD_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	ret = ivb_shm_map_fd(fd, true, m);
	if (ret < 0)
		close(fd);
	return ret;
}

/*
 * A guest may already wait on an existing region that is too small for this run: mark it
 * ABORTED so that the guest stops now instead of at its time limit. Never creates or grows it.
 */
static void abort_existing_region(const struct ivb_run *run)
{
	struct ivb_mapping map;
	struct stat st;
	uint64_t session;

	if (server_region_fd(run) < 0 && (lstat(run->cfg.shm_path, &st) < 0 || !S_ISREG(st.st_mode) ||
					  (uint64_t)st.st_size < IVB_REGION_MIN_SIZE))
		return;
	if (map_region(run, 0, &map) < 0)
		return;
	if (ivb_random_bytes(&session, sizeof(session)) == 0)
		ivb_host_refuse(map.region, map.size, session | 1, IVB_ABORT_FAILURE);
	ivb_unmap(&map);
}

/*
 * The region the server shares is the run's: --shm, if given, must name that file, and --size, if given, be its
 * size. Its name (cfg.shm_path from now on) is for messages and run.json. Returns: 0, or a negative errno
 * (run->why names both files, or both sizes).
 */
static int adopt_server_region(struct ivb_run *run, const char *socket_path)
{
	struct ivb_host_config *cfg = &run->cfg;
	int fd = server_region_fd(run), ret;
	struct stat st;

	if (fd < 0)
		return 0;
	ivb_fd_name(fd, run->region_name, sizeof(run->region_name));
	if (cfg->shm_given) {
		ret = ivb_shm_same_file(fd, cfg->shm_path);
		if (ret == 0)
			ret = -EXDEV;
		if (ret < 0) {
			snprintf(run->why, sizeof(run->why),
				 "the ivshmem server at %s shares %s, not --shm %s (%s): both sides would run on different "
				 "memory; give --shm the server's file, or leave --shm out", socket_path, run->region_name,
				 cfg->shm_path, ret == -EXDEV ? "another file" : strerror(-ret));
			return ret;
		}
	}
	if (fstat(fd, &st) < 0)
		return -errno;
	if (cfg->size != 0 && cfg->size != (uint64_t)st.st_size) {
		snprintf(run->why, sizeof(run->why),
			 "the ivshmem server at %s shares %s of %llu bytes, not the %llu of --size: the server sizes "
			 "the region", socket_path, run->region_name, (unsigned long long)st.st_size,
			 (unsigned long long)cfg->size);
		return -EINVAL;
	}
	cfg->shm_path = run->region_name;
	return 0;
}

/* Doorbell mode: join the ivshmem server. Returns: 0, or a negative errno (run->why). */
static int join_doorbell(struct ivb_run *run)
{
	char path[IVSERVER_SOCK_PATH_LEN], why[IVB_BELL_WHY_LEN];
	const char *socket_path = run->cfg.doorbell;
	int ret;

	if (socket_path == NULL) {
		ret = ivserver_default_socket_path(path, sizeof(path));
		if (ret < 0) {
			snprintf(run->why, sizeof(run->why), "no default ivshmem server socket (%s): give --doorbell SOCKET",
				 ret == -ENOENT ? "XDG_RUNTIME_DIR is unset" : strerror(-ret));
			return ret;
		}
		socket_path = path;
	}
	ret = ivb_bell_open(&run->bell, socket_path, NULL, run->cfg.timeout_s * IVB_NS_PER_SEC, why, sizeof(why));
	if (ret < 0) {
		snprintf(run->why, sizeof(run->why), "%s", why);
		return ret;
	}
	run->bell_open = true;
	ret = adopt_server_region(run, socket_path);
	if (ret < 0)
		return ret;
	fprintf(stderr, PROG ": doorbell mode: ivshmem peer %d of %s, region %s\n", run->bell.id, socket_path,
		run->cfg.shm_path);
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

/* Say why the run cannot start, for stderr and run.json. Returns: err. */
static int fail(struct ivb_run *run, int err, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

static int fail(struct ivb_run *run, int err, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(run->why, sizeof(run->why), fmt, ap);
	va_end(ap);
	return err;
}

/*
 * Everything before the guest: the region, the buffers, the doorbell, the counters, the CSVs.
 * Returns: 0, or a negative errno (run->why says why).
 */
static int set_up(struct ivb_run *run)
{
	struct ivb_host_config *cfg = &run->cfg;
	uint64_t region_size = 0, largest = ivb_plan_largest(&cfg->plan), touched = largest, session;
	int ret;

	/* Doorbell mode: the server's region is the one to map, so join the server first. */
	if (cfg->doorbell_mode) {
		ret = join_doorbell(run);
		if (ret < 0)
			return ret;
	}
	ret = planned_region_size(run, &region_size);
	if (ret < 0)
		return fail(run, ret, "cannot use %s: %s", cfg->shm_path,
			    ret == -ELOOP ? "it is a symbolic link" : strerror(-ret));
	ivb_output_init_manifest(run, region_size);
	/* Before anything starts: a region too small for the largest frame is an error now, not later. */
	if (region_size < IVB_REGION_MIN_SIZE || region_size - IVB_HEADER_SIZE < largest) {
		abort_existing_region(run);
		return fail(run, -ENOSPC,
			    "region %s is too small: %llu bytes hold %llu bytes of data after the header, "
			    "the largest frame needs %llu", cfg->shm_path, (unsigned long long)region_size,
			    (unsigned long long)(region_size > IVB_HEADER_SIZE ? region_size - IVB_HEADER_SIZE : 0),
			    (unsigned long long)largest);
	}
	if (cfg->plan.nstreams > 0) {
		uint64_t ring_bytes = 0;

		ret = ivb_stream_fit(run, region_size - IVB_HEADER_SIZE, &ring_bytes);
		if (ret < 0) {
			abort_existing_region(run);
			return ret;
		}
		if (ring_bytes > touched)
			touched = ring_bytes;
	}
	ret = map_region(run, region_size, &run->map);
	if (ret < 0)
		return fail(run, ret, "cannot map %s: %s", cfg->shm_path,
			    ret == -EBUSY ? "another host_writer is using it" :
			    ret == -EINVAL ? "not a regular file of a usable size" :
			    ret == -EACCES ? "others may read it and it is not ours to make private" : strerror(-ret));
	/* Own every page of the region we will write before any timing: a first write faults. */
	memset(ivb_buffer(run->map.region), 0, touched);
	run->buffer_size = largest;
	/* A run of streams alone sends no lock-step message: no frame buffers. */
	run->frame = largest > 0 ? ivb_alloc_prefaulted(largest) : NULL;
	run->reference = largest > 0 ? ivb_alloc_prefaulted(largest) : NULL;
	if (largest > 0 && (run->frame == NULL || run->reference == NULL))
		return fail(run, -ENOMEM, "cannot allocate two %llu-byte frame buffers: %s", (unsigned long long)largest,
			    strerror(errno));
	if (cfg->counters) {
		ivb_perf_open(&run->perf);
		run->perf_open = true;
		ivb_perf_describe_missing(&run->perf, run->host_counters_missing, sizeof(run->host_counters_missing));
		if (run->host_counters_missing[0])
			fprintf(stderr, PROG ": host counters %s\n", run->host_counters_missing);
	}
	ivb_output_init_manifest(run, run->map.size);
	ret = ivb_output_open(run);
	if (ret < 0)
		return ret;
	ivb_output_write_manifest(run, "running");
	if (ivb_random_bytes(&session, sizeof(session)) < 0)
		return fail(run, -EIO, "OpenSSL could not generate a session id");
	session |= 1; /* never 0, which means "no session" */
	ret = ivb_host_init(&run->host, run->map.region, run->map.size, session, cfg->timeout_s * IVB_NS_PER_SEC,
			    cfg->doorbell_mode ? &run->bell : NULL, &cfg->plan);
	if (ret < 0)
		return fail(run, ret, "cannot initialise %s: %s", cfg->shm_path, strerror(-ret));
	if (run->host.why[0])
		fprintf(stderr, PROG ": %s: %s\n", cfg->shm_path, run->host.why);
	fprintf(stderr, PROG ": region %s ready (%zu bytes); waiting for the guest\n", cfg->shm_path, run->map.size);
	return 0;
}

/* While the first contact lasts: say what we wait for, so that a person starting the guest by hand knows. */
static void waiting_for_guest(void *ctx, uint64_t waited_s, uint64_t limit_s)
{
	const struct ivb_run *run = ctx;

	fprintf(stderr, PROG ": waiting for guest_reader to bind to %s (%llu s of %llu s; --connect-timeout)\n",
		run->cfg.shm_path, (unsigned long long)waited_s, (unsigned long long)limit_s);
}

/* Wait for the guest, then run every test. Returns: 0, or a negative errno (run->host.why). */
static int run_session(struct ivb_run *run)
{
	const struct ivb_first_contact contact = { run->cfg.connect_timeout_s * IVB_NS_PER_SEC,
						   IVB_CONNECT_NOTICE_S * IVB_NS_PER_SEC, waiting_for_guest, run };
	struct ivb_manifest *m = &run->manifest;
	struct ivb_cpu_span cpu;
	int ret;

	run->progress_tty = isatty(STDERR_FILENO);
	run->messages_total = m->latency.planned + m->bandwidth.planned + m->reference.planned + run->cfg.plan.nstreams +
			      run->cfg.plan.ntransports;
	ret = ivb_host_wait_guest_contact(&run->host, &contact, &m->guest);
	if (ret < 0)
		return ret;
	m->guest_known = 1;
	fprintf(stderr, PROG ": guest bound: mapping %s%s%s, memory type %s\n",
		ivb_map_kind_name((enum ivb_map_kind)m->guest.map_kind), m->guest.device[0] ? " of " : "",
		m->guest.device, m->guest.memtype[0] ? m->guest.memtype : "unknown");
	ivb_output_write_manifest(run, "running");
	(void)ivb_noise_begin(&run->noise, "", run->cfg.shm_path);
	ivb_cpu_span_start(&cpu);
	ret = ivb_run_all(run);
	ivb_cpu_span_end(&cpu);
	/* The lock-step tests' cost per message; each stream records its own (run.json streams). */
	m->host_cpu = (struct ivb_cpu_record){ .known = true, .user_s = cpu.user_s, .sys_s = cpu.sys_s,
					       .wall_s = cpu.wall_s, .messages = run->messages_done + run->cfg.warmup };
	if (ret == 0)
		ret = ivb_run_streams(run);
	if (ret == 0)
		ret = ivb_run_transports(run);
	(void)ivb_noise_end(&run->noise);
	ivb_output_record_host_bell(run);
	return ret;
}

/* The one way out: tell the guest, record the outcome in run.json, say it, release everything. */
static int finish(struct ivb_run *run, int ret, bool started)
{
	const struct ivb_test_count *l = &run->manifest.latency, *b = &run->manifest.bandwidth,
				    *r = &run->manifest.reference;

	if (ret < 0) {
		if (started)
			ivb_host_abort(&run->host, abort_reason_for(ret));
		if (ivb_stop_signal != 0)
			snprintf(run->why, sizeof(run->why), "stopped by signal %d (%s)", ivb_stop_signal,
				 strsignal(ivb_stop_signal));
		else if (started && run->host.why[0])
			snprintf(run->why, sizeof(run->why), "%s", run->host.why);
		else if (!run->why[0])
			snprintf(run->why, sizeof(run->why), "%s", strerror(-ret));
		run->manifest.abort_reason = run->why;
		fprintf(stderr, PROG ": %s\n", run->why);
		/* Without an output folder there is nowhere to say it but stderr. */
		if (run->out_dir_ok)
			ivb_output_write_manifest(run, "aborted");
	} else {
		ivb_host_finish(&run->host);
		ivb_run_progress(run, "done", true);
		ivb_output_record_guest_summary(run);
		ivb_output_write_manifest(run, "completed");
	}
	ivb_output_close(run);
	if (started)
		printf(PROG ": %llu/%llu iterations succeeded (latency %llu/%llu, bandwidth %llu/%llu, reference %llu/%llu)%s\n",
		       (unsigned long long)(l->succeeded + b->succeeded + r->succeeded),
		       (unsigned long long)(l->planned + b->planned + r->planned), (unsigned long long)l->succeeded,
		       (unsigned long long)l->planned, (unsigned long long)b->succeeded, (unsigned long long)b->planned,
		       (unsigned long long)r->succeeded, (unsigned long long)r->planned, ret < 0 ? "; run aborted" : "");
	if (run->perf_open)
		ivb_perf_close(&run->perf);
	if (run->bell_open) {
		ivb_bell_report_late(&run->bell, PROG);
		ivb_bell_close(&run->bell);
	}
	ivb_free_buffer(run->frame, run->buffer_size);
	ivb_free_buffer(run->reference, run->buffer_size);
	ivb_unmap(&run->map);
	if (ret < 0)
		return IVB_EXIT_FAILURE;
	for (size_t i = 0; i < run->manifest.nstreams; i++)
		if (run->manifest.streams[i].failed > 0)
			return IVB_EXIT_FAILURE;
	for (size_t i = 0; i < run->manifest.ntransport_tests; i++)
		if (run->manifest.transport_tests[i].failed > 0)
			return IVB_EXIT_FAILURE;
	return !run->warmup_failed && l->succeeded + b->succeeded + r->succeeded == l->planned + b->planned + r->planned
		       ? IVB_EXIT_OK
		       : IVB_EXIT_FAILURE;
}

int main(int argc, char **argv)
{
	static struct ivb_run run; /* large; static keeps it off the stack */
	bool started = false;
	int ret;

	run.map.fd = -1;
	ivb_host_parse_args(argc, argv, &run.cfg);
	ivb_install_stop_signals();
	/* The folder first: whatever fails after it, run.json says so. */
	ivb_output_init_manifest(&run, 0);
	ret = ivb_output_make_dir(&run);
	run.out_dir_ok = ret == 0;
	if (ret == 0)
		ret = set_up(&run);
	if (ret == 0) {
		started = true;
		ret = run_session(&run);
	}
	return finish(&run, ret, started);
}

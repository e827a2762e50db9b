/* manifest.c: run.json. */
#include "manifest.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>
#include <sys/utsname.h>
#include <time.h>
#include <unistd.h>

#include "json.h"
#include "peer_check.h"
#include "protocol.h"
#include "region.h"
#include "stream.h" /* ivb_consume_name */
#include "revision.h" /* build/gen/, written by the Makefile */

void ivb_utc_now(char out[32])
{
	time_t t = time(NULL);
	struct tm tm;

	gmtime_r(&t, &tm);
	strftime(out, 32, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

/* The "model name" line of /proc/cpuinfo, or "unknown". */
static void cpu_model(char *out, size_t n)
{
	char line[256];
	FILE *f = fopen("/proc/cpuinfo", "re");

	snprintf(out, n, "unknown");
	if (f == NULL)
		return;
	while (fgets(line, sizeof(line), f) != NULL) {
		char *colon = strchr(line, ':');

		if (strncmp(line, "model name", 10) == 0 && colon != NULL) {
			colon += strspn(colon, ": \t");
			colon[strcspn(colon, "\n")] = '\0';
			snprintf(out, n, "%s", colon);
			break;
		}
	}
	fclose(f);
}

static void write_count(struct ivb_json *j, const char *key, const struct ivb_test_count *c)
{
	ivb_json_object(j, key);
	ivb_json_u64(j, "planned", c->planned);
	ivb_json_u64(j, "iterations", c->done);
	ivb_json_u64(j, "succeeded", c->succeeded);
	ivb_json_object_end(j);
}

/* What a side's waiting cost: polling burns a core while it waits, the doorbell mode should not. */
static void write_cpu(struct ivb_json *j, const struct ivb_cpu_record *c)
{
	if (!c->known)
		return;
	ivb_json_object(j, "cpu");
	ivb_json_fixed(j, "user_s", c->user_s, 6);
	ivb_json_fixed(j, "sys_s", c->sys_s, 6);
	ivb_json_fixed(j, "wall_s", c->wall_s, 6);
	ivb_json_u64(j, "messages", c->messages);
	ivb_json_object_end(j);
}

static void write_bell(struct ivb_json *j, const struct ivb_bell_record *b)
{
	if (!b->known)
		return;
	ivb_json_object(j, "doorbell");
	ivb_json_u64(j, "peer_id", (uint64_t)b->peer_id);
	ivb_json_u64(j, "rings_sent", b->rings_sent);
	ivb_json_u64(j, "rings_received", b->rings_received);
	ivb_json_u64(j, "late_wakeups", b->late_wakeups);
	ivb_json_object_end(j);
}

static int cmp_u32(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;

	return x < y ? -1 : x > y;
}

/* Frames per second three ways: over the whole stream, and the median and slowest full second. */
static void write_rates(struct ivb_json *j, const char *key, const struct ivb_stream_record *s, double scale)
{
	uint32_t sorted[IVB_MAX_STREAM_WINDOWS];

	ivb_json_object(j, key);
	ivb_json_fixed(j, "overall", s->duration_s > 0 ? (double)s->consumed / s->duration_s * scale : 0, 3);
	if (s->nwindows > 0) {
		memcpy(sorted, s->windows, s->nwindows * sizeof(sorted[0]));
		qsort(sorted, s->nwindows, sizeof(sorted[0]), cmp_u32);
		/* the lower median of an even count: a figure the stream did sustain */
		ivb_json_fixed(j, "median_window", sorted[(s->nwindows - 1) / 2] * scale, 3);
		ivb_json_fixed(j, "slowest_window", sorted[0] * scale, 3);
	}
	ivb_json_object_end(j);
}

static void write_stream(struct ivb_json *j, const struct ivb_stream_record *s)
{
	/* The consumer's work per frame: in place it only verifies. */
	uint64_t guest_ns = (s->consume == IVB_CONSUME_INPLACE ? 0 : s->guest_copy_ns) + s->guest_verify_ns;
	uint64_t limit_ns = s->host_write_ns > guest_ns ? s->host_write_ns : guest_ns;

	ivb_json_object(j, NULL);
	ivb_json_str(j, "frame_type", s->frame_type);
	ivb_json_u64(j, "size_bytes", s->size_bytes);
	ivb_json_str(j, "policy", s->policy);
	ivb_json_str(j, "verify", s->verify);
	ivb_json_str(j, "consume", ivb_consume_name(s->consume));
	ivb_json_u64(j, "slots", s->slots);
	ivb_json_u64(j, "fps_target", s->fps_target);
	ivb_json_u64(j, "seconds", s->seconds);
	ivb_json_bool(j, "completed", s->completed);
	ivb_json_u64(j, "produced", s->produced);
	ivb_json_u64(j, "consumed", s->consumed);
	ivb_json_u64(j, "dropped", s->dropped);
	ivb_json_u64(j, "failed", s->failed);
	ivb_json_u64(j, "unverified", s->unverified);
	ivb_json_fixed(j, "duration_s", s->duration_s, 6);
	ivb_json_array(j, "windows");
	for (uint32_t i = 0; i < s->nwindows; i++)
		ivb_json_u64(j, NULL, s->windows[i]);
	ivb_json_array_end(j);
	write_rates(j, "fps", s, 1.0);
	write_rates(j, "mbps", s, (double)s->size_bytes / 1e6);
	/* Measured when both sides said: the guest's copy is timed in both consume modes. */
	if (s->host_write_ns > 0 && s->guest_copy_ns > 0) {
		ivb_json_object(j, "pipeline_limit");
		ivb_json_u64(j, "host_write_ns", s->host_write_ns);
		ivb_json_u64(j, "guest_copy_ns", s->guest_copy_ns);
		ivb_json_u64(j, "guest_verify_ns", s->guest_verify_ns);
		ivb_json_fixed(j, "fps", 1e9 / (double)limit_ns, 3);
		ivb_json_object_end(j);
	}
	if (s->host_cpu.known) {
		ivb_json_object(j, "host_cpu");
		ivb_json_fixed(j, "user_s", s->host_cpu.user_s, 6);
		ivb_json_fixed(j, "sys_s", s->host_cpu.sys_s, 6);
		ivb_json_fixed(j, "wall_s", s->host_cpu.wall_s, 6);
		ivb_json_object_end(j);
	}
	if (s->guest_cpu_known)
		ivb_json_fixed(j, "guest_cpu_s", s->guest_cpu_s, 6);
	ivb_json_u64(j, "rings_sent", s->rings_sent);
	ivb_json_object_end(j);
}

/* What the guest reported out of bounds (peer_check.h): replaced in the outputs, said here. */
static void write_out_of_bounds(struct ivb_json *j, const struct ivb_manifest *m)
{
	if (m->guest_unsafe_text != 0) {
		ivb_json_array(j, "unsafe_text_replaced");
		for (unsigned bit = 0; bit < IVB_TEXT_FIELDS; bit++)
			if (m->guest_unsafe_text & (1u << bit))
				ivb_json_str(j, NULL, ivb_guest_text_name((enum ivb_guest_text)(1u << bit)));
		ivb_json_array_end(j);
	}
	if (m->guest_counters_rejected > 0) {
		ivb_json_object(j, "counters_out_of_range");
		ivb_json_u64(j, "values", m->guest_counters_rejected);
		ivb_json_str(j, "first", m->guest_counters_note != NULL ? m->guest_counters_note : "");
		ivb_json_object_end(j);
	}
}

/* "map_study": the mappings the guest measured, and each it could not make with the reason. */
static void write_map_study(struct ivb_json *j, const struct ivb_map_study_record *r)
{
	ivb_json_object(j, "map_study");
	ivb_json_bool(j, "reported", r->known);
	ivb_json_array(j, "mappings");
	for (size_t i = 0; i < r->nmeasured; i++)
		ivb_json_str(j, NULL, ivb_map_kind_name((enum ivb_map_kind)r->measured[i]));
	ivb_json_array_end(j);
	ivb_json_array(j, "missing");
	for (size_t i = 0; i < r->nmissing; i++) {
		ivb_json_object(j, NULL);
		ivb_json_str(j, "mapping", ivb_map_kind_name((enum ivb_map_kind)r->missing[i].map_kind));
		ivb_json_u64(j, "errno", r->missing[i].error);
		ivb_json_str(j, "why", ivb_map_missing_why((enum ivb_map_kind)r->missing[i].map_kind, r->missing[i].error));
		ivb_json_object_end(j);
	}
	ivb_json_array_end(j);
	ivb_json_object_end(j);
}

static void write_body(struct ivb_json *j, const struct ivb_manifest *m)
{
	struct utsname uts;
	char cpu[128];

	ivb_json_str(j, "tool", "ivshmem-bench");
	ivb_json_u64(j, "protocol_version", IVB_PROTOCOL_VERSION);
	ivb_json_str(j, "git_revision", IVB_GIT_REVISION);
	ivb_json_str(j, "status", m->status);
	if (m->abort_reason != NULL)
		ivb_json_str(j, "abort_reason", m->abort_reason);
	ivb_json_str(j, "started_utc", m->started_utc);
	ivb_json_str(j, "finished_utc", m->finished_utc);
	ivb_json_str(j, "units", "times in ns (CLOCK_MONOTONIC); MB = 1e6 bytes; mbps = MB/s");

	ivb_json_object(j, "options");
	ivb_json_str(j, "shm", m->shm_path);
	ivb_json_u64(j, "iterations", m->iterations);
	ivb_json_str(j, "latency_frame", m->latency_frame);
	ivb_json_u64(j, "latency_frame_bytes", m->latency_frame_bytes);
	ivb_json_u64(j, "bw_iterations", m->bw_iterations);
	ivb_json_str(j, "frames", m->frames);
	ivb_json_u64(j, "ref_iterations", m->ref_iterations);
	ivb_json_u64(j, "warmup", m->warmup);
	ivb_json_u64(j, "timeout_s", m->timeout_s);
	ivb_json_bool(j, "counters", m->counters);
	ivb_json_bool(j, "write_study", m->write_study);
	ivb_json_bool(j, "map_study", m->map_study);
	if (m->map_study)
		ivb_json_str(j, "map_study_tests", m->map_study_tests);
	ivb_json_str(j, "mode", m->mode);
	ivb_json_u64(j, "interval_us", m->interval_us);
	if (m->corrupt_iteration != 0)
		ivb_json_u64(j, "corrupt_iteration", m->corrupt_iteration);
	ivb_json_u64(j, "stream_seconds", m->stream_seconds);
	if (m->stream_seconds > 0) {
		ivb_json_str(j, "stream_frames", m->stream_frames);
		ivb_json_u64(j, "slots", m->stream_slots);
		ivb_json_u64(j, "fps", m->stream_fps);
		ivb_json_str(j, "stream_policy", m->stream_policy);
		ivb_json_str(j, "verify", m->stream_verify);
		ivb_json_str(j, "stream_consume", m->stream_consume);
		if (m->corrupt_frame_set)
			ivb_json_u64(j, "corrupt_frame", m->corrupt_frame);
	}
	ivb_json_object_end(j);

	ivb_json_object(j, "host");
	if (uname(&uts) == 0) {
		ivb_json_str(j, "kernel", uts.release);
		ivb_json_str(j, "machine", uts.machine);
	}
	cpu_model(cpu, sizeof(cpu));
	ivb_json_str(j, "cpu_model", cpu);
	ivb_json_u64(j, "cores", (uint64_t)sysconf(_SC_NPROCESSORS_ONLN));
	ivb_json_str(j, "flush", m->flush_method);
	write_cpu(j, &m->host_cpu);
	write_bell(j, &m->host_bell);
	if (m->counters)
		ivb_json_str(j, "counters_missing", m->host_counters_missing);
	ivb_json_object_end(j);

	ivb_json_object(j, "region");
	ivb_json_str(j, "path", m->shm_path);
	ivb_json_u64(j, "size", m->region_size);
	ivb_json_u64(j, "header_size", IVB_HEADER_SIZE);
	ivb_json_u64(j, "buffer_capacity", m->buffer_capacity);
	ivb_json_object_end(j);

	ivb_json_object(j, "guest");
	if (m->guest_known) {
		ivb_json_str(j, "mapping", ivb_map_kind_name((enum ivb_map_kind)m->guest.map_kind));
		ivb_json_str(j, "memory_type", m->guest.memtype[0] ? m->guest.memtype : "unknown");
		ivb_json_str(j, "device", m->guest.device);
		ivb_json_str(j, "kernel", m->guest.kernel);
		ivb_json_u64(j, "map_size", m->guest.map_size);
		if (m->counters)
			ivb_json_str(j, "counters_missing", m->guest_counters_missing);
		write_cpu(j, &m->guest_cpu);
		if (m->guest_cpu_missing != NULL)
			ivb_json_str(j, "cpu_missing", m->guest_cpu_missing);
		write_bell(j, &m->guest_bell);
		write_out_of_bounds(j, m);
	}
	ivb_json_object_end(j);

	if (m->map_study)
		write_map_study(j, &m->map_study_seen);

	ivb_json_object(j, "meta");
	for (size_t i = 0; i < m->nmeta; i++) {
		char key[64];
		const char *eq = strchr(m->meta[i], '=');
		size_t klen = eq ? (size_t)(eq - m->meta[i]) : 0;

		if (eq == NULL || klen >= sizeof(key))
			continue;
		memcpy(key, m->meta[i], klen);
		key[klen] = '\0';
		ivb_json_str(j, key, eq + 1);
	}
	ivb_json_object_end(j);

	if (m->noise != NULL)
		ivb_noise_write_json(j, m->noise);

	ivb_json_object(j, "summary");
	write_count(j, "latency", &m->latency);
	write_count(j, "bandwidth", &m->bandwidth);
	write_count(j, "reference", &m->reference);
	ivb_json_object_end(j);

	ivb_json_array(j, "streams");
	for (size_t i = 0; i < m->nstreams; i++)
		write_stream(j, &m->streams[i]);
	ivb_json_array_end(j);

	ivb_json_array(j, "failures");
	for (size_t i = 0; i < m->nfailures; i++) {
		ivb_json_object(j, NULL);
		ivb_json_str(j, "test", m->failures[i].test);
		ivb_json_str(j, "frame", m->failures[i].frame);
		ivb_json_u64(j, "iteration", m->failures[i].iteration);
		ivb_json_str(j, "error", m->failures[i].error);
		ivb_json_object_end(j);
	}
	ivb_json_array_end(j);
	if (m->failures_dropped > 0)
		ivb_json_u64(j, "failures_not_listed", m->failures_dropped);
}

int ivb_manifest_write(const char *dir, const struct ivb_manifest *m)
{
	char path[PATH_MAX], tmp[PATH_MAX];
	struct ivb_json j;
	FILE *f;
	int fd, ret = 0;

	if (snprintf(path, sizeof(path), "%s/run.json", dir) >= (int)sizeof(path) ||
	    snprintf(tmp, sizeof(tmp), "%s/.run.json.tmp", dir) >= (int)sizeof(tmp))
		return -ENAMETOOLONG;
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0644);
	if (fd < 0)
		return -errno;
	f = fdopen(fd, "w");
	if (f == NULL) {
		ret = -errno;
		close(fd);
		unlink(tmp);
		return ret;
	}
	ivb_json_begin(&j, f);
	write_body(&j, m);
	ivb_json_end(&j);
	if (ferror(f))
		ret = -EIO;
	if (fclose(f) != 0 && ret == 0)
		ret = -errno;
	if (ret == 0 && rename(tmp, path) < 0)
		ret = -errno;
	if (ret < 0)
		unlink(tmp);
	return ret;
}

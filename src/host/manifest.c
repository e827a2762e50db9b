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
#include "plan.h"   /* ivb_direction_name */
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

static void write_count(struct ivb_json *j, struct ivb_rk_object key, const struct ivb_test_count *c)
{
	ivb_json_object(j, key);
	ivb_json_u64(j, IVB_RK_TEST_COUNT_PLANNED, c->planned);
	ivb_json_u64(j, IVB_RK_TEST_COUNT_ITERATIONS, c->done);
	ivb_json_u64(j, IVB_RK_TEST_COUNT_SUCCEEDED, c->succeeded);
	ivb_json_object_end(j);
}

/* What a side's waiting cost: polling burns a core while it waits, the doorbell mode should not. */
static void write_cpu(struct ivb_json *j, struct ivb_rk_object key, const struct ivb_cpu_record *c)
{
	if (!c->known)
		return;
	ivb_json_object(j, key);
	ivb_json_fixed(j, IVB_RK_CPU_USER_S, c->user_s, 6);
	ivb_json_fixed(j, IVB_RK_CPU_SYS_S, c->sys_s, 6);
	ivb_json_fixed(j, IVB_RK_CPU_WALL_S, c->wall_s, 6);
	ivb_json_u64(j, IVB_RK_CPU_MESSAGES, c->messages);
	ivb_json_object_end(j);
}

static void write_bell(struct ivb_json *j, struct ivb_rk_object key, const struct ivb_bell_record *b)
{
	if (!b->known)
		return;
	ivb_json_object(j, key);
	ivb_json_u64(j, IVB_RK_DOORBELL_PEER_ID, (uint64_t)b->peer_id);
	ivb_json_u64(j, IVB_RK_DOORBELL_RINGS_SENT, b->rings_sent);
	ivb_json_u64(j, IVB_RK_DOORBELL_RINGS_RECEIVED, b->rings_received);
	ivb_json_u64(j, IVB_RK_DOORBELL_LATE_WAKEUPS, b->late_wakeups);
	ivb_json_object_end(j);
}

static void write_stream(struct ivb_json *j, const struct ivb_stream_record *s)
{
	uint64_t guest_ns = s->guest_copy_ns + s->guest_verify_ns;

	ivb_json_object(j, IVB_RK_STREAMS_ITEM);
	ivb_json_str(j, IVB_RK_STREAMS_FRAME_TYPE, s->frame_type);
	ivb_json_u64(j, IVB_RK_STREAMS_SIZE_BYTES, s->size_bytes);
	ivb_json_str(j, IVB_RK_STREAMS_POLICY, s->policy);
	ivb_json_str(j, IVB_RK_STREAMS_VERIFY, s->verify);
	ivb_json_str(j, IVB_RK_STREAMS_CONSUME, ivb_consume_name(s->consume));
	ivb_json_str(j, IVB_RK_STREAMS_DIRECTION, ivb_direction_name(s->direction));
	ivb_json_u64(j, IVB_RK_STREAMS_SLOTS, s->slots);
	ivb_json_u64(j, IVB_RK_STREAMS_CONSUMER, s->consumer);
	ivb_json_u64(j, IVB_RK_STREAMS_CONSUMERS, s->consumers);
	ivb_json_str(j, IVB_RK_STREAMS_CONSUMER_END, s->consumer_end != NULL ? s->consumer_end
					: s->completed ? "finished" : "failed");
	ivb_json_u64(j, IVB_RK_STREAMS_FPS_TARGET, s->fps_target);
	ivb_json_u64(j, IVB_RK_STREAMS_SECONDS, s->seconds);
	ivb_json_bool(j, IVB_RK_STREAMS_COMPLETED, s->completed);
	ivb_json_u64(j, IVB_RK_STREAMS_PRODUCED, s->produced);
	ivb_json_u64(j, IVB_RK_STREAMS_CONSUMED, s->consumed);
	ivb_json_u64(j, IVB_RK_STREAMS_DROPPED, s->dropped);
	ivb_json_u64(j, IVB_RK_STREAMS_FAILED, s->failed);
	ivb_json_u64(j, IVB_RK_STREAMS_UNVERIFIED, s->unverified);
	ivb_json_fixed(j, IVB_RK_STREAMS_DURATION_S, s->duration_s, 6);
	ivb_json_array(j, IVB_RK_STREAMS_WINDOWS);
	for (uint32_t i = 0; i < s->nwindows; i++)
		ivb_json_u64(j, IVB_RK_STREAMS_WINDOWS_ITEM, s->windows[i]);
	ivb_json_array_end(j);
	if (s->host_write_ns > 0 && guest_ns > 0) {
		ivb_json_object(j, IVB_RK_STREAMS_PIPELINE_LIMIT);
		ivb_json_u64(j, IVB_RK_STREAMS_PIPELINE_LIMIT_HOST_WRITE_NS, s->host_write_ns);
		ivb_json_u64(j, IVB_RK_STREAMS_PIPELINE_LIMIT_GUEST_COPY_NS, s->guest_copy_ns);
		ivb_json_u64(j, IVB_RK_STREAMS_PIPELINE_LIMIT_GUEST_VERIFY_NS, s->guest_verify_ns);
		ivb_json_object_end(j);
	}
	if (s->host_cpu.known) {
		ivb_json_object(j, IVB_RK_STREAMS_HOST_CPU);
		ivb_json_fixed(j, IVB_RK_STREAMS_HOST_CPU_USER_S, s->host_cpu.user_s, 6);
		ivb_json_fixed(j, IVB_RK_STREAMS_HOST_CPU_SYS_S, s->host_cpu.sys_s, 6);
		ivb_json_fixed(j, IVB_RK_STREAMS_HOST_CPU_WALL_S, s->host_cpu.wall_s, 6);
		ivb_json_object_end(j);
	}
	if (s->guest_cpu_known)
		ivb_json_fixed(j, IVB_RK_STREAMS_GUEST_CPU_S, s->guest_cpu_s, 6);
	ivb_json_u64(j, IVB_RK_STREAMS_RINGS_SENT, s->rings_sent);
	if (s->rings_received_known)
		ivb_json_u64(j, IVB_RK_STREAMS_RINGS_RECEIVED, s->rings_received);
	ivb_json_object_end(j);
}

/* What the guest reported out of bounds (peer_check.h): replaced in the outputs, said here. */
static void write_out_of_bounds(struct ivb_json *j, const struct ivb_manifest *m)
{
	if (m->guest_unsafe_text != 0) {
		ivb_json_array(j, IVB_RK_GUEST_UNSAFE_TEXT_REPLACED);
		for (unsigned bit = 0; bit < IVB_TEXT_FIELDS; bit++)
			if (m->guest_unsafe_text & (1u << bit))
				ivb_json_str(j, IVB_RK_GUEST_UNSAFE_TEXT_REPLACED_ITEM,
					     ivb_guest_text_name((enum ivb_guest_text)(1u << bit)));
		ivb_json_array_end(j);
	}
	if (m->guest_counters_rejected > 0) {
		ivb_json_object(j, IVB_RK_GUEST_COUNTERS_OUT_OF_RANGE);
		ivb_json_u64(j, IVB_RK_GUEST_COUNTERS_OUT_OF_RANGE_VALUES, m->guest_counters_rejected);
		ivb_json_str(j, IVB_RK_GUEST_COUNTERS_OUT_OF_RANGE_FIRST,
			     m->guest_counters_note != NULL ? m->guest_counters_note : "");
		ivb_json_object_end(j);
	}
}

/* "map_study": the mappings the guest measured, and each it could not make with the reason. */
static void write_map_study(struct ivb_json *j, const struct ivb_map_study_record *r)
{
	ivb_json_object(j, IVB_RK_MAP_STUDY);
	ivb_json_bool(j, IVB_RK_MAP_STUDY_REPORTED, r->known);
	ivb_json_array(j, IVB_RK_MAP_STUDY_MAPPINGS);
	for (size_t i = 0; i < r->nmeasured; i++)
		ivb_json_str(j, IVB_RK_MAP_STUDY_MAPPINGS_ITEM, ivb_map_kind_name((enum ivb_map_kind)r->measured[i]));
	ivb_json_array_end(j);
	ivb_json_array(j, IVB_RK_MAP_STUDY_MISSING);
	for (size_t i = 0; i < r->nmissing; i++) {
		enum ivb_map_kind kind = (enum ivb_map_kind)r->missing[i].map_kind;

		ivb_json_object(j, IVB_RK_MAP_STUDY_MISSING_ITEM);
		ivb_json_str(j, IVB_RK_MAP_STUDY_MISSING_MAPPING, ivb_map_kind_name(kind));
		ivb_json_u64(j, IVB_RK_MAP_STUDY_MISSING_ERRNO, r->missing[i].error);
		ivb_json_str(j, IVB_RK_MAP_STUDY_MISSING_WHY, ivb_map_missing_why(kind, r->missing[i].error));
		ivb_json_object_end(j);
	}
	ivb_json_array_end(j);
	ivb_json_object_end(j);
}

static void write_body(struct ivb_json *j, const struct ivb_manifest *m)
{
	struct utsname uts;
	char cpu[128];

	ivb_json_str(j, IVB_RK_TOOL, "ivshmem-bench");
	ivb_json_u64(j, IVB_RK_FORMAT_VERSION, IVB_RUN_FORMAT_VERSION);
	ivb_json_u64(j, IVB_RK_PROTOCOL_VERSION, IVB_PROTOCOL_VERSION);
	ivb_json_str(j, IVB_RK_GIT_REVISION, IVB_GIT_REVISION);
	ivb_json_str(j, IVB_RK_STATUS, m->status);
	if (m->abort_reason != NULL)
		ivb_json_str(j, IVB_RK_ABORT_REASON, m->abort_reason);
	ivb_json_str(j, IVB_RK_STARTED_UTC, m->started_utc);
	ivb_json_str(j, IVB_RK_FINISHED_UTC, m->finished_utc);
	ivb_json_str(j, IVB_RK_UNITS, "times in ns (CLOCK_MONOTONIC); MB = 1e6 bytes; mbps = MB/s");

	ivb_json_object(j, IVB_RK_OPTIONS);
	ivb_json_str(j, IVB_RK_OPTIONS_SHM, m->shm_path);
	ivb_json_u64(j, IVB_RK_OPTIONS_ITERATIONS, m->iterations);
	ivb_json_str(j, IVB_RK_OPTIONS_LATENCY_FRAME, m->latency_frame);
	ivb_json_u64(j, IVB_RK_OPTIONS_LATENCY_FRAME_BYTES, m->latency_frame_bytes);
	ivb_json_u64(j, IVB_RK_OPTIONS_BW_ITERATIONS, m->bw_iterations);
	ivb_json_str(j, IVB_RK_OPTIONS_FRAMES, m->frames);
	ivb_json_u64(j, IVB_RK_OPTIONS_REF_ITERATIONS, m->ref_iterations);
	ivb_json_u64(j, IVB_RK_OPTIONS_WARMUP, m->warmup);
	ivb_json_u64(j, IVB_RK_OPTIONS_TIMEOUT_S, m->timeout_s);
	ivb_json_bool(j, IVB_RK_OPTIONS_COUNTERS, m->counters);
	ivb_json_bool(j, IVB_RK_OPTIONS_WRITE_STUDY, m->write_study);
	ivb_json_bool(j, IVB_RK_OPTIONS_MAP_STUDY, m->map_study);
	if (m->map_study)
		ivb_json_str(j, IVB_RK_OPTIONS_MAP_STUDY_TESTS, m->map_study_tests);
	ivb_json_str(j, IVB_RK_OPTIONS_MODE, m->mode);
	ivb_json_u64(j, IVB_RK_OPTIONS_INTERVAL_US, m->interval_us);
	if (m->corrupt_iteration != 0)
		ivb_json_u64(j, IVB_RK_OPTIONS_CORRUPT_ITERATION, m->corrupt_iteration);
	ivb_json_u64(j, IVB_RK_OPTIONS_STREAM_SECONDS, m->stream_seconds);
	if (m->stream_seconds > 0) {
		ivb_json_str(j, IVB_RK_OPTIONS_STREAM_FRAMES, m->stream_frames);
		ivb_json_u64(j, IVB_RK_OPTIONS_SLOTS, m->stream_slots);
		ivb_json_u64(j, IVB_RK_OPTIONS_FPS, m->stream_fps);
		ivb_json_str(j, IVB_RK_OPTIONS_STREAM_POLICY, m->stream_policy);
		ivb_json_str(j, IVB_RK_OPTIONS_VERIFY, m->stream_verify);
		ivb_json_str(j, IVB_RK_OPTIONS_STREAM_CONSUME, m->stream_consume);
		ivb_json_str(j, IVB_RK_OPTIONS_STREAM_DIRECTION, m->stream_direction);
		ivb_json_u64(j, IVB_RK_OPTIONS_CONSUMERS, m->stream_consumers);
		ivb_json_u64(j, IVB_RK_OPTIONS_CONSUMER_TIMEOUT_NS, m->consumer_timeout_ns);
		if (m->corrupt_frame_set)
			ivb_json_u64(j, IVB_RK_OPTIONS_CORRUPT_FRAME, m->corrupt_frame);
	}
	ivb_json_object_end(j);

	ivb_json_object(j, IVB_RK_HOST);
	if (uname(&uts) == 0) {
		ivb_json_str(j, IVB_RK_HOST_KERNEL, uts.release);
		ivb_json_str(j, IVB_RK_HOST_MACHINE, uts.machine);
	}
	cpu_model(cpu, sizeof(cpu));
	ivb_json_str(j, IVB_RK_HOST_CPU_MODEL, cpu);
	ivb_json_u64(j, IVB_RK_HOST_CORES, (uint64_t)sysconf(_SC_NPROCESSORS_ONLN));
	ivb_json_str(j, IVB_RK_HOST_FLUSH, m->flush_method);
	write_cpu(j, IVB_RK_HOST_CPU, &m->host_cpu);
	write_bell(j, IVB_RK_HOST_DOORBELL, &m->host_bell);
	if (m->counters)
		ivb_json_str(j, IVB_RK_HOST_COUNTERS_MISSING, m->host_counters_missing);
	ivb_json_object_end(j);

	ivb_json_object(j, IVB_RK_REGION);
	ivb_json_str(j, IVB_RK_REGION_PATH, m->shm_path);
	ivb_json_u64(j, IVB_RK_REGION_SIZE, m->region_size);
	ivb_json_u64(j, IVB_RK_REGION_HEADER_SIZE, IVB_HEADER_SIZE);
	ivb_json_u64(j, IVB_RK_REGION_BUFFER_CAPACITY, m->buffer_capacity);
	ivb_json_object_end(j);

	ivb_json_object(j, IVB_RK_GUEST);
	if (m->guest_known) {
		ivb_json_str(j, IVB_RK_GUEST_MAPPING, ivb_map_kind_name((enum ivb_map_kind)m->guest.map_kind));
		ivb_json_str(j, IVB_RK_GUEST_MEMORY_TYPE, m->guest.memtype[0] ? m->guest.memtype : "unknown");
		ivb_json_str(j, IVB_RK_GUEST_DEVICE, m->guest.device);
		ivb_json_str(j, IVB_RK_GUEST_KERNEL, m->guest.kernel);
		ivb_json_u64(j, IVB_RK_GUEST_MAP_SIZE, m->guest.map_size);
		if (m->counters)
			ivb_json_str(j, IVB_RK_GUEST_COUNTERS_MISSING, m->guest_counters_missing);
		write_cpu(j, IVB_RK_GUEST_CPU, &m->guest_cpu);
		if (m->guest_cpu_missing != NULL)
			ivb_json_str(j, IVB_RK_GUEST_CPU_MISSING, m->guest_cpu_missing);
		write_bell(j, IVB_RK_GUEST_DOORBELL, &m->guest_bell);
		write_out_of_bounds(j, m);
	}
	ivb_json_object_end(j);

	if (m->map_study)
		write_map_study(j, &m->map_study_seen);

	ivb_json_object(j, IVB_RK_META);
	for (size_t i = 0; i < m->nmeta; i++) {
		char key[64];
		const char *eq = strchr(m->meta[i], '=');
		size_t klen = eq ? (size_t)(eq - m->meta[i]) : 0;

		if (eq == NULL || klen >= sizeof(key))
			continue;
		memcpy(key, m->meta[i], klen);
		key[klen] = '\0';
		ivb_json_str_named(j, IVB_RK_META_ANY, key, eq + 1);
	}
	ivb_json_object_end(j);

	if (m->noise != NULL)
		ivb_noise_write_json(j, m->noise);

	ivb_json_object(j, IVB_RK_SUMMARY);
	write_count(j, IVB_RK_SUMMARY_LATENCY, &m->latency);
	write_count(j, IVB_RK_SUMMARY_BANDWIDTH, &m->bandwidth);
	write_count(j, IVB_RK_SUMMARY_REFERENCE, &m->reference);
	ivb_json_object_end(j);

	ivb_json_array(j, IVB_RK_STREAMS);
	for (size_t i = 0; i < m->nstreams; i++)
		write_stream(j, &m->streams[i]);
	ivb_json_array_end(j);

	/* The transport comparison's keys: one block, written by manifest_transports.c. */
	ivb_manifest_write_transports(j, m);

	ivb_json_array(j, IVB_RK_FAILURES);
	for (size_t i = 0; i < m->nfailures; i++) {
		ivb_json_object(j, IVB_RK_FAILURES_ITEM);
		ivb_json_str(j, IVB_RK_FAILURES_TEST, m->failures[i].test);
		ivb_json_str(j, IVB_RK_FAILURES_FRAME, m->failures[i].frame);
		ivb_json_u64(j, IVB_RK_FAILURES_ITERATION, m->failures[i].iteration);
		ivb_json_str(j, IVB_RK_FAILURES_ERROR, m->failures[i].error);
		ivb_json_object_end(j);
	}
	ivb_json_array_end(j);
	if (m->failures_dropped > 0)
		ivb_json_u64(j, IVB_RK_FAILURES_NOT_LISTED, m->failures_dropped);
}

int ivb_manifest_write(const char *dir, const struct ivb_manifest *m)
{
	char path[PATH_MAX], tmp[PATH_MAX];
	struct ivb_json j;
	FILE *f;
	int fd, ret = 0, misplaced;

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
	/* A key out of its place is still written: the file keeps what was measured, the caller hears of it. */
	misplaced = ivb_json_end(&j);
	if (ferror(f))
		ret = -EIO;
	if (fclose(f) != 0 && ret == 0)
		ret = -errno;
	if (ret == 0 && rename(tmp, path) < 0)
		ret = -errno;
	if (ret < 0)
		unlink(tmp);
	return ret < 0 ? ret : misplaced;
}

/* host_output.c: the output folder, the CSV files and run.json. */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "clock.h"
#include "host.h"
#include "phases.h"

/* How long the host waits for the guest's summary (its CPU time) after the run. */
#define SUMMARY_TIMEOUT_S 5u

static int mkdir_p(const char *path)
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

int ivb_output_make_dir(struct ivb_run *run)
{
	int ret = mkdir_p(run->cfg.out_dir);

	if (ret < 0)
		snprintf(run->why, sizeof(run->why), "cannot create %s: %s", run->cfg.out_dir, strerror(-ret));
	return ret;
}

int ivb_output_open(struct ivb_run *run)
{
	const struct ivb_host_config *cfg = &run->cfg;
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
		[IVB_TABLE_STREAM] = cfg->plan.nstreams > 0,
		[IVB_TABLE_TRANSPORT] = cfg->plan.ntransports > 0,
	};
	char path[4096];
	int ret;

	ret = ivb_output_make_dir(run);
	if (ret < 0)
		return ret;
	for (unsigned t = 0; t < IVB_NTABLES; t++) {
		if (!wanted[t])
			continue;
		snprintf(path, sizeof(path), "%s/%s", cfg->out_dir, ivb_tables[t].file);
		ret = ivb_csv_open_table(&run->out.csv[t], path, (enum ivb_table)t);
		if (ret < 0) {
			snprintf(run->why, sizeof(run->why), "cannot write %s: %s", path, strerror(-ret));
			return ret;
		}
		run->out.open[t] = true;
	}
	return 0;
}

void ivb_output_close(struct ivb_run *run)
{
	for (unsigned t = 0; t < IVB_NTABLES; t++)
		ivb_csv_close(&run->out.csv[t]);
}

void ivb_output_record_failure(struct ivb_run *run, const char *test, const char *frame, uint64_t iteration,
			   const char *error)
{
	struct ivb_manifest *m = &run->manifest;

	if (m->nfailures == IVB_MAX_FAILURES) {
		m->failures_dropped++;
		return;
	}
	m->failures[m->nfailures++] = (struct ivb_failure){ test, frame, iteration, error };
}

void ivb_output_record_host_bell(struct ivb_run *run)
{
	if (run->cfg.doorbell_mode)
		run->manifest.host_bell = (struct ivb_bell_record){ .known = true, .peer_id = run->bell.id,
								    .rings_sent = run->bell.rings_sent,
								    .rings_received = run->bell.rings_received,
								    .late_wakeups = run->bell.late_wakeups };
}

void ivb_output_record_guest_summary(struct ivb_run *run)
{
	struct ivb_manifest *m = &run->manifest;
	struct ivb_guest_summary s;
	uint64_t limit_s = run->cfg.timeout_s < SUMMARY_TIMEOUT_S ? run->cfg.timeout_s : SUMMARY_TIMEOUT_S;
	int ret = ivb_host_wait_summary(&run->host, limit_s * IVB_NS_PER_SEC, &s);

	ivb_output_record_host_bell(run);
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

void ivb_output_init_manifest(struct ivb_run *run, uint64_t region_size)
{
	struct ivb_manifest *m = &run->manifest;
	const struct ivb_host_config *cfg = &run->cfg;

	m->status = "running";
	ivb_utc_now(m->started_utc);
	m->shm_path = cfg->shm_path;
	m->region_size = region_size;
	m->buffer_capacity = region_size > IVB_HEADER_SIZE ? region_size - IVB_HEADER_SIZE : 0;
	m->iterations = cfg->iterations;
	m->latency_frame = cfg->latency_frame.name;
	m->bw_iterations = cfg->bw_iterations;
	m->frames = cfg->frames_arg;
	m->ref_iterations = cfg->ref_iterations;
	m->warmup = cfg->warmup;
	m->latency_frame_bytes = cfg->latency_frame.size;
	m->timeout_s = cfg->timeout_s;
	m->corrupt_iteration = cfg->corrupt_iteration;
	m->corrupt_frame_set = cfg->corrupt_frame_set;
	m->corrupt_frame = cfg->corrupt_frame;
	m->flush_method = ivb_flush_method();
	m->counters = cfg->counters;
	m->write_study = cfg->write_study;
	m->map_study = cfg->map_study;
	m->map_study_tests = cfg->map_study_only == IVB_MSG_LATENCY     ? "latency"
			     : cfg->map_study_only == IVB_MSG_REFERENCE ? "reference"
									 : "latency,bandwidth";
	m->mode = cfg->doorbell_mode ? "doorbell" : "polling";
	m->interval_us = cfg->interval_us;
	m->host_counters_missing = run->host_counters_missing;
	m->guest_counters_missing = run->guest_counters_missing;
	m->noise = &run->noise;
	for (size_t i = 0; i < cfg->nmeta; i++)
		m->meta[i] = cfg->meta[i];
	m->nmeta = cfg->nmeta;
	m->latency.planned = cfg->iterations;
	m->bandwidth.planned = cfg->bw_iterations * cfg->nframes;
	m->reference.planned = cfg->ref_iterations * ivb_plan_reference_sizes(&cfg->plan);
	m->stream_seconds = cfg->stream_seconds;
	m->stream_frames = cfg->stream_frames_arg;
	m->stream_slots = cfg->slots;
	m->stream_fps = cfg->fps;
	m->stream_policy = ivb_policy_name(cfg->stream_policy);
	m->stream_verify = ivb_verify_name(cfg->verify);
	m->stream_consume = ivb_consume_name(cfg->consume);
	m->stream_direction = cfg->stream_direction_arg;
	m->stream_consumers = cfg->nconsumers;
	m->consumer_timeout_ns = cfg->consumer_timeout_ns;
	ivb_transport_init_manifest(run);
}

void ivb_output_write_manifest(struct ivb_run *run, const char *status)
{
	int ret;

	run->manifest.status = status;
	run->manifest.guest_unsafe_text = run->host.unsafe_text;
	run->manifest.guest_counters_rejected = run->host.counters_rejected;
	run->manifest.guest_counters_note = run->host.counters_note;
	ivb_utc_now(run->manifest.finished_utc);
	ret = ivb_manifest_write(run->cfg.out_dir, &run->manifest);
	if (ret == -EPROTO)
		fprintf(stderr, PROG ": %s/run.json: a key written outside the object schema/run.txt puts it in\n",
			run->cfg.out_dir);
	else if (ret < 0)
		fprintf(stderr, PROG ": cannot write %s/run.json: %s\n", run->cfg.out_dir, strerror(-ret));
}

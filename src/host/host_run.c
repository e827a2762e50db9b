/* host_run.c: the exchange loop that the latency, bandwidth and reference tests share. */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "clock.h"
#include "host.h"
#include "phases.h"
#include "sha256.h"

void ivb_run_progress(struct ivb_run *run, const char *test, bool force)
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
static void note_guest_counters(struct ivb_run *run, const struct ivb_guest_study *study)
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

/* The first message that carries the map study says which mappings the guest measured and which it could not make. */
static void note_map_study(struct ivb_run *run, const struct ivb_map_study study[IVB_MAP_STUDY_MAX])
{
	struct ivb_map_study_record *rec = &run->manifest.map_study_seen;

	if (rec->known || study[0].map_kind == IVB_MAP_NONE)
		return;
	rec->known = true;
	for (unsigned i = 0; i < IVB_MAP_STUDY_MAX; i++) {
		const struct ivb_map_study *m = &study[i];

		if (m->map_kind == IVB_MAP_NONE)
			continue;
		if (m->error == 0) {
			rec->measured[rec->nmeasured++] = m->map_kind;
			continue;
		}
		rec->missing[rec->nmissing].map_kind = m->map_kind;
		rec->missing[rec->nmissing++].error = m->error;
		fprintf(stderr, PROG ": map study: the guest has no %s mapping: %s\n",
			ivb_map_kind_name((enum ivb_map_kind)m->map_kind),
			ivb_map_missing_why((enum ivb_map_kind)m->map_kind, m->error));
	}
}

/*
 * --interval-us: start this message interval_us after the last one started, as a stream at a fixed
 * frame rate would: the frame is ready, and from here it is written, sent and acknowledged.
 */
static void pace(struct ivb_run *run)
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
static int exchange(struct ivb_run *run, uint64_t size, enum ivb_msg_kind kind, bool counted, struct ivb_sample *s)
{
	uint8_t *shared = ivb_buffer(run->map.region);
	uint8_t sha[IVB_SHA256_LEN];
	struct ivb_ack ack;
	uint64_t t0, t1, sent_ns;
	bool corrupted;
	uint32_t flags;
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
	corrupted = counted && ++run->measured == run->cfg.corrupt_iteration;
	if (corrupted)
		shared[size / 2] ^= 0x01;

	flags = run->cfg.plan.flags;
	if (run->cfg.map_study_only != 0 ? kind != run->cfg.map_study_only : kind == IVB_MSG_REFERENCE)
		flags &= ~IVB_MSG_FLAG_MAP_STUDY;
	ret = ivb_host_send(&run->host, size, kind, flags, sha, &sent_ns);
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
	if (ack.error_code == IVB_MSG_OK && corrupted) {
		/* The guest cannot have verified this message: none of its results can be trusted. */
		snprintf(run->host.why, sizeof(run->host.why),
			 "the guest accepted message %llu that the host corrupted on purpose",
			 (unsigned long long)run->cfg.corrupt_iteration);
		s->error = "accepted_corrupted_message";
		return -EPROTO;
	}
	if (ack.error_code == IVB_MSG_OK && !ack.timing_fits) {
		s->error = "implausible_timing";
	} else if (ack.error_code == IVB_MSG_OK) {
		s->have_guest = true;
		s->guest = ack.report.timing;
		s->report = ack.report;
		s->success = true;
		note_guest_counters(run, &ack.report.study);
		note_map_study(run, ack.report.map_study);
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
static int run_test(struct ivb_run *run, const char *test, enum ivb_msg_kind kind, const struct ivb_frame *f,
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
			ivb_output_record_failure(run, test, f->name, i, s.error ? s.error : "unknown");
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
		ivb_run_progress(run, test, false);
	}
	return 0;
}

int ivb_run_all(struct ivb_run *run)
{
	const struct ivb_host_config *cfg = &run->cfg;
	int ret;

	for (uint64_t i = 1; i <= cfg->warmup; i++) {
		struct ivb_sample s;

		ret = exchange(run, run->buffer_size, IVB_MSG_LATENCY, false, &s);
		if (!s.success) {
			run->warmup_failed = true;
			ivb_output_record_failure(run, "warmup", "largest", i, s.error ? s.error : "unknown");
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
			if (ivb_plan_first_reference_size(&cfg->plan, i))
				ret = run_test(run, "reference", IVB_MSG_REFERENCE, &cfg->frames[i], cfg->ref_iterations,
					       &run->manifest.reference);
		if (ret < 0)
			return ret;
	}
	return 0;
}

/* host_stream.c: the stream test on the host: one stream message per frame size, the frames
 * through the ring of ring.h, a row per frame and a summary per stream in run.json. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "cli.h"
#include "host.h"
#include "host_stream.h"
#include "peer_check.h"
#include "phases.h"
#include "wait.h"
#include "sha256.h"

/* Private-memory cost of a frame: the median of this many copies (the pipeline's limit). */
#define PRIVATE_REPEATS 5u

size_t ivb_frame_streams(const struct ivb_host_config *cfg)
{
	return cfg->nstream_frames * cfg->ndirections;
}

uint32_t ivb_stream_records(const struct ivb_host_config *cfg, uint32_t direction)
{
	return direction == IVB_DIR_GUEST_TO_HOST ? cfg->nconsumers : 1;
}

/*
 * Stream i of the plan: each stream frame (--stream-policy) once per direction, then in a transport comparison
 * each message size streamed and in ping-pong (block, host-to-guest). Sets *test to 0 for a frame stream.
 */
static const struct ivb_frame *planned_stream(const struct ivb_host_config *cfg, size_t i, uint32_t *policy,
					      uint32_t *window, enum ivb_tp_test *test, uint32_t *direction)
{
	*policy = cfg->stream_policy;
	*window = 0;
	*test = 0;
	*direction = IVB_DIR_HOST_TO_GUEST;
	if (i < ivb_frame_streams(cfg)) {
		*direction = cfg->stream_directions[i % cfg->ndirections];
		return &cfg->stream_frames[i / cfg->ndirections];
	}
	i -= ivb_frame_streams(cfg);
	*policy = IVB_RING_BLOCK;
	*test = i % 2 ? IVB_TP_TEST_PINGPONG : IVB_TP_TEST_MESSAGES;
	*window = i % 2 ? 1 : cfg->slots;
	return &cfg->message_sizes[i / 2];
}

int ivb_stream_fit(struct ivb_run *run, uint64_t capacity, uint64_t *largest)
{
	const struct ivb_host_config *cfg = &run->cfg;

	*largest = 0;
	for (size_t i = 0; i < cfg->plan.nstreams; i++) {
		struct ivb_ring_geometry g;
		uint64_t need = 0;
		uint32_t policy, window, direction;
		enum ivb_tp_test test;
		const struct ivb_frame *f = planned_stream(cfg, i, &policy, &window, &test, &direction);
		int ret = ivb_ring_geometry_for(capacity, cfg->slots, f->size, policy, cfg->verify, cfg->consume, &g, &need);

		if (ret == -ENOSPC) {
			snprintf(run->why, sizeof(run->why),
				 "region %s is too small for the stream: %u slots of %s (%llu bytes) need %llu bytes of data, "
				 "it holds %llu (use fewer --slots or a larger region)",
				 cfg->shm_path, cfg->slots, f->name, (unsigned long long)f->size, (unsigned long long)need,
				 (unsigned long long)capacity);
			return ret;
		}
		if (ret < 0) {
			snprintf(run->why, sizeof(run->why), "stream frame %s cannot be streamed", f->name);
			return ret;
		}
		if (need > *largest)
			*largest = need;
	}
	return 0;
}

int ivb_stream_row(void *arg, const struct ivb_stream_frame *f)
{
	struct stream_state *st = arg;
	/* A guest-to-host stream's records: one per consumer (the consumer checked by its reader). */
	struct ivb_stream_record *rec = st->tkey == NULL && f->consumer < st->run->cfg.nconsumers ? &st->rec[f->consumer]
												  : st->rec;
	const enum ivb_table table = st->tkey != NULL ? IVB_TABLE_TRANSPORT : IVB_TABLE_STREAM;
	int ret = st->tkey != NULL ? ivb_rows_write_transport(&st->run->out, st->tkey, f)
				   : ivb_rows_write_stream(&st->run->out, &st->key, f);

	if (ret < 0) {
		snprintf(st->run->host.why, sizeof(st->run->host.why), "cannot write the stream CSV: %s", strerror(-ret));
		return ret;
	}
	if (!f->dropped) {
		uint64_t window = (f->publish_ns + f->latency_ns) / IVB_NS_PER_SEC;

		if (window < IVB_MAX_STREAM_WINDOWS && window < rec->seconds)
			rec->windows[window]++;
		if (window != st->flushed_window) {
			st->flushed_window = window;
			ret = ivb_csv_flush(&st->run->out.csv[table]);
			if (ret < 0)
				snprintf(st->run->host.why, sizeof(st->run->host.why), "cannot write the stream CSV: %s",
					 strerror(-ret));
			return ret;
		}
	}
	return 0;
}

int ivb_stream_guest_alive(void *arg, char *why, size_t whylen)
{
	const struct ivb_run *run = arg;

	if (atomic_load_explicit(&run->map.region->guest_state, memory_order_acquire) == IVB_GUEST_ABORTED) {
		snprintf(why, whylen, "the guest aborted during the stream");
		return -ECONNRESET;
	}
	return 0;
}

/*
 * Wait for the guest to attach to the ring, its buffers ready, before the clock starts. In doorbell mode
 * sleep: the guest rings once attached (under TCG it may take a while to read the stream message).
 */
static int wait_attached(struct ivb_run *run, const struct ivb_ring_producer *ring, struct ivb_bell *bell)
{
	struct ivb_waiter w;
	int ret;

	ivb_waiter_start(&w, run->cfg.timeout_s * IVB_NS_PER_SEC, false, bell);
	while (!ivb_ring_consumer_attached(ring)) {
		uint32_t gstate = atomic_load_explicit(&run->map.region->guest_state, memory_order_acquire);

		/* A guest that could not attach acknowledges the message with an error instead. */
		if (gstate == IVB_GUEST_ACKNOWLEDGED || gstate == IVB_GUEST_ABORTED)
			return 1;
		ret = ivb_waiter_tick(&w);
		if (ret == -ETIMEDOUT)
			snprintf(run->host.why, sizeof(run->host.why),
				 "timed out after %llu s waiting for the guest to attach to the stream's ring",
				 (unsigned long long)run->cfg.timeout_s);
		else if (ret < 0 && ret != -EINTR)
			snprintf(run->host.why, sizeof(run->host.why),
				 "doorbell failed while waiting for the guest to attach to the stream's ring: %s",
				 strerror(-ret));
		if (ret < 0)
			return ret;
	}
	ivb_waiter_done(&w); /* a last slice that ended without the guest's ring counts as a late wake-up */
	return 0;
}

/* One stream: set the ring up, send the stream message, produce, collect the guest's answer. */
static int run_stream(struct ivb_run *run, struct stream_state *st)
{
	const struct ivb_host_config *cfg = &run->cfg;
	struct ivb_stream_record *rec = st->rec;
	static struct ivb_stream_host h; /* large (frames in flight); one stream at a time */
	struct ivb_ring_geometry g;
	struct ivb_ring_guest_report gr;
	struct ivb_cpu_span cpu;
	struct ivb_ack ack;
	uint8_t no_hash[IVB_SHA256_LEN] = { 0 };
	uint64_t need, sent_ns, unused, window_ns;
	int ret;

	if (st->key.direction == IVB_DIR_GUEST_TO_HOST)
		return ivb_stream_from_guest(run, st);
	ret = ivb_ring_geometry_for(run->host.capacity, cfg->slots, st->size, st->policy, cfg->verify, cfg->consume,
				    &g, &need);
	if (ret < 0)
		return ret; /* checked by ivb_stream_fit before the run */
	/* One more source than slots: a slot never gets the same data twice in a row. */
	ret = ivb_sources_alloc(&st->src, cfg->slots + 1, st->size);
	/* The pipeline's limit on this machine: the host's write of a frame into private memory
	 * (before the sources get their data: it copies one over another). */
	if (ret == 0 && ivb_stream_private_cost(IVB_VERIFY_NONE, st->src.frame[0], st->src.frame[1], st->size,
						PRIVATE_REPEATS, &rec->host_write_ns, &unused) < 0)
		rec->host_write_ns = 0;
	if (ret == 0)
		ret = ivb_sources_fill(&st->src, cfg->verify);
	if (ret < 0) {
		snprintf(run->host.why, sizeof(run->host.why), "cannot make %u random %llu-byte stream frames: %s",
			 cfg->slots + 1, (unsigned long long)st->size, strerror(-ret));
		return ret;
	}
	memset(&h, 0, sizeof(h));
	ivb_ring_producer_init(&h.ring, ivb_buffer(run->map.region), &g, NULL, NULL);
	h.bell = cfg->doorbell_mode ? &run->bell : NULL;
	h.guest_peer = run->host.guest_peer;
	h.seconds = cfg->stream_seconds;
	h.fps = st->tkey != NULL ? 0 : cfg->fps;
	h.window = st->window;
	h.timeout_ns = cfg->timeout_s * IVB_NS_PER_SEC;
	h.sources = (const uint8_t *const *)st->src.frame;
	h.checksums = (const uint8_t(*)[IVB_RING_CHECKSUM_LEN])st->src.checksum;
	h.nsources = st->src.n;
	h.on_frame = ivb_stream_row;
	h.arg = st;
	h.check = ivb_stream_guest_alive;
	h.check_arg = run;
	h.corrupt = cfg->corrupt_frame_set;
	h.corrupt_frame = cfg->corrupt_frame;

	run->map.region->stream = (struct ivb_stream_spec){ .direction = IVB_DIR_HOST_TO_GUEST };
	ret = ivb_host_send(&run->host, need, IVB_MSG_STREAM, cfg->plan.flags, no_hash, &sent_ns);
	if (ret < 0) {
		snprintf(run->host.why, sizeof(run->host.why), "the stream's ring of %llu bytes does not fit the region",
			 (unsigned long long)need);
		return ret;
	}
	ret = wait_attached(run, &h.ring, h.bell);
	if (ret < 0)
		return ret;
	if (ret == 0) {
		fprintf(stderr, PROG ": stream %s: %u slots, %s, %s, read %s, %s for %llu s\n", st->key.frame->name,
			cfg->slots, st->key.policy, st->key.verify, ivb_consume_name(cfg->consume),
			cfg->fps ? "paced" : "as fast as possible",
			(unsigned long long)cfg->stream_seconds);
		ivb_cpu_span_start(&cpu);
		ret = ivb_stream_produce(&h);
		ivb_cpu_span_end(&cpu);
		window_ns = ivb_now_ns() - sent_ns;
		rec->host_cpu = (struct ivb_cpu_record){ .known = true, .user_s = cpu.user_s, .sys_s = cpu.sys_s,
							 .wall_s = cpu.wall_s, .messages = h.totals.produced };
		rec->produced = h.totals.produced;
		rec->consumed = h.totals.consumed;
		rec->dropped = h.totals.dropped;
		rec->failed = h.totals.failed;
		rec->unverified = h.totals.unverified;
		rec->rings_sent = h.totals.rings_sent;
		rec->duration_s = (double)h.totals.duration_ns / 1e9;
		rec->nwindows = (uint32_t)(rec->duration_s >= (double)cfg->stream_seconds ? cfg->stream_seconds
											: (uint64_t)rec->duration_s);
		if (rec->nwindows > IVB_MAX_STREAM_WINDOWS)
			rec->nwindows = IVB_MAX_STREAM_WINDOWS;
		if (ret < 0) {
			if (ret != -EINTR || !run->host.why[0])
				snprintf(run->host.why, sizeof(run->host.why), "stream %.16s: %.200s", st->key.frame->name, h.why);
			return ret;
		}
		if (ivb_ring_read_guest_report(&h.ring, &gr) == 0) {
			rec->guest_copy_ns = gr.private_copy_ns;
			rec->guest_verify_ns = gr.private_verify_ns;
			/* The guest's CPU span lies between the stream message and its DONE: inside this window. */
			rec->guest_cpu_known = gr.cpu_ns > 0 && ivb_guest_time_fits(gr.cpu_ns, window_ns);
			rec->guest_cpu_s = rec->guest_cpu_known ? (double)gr.cpu_ns / 1e9 : 0;
			if (gr.cpu_ns > 0 && !rec->guest_cpu_known)
				fprintf(stderr, PROG ": stream %s: the guest reported %llu ns of CPU in a stream of %llu ns: "
					"left out\n", st->key.frame->name, (unsigned long long)gr.cpu_ns,
					(unsigned long long)window_ns);
		}
	}
	ret = ivb_host_wait_ack(&run->host, &ack);
	if (ret < 0)
		return ret;
	if (ack.error_code != IVB_MSG_OK) {
		snprintf(run->host.why, sizeof(run->host.why), "the guest could not run the stream of %s: %s",
			 st->key.frame->name, ivb_msg_error_name(ack.error_code));
		ivb_output_record_failure(run, "stream", st->key.frame->name, 1, ivb_msg_error_name(ack.error_code));
		return -EPROTO;
	}
	rec->completed = true;
	return ivb_host_next(&run->host);
}

/* ivshmem's message test: a ring stream of small frames, its figures as a transport test's (run.json's transports). */
static int run_message_stream(struct ivb_run *run, const struct ivb_frame *f, uint32_t window, enum ivb_tp_test test)
{
	const struct ivb_host_config *cfg = &run->cfg;
	struct ivb_manifest *m = &run->manifest;
	static struct ivb_stream_record scratch; /* the stream's own record; only its totals are kept */
	struct ivb_transport_test_record *t;
	const struct ivb_transport_key key = { "ivshmem", ivb_tp_test_name(test), f->size, ivb_verify_name(cfg->verify),
					       window };
	struct stream_state st = { .run = run, .rec = &scratch, .size = f->size, .policy = IVB_RING_BLOCK,
				   .window = window, .tkey = &key,
				   .key = { f, ivb_policy_name(IVB_RING_BLOCK), ivb_verify_name(cfg->verify), cfg->consume,
					    IVB_DIR_HOST_TO_GUEST } };
	int ret;

	if (m->ntransport_tests >= IVB_MAX_TRANSPORT_RECORDS)
		return -ENOSPC; /* the plan's bounds keep it in: not reached */
	t = &m->transport_tests[m->ntransport_tests++];
	scratch = (struct ivb_stream_record){ .seconds = cfg->stream_seconds };
	*t = (struct ivb_transport_test_record){ .transport = "ivshmem", .test = key.test, .verify = key.verify,
						 .size_bytes = f->size, .window = window, .seconds = cfg->stream_seconds };
	ret = run_stream(run, &st);
	ivb_sources_free(&st.src);
	t->sent = scratch.produced;
	t->acked = scratch.consumed;
	t->failed = scratch.failed;
	t->unverified = scratch.unverified;
	t->duration_s = scratch.duration_s;
	t->nwindows = scratch.nwindows < IVB_MAX_TRANSPORT_WINDOWS ? scratch.nwindows : IVB_MAX_TRANSPORT_WINDOWS;
	memcpy(t->windows, scratch.windows, t->nwindows * sizeof(t->windows[0]));
	t->host_cpu = scratch.host_cpu;
	t->guest_known = scratch.guest_cpu_known;
	t->guest_cpu_s = scratch.guest_cpu_s;
	t->guest_taken = scratch.consumed;
	t->guest_verified = scratch.consumed - scratch.failed - scratch.unverified;
	t->completed = scratch.completed;
	if (ivb_csv_flush(&run->out.csv[IVB_TABLE_TRANSPORT]) < 0 && ret == 0) {
		snprintf(run->host.why, sizeof(run->host.why), "cannot write the transport CSV");
		ret = -EIO;
	}
	if (ret == 0)
		printf(PROG ": ivshmem %s of %s: %llu sent in %.2f s, %llu acknowledged, %llu failed\n", key.test, f->name,
		       (unsigned long long)t->sent, t->duration_s, (unsigned long long)t->acked, (unsigned long long)t->failed);
	return ret;
}

int ivb_run_streams(struct ivb_run *run)
{
	const struct ivb_host_config *cfg = &run->cfg;
	struct ivb_manifest *m = &run->manifest;

	for (size_t i = 0; i < cfg->plan.nstreams && i < IVB_MAX_STREAMS; i++) {
		uint32_t policy, window, direction;
		enum ivb_tp_test test;
		const struct ivb_frame *f = planned_stream(cfg, i, &policy, &window, &test, &direction);
		struct stream_state st = {
			.run = run, .rec = &m->streams[m->nstreams], .size = f->size, .policy = policy,
			.key = { f, ivb_policy_name(cfg->stream_policy), ivb_verify_name(cfg->verify), cfg->consume,
				 direction },
		};
		uint32_t nrec;
		int ret;

		if (test != 0) {
			ret = run_message_stream(run, f, window, test);
			run->messages_done++;
			if (ret < 0)
				return ret;
			ivb_run_progress(run, "stream", false);
			continue;
		}
		/* One record per consumer: a guest-to-host stream has cfg->nconsumers. */
		nrec = ivb_stream_records(cfg, direction);
		if (m->nstreams + nrec > IVB_MAX_STREAMS) {
			snprintf(run->host.why, sizeof(run->host.why), "more than %u stream records (streams times consumers)",
				 IVB_MAX_STREAMS);
			return -ENOSPC;
		}
		for (uint32_t k = 0; k < nrec; k++)
			st.rec[k] = (struct ivb_stream_record){
				.frame_type = f->name, .size_bytes = f->size, .policy = st.key.policy, .verify = st.key.verify,
				.consume = cfg->consume, .direction = direction,
				.slots = cfg->slots, .fps_target = cfg->fps, .seconds = cfg->stream_seconds,
				.consumer = k, .consumers = nrec,
			};
		m->nstreams += nrec;
		ret = run_stream(run, &st);
		ivb_sources_free(&st.src);
		/* Every row of the stream on disk, however it ended. */
		if (ivb_csv_flush(&run->out.csv[IVB_TABLE_STREAM]) < 0 && ret == 0) {
			snprintf(run->host.why, sizeof(run->host.why), "cannot write the stream CSV");
			ret = -EIO;
		}
		run->messages_done++;
		if (ret < 0)
			return ret;
		for (uint32_t k = 0; k < nrec; k++) {
			const struct ivb_stream_record *rec = &st.rec[k];
			char who[48] = "";

			if (nrec > 1)
				snprintf(who, sizeof(who), ", consumer %u (%s)", k, rec->consumer_end);
			printf(PROG ": stream %s%s%s: %llu frames in %.2f s (%.1f/s), %llu consumed, %llu dropped, %llu failed%s\n",
			       f->name, direction == IVB_DIR_GUEST_TO_HOST ? " from the guest" : "", who,
			       (unsigned long long)rec->produced, rec->duration_s,
			       rec->duration_s > 0 ? (double)rec->consumed / rec->duration_s : 0.0,
			       (unsigned long long)rec->consumed, (unsigned long long)rec->dropped,
			       (unsigned long long)rec->failed, cfg->verify == IVB_VERIFY_NONE ? " (not verified)" : "");
		}
		ivb_run_progress(run, "stream", false);
	}
	return 0;
}

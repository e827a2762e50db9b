/* guest_serve.c: the message loop: the phases of each message (or the stream consumer), the acknowledgement,
 * and the run's summary for the host. */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>

#include "clock.h"
#include "guest.h"
#include "plan.h"
#include "stream.h"

/*
 * Make the private buffers hold n bytes, pre-faulted. They grow with the largest message (the
 * host's warm-up message is its largest), so a small run does not pay for the whole region.
 * Returns: 0, or -ENOMEM.
 */
static int ensure_buffers(struct ivb_reader_workspace *w, size_t n)
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
 * The host's ring of a stream message: take frames from it until the host ends the stream,
 * then say what a frame costs on private memory. The frames that failed their check are counted in
 * tally (the message itself succeeds: the host has each frame's result). Returns: enum ivb_msg_error.
 */
static uint32_t consume(struct ivb_reader_workspace *w, struct ivb_bell *bell, ivb_stream_check_fn check,
			void *check_arg, atomic_int *failed, uint8_t *shared, uint64_t capacity,
			struct ivb_reader_tally *tally)
{
	struct ivb_ring_consumer c;
	struct ivb_stream_guest_totals t;
	struct ivb_ring_guest_report rep = { 0 };
	struct ivb_cpu_span cpu;
	char why[IVB_WHY_LEN];
	int ret = ivb_ring_consumer_open(&c, shared, capacity, why, sizeof(why));

	if (ret < 0) {
		ivb_reader_stream_failed(failed, why);
		return IVB_MSG_BAD_SIZE;
	}
	/*
	 * The scratch copy (copy mode) and the private-cost buffers (both modes: the pipeline's limit is
	 * measured the same way whatever the consumer does): a slot's size each, pre-faulted. Before the host
	 * starts: for 4K frames this takes longer than a frame period, whose frames would be dropped.
	 */
	if (ensure_buffers(w, c.g.slot_stride) < 0) {
		if (failed != NULL) /* said why: the other side of a duplex stream stops */
			atomic_store(failed, 1);
		ivb_ring_consumer_finish(&c, NULL);
		return IVB_MSG_GUEST_FAILURE;
	}
	ivb_ring_consumer_start(&c);
	/* A doorbell-mode host sleeps until we start. A lost ring costs it a sleep slice, nothing more. */
	if (bell != NULL)
		(void)ivb_bell_ring(bell, w->g->host_peer);
	ivb_cpu_span_start_thread(&cpu);
	ret = ivb_stream_consume(&c, w->copy, bell, w->g->host_peer, w->g->timeout_ns, check, check_arg, &t, why,
				 sizeof(why));
	ivb_cpu_span_end(&cpu);
	tally->stream_frames_failed += t.bad;
	if (ret < 0) {
		ivb_reader_stream_failed(failed, why);
		ivb_ring_consumer_finish(&c, NULL);
		return IVB_MSG_GUEST_FAILURE;
	}
	rep.cpu_ns = (uint64_t)((cpu.user_s + cpu.sys_s) * 1e9);
	memset(w->private_src, 0xa5, c.g.frame_size);
	if (ivb_stream_private_cost(c.g.verify, w->private_src, w->copy, c.g.frame_size, 5, &rep.private_copy_ns,
				    &rep.private_verify_ns) < 0)
		rep.private_copy_ns = rep.private_verify_ns = 0;
	ivb_ring_consumer_finish(&c, &rep);
	fprintf(stderr, PROG ": stream of %llu-byte frames: %llu taken, %llu verified, %llu failed, %llu skipped, read %s%s\n",
		(unsigned long long)c.g.frame_size, (unsigned long long)t.taken, (unsigned long long)t.ok,
		(unsigned long long)t.bad, (unsigned long long)t.skipped, ivb_consume_name(c.g.consume),
		t.unverified ? " (not verified: --verify none)" : "");
	return IVB_MSG_OK;
}

void ivb_reader_stream_failed(atomic_int *failed, const char *why)
{
	if (failed == NULL || atomic_exchange(failed, 1) == 0)
		fprintf(stderr, PROG ": stream: %s\n", why);
}

/* A duplex stream: the two threads' shared state. */
struct duplex {
	struct ivb_reader_workspace *w;
	struct ivb_bell *bell; /* the consumer's copy of the bell; NULL: polling */
	uint8_t *shared;
	uint64_t capacity;     /* of the host's ring: up to the guest's */
	struct ivb_reader_tally tally;
	uint32_t error;        /* the consumer's enum ivb_msg_error */
	atomic_int stopped;    /* either side failed (the first said why): the other stops at its next check */
};

/* The peer checks of a duplex stream's two sides: the host, and the other side of this program. */
static int duplex_alive(void *arg, char *why, size_t whylen)
{
	struct duplex *d = arg;
	int ret = host_alive(d->w->g->r, why, whylen);

	if (ret == 0 && atomic_load(&d->stopped)) {
		snprintf(why, whylen, "stopped: the other direction's stream failed");
		return -ECANCELED;
	}
	return ret;
}

static void *duplex_consumer(void *arg)
{
	struct duplex *d = arg;

	d->error = consume(d->w, d->bell, duplex_alive, d, &d->stopped, d->shared, d->capacity, &d->tally);
	return NULL;
}

/*
 * Both rings at once: the host's consumed in a thread while this one produces into the guest's. In doorbell mode
 * each thread waits on its own copy of the bell (ivb_bell_pair: a ring one reads wakes the other too). The ring
 * is laid out before the thread starts (so that the host may wait for either first). Returns: enum ivb_msg_error.
 */
static uint32_t duplex(struct ivb_reader_workspace *w, uint8_t *shared, const struct ivb_message *msg,
		       const struct ivb_stream_spec *spec, const struct ivb_ring_geometry *g, struct ivb_reader_tally *tally)
{
	struct duplex d = { .w = w, .shared = shared, .capacity = spec->g2h_offset };
	struct ivb_bell consumer_bell, producer_bell, *bell = w->g->bell;
	pthread_t thread;
	uint32_t error;
	int ret;

	if (bell != NULL) {
		ret = ivb_bell_pair(bell, &consumer_bell, &producer_bell);
		if (ret < 0) {
			fprintf(stderr, PROG ": stream: cannot share the doorbell between two threads: %s\n", strerror(-ret));
			return IVB_MSG_GUEST_FAILURE;
		}
		d.bell = &consumer_bell;
		bell = &producer_bell;
	}
	ret = pthread_create(&thread, NULL, duplex_consumer, &d);
	if (ret != 0) {
		fprintf(stderr, PROG ": stream: cannot start the consumer thread: %s\n", strerror(ret));
		if (bell != NULL)
			ivb_bell_unpair(w->g->bell, &consumer_bell, &producer_bell);
		return IVB_MSG_GUEST_FAILURE;
	}
	error = ivb_reader_produce(w, bell, shared + spec->g2h_offset, msg, spec, g, duplex_alive, &d, &d.stopped, tally);
	/* The consumer's waits all end within the timeout, or at once once `stopped` is set. */
	pthread_join(thread, NULL);
	if (bell != NULL)
		ivb_bell_unpair(w->g->bell, &consumer_bell, &producer_bell);
	tally->stream_frames_failed += d.tally.stream_frames_failed;
	return error != IVB_MSG_OK ? error : d.error;
}

/*
 * A stream message: the direction the host's spec says; host-to-guest: consume the host's ring at the buffer's
 * start; guest-to-host: produce into a ring laid out at g2h_offset; both: the two at once. Returns: enum ivb_msg_error.
 */
static uint32_t stream(struct ivb_reader_workspace *w, uint8_t *shared, const struct ivb_message *msg,
		       struct ivb_reader_tally *tally)
{
	struct ivb_stream_spec spec = w->g->r->stream; /* host-owned, written before SENDING: stable now */
	struct ivb_ring_geometry g;
	char why[IVB_WHY_LEN];

	if (ivb_stream_spec_check(&spec, msg->size, &g, why, sizeof(why)) < 0) {
		fprintf(stderr, PROG ": stream: %s\n", why);
		return IVB_MSG_BAD_SIZE;
	}
	switch ((enum ivb_stream_direction)spec.direction) {
	case IVB_DIR_HOST_TO_GUEST:
		return consume(w, w->g->bell, host_alive, w->g->r, NULL, shared, msg->size, tally);
	case IVB_DIR_GUEST_TO_HOST:
		return ivb_reader_produce(w, w->g->bell, shared + spec.g2h_offset, msg, &spec, &g, host_alive, w->g->r,
					  NULL, tally);
	case IVB_DIR_BOTH:
		return duplex(w, shared, msg, &spec, &g, tally);
	}
	return IVB_MSG_BAD_SIZE; /* checked: not reached */
}

/* Run the phases (and the write study when asked) on one valid message. Returns: enum ivb_msg_error. */
static uint32_t process(struct ivb_reader_workspace *w, const uint8_t *shared, const struct ivb_message *msg,
			struct ivb_guest_report *rep, struct ivb_reader_tally *t)
{
	const uint8_t *src = shared;
	bool match = false;

	if (msg->kind == IVB_MSG_STREAM)
		return stream(w, (uint8_t *)shared, msg, t);
	if (msg->kind == IVB_MSG_TRANSPORT)
		return ivb_reader_transport(w, shared, msg);
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

int ivb_reader_serve(struct ivb_guest *g, struct ivb_reader_workspace *w, struct ivb_reader_tally *t)
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
		if (error == IVB_MSG_OK && (msg.kind == IVB_MSG_STREAM || msg.kind == IVB_MSG_TRANSPORT)) {
			struct ivb_cpu_span cpu;

			ivb_cpu_span_start(&cpu);
			error = process(w, shared, &msg, &rep, t);
			ivb_cpu_span_end(&cpu);
			t->streams++;
			t->stream_user_s += cpu.user_s;
			t->stream_sys_s += cpu.sys_s;
			t->stream_wall_s += cpu.wall_s;
		} else if (error == IVB_MSG_OK) {
			error = process(w, shared, &msg, &rep, t);
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

/* x, or 0 where clock granularity made a difference of nearly equal times negative. */
static double positive(double x)
{
	return x > 0 ? x : 0;
}

void ivb_reader_publish_summary(struct ivb_guest *g, const struct ivb_cpu_span *cpu, const struct ivb_reader_tally *t)
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

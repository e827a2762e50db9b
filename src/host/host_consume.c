/* host_consume.c: the host as a stream's consumer (guest-to-host): it chooses the ring and the seed, the guest lays
 * the ring out and produces, the host checks each frame against the frames it expanded from the seed itself and
 * writes a row per frame. Nothing the guest writes is believed unchecked: the ring bounds every slot, size and
 * sequence (ring.c), this file the frame size, the sequence's jumps and the guest's totals.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "clock.h"
#include "host_stream.h"
#include "peer_check.h"
#include "phases.h"
#include "sha256.h"
#include "wait.h"

/* Private-memory cost of a frame: the median of this many copies (the consumer's share of the pipeline's limit). */
#define PRIVATE_REPEATS 5u
/*
 * The most frames one take may skip, and the guest's total may exceed the frames seen: beyond it the guest's
 * sequence is a lie (each skipped frame costs a row).
 */
#define MAX_SEQUENCE_JUMP (1u << 20)

struct reader {
	struct stream_state *st;
	const struct ivb_ring_consumer *c;
	uint32_t consumer; /* the ring's consumer this reader is */
	uint64_t frame_size;
	uint64_t start_ns; /* host clock: the consumer started */
	uint64_t next;     /* the frame after the last one the host has a row for */
	struct ivb_stream_host_totals totals;
	ivb_stream_frame_fn emit; /* where its rows go: the CSV, or the pipe of a consumer process */
	void *emit_arg;
	bool stall;        /* --stall-consumer: this consumer stops releasing at frame stall_frame */
	uint64_t stall_frame;
};

/*
 * The test knob --stall-consumer: hold frame f unreleased until the guest producer drops this consumer (its
 * feed says so) or the run's timeout passes, then stop as a dropped consumer does.
 */
static int stall(struct reader *r, const struct ivb_ring_frame *f, char *why, size_t whylen)
{
	const struct ivb_ring_feed *feed = &r->c->ctl->feed[r->consumer];
	const uint64_t give_up = ivb_now_ns() + r->st->run->cfg.timeout_s * IVB_NS_PER_SEC;

	while (atomic_load_explicit(&feed->state, memory_order_acquire) != IVB_FEED_DROPPED) {
		if (ivb_stop_requested || ivb_now_ns() >= give_up) {
			snprintf(why, whylen, "consumer %u stalled at frame %llu (--stall-consumer) and was not dropped "
				 "in time", r->consumer, (unsigned long long)f->seq);
			return -ETIMEDOUT;
		}
		nanosleep(&(struct timespec){ 0, 1000000 }, NULL);
	}
	snprintf(why, whylen, "the guest dropped consumer %u, stalled at frame %llu (--stall-consumer)", r->consumer,
		 (unsigned long long)f->seq);
	return -ESHUTDOWN;
}

static int expect(void *arg, const struct ivb_ring_frame *f, const uint8_t **checksum, char *why, size_t whylen)
{
	struct reader *r = arg;

	if (f->size != r->frame_size) {
		snprintf(why, whylen, "the guest's frame %llu has size %llu, not the %llu bytes the host asked for",
			 (unsigned long long)f->seq, (unsigned long long)f->size, (unsigned long long)r->frame_size);
		return -EPROTO;
	}
	/* The ring keeps the sequence from going back; a jump forward costs a dropped row per frame skipped. */
	if (f->seq - r->next > MAX_SEQUENCE_JUMP) {
		snprintf(why, whylen, "the guest's frame sequence jumped from %llu to %llu",
			 (unsigned long long)r->next, (unsigned long long)f->seq);
		return -EPROTO;
	}
	*checksum = r->st->src.checksum[f->seq % r->st->src.n];
	if (r->stall && f->seq >= r->stall_frame)
		return stall(r, f, why, whylen);
	return 0;
}

/* Rows for the frames before `upto` the host never took: the guest published them, they were dropped. */
static int dropped_until(struct reader *r, uint64_t upto, uint64_t learnt_ns)
{
	for (; r->next < upto; r->next++) {
		struct ivb_stream_frame f = { .seq = r->next, .slot = UINT32_MAX, .dropped = true,
					      .publish_ns = learnt_ns - r->start_ns, .consumer = r->consumer };
		int ret = r->emit(r->emit_arg, &f);

		r->totals.dropped++;
		if (ret < 0)
			return ret;
	}
	return 0;
}

static int on_taken(void *arg, const struct ivb_stream_taken *t)
{
	struct reader *r = arg;
	const uint32_t verify = r->st->run->cfg.verify;
	struct ivb_stream_frame f = {
		.seq = t->frame->seq, .slot = t->frame->slot, .status = t->status,
		.publish_ns = t->taken_ns - r->start_ns, .latency_ns = t->released_ns - t->taken_ns,
		.guest_copy_ns = t->copy_ns, .guest_verify_ns = t->verify_ns, .consumer = r->consumer,
	};
	int ret = dropped_until(r, t->frame->seq, t->taken_ns);

	if (ret < 0)
		return ret;
	f.failed = !(t->status == IVB_FRAME_OK || (t->status == IVB_FRAME_UNVERIFIED && verify == IVB_VERIFY_NONE));
	r->totals.consumed++;
	r->totals.failed += f.failed;
	r->totals.unverified += !f.failed && t->status == IVB_FRAME_UNVERIFIED;
	r->next = t->frame->seq + 1;
	return r->emit(r->emit_arg, &f);
}

/* Wait for the guest to lay out its ring for the message just sent (1: it acknowledged or aborted instead). */
static int wait_laid(struct ivb_run *run)
{
	struct ivb_region *reg = run->map.region;
	struct ivb_waiter w;
	int ret;

	ivb_waiter_start(&w, run->cfg.timeout_s * IVB_NS_PER_SEC, false, run->cfg.doorbell_mode ? &run->bell : NULL);
	while (atomic_load_explicit(&reg->guest_stream.laid_sequence, memory_order_acquire) != run->host.sequence) {
		uint32_t gstate = atomic_load_explicit(&reg->guest_state, memory_order_acquire);

		if (gstate == IVB_GUEST_ACKNOWLEDGED || gstate == IVB_GUEST_ABORTED)
			return 1;
		ret = ivb_waiter_tick(&w);
		if (ret == -ETIMEDOUT)
			snprintf(run->host.why, sizeof(run->host.why),
				 "timed out after %llu s waiting for the guest to lay out its stream ring",
				 (unsigned long long)run->cfg.timeout_s);
		else if (ret < 0 && ret != -EINTR)
			snprintf(run->host.why, sizeof(run->host.why),
				 "doorbell failed while waiting for the guest's stream ring: %s", strerror(-ret));
		if (ret < 0)
			return ret;
	}
	ivb_waiter_done(&w);
	return 0;
}

/* The ring the guest laid out must be the one asked for, field by field. */
static int check_geometry(const struct ivb_ring_geometry *got, const struct ivb_ring_geometry *want, char *why,
			  size_t whylen)
{
	const char *field = got->nslots != want->nslots		? "slots"
			    : got->policy != want->policy	? "policy"
			    : got->verify != want->verify	? "verify"
			    : got->consume != want->consume	? "consume"
			    : got->frame_size != want->frame_size ? "frame size"
			    : got->slot_stride != want->slot_stride ? "slot stride"
								    : NULL;

	if (field == NULL)
		return 0;
	snprintf(why, whylen, "the guest laid out its ring with another %s than the host asked for", field);
	return -EPROTO;
}

/* Consumer i's row-less frames up to the guest's produced count: dropped for it. */
static int tail_dropped(struct stream_state *st, struct ivb_consumer_result *res, uint32_t i, uint64_t produced)
{
	struct reader r = { .st = st, .consumer = i, .start_ns = res->start_ns, .next = res->next,
			    .emit = ivb_stream_row, .emit_arg = st };
	int ret = dropped_until(&r, produced, ivb_now_ns());

	res->next = r.next;
	res->totals.dropped += r.totals.dropped;
	return ret;
}

/* The guest's totals, once it acknowledged: bounded by what the host saw; every consumer that finished gets its rows. */
static int guest_totals(struct ivb_run *run, struct stream_state *st, struct ivb_consumer_result *res, uint64_t window_ns)
{
	const struct ivb_guest_stream *gs = &run->map.region->guest_stream;
	const uint64_t produced = gs->produced, cpu_ns = gs->cpu_ns, write_ns = gs->private_write_ns;
	uint64_t seen = 0;
	int ret = 0;

	for (uint32_t i = 0; i < run->cfg.nconsumers; i++)
		seen = res[i].next > seen ? res[i].next : seen;
	if (produced < seen || produced - seen > MAX_SEQUENCE_JUMP) {
		snprintf(run->host.why, sizeof(run->host.why),
			 "stream %.16s: the guest's produced count %llu disagrees with the %llu frames the host saw",
			 st->key.frame->name, (unsigned long long)produced, (unsigned long long)seen);
		return -EPROTO;
	}
	for (uint32_t i = 0; i < run->cfg.nconsumers; i++) {
		struct ivb_stream_record *rec = &st->rec[i];

		/* The producer's CPU over the whole stream: only a consumer that lasted the stream gets it. */
		rec->guest_cpu_known = cpu_ns > 0 && ivb_guest_time_fits(cpu_ns, window_ns) &&
				       res[i].end == IVB_CONSUMER_FINISHED;
		rec->guest_cpu_s = rec->guest_cpu_known ? (double)cpu_ns / 1e9 : 0;
		rec->host_write_ns = write_ns <= IVB_MAX_DURATION_NS ? write_ns : 0;
		if (ret == 0 && res[i].end == IVB_CONSUMER_FINISHED)
			ret = tail_dropped(st, &res[i], i, produced);
	}
	return ret;
}

int ivb_stream_consume_as(struct ivb_run *run, struct stream_state *st, uint32_t index, uint64_t need,
			  const struct ivb_ring_geometry *g, const struct ivb_ring_guest_report *rep,
			  ivb_stream_frame_fn emit, void *emit_arg, struct ivb_consumer_result *res)
{
	const struct ivb_host_config *cfg = &run->cfg;
	struct reader r = { .st = st, .consumer = index, .frame_size = st->size, .emit = emit, .emit_arg = emit_arg,
			    .stall = cfg->stall_set && cfg->stall_consumer == index, .stall_frame = cfg->stall_frame };
	const struct ivb_stream_reader reader = { expect, on_taken, &r, "guest" };
	struct ivb_ring_consumer c;
	struct ivb_stream_guest_totals t = { 0 };
	struct ivb_cpu_span cpu;
	uint8_t *scratch = NULL;
	int ret;

	memset(res, 0, sizeof(*res));
	res->end = IVB_CONSUMER_FAILED;
	ret = ivb_ring_consumer_open_as(&c, ivb_buffer(run->map.region), need, index, res->why, sizeof(res->why));
	if (ret == 0)
		ret = check_geometry(&c.g, g, res->why, sizeof(res->why));
	if (ret == 0 && cfg->consume == IVB_CONSUME_COPY && (scratch = ivb_alloc_prefaulted(g->slot_stride)) == NULL) {
		snprintf(res->why, sizeof(res->why), "cannot allocate the copy buffer of consumer %u", index);
		ret = -ENOMEM;
	}
	if (ret < 0) {
		res->ret = ret;
		return ret;
	}
	r.c = &c;
	ivb_cpu_span_start(&cpu);
	r.start_ns = res->start_ns = ivb_now_ns();
	const uint64_t rung = run->bell.rings_received;

	ivb_ring_consumer_start(&c);
	if (cfg->doorbell_mode) /* a doorbell-mode guest sleeps until its consumers start */
		(void)ivb_bell_ring(&run->bell, run->host.guest_peer);
	ret = ivb_stream_consume_with(&c, scratch, cfg->doorbell_mode ? &run->bell : NULL, run->host.guest_peer,
				      cfg->timeout_s * IVB_NS_PER_SEC, ivb_stream_guest_alive, run, &reader, &t,
				      res->why, sizeof(res->why));
	res->end_ns = ivb_now_ns();
	ivb_cpu_span_end(&cpu);
	ivb_ring_consumer_finish(&c, ret == 0 ? rep : NULL);
	ivb_free_buffer(scratch, g->slot_stride);
	res->cpu = (struct ivb_cpu_record){ .known = true, .user_s = cpu.user_s, .sys_s = cpu.sys_s,
					    .wall_s = cpu.wall_s, .messages = t.taken };
	res->rings_sent = t.rings_sent;
	res->rings_received = run->bell.rings_received - rung;
	res->next = r.next;
	res->totals = r.totals;
	res->end = ret == 0 ? IVB_CONSUMER_FINISHED : ret == -ESHUTDOWN ? IVB_CONSUMER_DROPPED : IVB_CONSUMER_FAILED;
	if (ret == -ESHUTDOWN && res->why[0] == '\0')
		snprintf(res->why, sizeof(res->why), "the guest dropped consumer %u for holding it back", index);
	res->ret = ret == -ESHUTDOWN ? 0 : ret;
	return res->ret;
}

const char *ivb_consumer_end_name(uint32_t end)
{
	switch ((enum ivb_consumer_end)end) {
	case IVB_CONSUMER_FINISHED: return "finished";
	case IVB_CONSUMER_DROPPED: return "dropped";
	case IVB_CONSUMER_LOST: return "lost";
	case IVB_CONSUMER_FAILED: return "failed";
	}
	return "failed";
}

/* Each consumer's figures into its record (one per consumer, from st->rec). */
static void fill_records(struct ivb_run *run, struct stream_state *st, const struct ivb_consumer_result *res)
{
	const struct ivb_host_config *cfg = &run->cfg;

	for (uint32_t i = 0; i < cfg->nconsumers; i++) {
		struct ivb_stream_record *rec = &st->rec[i];

		if (res[i].start_ns == 0)
			continue;
		rec->host_cpu = res[i].cpu;
		rec->rings_sent = res[i].rings_sent;
		rec->rings_received_known = cfg->doorbell_mode;
		rec->rings_received = res[i].rings_received;
		rec->duration_s = (double)(res[i].end_ns - res[i].start_ns) / 1e9;
		rec->nwindows = (uint32_t)(rec->duration_s >= (double)cfg->stream_seconds ? cfg->stream_seconds
											 : (uint64_t)rec->duration_s);
		if (rec->nwindows > IVB_MAX_STREAM_WINDOWS)
			rec->nwindows = IVB_MAX_STREAM_WINDOWS;
	}
}

int ivb_stream_from_guest(struct ivb_run *run, struct stream_state *st)
{
	const struct ivb_host_config *cfg = &run->cfg;
	struct ivb_region *reg = run->map.region;
	struct ivb_stream_spec spec = { .direction = IVB_DIR_GUEST_TO_HOST, .nslots = cfg->slots, .policy = st->policy,
					.verify = cfg->verify, .consume = cfg->consume, .fps = cfg->fps,
					.frame_size = st->size, .seconds = cfg->stream_seconds,
					.corrupt_frame1 = cfg->corrupt_frame_set ? cfg->corrupt_frame + 1 : 0,
					.nconsumers = cfg->nconsumers, .consumer_vectors = ivb_consumers_vectors(run),
					.consumer_timeout_ns = cfg->consumer_timeout_ns };
	static struct ivb_consumer_result res[IVB_RING_MAX_CONSUMERS];
	struct ivb_ring_geometry g;
	struct ivb_ring_guest_report rep = { 0 };
	struct ivb_ack ack;
	uint8_t no_hash[IVB_SHA256_LEN] = { 0 };
	uint64_t need, sent_ns;
	int ret, laid;

	memset(res, 0, sizeof(res));
	ret = ivb_ring_geometry_for(run->host.capacity, cfg->slots, st->size, st->policy, cfg->verify, cfg->consume, &g,
				    &need);
	if (ret == 0)
		ret = ivb_ring_geometry_consumers(&g, cfg->nconsumers, cfg->consumer_timeout_ns);
	if (ret < 0)
		return ret; /* checked by ivb_stream_fit and the options before the run */
	/* The guest's frames, expanded from a fresh seed the same way it will, and the consumer's private costs. */
	ret = ivb_random_bytes(spec.seed, sizeof(spec.seed)) < 0 ? -EIO : ivb_sources_alloc(&st->src, cfg->slots + 1, st->size);
	if (ret == 0 && ivb_stream_private_cost(cfg->verify, st->src.frame[0], st->src.frame[1], st->size, PRIVATE_REPEATS,
						&rep.private_copy_ns, &rep.private_verify_ns) < 0)
		rep.private_copy_ns = rep.private_verify_ns = 0;
	if (ret == 0)
		ret = ivb_sources_expand(&st->src, cfg->verify, spec.seed);
	if (ret < 0) {
		snprintf(run->host.why, sizeof(run->host.why), "cannot make the %u %llu-byte frames of the guest's seed: %s",
			 cfg->slots + 1, (unsigned long long)st->size, strerror(-ret));
		return ret;
	}
	for (uint32_t i = 0; i < cfg->nconsumers; i++) {
		st->rec[i].guest_copy_ns = rep.private_copy_ns;
		st->rec[i].guest_verify_ns = rep.private_verify_ns;
	}
	reg->stream = spec;
	ret = ivb_host_send(&run->host, need, IVB_MSG_STREAM, cfg->plan.flags, no_hash, &sent_ns);
	laid = ret < 0 ? ret : wait_laid(run);
	if (laid < 0)
		return laid;
	if (laid == 0) {
		fprintf(stderr, PROG ": stream %s from the guest: %u slots, %s, %s, read %s, %u consumer%s, %s for %llu s\n",
			st->key.frame->name, cfg->slots, st->key.policy, st->key.verify, ivb_consume_name(cfg->consume),
			cfg->nconsumers, cfg->nconsumers > 1 ? "s" : "", cfg->fps ? "paced" : "as fast as possible",
			(unsigned long long)cfg->stream_seconds);
		if (cfg->nconsumers == 1) {
			ret = ivb_stream_consume_as(run, st, 0, need, &g, &rep, ivb_stream_row, st, &res[0]);
			if (ret < 0 || res[0].end == IVB_CONSUMER_DROPPED)
				snprintf(run->host.why, sizeof(run->host.why), "stream %.16s: %.200s", st->key.frame->name,
					 res[0].why);
			if (ret == 0 && res[0].end == IVB_CONSUMER_DROPPED)
				ret = -EPIPE; /* the only consumer: the guest stops too */
		} else {
			ret = ivb_consumers_run(run, st, need, &g, &rep, res);
		}
		fill_records(run, st, res);
	}
	if (laid == 0 && ret < 0 && ret != -ECHILD) {
		/* run->host.why says why */
	} else {
		char lost[sizeof(run->host.why)];
		int ack_ret;

		memcpy(lost, run->host.why, sizeof(lost)); /* the wait for the acknowledgement clears it */
		ack_ret = ivb_host_wait_ack(&run->host, &ack);

		if (ack_ret == 0 && ack.error_code != IVB_MSG_OK) {
			snprintf(run->host.why, sizeof(run->host.why), "the guest could not run the stream of %s: %s",
				 st->key.frame->name, ivb_msg_error_name(ack.error_code));
			ivb_output_record_failure(run, "stream", st->key.frame->name, 1, ivb_msg_error_name(ack.error_code));
			ack_ret = -EPROTO;
		}
		if (ack_ret == 0)
			ack_ret = guest_totals(run, st, res, ivb_now_ns() - sent_ns);
		if (ret == 0)
			ret = ack_ret;
		else if (ack_ret == 0)
			memcpy(run->host.why, lost, sizeof(lost));
	}
	for (uint32_t i = 0; i < cfg->nconsumers; i++) {
		struct ivb_stream_record *rec = &st->rec[i];

		rec->produced = res[i].next;
		rec->consumed = res[i].totals.consumed;
		rec->dropped = res[i].totals.dropped;
		rec->failed = res[i].totals.failed;
		rec->unverified = res[i].totals.unverified;
		/* A lost consumer fails the run, not the others' streams. */
		const bool others_ok = ret == 0 || ret == -ECHILD;

		rec->consumer_end = ivb_consumer_end_name(!others_ok && res[i].end == IVB_CONSUMER_FINISHED ? IVB_CONSUMER_FAILED
													      : res[i].end);
		rec->completed = others_ok && res[i].end == IVB_CONSUMER_FINISHED;
	}
	if (ret < 0)
		return ret;
	return ivb_host_next(&run->host);
}

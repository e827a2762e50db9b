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
	uint64_t frame_size;
	uint64_t start_ns; /* host clock: the consumer started */
	uint64_t next;     /* the frame after the last one the host has a row for */
	struct ivb_stream_host_totals totals;
};

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
	return 0;
}

/* Rows for the frames before `upto` the host never took: the guest published them, they were dropped. */
static int dropped_until(struct reader *r, uint64_t upto, uint64_t learnt_ns)
{
	for (; r->next < upto; r->next++) {
		struct ivb_stream_frame f = { .seq = r->next, .slot = UINT32_MAX, .dropped = true,
					      .publish_ns = learnt_ns - r->start_ns };
		int ret = ivb_stream_row(r->st, &f);

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
		.guest_copy_ns = t->copy_ns, .guest_verify_ns = t->verify_ns,
	};
	int ret = dropped_until(r, t->frame->seq, t->taken_ns);

	if (ret < 0)
		return ret;
	f.failed = !(t->status == IVB_FRAME_OK || (t->status == IVB_FRAME_UNVERIFIED && verify == IVB_VERIFY_NONE));
	r->totals.consumed++;
	r->totals.failed += f.failed;
	r->totals.unverified += !f.failed && t->status == IVB_FRAME_UNVERIFIED;
	r->next = t->frame->seq + 1;
	return ivb_stream_row(r->st, &f);
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

/* The guest's totals, once it acknowledged: bounded by what the host saw. */
static int guest_totals(struct ivb_run *run, struct reader *r, uint64_t window_ns)
{
	const struct ivb_guest_stream *gs = &run->map.region->guest_stream;
	struct ivb_stream_record *rec = r->st->rec;
	const uint64_t produced = gs->produced, cpu_ns = gs->cpu_ns, write_ns = gs->private_write_ns;

	if (produced < r->next || produced - r->next > MAX_SEQUENCE_JUMP) {
		snprintf(run->host.why, sizeof(run->host.why),
			 "stream %.16s: the guest's produced count %llu disagrees with the %llu frames the host saw",
			 r->st->key.frame->name, (unsigned long long)produced, (unsigned long long)r->next);
		return -EPROTO;
	}
	rec->guest_cpu_known = cpu_ns > 0 && ivb_guest_time_fits(cpu_ns, window_ns);
	rec->guest_cpu_s = rec->guest_cpu_known ? (double)cpu_ns / 1e9 : 0;
	rec->host_write_ns = write_ns <= IVB_MAX_DURATION_NS ? write_ns : 0;
	return dropped_until(r, produced, ivb_now_ns());
}

int ivb_stream_from_guest(struct ivb_run *run, struct stream_state *st)
{
	const struct ivb_host_config *cfg = &run->cfg;
	struct ivb_stream_record *rec = st->rec;
	struct ivb_region *reg = run->map.region;
	struct ivb_stream_spec spec = { .direction = IVB_DIR_GUEST_TO_HOST, .nslots = cfg->slots, .policy = st->policy,
					.verify = cfg->verify, .consume = cfg->consume, .fps = cfg->fps,
					.frame_size = st->size, .seconds = cfg->stream_seconds,
					.corrupt_frame1 = cfg->corrupt_frame_set ? cfg->corrupt_frame + 1 : 0 };
	struct reader r = { .st = st, .frame_size = st->size };
	const struct ivb_stream_reader reader = { expect, on_taken, &r, "guest" };
	struct ivb_ring_geometry g;
	struct ivb_ring_consumer c;
	struct ivb_stream_guest_totals t;
	struct ivb_ring_guest_report rep = { 0 };
	struct ivb_cpu_span cpu;
	struct ivb_ack ack;
	uint8_t no_hash[IVB_SHA256_LEN] = { 0 }, *scratch = NULL;
	uint64_t need, sent_ns, end_ns;
	char why[256];
	int ret, laid;

	ret = ivb_ring_geometry_for(run->host.capacity, cfg->slots, st->size, st->policy, cfg->verify, cfg->consume, &g,
				    &need);
	if (ret < 0)
		return ret; /* checked by ivb_stream_fit before the run */
	/* The guest's frames, expanded from a fresh seed the same way it will, and the consumer's private costs. */
	ret = ivb_random_bytes(spec.seed, sizeof(spec.seed)) < 0 ? -EIO : ivb_sources_alloc(&st->src, cfg->slots + 1, st->size);
	if (ret == 0 && ivb_stream_private_cost(cfg->verify, st->src.frame[0], st->src.frame[1], st->size, PRIVATE_REPEATS,
						&rep.private_copy_ns, &rep.private_verify_ns) < 0)
		rep.private_copy_ns = rep.private_verify_ns = 0;
	if (ret == 0)
		ret = ivb_sources_expand(&st->src, cfg->verify, spec.seed);
	if (ret == 0 && cfg->consume == IVB_CONSUME_COPY && (scratch = ivb_alloc_prefaulted(g.slot_stride)) == NULL)
		ret = -ENOMEM;
	if (ret < 0) {
		snprintf(run->host.why, sizeof(run->host.why), "cannot make the %u %llu-byte frames of the guest's seed: %s",
			 cfg->slots + 1, (unsigned long long)st->size, strerror(-ret));
		return ret;
	}
	rec->guest_copy_ns = rep.private_copy_ns;
	rec->guest_verify_ns = rep.private_verify_ns;
	reg->stream = spec;
	ret = ivb_host_send(&run->host, need, IVB_MSG_STREAM, cfg->plan.flags, no_hash, &sent_ns);
	laid = ret < 0 ? ret : wait_laid(run);
	if (laid == 0 && (ret = ivb_ring_consumer_open(&c, ivb_buffer(reg), need, why, sizeof(why))) == 0)
		ret = check_geometry(&c.g, &g, why, sizeof(why));
	if (laid < 0 || (laid == 0 && ret < 0)) {
		if (laid == 0)
			snprintf(run->host.why, sizeof(run->host.why), "stream %.16s: %.200s", st->key.frame->name, why);
		ivb_free_buffer(scratch, g.slot_stride);
		return laid < 0 ? laid : ret;
	}
	if (laid == 0) {
		fprintf(stderr, PROG ": stream %s from the guest: %u slots, %s, %s, read %s, %s for %llu s\n",
			st->key.frame->name, cfg->slots, st->key.policy, st->key.verify, ivb_consume_name(cfg->consume),
			cfg->fps ? "paced" : "as fast as possible", (unsigned long long)cfg->stream_seconds);
		ivb_cpu_span_start(&cpu);
		r.start_ns = ivb_now_ns();
		ivb_ring_consumer_start(&c);
		if (cfg->doorbell_mode) /* a doorbell-mode guest sleeps until we start */
			(void)ivb_bell_ring(&run->bell, run->host.guest_peer);
		ret = ivb_stream_consume_with(&c, scratch, cfg->doorbell_mode ? &run->bell : NULL, run->host.guest_peer,
					      cfg->timeout_s * IVB_NS_PER_SEC, ivb_stream_guest_alive, run, &reader, &t,
					      why, sizeof(why));
		end_ns = ivb_now_ns();
		ivb_cpu_span_end(&cpu);
		ivb_ring_consumer_finish(&c, ret == 0 ? &rep : NULL);
		rec->host_cpu = (struct ivb_cpu_record){ .known = true, .user_s = cpu.user_s, .sys_s = cpu.sys_s,
							 .wall_s = cpu.wall_s, .messages = t.taken };
		rec->rings_sent = t.rings_sent;
		rec->duration_s = (double)(end_ns - r.start_ns) / 1e9;
		rec->nwindows = (uint32_t)(rec->duration_s >= (double)cfg->stream_seconds ? cfg->stream_seconds
											: (uint64_t)rec->duration_s);
		if (rec->nwindows > IVB_MAX_STREAM_WINDOWS)
			rec->nwindows = IVB_MAX_STREAM_WINDOWS;
	}
	ivb_free_buffer(scratch, g.slot_stride);
	if (laid == 0 && ret < 0) {
		snprintf(run->host.why, sizeof(run->host.why), "stream %.16s: %.200s", st->key.frame->name, why);
	} else {
		ret = ivb_host_wait_ack(&run->host, &ack);
		if (ret == 0 && ack.error_code != IVB_MSG_OK) {
			snprintf(run->host.why, sizeof(run->host.why), "the guest could not run the stream of %s: %s",
				 st->key.frame->name, ivb_msg_error_name(ack.error_code));
			ivb_output_record_failure(run, "stream", st->key.frame->name, 1, ivb_msg_error_name(ack.error_code));
			ret = -EPROTO;
		}
		if (ret == 0)
			ret = guest_totals(run, &r, ivb_now_ns() - sent_ns);
	}
	rec->produced = r.next;
	rec->consumed = r.totals.consumed;
	rec->dropped = r.totals.dropped;
	rec->failed = r.totals.failed;
	rec->unverified = r.totals.unverified;
	if (ret < 0)
		return ret;
	rec->completed = true;
	return ivb_host_next(&run->host);
}

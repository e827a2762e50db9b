/* stream.c: the stream test's loops on both sides of the ring (stream.h). */
#include "stream.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <xxhash.h>

#include "clock.h"
#include "peer_check.h"
#include "protocol.h" /* ivb_stop_requested */
#include "sha256.h"

static const char *const verify_names[] = {
	[IVB_VERIFY_NONE] = "none", [IVB_VERIFY_SHA256] = "sha256", [IVB_VERIFY_XXH3] = "xxh3",
};
static const char *const policy_names[] = { [IVB_RING_BLOCK] = "block", [IVB_RING_LATEST] = "latest" };
static const char *const consume_names[] = { [IVB_CONSUME_COPY] = "copy", [IVB_CONSUME_INPLACE] = "inplace" };

/* The index of s in names[first..last], or -EINVAL. */
static int parse_name(const char *const *names, uint32_t first, uint32_t last, const char *s, uint32_t *out)
{
	for (uint32_t v = first; v <= last; v++) {
		if (strcmp(s, names[v]) == 0) {
			*out = v;
			return 0;
		}
	}
	return -EINVAL;
}

const char *ivb_verify_name(uint32_t verify)
{
	return verify >= IVB_VERIFY_NONE && verify <= IVB_RING_VERIFY_MAX ? verify_names[verify] : "unknown";
}

int ivb_verify_parse(const char *s, uint32_t *verify)
{
	return parse_name(verify_names, IVB_VERIFY_NONE, IVB_RING_VERIFY_MAX, s, verify);
}

const char *ivb_policy_name(uint32_t policy)
{
	return policy >= IVB_RING_BLOCK && policy <= IVB_RING_POLICY_MAX ? policy_names[policy] : "unknown";
}

int ivb_policy_parse(const char *s, uint32_t *policy)
{
	return parse_name(policy_names, IVB_RING_BLOCK, IVB_RING_POLICY_MAX, s, policy);
}

const char *ivb_consume_name(uint32_t consume)
{
	return consume >= IVB_CONSUME_COPY && consume <= IVB_CONSUME_MAX ? consume_names[consume] : "unknown";
}

int ivb_consume_parse(const char *s, uint32_t *consume)
{
	return parse_name(consume_names, IVB_CONSUME_COPY, IVB_CONSUME_MAX, s, consume);
}

int ivb_checksum(uint32_t verify, const void *data, size_t len, uint8_t out[IVB_RING_CHECKSUM_LEN])
{
	memset(out, 0, IVB_RING_CHECKSUM_LEN);
	switch ((enum ivb_ring_verify)verify) {
	case IVB_VERIFY_NONE:
		return 0;
	case IVB_VERIFY_SHA256:
		return ivb_sha256(data, len, out);
	case IVB_VERIFY_XXH3: {
		XXH128_canonical_t c;

		XXH128_canonicalFromHash(&c, XXH3_128bits(data, len));
		memcpy(out, c.digest, sizeof(c.digest));
		return 0;
	}
	}
	return -EINVAL;
}

/* ---- host ---- */

static struct ivb_stream_frame *record_of(struct ivb_stream_host *h, uint32_t slot)
{
	return slot < IVB_RING_MAX_SLOTS ? &h->inflight[slot] : &h->slotless;
}

/*
 * Before each ring call that may report outcomes: the time they were noticed, read once, so that the
 * callbacks of earlier frames in the same batch (a CSV row, a flush) are not counted in later ones.
 */
static void notice(struct ivb_stream_host *h)
{
	h->noticed_ns = ivb_now_ns();
}

void ivb_stream_judge(struct ivb_stream_frame *f, uint32_t verify, bool corrupted, uint64_t window_ns)
{
	const bool passed = f->status == IVB_FRAME_OK || (f->status == IVB_FRAME_UNVERIFIED && verify == IVB_VERIFY_NONE);

	/* Each time is at most IVB_MAX_DURATION_NS (ring.c and the transports' checks): their sum does not wrap. */
	if (corrupted && passed)
		f->error = "accepted_corrupted_frame";
	else if (!ivb_guest_time_fits(f->guest_copy_ns + f->guest_verify_ns, window_ns))
		f->error = "implausible_timing";
	f->failed = !passed || f->error != NULL;
}

/* The guest copied and checked the frame after it was written and before its release was seen (now). */
static void judge(struct ivb_stream_host *h, struct ivb_stream_frame *f)
{
	ivb_stream_judge(f, h->ring.g.verify, h->corrupt && f->seq == h->corrupt_frame,
			 ivb_now_ns() - h->start_ns - f->ready_ns);
}

/* The producer's error; the ring's and this file's messages name the consumer "the guest": say who it is. */
static int host_fail(struct ivb_stream_host *h, int err, const char *what)
{
	if (h->consumer != NULL && strncmp(what, "the guest", 9) == 0)
		snprintf(h->why, sizeof(h->why), "the %s%s", h->consumer, what + 9);
	else
		snprintf(h->why, sizeof(h->why), "%s", what);
	return err;
}

/* The ring refused what the guest wrote: its reason is the stream's. */
static int peer_lie(struct ivb_stream_host *h)
{
	return host_fail(h, -EPROTO, h->ring.why[0] ? h->ring.why : "the guest wrote a frame result or count out of range");
}

/* The ring learnt a frame's fate: complete its record and hand it on. */
static void on_outcome(void *arg, const struct ivb_ring_outcome *o)
{
	struct ivb_stream_host *h = arg;
	struct ivb_stream_frame *f = record_of(h, o->slot);
	struct ivb_stream_host_totals *t = &h->totals;

	if (f->seq != o->seq) /* the ring only reports frames it was given: a bug, not the peer */
		abort();
	/* Several consumers: the record holds the frame; each outcome fills in its consumer's fate. */
	f->consumer = o->consumer;
	f->error = NULL;
	f->dropped = !o->consumed;
	if (o->consumed) {
		f->status = o->status;
		f->latency_ns = h->noticed_ns - h->start_ns - f->publish_ns;
		f->guest_copy_ns = o->copy_ns;
		f->guest_verify_ns = o->verify_ns;
		judge(h, f);
		t->consumed++;
		if (f->failed)
			t->failed++;
		else if (o->status == IVB_FRAME_UNVERIFIED)
			t->unverified++;
	} else {
		t->dropped++;
	}
	if (h->callback_error == 0 && h->on_frame != NULL)
		h->callback_error = h->on_frame(h->arg, f);
	if (h->callback_error == 0 && f->error != NULL && strcmp(f->error, "accepted_corrupted_frame") == 0) {
		/* The guest cannot have verified this frame: none of its results can be trusted. */
		snprintf(h->why, sizeof(h->why), "the %s accepted frame %llu that the %s corrupted on purpose",
			 h->consumer != NULL ? h->consumer : "guest", (unsigned long long)f->seq,
			 h->consumer != NULL ? "guest" : "host");
		h->callback_error = -EPROTO;
	}
}

/* Drop the consumers that held the producer back past their timeout; the others go on. */
static int drop_stalled(struct ivb_stream_host *h, uint64_t now)
{
	int ret = ivb_ring_drop_stalled(&h->ring, now);

	if (ret < 0)
		return peer_lie(h);
	h->totals.consumers_dropped = h->ring.consumers_dropped;
	if (h->ring.live == 0)
		return host_fail(h, -EPIPE, "the guest's consumers were all dropped for holding the producer back past the consumer timeout");
	return h->callback_error;
}

static int collect(struct ivb_stream_host *h)
{
	notice(h);
	if (ivb_ring_collect(&h->ring) < 0)
		return peer_lie(h);
	if (h->callback_error == 0 && h->ring.g.nconsumers > 1)
		return drop_stalled(h, h->noticed_ns);
	return h->callback_error;
}

/* Ring the consumers that sleep on what was just provided: each on its own vector, or all at once on vector 0. */
static void ring_guest(struct ivb_stream_host *h, struct ivb_stream_frame *f)
{
	const uint32_t mask = h->bell != NULL ? ivb_ring_producer_ring_mask(&h->ring) : 0;

	for (uint32_t i = 0; mask != 0 && i < h->ring.g.nconsumers; i++) {
		if (h->vector_per_consumer ? !(mask & (1u << i)) : i > 0)
			continue;
		if (ivb_bell_ring_vector(h->bell, h->guest_peer, h->vector_per_consumer ? i : 0) == 0) {
			h->totals.rings_sent++;
			if (f != NULL)
				f->rings++;
		}
	}
}

/*
 * Wait for the guest's releases to reach `at` (or the consumer to end), up to `until` (host clock).
 * A stop request ends it first; a count out of range ends it at once (-EPROTO).
 */
static int wait_released(struct ivb_stream_host *h, uint64_t at, uint64_t until)
{
	for (;;) {
		uint64_t now = ivb_now_ns(), released;

		if (ivb_stop_requested)
			return host_fail(h, -EINTR, "stopped by a signal");
		if (h->ring.g.nconsumers > 1) {
			int ret = drop_stalled(h, now);

			if (ret < 0)
				return ret;
		}
		if (ivb_ring_released(&h->ring, &released) < 0)
			return peer_lie(h);
		if (released >= at || ivb_ring_consumer_done(&h->ring))
			return 0;
		if (h->check != NULL) {
			int ret = h->check(h->check_arg, h->why, sizeof(h->why));

			if (ret < 0)
				return ret;
		}
		if (now >= until)
			return -ETIMEDOUT;
		if (h->bell != NULL) {
			if (ivb_ring_producer_sleep(&h->ring, at)) {
				uint64_t left = until - now;
				int ret = ivb_bell_wait(h->bell, left < IVB_BELL_SLICE_NS ? left : IVB_BELL_SLICE_NS);

				if (ret < 0 && ret != -EINTR)
					return host_fail(h, ret, "the doorbell failed");
			}
			ivb_ring_producer_awake(&h->ring);
		} else {
			ivb_cpu_relax();
		}
	}
}

/* Until `due`, notice the guest's releases as they come (the latency is measured on this clock). */
static int idle_until(struct ivb_stream_host *h, uint64_t due)
{
	for (;;) {
		uint64_t now = ivb_now_ns(), released;
		int ret = collect(h);

		if (ret < 0)
			return ret;
		if (ivb_stop_requested)
			return host_fail(h, -EINTR, "stopped by a signal");
		if (now >= due)
			return 0;
		if (ivb_ring_released(&h->ring, &released) < 0)
			return peer_lie(h);
		if (released >= h->ring.next_seq - h->totals.dropped || ivb_ring_consumer_done(&h->ring)) {
			/* Nothing outstanding (block counts frames; latest counts frames taken): sleep. */
			struct timespec ts = { .tv_sec = (time_t)(due / IVB_NS_PER_SEC), .tv_nsec = (long)(due % IVB_NS_PER_SEC) };

			clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL);
			continue;
		}
		ret = wait_released(h, released + 1, due);
		if (ret < 0 && ret != -ETIMEDOUT)
			return ret;
	}
}

/* A free slot for the next frame; block waits for the guest, latest never does. */
static int acquire(struct ivb_stream_host *h, uint32_t *slot, uint64_t *wait_ns)
{
	uint64_t start = ivb_now_ns();
	int ret;

	for (;;) {
		notice(h);
		ret = ivb_ring_acquire(&h->ring, slot);
		if (ret == 0 || (h->ring.g.policy == IVB_RING_LATEST && ret == -EAGAIN))
			break;
		if (ret == -EPIPE)
			return host_fail(h, ret, "the guest's consumers were all dropped for holding the producer back past the consumer timeout");
		if (ret != -EAGAIN)
			return peer_lie(h);
		if (ivb_ring_consumer_done(&h->ring))
			return host_fail(h, -EPIPE, "the guest stopped taking frames before the end of the stream");
		ret = wait_released(h, h->ring.next_seq - h->ring.g.nslots + 1, start + h->timeout_ns);
		if (ret == -ETIMEDOUT)
			return host_fail(h, ret, "the guest released no frame slot in time");
		if (ret < 0)
			return ret;
	}
	*wait_ns = ivb_now_ns() - start;
	if (ret == -EAGAIN)
		return ret;
	return ret < 0 ? peer_lie(h) : 0;
}

/*
 * With a window, wait until at most window - 1 frames are in flight before the next (1: each frame
 * waits for the last one's release: a ping-pong, whose latency is a round trip).
 */
static int wait_window(struct ivb_stream_host *h)
{
	uint64_t at;
	int ret;

	if (h->window == 0 || h->ring.next_seq < h->window)
		return 0;
	at = h->ring.next_seq - h->window + 1;
	ret = wait_released(h, at, ivb_now_ns() + h->timeout_ns);
	if (ret == -ETIMEDOUT)
		return host_fail(h, ret, "the guest released no frame in time");
	if (ret < 0)
		return ret;
	return collect(h); /* the release just seen: its latency ends now */
}

static int produce_one(struct ivb_stream_host *h)
{
	uint64_t seq = h->ring.next_seq, wait_ns = 0, t0;
	uint32_t slot = UINT32_MAX, k = (uint32_t)(seq % h->nsources);
	/* After acquire: it reports the fate of the frame the slot held, which has its record there. */
	int ret = acquire(h, &slot, &wait_ns);
	struct ivb_stream_frame *f = record_of(h, ret == 0 ? slot : UINT32_MAX);

	*f = (struct ivb_stream_frame){ .seq = seq, .slot = UINT32_MAX, .slot_wait_ns = wait_ns };
	h->totals.produced++;
	if (ret == -EAGAIN) {
		/* latest: every slot is the newest frame or being read; this frame is dropped. */
		f->publish_ns = ivb_now_ns() - h->start_ns;
		ivb_ring_skip(&h->ring);
		return h->callback_error;
	}
	if (ret < 0)
		return ret;
	f->slot = slot;
	t0 = ivb_now_ns();
	memcpy(ivb_ring_slot(&h->ring, slot), h->sources[k], h->ring.g.frame_size);
	f->ready_ns = ivb_now_ns();
	f->write_ns = f->ready_ns - t0;
	f->ready_ns -= h->start_ns;
	if (h->corrupt && seq == h->corrupt_frame) /* past the stamp: frames have IVB_RING_MIN_FRAME bytes */
		ivb_ring_slot(&h->ring, slot)[h->ring.g.frame_size / 2] ^= 0x01;
	ivb_ring_publish(&h->ring, slot, h->ring.g.frame_size, h->checksums[k]);
	f->publish_ns = ivb_now_ns() - h->start_ns;
	ring_guest(h, f);
	return collect(h);
}

int ivb_stream_produce(struct ivb_stream_host *h)
{
	uint64_t period = h->fps > 0 ? IVB_NS_PER_SEC / h->fps : 0, end, since, limit, last;
	int ret = 0;

	h->ring.outcome = on_outcome;
	h->ring.outcome_arg = h;
	memset(&h->totals, 0, sizeof(h->totals));
	h->start_ns = ivb_now_ns();
	end = h->start_ns + h->seconds * IVB_NS_PER_SEC;
	for (uint64_t n = 0;; n++) {
		uint64_t due = h->start_ns + n * period;

		if (ivb_stop_requested) {
			ret = host_fail(h, -EINTR, "stopped by a signal");
			break;
		}
		if (due >= end || ivb_now_ns() >= end)
			break;
		if (period > 0 && (ret = idle_until(h, due)) < 0)
			break;
		if ((ret = wait_window(h)) < 0)
			break;
		if ((ret = produce_one(h)) < 0)
			break;
	}
	ivb_ring_finish(&h->ring);
	ring_guest(h, NULL);
	if (ret < 0)
		return ret;
	/*
	 * The guest finishes what it took (block: everything). Each release gives it another timeout, but
	 * the whole wait is bounded: it holds at most a frame per slot, however slowly it counts them out.
	 */
	since = ivb_now_ns();
	limit = ivb_add_sat(since, h->timeout_ns > UINT64_MAX / h->ring.g.nslots ? UINT64_MAX
										 : h->timeout_ns * h->ring.g.nslots);
	if (ivb_ring_released(&h->ring, &last) < 0)
		return peer_lie(h);
	while (!ivb_ring_consumer_done(&h->ring)) {
		uint64_t released, until;

		if ((ret = collect(h)) < 0)
			return ret;
		if (ivb_ring_released(&h->ring, &released) < 0)
			return peer_lie(h);
		if (released != last) {
			last = released;
			since = ivb_now_ns();
		}
		until = ivb_add_sat(since, h->timeout_ns);
		/* released <= the frames published (checked): released + 1 does not wrap */
		ret = wait_released(h, released + 1, until < limit ? until : limit);
		if (ret == -ETIMEDOUT)
			return host_fail(h, ret, "the guest did not finish the stream in time");
		if (ret < 0)
			return ret;
	}
	notice(h);
	ret = ivb_ring_settle(&h->ring);
	if (ret == -EPIPE)
		return host_fail(h, ret, "the guest ended the stream without releasing every frame");
	if (ret < 0)
		return host_fail(h, -EPROTO, "the guest wrote a frame result or count out of range");
	h->totals.duration_ns = ivb_now_ns() - h->start_ns;
	return h->callback_error;
}

/* ---- guest ---- */

static int guest_fail(char *why, size_t whylen, int err, const char *what)
{
	snprintf(why, whylen, "%s", what);
	return err;
}

uint32_t ivb_stream_check_copy(uint32_t verify, uint64_t seq, const uint8_t *copy, uint64_t size,
			       const uint8_t checksum[IVB_RING_CHECKSUM_LEN])
{
	uint8_t sum[IVB_RING_CHECKSUM_LEN];

	if (size < IVB_RING_STAMP_LEN || ivb_ring_read_stamp(copy) != seq)
		return IVB_FRAME_BAD_STAMP;
	if (verify == IVB_VERIFY_NONE)
		return IVB_FRAME_UNVERIFIED;
	if (ivb_checksum(verify, copy + IVB_RING_STAMP_LEN, size - IVB_RING_STAMP_LEN, sum) < 0 ||
	    memcmp(sum, checksum, IVB_RING_CHECKSUM_LEN) != 0)
		return IVB_FRAME_BAD_CHECKSUM;
	return IVB_FRAME_OK;
}

/*
 * Read one taken frame as the ring's consume mode says and release it. In place, every read of the slot ends before
 * the release: until then the producer leaves the slot alone (block: it waits for the release; latest:
 * the slot is claimed). Returns the frame's status, checked against `checksum`; *copy_ns and *verify_ns its
 * times (copy 0 in place).
 */
static uint32_t consume_frame(struct ivb_ring_consumer *c, uint8_t *scratch, const struct ivb_ring_frame *f,
			      const uint8_t *checksum, uint64_t *copy_ns, uint64_t *verify_ns, uint64_t *end_ns)
{
	uint64_t t0 = ivb_now_ns(), t1 = t0, t2;
	const uint8_t *bytes = f->data;
	uint32_t status;

	if (c->g.consume == IVB_CONSUME_COPY) {
		memcpy(scratch, f->data, f->size);
		t1 = ivb_now_ns();
		bytes = scratch;
	}
	status = ivb_stream_check_copy(c->g.verify, f->seq, bytes, f->size, checksum);
	t2 = ivb_now_ns();
	*copy_ns = t1 - t0;
	*verify_ns = t2 - t1;
	*end_ns = t2;
	ivb_ring_release(c, f, status, *copy_ns, *verify_ns);
	return status;
}

int ivb_stream_consume(struct ivb_ring_consumer *c, uint8_t *scratch, struct ivb_bell *bell, int host_peer,
		       uint64_t timeout_ns, ivb_stream_check_fn check, void *check_arg,
		       struct ivb_stream_guest_totals *t, char *why, size_t whylen)
{
	return ivb_stream_consume_with(c, scratch, bell, host_peer, timeout_ns, check, check_arg, NULL, t, why, whylen);
}

int ivb_stream_consume_with(struct ivb_ring_consumer *c, uint8_t *scratch, struct ivb_bell *bell, int peer,
			    uint64_t timeout_ns, ivb_stream_check_fn check, void *check_arg,
			    const struct ivb_stream_reader *reader, struct ivb_stream_guest_totals *t, char *why,
			    size_t whylen)
{
	uint64_t deadline = ivb_now_ns() + timeout_ns;

	memset(t, 0, sizeof(*t));
	/* The ring's consume mode was checked when it was opened. */
	if (c->g.consume == IVB_CONSUME_COPY && scratch == NULL)
		return guest_fail(why, whylen, -EINVAL, "a copying consumer needs a buffer to copy into");
	for (;;) {
		struct ivb_ring_frame f;
		struct ivb_stream_taken tk;
		const uint8_t *checksum;
		uint64_t skipped = c->skipped;
		int ret;

		/* Before every take: a producer that publishes without pause must not keep us past a stop request. */
		if (ivb_stop_requested)
			return guest_fail(why, whylen, -EINTR, "stopped by a signal");
		ret = ivb_ring_take(c, &f, why, whylen);
		if (ret == 1)
			break;
		if (ret == 0) {
			tk = (struct ivb_stream_taken){ .frame = &f, .taken_ns = ivb_now_ns() };
			checksum = f.checksum;
			if (reader != NULL && (ret = reader->expect(reader->arg, &f, &checksum, why, whylen)) < 0)
				return ret;
			tk.status = consume_frame(c, scratch, &f, checksum, &tk.copy_ns, &tk.verify_ns, &tk.released_ns);
			tk.skipped = c->skipped - skipped;
			t->taken++;
			t->ok += tk.status == IVB_FRAME_OK;
			t->unverified += tk.status == IVB_FRAME_UNVERIFIED;
			t->bad += tk.status == IVB_FRAME_BAD_STAMP || tk.status == IVB_FRAME_BAD_CHECKSUM;
			t->copy_ns_sum += tk.copy_ns;
			t->verify_ns_sum += tk.verify_ns;
			if (bell != NULL && ivb_ring_consumer_should_ring(c) && ivb_bell_ring(bell, peer) == 0)
				t->rings_sent++;
			if (reader != NULL && reader->on_frame != NULL && (ret = reader->on_frame(reader->arg, &tk)) < 0)
				return ret;
			deadline = tk.released_ns + timeout_ns; /* the release and a ring since: negligible */
			continue;
		}
		if (ret != -EAGAIN)
			return ret;
		if (check != NULL && (ret = check(check_arg, why, whylen)) < 0)
			return ret;
		if (ivb_now_ns() >= deadline) {
			snprintf(why, whylen, "the %s published no frame and did not end the stream in time",
				 reader != NULL && reader->producer != NULL ? reader->producer : "host");
			return -ETIMEDOUT;
		}
		if (bell != NULL) {
			if (ivb_ring_consumer_sleep(c)) {
				ret = ivb_bell_wait(bell, IVB_BELL_SLICE_NS);
				if (ret < 0 && ret != -EINTR) {
					ivb_ring_consumer_awake(c);
					return guest_fail(why, whylen, ret, "the doorbell failed");
				}
			}
			ivb_ring_consumer_awake(c);
		} else {
			ivb_cpu_relax();
		}
	}
	t->skipped = c->skipped;
	return 0;
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

int ivb_stream_private_cost(uint32_t verify, const uint8_t *src, uint8_t *dst, uint64_t size, unsigned repeats,
			    uint64_t *copy_ns, uint64_t *verify_ns)
{
	uint64_t copies[16], verifies[16];
	uint8_t sum[IVB_RING_CHECKSUM_LEN];

	if (repeats == 0 || repeats > 16 || size < IVB_RING_STAMP_LEN)
		return -EINVAL;
	for (unsigned i = 0; i < repeats; i++) {
		uint64_t t0 = ivb_now_ns(), t1, t2;
		int ret;

		memcpy(dst, src, size);
		t1 = ivb_now_ns();
		ret = ivb_checksum(verify, dst + IVB_RING_STAMP_LEN, size - IVB_RING_STAMP_LEN, sum);
		t2 = ivb_now_ns();
		if (ret < 0)
			return ret;
		copies[i] = t1 - t0;
		verifies[i] = t2 - t1;
	}
	qsort(copies, repeats, sizeof(copies[0]), cmp_u64);
	qsort(verifies, repeats, sizeof(verifies[0]), cmp_u64);
	*copy_ns = copies[repeats / 2];
	*verify_ns = verifies[repeats / 2];
	return 0;
}

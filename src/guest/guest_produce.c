/* guest_produce.c: the guest as a stream's producer (guest-to-host): it lays out the ring the host asked for,
 * fills its frames from the host's seed, and writes them through its mapping of the region for the set time.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "clock.h"
#include "guest.h"
#include "sources.h"
#include "stream.h"

/* A frame's private-memory copy: the median of this many (the producer's share of the pipeline's limit). */
#define PRIVATE_REPEATS 5u

/*
 * Wait for the host to attach to the ring as its consumer, its buffers ready, before the clock starts.
 * Returns: 0, -ETIMEDOUT, -EINTR, or the peer check's error (why set).
 */
static int wait_consumer(struct ivb_guest *g, const struct ivb_ring_producer *p, ivb_stream_check_fn check,
			 char *why, size_t whylen)
{
	const uint64_t deadline = ivb_now_ns() + g->timeout_ns;

	while (!ivb_ring_consumer_attached(p)) {
		int ret = check(g->r, why, whylen);

		if (ret < 0)
			return ret;
		if (ivb_stop_requested) {
			snprintf(why, whylen, "stopped by a signal");
			return -EINTR;
		}
		if (ivb_now_ns() >= deadline) {
			snprintf(why, whylen, "the host did not attach to the guest's ring in time");
			return -ETIMEDOUT;
		}
		if (g->bell != NULL)
			(void)ivb_bell_wait(g->bell, IVB_BELL_SLICE_NS);
		else
			ivb_cpu_relax();
	}
	return 0;
}

uint32_t ivb_reader_produce(struct ivb_reader_workspace *w, uint8_t *ring, const struct ivb_message *msg,
			    const struct ivb_stream_spec *spec, const struct ivb_ring_geometry *g,
			    ivb_stream_check_fn check, struct ivb_reader_tally *tally)
{
	static struct ivb_stream_host h; /* large (frames in flight); one stream at a time */
	struct ivb_guest_stream *out = &w->g->r->guest_stream;
	struct ivb_sources src;
	struct ivb_cpu_span cpu;
	uint64_t write_ns = 0, unused;
	char why[IVB_WHY_LEN];
	int ret;

	/* One more source than slots: a slot never gets the same data twice in a row. */
	ret = ivb_sources_alloc(&src, g->nslots + 1, g->frame_size);
	if (ret == 0 && ivb_stream_private_cost(IVB_VERIFY_NONE, src.frame[0], src.frame[1], g->frame_size,
						PRIVATE_REPEATS, &write_ns, &unused) < 0)
		write_ns = 0;
	if (ret == 0)
		ret = ivb_sources_expand(&src, g->verify, spec->seed);
	if (ret < 0) {
		fprintf(stderr, PROG ": stream: cannot make %u %llu-byte frames from the host's seed: %s\n", g->nslots + 1,
			(unsigned long long)g->frame_size, strerror(-ret));
		ivb_sources_free(&src);
		return IVB_MSG_GUEST_FAILURE;
	}
	memset(&h, 0, sizeof(h));
	ivb_ring_producer_init(&h.ring, ring, g, NULL, NULL);
	/* The ring is laid out: the host may read it now. */
	atomic_store_explicit(&out->laid_sequence, msg->sequence, memory_order_release);
	if (w->g->bell != NULL)
		(void)ivb_bell_ring(w->g->bell, w->g->host_peer);
	h.bell = w->g->bell;
	h.guest_peer = w->g->host_peer;
	h.vector_per_consumer = spec->consumer_vectors != 0;
	h.seconds = spec->seconds;
	h.fps = spec->fps;
	h.timeout_ns = w->g->timeout_ns;
	h.sources = (const uint8_t *const *)src.frame;
	h.checksums = (const uint8_t(*)[IVB_RING_CHECKSUM_LEN])src.checksum;
	h.nsources = src.n;
	h.check = check;
	h.check_arg = w->g->r;
	h.consumer = "host";
	h.corrupt = spec->corrupt_frame1 != 0;
	h.corrupt_frame = spec->corrupt_frame1 - 1;
	ret = wait_consumer(w->g, &h.ring, check, why, sizeof(why));
	if (ret == 0) {
		ivb_cpu_span_start(&cpu);
		ret = ivb_stream_produce(&h);
		ivb_cpu_span_end(&cpu);
		snprintf(why, sizeof(why), "%s", h.why);
		out->produced = h.totals.produced;
		out->dropped = h.totals.dropped;
		out->rings_sent = h.totals.rings_sent;
		out->cpu_ns = (uint64_t)((cpu.user_s + cpu.sys_s) * 1e9);
		out->private_write_ns = write_ns;
		out->duration_ns = h.totals.duration_ns;
		tally->stream_frames_failed += h.totals.failed;
	}
	ivb_sources_free(&src);
	if (ret < 0) {
		ivb_ring_finish(&h.ring);
		fprintf(stderr, PROG ": stream: %s\n", why);
		return IVB_MSG_GUEST_FAILURE;
	}
	if (g->nconsumers > 1)
		snprintf(why, sizeof(why), " to %u consumers, %u of them dropped", g->nconsumers, h.totals.consumers_dropped);
	else
		why[0] = '\0';
	fprintf(stderr, PROG ": stream of %llu-byte frames to the host: %llu produced, %llu taken, %llu failed, "
		"%llu dropped, written through the %s mapping%s\n", (unsigned long long)g->frame_size,
		(unsigned long long)h.totals.produced, (unsigned long long)h.totals.consumed,
		(unsigned long long)h.totals.failed, (unsigned long long)h.totals.dropped,
		ivb_map_kind_name(w->g->info.map_kind), why);
	return IVB_MSG_OK;
}

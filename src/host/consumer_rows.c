/* consumer_rows.c: a consumer process's row records and the parent's check of each (consumer_rows.h). */
#include "consumer_rows.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "common.h"
#include "ring.h"

void ivb_consumer_row_of(const struct ivb_stream_frame *f, struct ivb_consumer_row *r)
{
	*r = (struct ivb_consumer_row){
		.consumer = f->consumer, .slot = f->slot, .seq = f->seq, .status = f->dropped ? 0 : f->status,
		.dropped = f->dropped, .failed = f->failed, .publish_ns = f->publish_ns, .latency_ns = f->latency_ns,
		.copy_ns = f->guest_copy_ns, .verify_ns = f->guest_verify_ns,
	};
}

void ivb_row_reader_init(struct ivb_row_reader *rd, uint32_t consumer, uint32_t nslots, uint32_t verify)
{
	memset(rd, 0, sizeof(*rd));
	rd->consumer = consumer;
	rd->nslots = nslots;
	rd->verify = verify;
}

/* Whether a consumer that found `status` in a frame counts it failed (as host_consume.c's reader decides). */
static bool fails(uint32_t status, uint32_t verify)
{
	return !(status == IVB_FRAME_OK || (status == IVB_FRAME_UNVERIFIED && verify == IVB_VERIFY_NONE));
}

/* The times of a row: none later than the consumer's span so far, copy and check inside the frame's hold. */
static const char *bad_times(const struct ivb_row_reader *rd, const struct ivb_consumer_row *r, uint64_t elapsed_ns)
{
	if (r->publish_ns > elapsed_ns || r->latency_ns > elapsed_ns - r->publish_ns)
		return "times later than the consumer has run";
	if (r->publish_ns < rd->last_publish_ns)
		return "times going back";
	if (r->dropped && (r->latency_ns | r->copy_ns | r->verify_ns) != 0)
		return "times for a frame it dropped";
	if (r->copy_ns > r->latency_ns || r->verify_ns > r->latency_ns - r->copy_ns)
		return "a copy and check longer than it held the frame";
	return NULL;
}

int ivb_consumer_row_check(const struct ivb_row_reader *rd, const struct ivb_consumer_row *r, uint64_t elapsed_ns,
			   char *why, size_t n)
{
	const char *times;

	if (r->consumer != rd->consumer)
		snprintf(why, n, "it sent a row for consumer %u", r->consumer);
	else if (r->seq != rd->next)
		snprintf(why, n, "it sent a row for frame %llu where frame %llu was next", (unsigned long long)r->seq,
			 (unsigned long long)rd->next);
	else if (r->dropped > 1 || r->failed > 1 || r->pad[0] != 0 || r->pad[1] != 0 || r->reserved != 0)
		snprintf(why, n, "it sent a row of frame %llu with garbage in its flags or padding", (unsigned long long)r->seq);
	else if (r->dropped ? r->slot != UINT32_MAX : r->slot >= rd->nslots)
		snprintf(why, n, "it sent a row of frame %llu with slot %u", (unsigned long long)r->seq, r->slot);
	else if (r->dropped ? r->status != 0 || r->failed
			    : r->status < IVB_FRAME_OK || r->status > IVB_FRAME_STATUS_MAX)
		snprintf(why, n, "it sent a row of frame %llu with status %u", (unsigned long long)r->seq, r->status);
	else if (!r->dropped && r->failed != fails(r->status, rd->verify))
		snprintf(why, n, "it sent a row of frame %llu that calls status %u %s", (unsigned long long)r->seq, r->status,
			 r->failed ? "failed" : "passed");
	else if ((times = bad_times(rd, r, elapsed_ns)) != NULL)
		snprintf(why, n, "it sent a row of frame %llu with %s", (unsigned long long)r->seq, times);
	else
		return 0;
	return -EPROTO;
}

/* Check the record at rd->buf + off and pass it on. Returns: 0, -EPROTO (refused: rd->lost), or emit's error. */
static int take(struct ivb_row_reader *rd, size_t off, uint64_t elapsed_ns, ivb_row_fn emit, void *arg)
{
	struct ivb_consumer_row r;
	struct ivb_stream_frame f;

	memcpy(&r, rd->buf + off, sizeof(r));
	if (ivb_consumer_row_check(rd, &r, elapsed_ns, rd->why, sizeof(rd->why)) < 0) {
		rd->lost = true;
		return -EPROTO;
	}
	f = (struct ivb_stream_frame){ .seq = r.seq, .slot = r.slot, .dropped = r.dropped, .status = r.status,
				       .publish_ns = r.publish_ns, .latency_ns = r.latency_ns,
				       .guest_copy_ns = r.copy_ns, .guest_verify_ns = r.verify_ns,
				       .failed = r.failed, .consumer = r.consumer };
	rd->next = r.seq + 1;
	rd->last_publish_ns = r.publish_ns;
	rd->rows++;
	return emit(arg, &f);
}

int ivb_row_reader_feed(struct ivb_row_reader *rd, const void *bytes, size_t len, uint64_t elapsed_ns, ivb_row_fn emit,
			void *arg)
{
	const uint8_t *in = bytes;

	while (len > 0 && !rd->lost) {
		size_t n = sizeof(rd->buf) - rd->have < len ? sizeof(rd->buf) - rd->have : len, used = 0;

		memcpy(rd->buf + rd->have, in, n);
		rd->have += n;
		in += n;
		len -= n;
		for (; rd->have - used >= sizeof(struct ivb_consumer_row); used += sizeof(struct ivb_consumer_row)) {
			int ret = take(rd, used, elapsed_ns, emit, arg);

			if (ret < 0) {
				rd->have = 0;
				return ret;
			}
		}
		rd->have -= used;
		memmove(rd->buf, rd->buf + used, rd->have);
	}
	return rd->lost ? -EPROTO : 0;
}

int ivb_row_reader_end(struct ivb_row_reader *rd)
{
	if (rd->lost)
		return -EPROTO;
	if (rd->have != 0) {
		snprintf(rd->why, sizeof(rd->why), "its pipe closed inside a record (%zu of its %zu bytes)", rd->have,
			 sizeof(struct ivb_consumer_row));
		rd->lost = true;
		return -EPROTO;
	}
	return 0;
}

/* fuzz_consumer_rows.c: the row records a host consumer process sends its parent through its pipe, as the parent
 * reads and checks them (src/host/consumer_rows.c).
 *
 * Input: a byte with the ring's slots (low 4 bits, + 1) and the verification (high bits), a byte with the size
 * of the pieces the pipe delivers (+ 1), then the bytes the consumer wrote. They are fed twice, whole and in
 * pieces: both readers must take the same rows and end the same way, and every row taken must be what the
 * reader promises (consumer 1's, frames in order from 0, a slot in range or none when dropped, a status in
 * range, times within the consumer's span, the copy and check within the hold); nothing is taken after a
 * record is refused. */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "consumer_rows.h"
#include "ring.h"

#define CONSUMER 1u
#define ELAPSED_NS 5000000000ull
#define MAX_ROWS 4096u

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

struct taken {
	const struct ivb_row_reader *rd;
	struct ivb_stream_frame f[MAX_ROWS];
	size_t n;
};

/* Each row the reader passes on must keep its promises. */
static int take(void *arg, const struct ivb_stream_frame *f)
{
	struct taken *t = arg;
	const uint32_t nslots = t->rd->nslots;

	if (t->rd->lost || f->consumer != CONSUMER || f->seq != t->n || f->publish_ns > ELAPSED_NS ||
	    f->latency_ns > ELAPSED_NS - f->publish_ns || f->guest_copy_ns > f->latency_ns ||
	    f->guest_verify_ns > f->latency_ns - f->guest_copy_ns)
		abort();
	if (f->dropped ? f->slot != UINT32_MAX || f->latency_ns != 0 || f->failed
		       : f->slot >= nslots || f->status < IVB_FRAME_OK || f->status > IVB_FRAME_STATUS_MAX)
		abort();
	if (t->n < MAX_ROWS)
		t->f[t->n] = *f;
	t->n++;
	return 0;
}

static int same(const struct ivb_stream_frame *x, const struct ivb_stream_frame *y)
{
	return x->seq == y->seq && x->slot == y->slot && x->dropped == y->dropped && x->status == y->status &&
	       x->publish_ns == y->publish_ns && x->latency_ns == y->latency_ns && x->guest_copy_ns == y->guest_copy_ns &&
	       x->guest_verify_ns == y->guest_verify_ns && x->failed == y->failed && x->consumer == y->consumer;
}

/* Feed the bytes in pieces of `piece`; the reader's last answer, then its end's. */
static int run(struct ivb_row_reader *rd, struct taken *t, const uint8_t *bytes, size_t len, size_t piece,
	       uint32_t nslots, uint32_t verify)
{
	int ret = 0;

	ivb_row_reader_init(rd, CONSUMER, nslots, verify);
	t->rd = rd;
	t->n = 0;
	for (size_t off = 0; off < len && ret == 0; off += piece)
		ret = ivb_row_reader_feed(rd, bytes + off, len - off < piece ? len - off : piece, ELAPSED_NS, take, t);
	if (ret == 0)
		ret = ivb_row_reader_end(rd);
	return ret;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct ivb_row_reader whole, cut;
	static struct taken a, b;
	uint32_t nslots, verify;
	size_t piece;
	int ra, rb;

	if (size < 2 || size > 2 + MAX_ROWS * sizeof(struct ivb_consumer_row))
		return 0;
	nslots = (data[0] & 0x0f) + 1u;
	verify = IVB_VERIFY_NONE + (uint32_t)(data[0] >> 4) % IVB_RING_VERIFY_MAX;
	piece = (size_t)data[1] + 1;
	ra = run(&whole, &a, data + 2, size - 2, size - 2 > 0 ? size - 2 : 1, nslots, verify);
	rb = run(&cut, &b, data + 2, size - 2, piece, nslots, verify);
	if (ra != rb || (ra != 0 && ra != -EPROTO) || a.n != b.n || whole.rows != a.n || cut.rows != b.n ||
	    whole.lost != (ra != 0) || strcmp(whole.why, cut.why) != 0)
		abort();
	for (size_t i = 0; i < a.n && i < MAX_ROWS; i++)
		if (!same(&a.f[i], &b.f[i]))
			abort();
	return 0;
}

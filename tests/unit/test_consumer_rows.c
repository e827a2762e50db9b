/* Unit tests of consumer_rows.c: the parent's check of the row records a host consumer process sends through its
 * pipe. An honest consumer's records pass, in any pieces the pipe cuts them into; each lie a consumer gone wrong
 * could tell is refused with its own reason, the rows before it kept and nothing after it taken. */
#include <errno.h>
#include <stdint.h>
#include <string.h>

#include "check.h"
#include "consumer_rows.h"

#define NSLOTS 3u
/* How long the consumer has run when its records are read. */
#define ELAPSED_NS 1000000000ull

struct sink {
	struct ivb_stream_frame f[64];
	size_t n;
	int fail_at; /* emit fails with -EIO at this row (-1: never) */
};

static int collect(void *arg, const struct ivb_stream_frame *f)
{
	struct sink *s = arg;

	if ((int)s->n == s->fail_at)
		return -EIO;
	if (s->n < 64)
		s->f[s->n] = *f;
	s->n++;
	return 0;
}

/* The record consumer c sends for frame seq: consumed in slot seq % NSLOTS, or dropped. */
static struct ivb_consumer_row honest(uint32_t c, uint64_t seq, bool dropped)
{
	struct ivb_stream_frame f = { .seq = seq, .consumer = c, .publish_ns = 1000 + seq * 100 };
	struct ivb_consumer_row r;

	if (dropped) {
		f.slot = UINT32_MAX;
		f.dropped = true;
	} else {
		f.slot = (uint32_t)(seq % NSLOTS);
		f.status = IVB_FRAME_OK;
		f.latency_ns = 50;
		f.guest_copy_ns = 20;
		f.guest_verify_ns = 30;
	}
	ivb_consumer_row_of(&f, &r);
	return r;
}

/* Feed rows[0..n) to a fresh reader of consumer 1 in pieces of `piece` bytes; the reader's last return. */
static int feed(struct ivb_row_reader *rd, const struct ivb_consumer_row *rows, size_t n, size_t piece, struct sink *s)
{
	const uint8_t *bytes = (const uint8_t *)rows;
	const size_t len = n * sizeof(rows[0]);
	int ret = 0;

	ivb_row_reader_init(rd, 1, NSLOTS, IVB_VERIFY_XXH3);
	memset(s, 0, sizeof(*s));
	s->fail_at = -1;
	for (size_t off = 0; off < len && ret == 0; off += piece)
		ret = ivb_row_reader_feed(rd, bytes + off, len - off < piece ? len - off : piece, ELAPSED_NS, collect, s);
	return ret;
}

static void test_honest_records_pass_in_any_pieces(void)
{
	struct ivb_consumer_row rows[10];
	struct ivb_row_reader rd;
	struct sink s;
	const size_t pieces[] = { 1, 7, 64, 100, 640 };

	for (uint64_t i = 0; i < 10; i++)
		rows[i] = honest(1, i, i == 4 || i == 5);
	for (size_t k = 0; k < sizeof(pieces) / sizeof(pieces[0]); k++) {
		CHECK(feed(&rd, rows, 10, pieces[k], &s) == 0);
		CHECK(ivb_row_reader_end(&rd) == 0);
		CHECK(s.n == 10 && rd.rows == 10 && rd.next == 10 && !rd.lost);
		CHECK(s.f[4].dropped && s.f[4].slot == UINT32_MAX && s.f[9].slot == 0 && s.f[9].consumer == 1);
		CHECK(s.f[3].latency_ns == 50 && s.f[3].guest_copy_ns == 20 && s.f[3].guest_verify_ns == 30);
	}
}

/* What a lie does to an honest record 3 of 6. */
enum lie { WRONG_CONSUMER, GOES_BACK, SKIPS, SLOT_OUT, SLOT_ON_DROP, STATUS_OUT, STATUS_ON_DROP, FAILED_LIES,
	   FLAG_GARBAGE, PAD_GARBAGE, FROM_THE_FUTURE, TIME_BACK, TIME_ON_DROP, CHECK_TOO_LONG, ALL_GARBAGE, NLIES };

static void tell(enum lie lie, struct ivb_consumer_row *r)
{
	switch (lie) {
	case WRONG_CONSUMER: r->consumer = 2; break;
	case GOES_BACK: r->seq = 1; break;
	case SKIPS: r->seq = 5; break;
	case SLOT_OUT: r->slot = NSLOTS; break;
	case SLOT_ON_DROP: *r = honest(1, 3, true); r->slot = 0; break;
	case STATUS_OUT: r->status = IVB_FRAME_STATUS_MAX + 1; break;
	case STATUS_ON_DROP: *r = honest(1, 3, true); r->status = IVB_FRAME_OK; break;
	case FAILED_LIES: r->status = IVB_FRAME_BAD_CHECKSUM; break; /* and failed stays 0 */
	case FLAG_GARBAGE: r->dropped = 2; break;
	case PAD_GARBAGE: r->reserved = 1; break;
	case FROM_THE_FUTURE: r->publish_ns = ELAPSED_NS; r->latency_ns = 1; break;
	case TIME_BACK: r->publish_ns = 0; break;
	case TIME_ON_DROP: *r = honest(1, 3, true); r->latency_ns = 1; break;
	case CHECK_TOO_LONG: r->verify_ns = 31; break; /* copy 20 + verify 31 > held 50 */
	case ALL_GARBAGE: memset(r, 0xa5, sizeof(*r)); break;
	case NLIES: break;
	}
}

static void test_each_lie_is_refused(void)
{
	static const char *const said[NLIES] = {
		"it sent a row for consumer 2",
		"it sent a row for frame 1 where frame 3 was next",
		"it sent a row for frame 5 where frame 3 was next",
		"it sent a row of frame 3 with slot 3",
		"it sent a row of frame 3 with slot 0",
		"it sent a row of frame 3 with status 5",
		"it sent a row of frame 3 with status 1",
		"it sent a row of frame 3 that calls status 2 passed",
		"it sent a row of frame 3 with garbage in its flags or padding",
		"it sent a row of frame 3 with garbage in its flags or padding",
		"it sent a row of frame 3 with times later than the consumer has run",
		"it sent a row of frame 3 with times going back",
		"it sent a row of frame 3 with times for a frame it dropped",
		"it sent a row of frame 3 with a copy and check longer than it held the frame",
		"it sent a row for consumer 2779096485",
	};

	for (int lie = 0; lie < NLIES; lie++) {
		struct ivb_consumer_row rows[6];
		struct ivb_row_reader rd;
		struct sink s;

		for (uint64_t i = 0; i < 6; i++)
			rows[i] = honest(1, i, false);
		tell((enum lie)lie, &rows[3]);
		CHECK(feed(&rd, rows, 6, 6 * sizeof(rows[0]), &s) == -EPROTO);
		CHECK(rd.lost && rd.rows == 3 && s.n == 3 && s.f[2].seq == 2);
		if (strcmp(rd.why, said[lie]) != 0) {
			fprintf(stderr, "lie %d: '%s'\n", lie, rd.why);
			CHECK(strcmp(rd.why, said[lie]) == 0);
		}
		/* Nothing after it is taken, and the end says lost still. */
		rows[3] = honest(1, 3, false);
		CHECK(ivb_row_reader_feed(&rd, &rows[3], sizeof(rows[3]), ELAPSED_NS, collect, &s) == -EPROTO && s.n == 3);
		CHECK(ivb_row_reader_end(&rd) == -EPROTO);
	}
}

/* An honest consumer that calls a bad frame failed, and an unverified copy passed with --verify none. */
static void test_failed_follows_the_verification(void)
{
	struct ivb_consumer_row rows[2] = { honest(1, 0, false), honest(1, 1, false) };
	struct ivb_row_reader rd;
	struct sink s;

	rows[0].status = IVB_FRAME_BAD_STAMP;
	rows[0].failed = 1;
	rows[1].status = IVB_FRAME_UNVERIFIED;
	rows[1].failed = 1;
	CHECK(feed(&rd, rows, 2, sizeof(rows), &s) == 0 && s.n == 2);
	ivb_row_reader_init(&rd, 1, NSLOTS, IVB_VERIFY_NONE);
	rows[1].failed = 0;
	memset(&s, 0, sizeof(s));
	s.fail_at = -1;
	CHECK(ivb_row_reader_feed(&rd, rows, sizeof(rows), ELAPSED_NS, collect, &s) == 0 && s.n == 2);
}

/* A pipe that closes inside a record, and the writer's own error passed on. */
static void test_short_record_and_emit_error(void)
{
	struct ivb_consumer_row rows[3] = { honest(1, 0, false), honest(1, 1, false), honest(1, 2, false) };
	struct ivb_row_reader rd;
	struct sink s;

	ivb_row_reader_init(&rd, 1, NSLOTS, IVB_VERIFY_XXH3);
	memset(&s, 0, sizeof(s));
	s.fail_at = -1;
	CHECK(ivb_row_reader_feed(&rd, rows, sizeof(rows[0]) * 2 - 10, ELAPSED_NS, collect, &s) == 0);
	CHECK(s.n == 1 && rd.have == sizeof(rows[0]) - 10);
	CHECK(ivb_row_reader_end(&rd) == -EPROTO && rd.lost);
	CHECK(strcmp(rd.why, "its pipe closed inside a record (54 of its 64 bytes)") == 0);
	ivb_row_reader_init(&rd, 1, NSLOTS, IVB_VERIFY_XXH3);
	memset(&s, 0, sizeof(s));
	s.fail_at = 1;
	CHECK(ivb_row_reader_feed(&rd, rows, sizeof(rows), ELAPSED_NS, collect, &s) == -EIO && s.n == 1 && !rd.lost);
}

int main(void)
{
	RUN_TEST(test_honest_records_pass_in_any_pieces);
	RUN_TEST(test_each_lie_is_refused);
	RUN_TEST(test_failed_follows_the_verification);
	RUN_TEST(test_short_record_and_emit_error);
	return CHECK_SUMMARY("consumer_rows");
}

/* fuzz_ring.c: the stream ring's control page as each side reads it from the other (src/shared/ring*.c), through
 * ring.h's public functions only. No function of the ring blocks; every loop here is bounded by the input.
 *
 * Input: a byte choosing the side, policy and verification, a byte for the slot count, a byte for the
 * frame size, then a script of one-byte operations (with their operands) run against a ring laid out by
 * a real producer: writes of 4 or 8 bytes over the peer's fields of the control page, interleaved with
 * both sides' steps. The side under test acts through its public calls and every invariant ring.h
 * promises whatever the peer wrote is checked (abort() when one breaks, so that the fuzzer reports it);
 * the peer is a real producer or consumer whose fields the script overwrites at will. A script rather
 * than one overlay reaches the states after a few frames (a consumer past frame 0, a slot reused),
 * where the checks on a sequence, a count or a claim matter. The host's view of the guest's released
 * count is checked after each collect and end step (never back, never past the frames published: under
 * latest, the skipped frames are not published), as every wait of stream.c relies on it. */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "protocol.h" /* IVB_MAX_DURATION_NS */
#include "ring.h"

#define MAX_OPS 512u
#define MAX_FRAMES (MAX_OPS + 1u)
#define WHY 256

/* The fields each side writes, as byte ranges of the control page. */
#define HOST_LINES_END (2u * IVB_CACHE_LINE) /* lines 0-1: geometry and producer */
#define GUEST_LINE (2u * IVB_CACHE_LINE)     /* line 2: consumer */
#define DESC_FROM offsetof(struct ivb_ring_ctl, desc)
#define RESULT_FROM offsetof(struct ivb_ring_ctl, result)
#define SLOT_LINES (IVB_RING_MAX_SLOTS * IVB_CACHE_LINE) /* descriptors, results: a line per slot */
#define HOST_BYTES (HOST_LINES_END + SLOT_LINES)
#define GUEST_BYTES (IVB_CACHE_LINE + SLOT_LINES)

struct script {
	const uint8_t *data;
	size_t size, at;
};

static uint64_t next_bytes(struct script *s, unsigned n)
{
	uint64_t v = 0;

	for (unsigned i = 0; i < n && s->at < s->size; i++)
		v |= (uint64_t)s->data[s->at++] << (8 * i);
	return v;
}

/* The offset in the control page of byte i of a side's fields, laid end to end. */
static size_t host_offset(size_t i)
{
	return i < HOST_LINES_END ? i : DESC_FROM + (i - HOST_LINES_END);
}

static size_t guest_offset(size_t i)
{
	return i < IVB_CACHE_LINE ? GUEST_LINE + i : RESULT_FROM + (i - IVB_CACHE_LINE);
}

/*
 * The peer writes 4 or 8 bytes (op bit 7) of its own fields, at an offset in 4-byte units (2 bytes):
 * either a value (4 or 8 bytes), or (op bit 6) the field's value plus a signed byte, which reaches the
 * edges of a counter or sequence (one past head, a result for the next frame) far sooner.
 */
static void poke(struct script *s, uint8_t op, uint8_t *ctl, bool host_fields)
{
	size_t units = (host_fields ? HOST_BYTES : GUEST_BYTES) / 4;
	unsigned len = op & 0x80 ? 8 : 4;
	size_t i = (size_t)(next_bytes(s, 2) % units) * 4;
	uint64_t v = 0;
	size_t off;

	if (i + len > units * 4)
		i = units * 4 - len;
	off = host_fields ? host_offset(i) : guest_offset(i);
	if (op & 0x40) {
		memcpy(&v, ctl + off, len);
		v += (uint64_t)(int64_t)(int8_t)next_bytes(s, 1);
	} else {
		v = next_bytes(s, len);
	}
	memcpy(ctl + off, &v, len); /* little-endian: the low bytes */
}

/*
 * A guest that says it consumed a frame near the producer's next one (operands: a signed byte, the
 * distance from next_seq, and for latest a slot byte): a well-formed result and count, maybe a lie.
 * Several fields at once, which random writes would seldom line up.
 */
static void claim(struct script *s, const struct ivb_ring_producer *p, uint8_t *ctl)
{
	struct ivb_ring_ctl *c = (struct ivb_ring_ctl *)ctl;
	uint64_t seq = p->next_seq + (uint64_t)(int64_t)((int8_t)next_bytes(s, 1) % 4);
	uint32_t slot = p->g.policy == IVB_RING_BLOCK ? (uint32_t)(seq % p->g.nslots)
						      : (uint32_t)(next_bytes(s, 1) % p->g.nslots);
	struct ivb_ring_result *r = &c->result[slot];

	r->copy_ns = 1;
	r->verify_ns = 1;
	r->status = IVB_FRAME_OK;
	atomic_store(&r->seq1, seq + 1);
	atomic_store(&c->released, p->g.policy == IVB_RING_BLOCK ? seq + 1 : atomic_load(&c->released) + 1);
}

/* A copy of one side's fields, to check the other side never writes them. */
static void snapshot(const uint8_t *ctl, bool host_fields, uint8_t *out)
{
	size_t line = host_fields ? HOST_LINES_END : IVB_CACHE_LINE;

	memcpy(out, ctl + (host_fields ? 0 : GUEST_LINE), line);
	memcpy(out + line, ctl + (host_fields ? DESC_FROM : RESULT_FROM), SLOT_LINES);
}

static void check_untouched(const uint8_t *ctl, bool host_fields, const uint8_t *before)
{
	uint8_t now[HOST_BYTES > GUEST_BYTES ? HOST_BYTES : GUEST_BYTES];

	snapshot(ctl, host_fields, now);
	if (memcmp(now, before, host_fields ? HOST_BYTES : GUEST_BYTES) != 0)
		abort(); /* a side wrote a field the other owns */
}

/* What the producer side has learnt and published, to check its outcomes against. */
struct ledger {
	struct ivb_ring_producer *p;
	uint32_t policy;
	uint64_t outcomes;
	uint64_t published;                  /* frames written into a slot and published */
	uint64_t released;                   /* the guest's released count as last accepted */
	bool skipping;                       /* inside ivb_ring_skip: frame next_seq is reported */
	uint8_t got[MAX_FRAMES];             /* outcomes reported per frame */
	uint32_t slot_of[MAX_FRAMES];        /* the slot each frame was published in */
	uint64_t owner1[IVB_RING_MAX_SLOTS]; /* sequence + 1 of the last frame published in each slot */
};

static void on_outcome(void *arg, const struct ivb_ring_outcome *o)
{
	struct ledger *l = arg;
	uint64_t limit = l->p->next_seq + (l->skipping ? 1 : 0);

	if (o->seq >= limit || o->seq >= MAX_FRAMES || l->got[o->seq] != 0)
		abort(); /* an outcome for a frame never published, or a second one */
	if (l->skipping ? o->slot != UINT32_MAX || o->consumed : o->slot != l->slot_of[o->seq])
		abort(); /* the outcome names another slot than the frame's */
	if (o->consumed && (o->status < IVB_FRAME_OK || o->status > IVB_FRAME_STATUS_MAX ||
			    o->copy_ns > IVB_MAX_DURATION_NS || o->verify_ns > IVB_MAX_DURATION_NS))
		abort(); /* a result out of range passed on */
	if (l->policy == IVB_RING_BLOCK && (!o->consumed || o->seq != l->outcomes))
		abort(); /* block: every frame consumed, in order */
	l->got[o->seq] = 1;
	l->outcomes++;
}

static void write_frame(struct ivb_ring_producer *p, struct ledger *l, uint32_t slot)
{
	static const uint8_t checksum[IVB_RING_CHECKSUM_LEN];
	uint64_t seq = p->next_seq;

	memset(ivb_ring_slot(p, slot) + IVB_RING_STAMP_LEN, (int)(seq & 0xff), p->g.frame_size - IVB_RING_STAMP_LEN);
	l->slot_of[seq] = slot;
	l->owner1[slot] = seq + 1;
	l->published++;
	ivb_ring_publish(p, slot, p->g.frame_size, checksum);
}

/* The producer's next frame: a slot, checked, then written and published (latest: skipped if none). */
static void produce(struct ivb_ring_producer *p, struct ledger *l)
{
	uint32_t slot = UINT32_MAX;
	uint64_t latest = atomic_load(&p->ctl->latest);
	int ret;

	if (p->next_seq >= MAX_FRAMES)
		return;
	p->why[0] = '\0';
	ret = ivb_ring_acquire(p, &slot);
	if (ret == -EPROTO && p->why[0] == '\0')
		abort(); /* a refusal must say why */
	if (ret == -EAGAIN && p->g.policy == IVB_RING_LATEST) {
		l->skipping = true;
		ivb_ring_skip(p);
		l->skipping = false;
		return;
	}
	if (ret < 0)
		return;
	if (slot >= p->g.nslots)
		abort(); /* a slot outside the ring */
	if (l->owner1[slot] != 0 && l->got[l->owner1[slot] - 1] == 0)
		abort(); /* the slot's frame would be overwritten before its outcome is known */
	if (p->g.policy == IVB_RING_BLOCK && slot != p->next_seq % p->g.nslots)
		abort();
	if (p->g.policy == IVB_RING_LATEST) {
		uint64_t reading = atomic_load(&p->ctl->reading);

		if ((latest != 0 && slot == (latest & 0xff)) || (reading != 0 && slot == (reading & 0xff)))
			abort(); /* the newest frame's slot or the one the guest claimed */
	}
	write_frame(p, l, slot);
}

/*
 * The host's view of the guest's released count, whatever the script wrote: accepted only when it has
 * not gone back and does not exceed the frames published (block: in order, so also the next frame's
 * sequence); refused with a reason otherwise. The waits of stream.c rest on this bound.
 */
static void check_released(struct ivb_ring_producer *p, struct ledger *l)
{
	uint64_t released = 0;
	int ret;

	p->why[0] = '\0';
	ret = ivb_ring_released(p, &released);
	if (ret == -EPROTO && p->why[0] == '\0')
		abort(); /* a refusal must say why */
	if (ret != 0 && ret != -EPROTO)
		abort();
	if (ret == 0 && (released < l->released || released > l->published || released > p->next_seq))
		abort(); /* a count out of range passed on */
	if (ret == 0)
		l->released = released;
}

/* A consumer that has opened the ring and maybe holds a frame. */
struct guest {
	struct ivb_ring_consumer c;
	struct ivb_ring_frame f;
	bool open, holding;
	uint64_t capacity;
	uint8_t *buffer;
};

static uint8_t read_all(const uint8_t *d, uint64_t n)
{
	uint8_t x = 0;

	for (uint64_t i = 0; i < n; i++)
		x ^= d[i];
	return x;
}

static void guest_open(struct guest *g)
{
	char why[WHY] = "";

	g->holding = false;
	g->open = ivb_ring_consumer_open(&g->c, g->buffer, g->capacity, why, sizeof(why)) == 0;
	if (g->open)
		ivb_ring_consumer_start(&g->c);
	if (!g->open && why[0] == '\0')
		abort(); /* a refusal must say why */
	if (g->open && (g->c.g.nslots < 2 || g->c.g.nslots > IVB_RING_MAX_SLOTS ||
			IVB_RING_CTL_SIZE + g->c.g.slot_stride * g->c.g.nslots > g->capacity))
		abort(); /* a geometry accepted that does not fit the mapping */
}

/* Take a frame and read every byte of it: ASan reports a slot or size outside the buffer. */
static void guest_take(struct guest *g)
{
	uint64_t before = g->c.next_seq;
	char why[WHY] = "";
	int ret;

	if (!g->open)
		guest_open(g);
	if (!g->open || g->holding)
		return;
	ret = ivb_ring_take(&g->c, &g->f, why, sizeof(why));
	if (ret == -EPROTO && why[0] == '\0')
		abort();
	if (ret != 0)
		return;
	if (g->f.slot >= g->c.g.nslots || g->f.size < IVB_RING_MIN_FRAME || g->f.size > g->c.g.slot_stride ||
	    g->f.data != g->buffer + IVB_RING_CTL_SIZE + (uint64_t)g->f.slot * g->c.g.slot_stride)
		abort(); /* a frame outside its slot */
	if (g->c.g.policy == IVB_RING_BLOCK ? g->f.seq != before : g->f.seq < before)
		abort(); /* block: the next frame; latest: never an older one */
	(void)read_all(g->f.data, g->f.size);
	(void)ivb_ring_read_stamp(g->f.data);
	g->holding = true;
}

static void guest_release(struct guest *g, uint8_t how)
{
	if (!g->holding)
		return;
	ivb_ring_release(&g->c, &g->f, IVB_FRAME_OK + how % IVB_FRAME_STATUS_MAX, how, how / 2u);
	g->holding = false;
}

/*
 * An operation is its byte modulo OP_KINDS (the high bits are the poke's modes); every kind but a poke
 * takes one operand byte. Guest under test: the host's steps are OP_PRODUCE (odd operand: finish);
 * host under test: the guest's are OP_TAKE, OP_RELEASE and OP_REOPEN (odd operand: finish).
 */
enum { OP_POKE, OP_PRODUCE, OP_TAKE, OP_RELEASE, OP_COLLECT, OP_WAKE, OP_END, OP_REOPEN, OP_KINDS };

/*
 * Guest under test: the script writes the host's fields (geometry, head, latest, descriptors, its wake
 * request) between a real producer's frames; the consumer must refuse or read within its slots.
 */
static void fuzz_guest(struct guest *g, struct ivb_ring_producer *p, struct ledger *l, struct script *s)
{
	uint8_t *ctl = g->buffer, before[HOST_BYTES];

	for (unsigned n = 0; n < MAX_OPS && s->at < s->size; n++) {
		uint8_t op = s->data[s->at++], arg;

		if (op % OP_KINDS == OP_POKE) {
			poke(s, op, ctl, true);
			continue;
		}
		arg = (uint8_t)next_bytes(s, 1);
		if (op % OP_KINDS == OP_PRODUCE) {
			/* The real host's steps, which write its own fields. */
			if (arg & 1)
				ivb_ring_finish(p);
			else
				produce(p, l);
			(void)ivb_ring_producer_should_ring(p);
			continue;
		}
		snapshot(ctl, true, before);
		switch (op % OP_KINDS) {
		case OP_TAKE:
			guest_take(g);
			break;
		case OP_RELEASE:
			guest_release(g, arg);
			break;
		case OP_COLLECT:
			if (g->open)
				(void)ivb_ring_consumer_should_ring(&g->c);
			break;
		case OP_WAKE:
			if (g->open && (arg & 1 ? ivb_ring_consumer_sleep(&g->c) : true))
				ivb_ring_consumer_awake(&g->c);
			break;
		case OP_END:
			if (g->open)
				ivb_ring_consumer_finish(&g->c, NULL);
			break;
		case OP_REOPEN:
			guest_open(g);
			break;
		}
		check_untouched(ctl, true, before);
	}
}

/*
 * Host under test: the script writes the guest's fields (released, the claim, results, its state,
 * report and wake request) between a real consumer's steps; the producer must refuse or report each
 * published frame's outcome at most once, and hand out only slots whose frame is settled.
 */
static void fuzz_host(struct guest *g, struct ivb_ring_producer *p, struct ledger *l, struct script *s)
{
	uint8_t *ctl = g->buffer, before[GUEST_BYTES];
	struct ivb_ring_guest_report rep;

	for (unsigned n = 0; n < MAX_OPS && s->at < s->size; n++) {
		uint8_t op = s->data[s->at++], arg;

		if (op % OP_KINDS == OP_POKE) {
			if (op & 0x20)
				claim(s, p, ctl);
			else
				poke(s, op, ctl, false);
			continue;
		}
		arg = (uint8_t)next_bytes(s, 1);
		if (op % OP_KINDS == OP_TAKE || op % OP_KINDS == OP_RELEASE || op % OP_KINDS == OP_REOPEN) {
			/* The real guest's steps, which write its own fields. */
			if (op % OP_KINDS == OP_REOPEN && arg & 1 && g->open) {
				rep = (struct ivb_ring_guest_report){ arg, arg, arg };
				ivb_ring_consumer_finish(&g->c, &rep);
			} else if (op % OP_KINDS == OP_REOPEN) {
				guest_open(g);
			}
			else if (op % OP_KINDS == OP_TAKE)
				guest_take(g);
			else
				guest_release(g, arg);
			continue;
		}
		snapshot(ctl, false, before);
		switch (op % OP_KINDS) {
		case OP_PRODUCE:
			produce(p, l);
			break;
		case OP_COLLECT:
			p->why[0] = '\0';
			if (arg & 1) {
				if (ivb_ring_collect(p) == -EPROTO && p->why[0] == '\0')
					abort(); /* a refusal must say why */
				check_released(p, l);
			} else if (ivb_ring_settle(p) == 0) {
				for (uint64_t seq = 0; seq < p->next_seq && seq < MAX_FRAMES; seq++)
					if (l->got[seq] != 1)
						abort(); /* settled, yet a frame has no outcome */
			}
			break;
		case OP_WAKE:
			if (arg & 1) {
				(void)ivb_ring_producer_should_ring(p);
			} else if (ivb_ring_producer_sleep(p, p->next_seq + 1 - (arg >> 1) % 2)) {
				ivb_ring_producer_awake(p);
			}
			break;
		case OP_END:
			if (arg & 1)
				ivb_ring_finish(p);
			check_released(p, l);
			(void)ivb_ring_consumer_done(p);
			(void)ivb_ring_consumer_attached(p);
			if (ivb_ring_read_guest_report(p, &rep) == 0 &&
			    (rep.private_copy_ns > IVB_MAX_DURATION_NS || rep.private_verify_ns > IVB_MAX_DURATION_NS ||
			     rep.cpu_ns > IVB_MAX_DURATION_NS))
				abort(); /* a report out of range passed on */
			break;
		}
		check_untouched(ctl, false, before);
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const uint32_t verify[] = { IVB_VERIFY_NONE, IVB_VERIFY_SHA256, IVB_VERIFY_XXH3 };
	struct script s = { .data = data, .size = size, .at = 3 };
	struct ivb_ring_geometry geo;
	struct ivb_ring_producer p;
	static struct ledger l;
	struct guest g = { 0 };
	uint64_t need;

	if (size < 3)
		return 0;
	if (ivb_ring_geometry_for(UINT64_MAX, 2u + data[1] % (IVB_RING_MAX_SLOTS - 1u), 64u + data[2] * 16u,
				  data[0] & 2 ? IVB_RING_LATEST : IVB_RING_BLOCK, verify[(data[0] >> 2) % 3],
				  data[0] & 32 ? IVB_CONSUME_INPLACE : IVB_CONSUME_COPY, &geo, &need) < 0)
		abort();
	/* Exactly the mapping the consumer is told of, so that ASan sees a read one byte past it. */
	g.capacity = need;
	g.buffer = aligned_alloc(IVB_RING_SLOT_ALIGN, need);
	if (g.buffer == NULL)
		return 0;
	memset(g.buffer, 0, need);
	memset(&l, 0, sizeof(l));
	l.p = &p;
	l.policy = geo.policy;
	ivb_ring_producer_init(&p, g.buffer, &geo, on_outcome, &l);
	if (data[0] & 1)
		fuzz_host(&g, &p, &l, &s);
	else
		fuzz_guest(&g, &p, &l, &s);
	free(g.buffer);
	return 0;
}

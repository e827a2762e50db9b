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
 * latest, the skipped frames are not published), as every wait of stream.c relies on it. A ring of two
 * consumers (a bit of the first byte) adds the second consumer's fields: the consumer under test is either
 * one and must keep to its own lines; the producer under test reads both consumers' counts, results and
 * claims, and drops a consumer on a clock the script moves (its unresolved frames then reported once). */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "protocol.h" /* IVB_MAX_DURATION_NS */
#include "ring.h"

#define MAX_OPS 512u
#define MAX_FRAMES (MAX_OPS + 1u)
#define WHY 256

/* The fields each side writes, as byte ranges of the control page: the producer's lines (geometry, producer,
 * descriptors, feeds) come first, then each consumer's. */
#define HOST_BYTES offsetof(struct ivb_ring_ctl, cons)
#define CONS_BYTES sizeof(struct ivb_ring_cons)
#define FUZZ_CONSUMERS 2u

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

/* The offset in the control page of byte i of a side's fields (the consumers' of the fuzzed ring). */
static size_t host_offset(size_t i)
{
	return i;
}

static size_t guest_offset(size_t i)
{
	return HOST_BYTES + i;
}

/*
 * The peer writes 4 or 8 bytes (op bit 7) of its own fields, at an offset in 4-byte units (2 bytes):
 * either a value (4 or 8 bytes), or (op bit 6) the field's value plus a signed byte, which reaches the
 * edges of a counter or sequence (one past head, a result for the next frame) far sooner.
 */
static void poke(struct script *s, uint8_t op, uint8_t *ctl, bool host_fields, uint32_t nconsumers)
{
	size_t units = (host_fields ? HOST_BYTES : nconsumers * CONS_BYTES) / 4;
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
	struct ivb_ring_cons *c = &((struct ivb_ring_ctl *)ctl)->cons[next_bytes(s, 1) % p->g.nconsumers];
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

/* A copy of the control page, to check a side never writes what it does not own. */
#define CTL_BYTES sizeof(struct ivb_ring_ctl)

static void snapshot(const uint8_t *ctl, uint8_t *out)
{
	memcpy(out, ctl, CTL_BYTES);
}

/* Every byte but those of the side that acted (own_from, own_len) is as before. */
static void check_untouched(const uint8_t *ctl, const uint8_t *before, size_t own_from, size_t own_len)
{
	if (memcmp(ctl, before, own_from) != 0 ||
	    memcmp(ctl + own_from + own_len, before + own_from + own_len, CTL_BYTES - own_from - own_len) != 0)
		abort(); /* a side wrote a field another owns */
}

/* What the producer side has learnt and published, to check its outcomes against. */
struct ledger {
	struct ivb_ring_producer *p;
	uint32_t policy;
	uint64_t outcomes[IVB_RING_MAX_CONSUMERS]; /* per consumer */
	uint64_t published;                  /* frames written into a slot and published */
	uint64_t released;                   /* the guest's released count as last accepted */
	bool skipping;                       /* inside ivb_ring_skip: frame next_seq is reported */
	uint8_t got[IVB_RING_MAX_CONSUMERS][MAX_FRAMES]; /* outcomes reported per consumer and frame */
	uint32_t live_at[MAX_FRAMES];        /* the consumers live when each frame was published or skipped */
	uint64_t now;                        /* the clock the script moves for ivb_ring_drop_stalled */
	uint32_t slot_of[MAX_FRAMES];        /* the slot each frame was published in */
	uint64_t owner1[IVB_RING_MAX_SLOTS]; /* sequence + 1 of the last frame published in each slot */
};

static void on_outcome(void *arg, const struct ivb_ring_outcome *o)
{
	struct ledger *l = arg;
	uint64_t limit = l->p->next_seq + (l->skipping ? 1 : 0);

	if (o->consumer >= l->p->g.nconsumers || o->seq >= limit || o->seq >= MAX_FRAMES ||
	    l->got[o->consumer][o->seq] != 0)
		abort(); /* an outcome for a frame never published, or a second one for a consumer */
	if (!l->skipping && !(l->live_at[o->seq] & (1u << o->consumer)))
		abort(); /* an outcome for a consumer the frame was never for */
	if (l->skipping ? o->slot != UINT32_MAX || o->consumed : o->slot != l->slot_of[o->seq])
		abort(); /* the outcome names another slot than the frame's */
	if (o->consumed && (o->status < IVB_FRAME_OK || o->status > IVB_FRAME_STATUS_MAX ||
			    o->copy_ns > IVB_MAX_DURATION_NS || o->verify_ns > IVB_MAX_DURATION_NS))
		abort(); /* a result out of range passed on */
	if (l->policy == IVB_RING_BLOCK &&
	    ((!o->consumed && ivb_ring_consumer_live(l->p, o->consumer)) || o->seq != l->outcomes[o->consumer]))
		abort(); /* block: every frame consumed by a live consumer, in order */
	l->got[o->consumer][o->seq] = 1;
	l->outcomes[o->consumer]++;
}

/* Whether every consumer frame seq was for has its outcome. */
static bool resolved(const struct ledger *l, uint64_t seq)
{
	for (uint32_t i = 0; i < l->p->g.nconsumers; i++)
		if ((l->live_at[seq] & (1u << i)) && l->got[i][seq] == 0)
			return false;
	return true;
}

static void write_frame(struct ivb_ring_producer *p, struct ledger *l, uint32_t slot)
{
	static const uint8_t checksum[IVB_RING_CHECKSUM_LEN];
	uint64_t seq = p->next_seq;

	memset(ivb_ring_slot(p, slot) + IVB_RING_STAMP_LEN, (int)(seq & 0xff), p->g.frame_size - IVB_RING_STAMP_LEN);
	l->slot_of[seq] = slot;
	l->live_at[seq] = p->live;
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
		l->live_at[p->next_seq] = p->live;
		l->skipping = true;
		ivb_ring_skip(p);
		l->skipping = false;
		return;
	}
	if (ret < 0)
		return;
	if (slot >= p->g.nslots)
		abort(); /* a slot outside the ring */
	if (l->owner1[slot] != 0 && !resolved(l, l->owner1[slot] - 1))
		abort(); /* the slot's frame would be overwritten before every outcome is known */
	if (p->g.policy == IVB_RING_BLOCK && slot != p->next_seq % p->g.nslots)
		abort();
	if (p->g.policy == IVB_RING_LATEST) {
		if (latest != 0 && slot == (latest & 0xff))
			abort(); /* the newest frame's slot */
		for (uint32_t i = 0; i < p->g.nconsumers; i++) {
			uint64_t reading = atomic_load(&p->ctl->cons[i].reading);

			if (ivb_ring_consumer_live(p, i) && reading != 0 && slot == (reading & 0xff))
				abort(); /* a slot a live consumer claimed */
		}
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
	uint32_t index; /* the consumer it opens as */
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
	g->open = ivb_ring_consumer_open_as(&g->c, g->buffer, g->capacity, g->index, why, sizeof(why)) == 0;
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
	uint8_t *ctl = g->buffer, before[CTL_BYTES];

	for (unsigned n = 0; n < MAX_OPS && s->at < s->size; n++) {
		uint8_t op = s->data[s->at++], arg;

		if (op % OP_KINDS == OP_POKE) {
			poke(s, op, ctl, true, p->g.nconsumers);
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
		snapshot(ctl, before);
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
		check_untouched(ctl, before, HOST_BYTES + g->index * CONS_BYTES, CONS_BYTES);
	}
}

/*
 * Host under test: the script writes the guest's fields (released, the claim, results, its state,
 * report and wake request) between a real consumer's steps; the producer must refuse or report each
 * published frame's outcome at most once, and hand out only slots whose frame is settled.
 */
static void fuzz_host(struct guest *g, struct ivb_ring_producer *p, struct ledger *l, struct script *s)
{
	uint8_t *ctl = g->buffer, before[CTL_BYTES];
	struct ivb_ring_guest_report rep;

	for (unsigned n = 0; n < MAX_OPS && s->at < s->size; n++) {
		uint8_t op = s->data[s->at++], arg;

		if (op % OP_KINDS == OP_POKE) {
			if (op & 0x20)
				claim(s, p, ctl);
			else
				poke(s, op, ctl, false, p->g.nconsumers);
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
		snapshot(ctl, before);
		switch (op % OP_KINDS) {
		case OP_PRODUCE:
			produce(p, l);
			break;
		case OP_COLLECT:
			p->why[0] = '\0';
			if (arg & 2) {
				/* The script's clock moves on; a consumer holding the producer back too long goes. */
				int ret;

				l->now += (uint64_t)(arg >> 2) * 100u;
				ret = ivb_ring_drop_stalled(p, l->now);
				if (ret < -1 ? ret != -EPROTO || p->why[0] == '\0' : ret > (int)p->g.nconsumers)
					abort(); /* a refusal must say why; never more drops than consumers */
			} else if (arg & 1) {
				if (ivb_ring_collect(p) == -EPROTO && p->why[0] == '\0')
					abort(); /* a refusal must say why */
				check_released(p, l);
			} else if (ivb_ring_settle(p) == 0) {
				for (uint64_t seq = 0; seq < p->next_seq && seq < MAX_FRAMES; seq++)
					if (!resolved(l, seq))
						abort(); /* settled, yet a frame has no outcome for a consumer it was for */
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
		check_untouched(ctl, before, 0, HOST_BYTES);
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
				  data[0] & 32 ? IVB_CONSUME_INPLACE : IVB_CONSUME_COPY, &geo, &need) < 0 ||
	    ivb_ring_geometry_consumers(&geo, data[0] & 16 ? FUZZ_CONSUMERS : 1u, 1000u) < 0)
		abort();
	g.index = data[0] & 16 ? (uint32_t)(data[0] >> 6) % FUZZ_CONSUMERS : 0u;
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

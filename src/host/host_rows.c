/* host_rows.c: every row host_writer writes, filled column by column by the schema's indices. */
#include "host_rows.h"

#include <errno.h>

#include "peer_check.h"
#include "plan.h"
#include "region.h"

#define COL(T, NAME) IVB_COL_##T##_##NAME

/* A time in ns and again in a larger unit (ns / per_unit, with decimals); both empty when not measured. */
static void ns_and(struct ivb_csv *c, size_t ns_col, size_t unit_col, bool have, uint64_t ns, double per_unit,
		   int decimals)
{
	if (!have) {
		ivb_csv_set_empty(c, ns_col);
		ivb_csv_set_empty(c, unit_col);
		return;
	}
	ivb_csv_set_u64(c, ns_col, ns);
	ivb_csv_set_fixed(c, unit_col, (double)ns / per_unit, decimals);
}

static void ns_us(struct ivb_csv *c, size_t ns_col, size_t us_col, bool have, uint64_t ns)
{
	ns_and(c, ns_col, us_col, have, ns, 1e3, 3);
}

static void ns_ms(struct ivb_csv *c, size_t ns_col, size_t ms_col, bool have, uint64_t ns)
{
	ns_and(c, ns_col, ms_col, have, ns, 1e6, 6);
}

/* MB/s with MB = 1e6 bytes; empty when there is no duration. */
static void mbps(struct ivb_csv *c, size_t col, bool have, uint64_t bytes, uint64_t ns)
{
	if (!have || ns == 0)
		ivb_csv_set_empty(c, col);
	else
		ivb_csv_set_fixed(c, col, (double)bytes / 1e6 / ((double)ns / 1e9), 3);
}

/* Both columns of a duration measured in NAME_ns, shown again in NAME_us. */
#define LAT_NS_US(NAME) COL(LATENCY, NAME##_NS), COL(LATENCY, NAME##_US)
#define BW_NS_MS(NAME) COL(BANDWIDTH, NAME##_NS), COL(BANDWIDTH, NAME##_MS)

static int latency_row(struct ivb_csv *c, uint64_t iteration, const struct ivb_sample *s)
{
	const bool g = s->have_guest, both = s->have_guest && s->have_roundtrip;
	int64_t notification = both ? (int64_t)s->roundtrip_ns - (int64_t)s->guest.total_ns : 0;

	ivb_csv_set_u64(c, COL(LATENCY, ITERATION), iteration);
	ns_us(c, LAT_NS_US(HOST_MEMCPY), true, s->host_memcpy_ns);
	ns_us(c, LAT_NS_US(ROUNDTRIP), s->have_roundtrip, s->roundtrip_ns);
	ns_us(c, LAT_NS_US(GUEST_MEMCPY), g, s->guest.copy_ns);
	ns_us(c, LAT_NS_US(GUEST_VERIFY), g, s->guest.verify_ns);
	ns_us(c, LAT_NS_US(GUEST_HOT_CACHE), g, s->guest.hot_read_ns);
	ns_us(c, LAT_NS_US(GUEST_COLD_CACHE), g, s->guest.cold_read_ns);
	ns_us(c, LAT_NS_US(GUEST_SECOND_PASS), g, s->guest.copy_ns);
	ns_us(c, LAT_NS_US(GUEST_CACHED_VERIFY), g, s->guest.verify_ns);
	/* Host and guest clocks differ: only their durations are combined, never their timestamps. */
	if (both) {
		ivb_csv_set_i64(c, COL(LATENCY, NOTIFICATION_EST_NS), notification);
		ivb_csv_set_fixed(c, COL(LATENCY, NOTIFICATION_EST_US), (double)notification / 1e3, 3);
	} else {
		ivb_csv_set_empty(c, COL(LATENCY, NOTIFICATION_EST_NS));
		ivb_csv_set_empty(c, COL(LATENCY, NOTIFICATION_EST_US));
	}
	ns_us(c, LAT_NS_US(TOTAL), s->have_roundtrip, s->host_memcpy_ns + s->roundtrip_ns);
	ivb_csv_set_u64(c, COL(LATENCY, SUCCESS), s->success);
	return ivb_csv_end_row(c);
}

static int bandwidth_row(struct ivb_csv *c, uint64_t iteration, const struct ivb_frame *f, const struct ivb_sample *s)
{
	const bool g = s->have_guest, rt = s->have_roundtrip;
	const uint64_t total = s->host_memcpy_ns + s->roundtrip_ns;

	ivb_csv_set_u64(c, COL(BANDWIDTH, ITERATION), iteration);
	ivb_csv_set_str(c, COL(BANDWIDTH, FRAME_TYPE), f->name);
	ivb_csv_set_u64(c, COL(BANDWIDTH, WIDTH), f->width);
	ivb_csv_set_u64(c, COL(BANDWIDTH, HEIGHT), f->height);
	ivb_csv_set_u64(c, COL(BANDWIDTH, BPP), f->bpp);
	ivb_csv_set_u64(c, COL(BANDWIDTH, SIZE_BYTES), f->size);
	ivb_csv_set_fixed(c, COL(BANDWIDTH, SIZE_MB), (double)f->size / 1e6, 6);
	ns_ms(c, BW_NS_MS(HOST_MEMCPY), true, s->host_memcpy_ns);
	mbps(c, COL(BANDWIDTH, HOST_MEMCPY_MBPS), true, f->size, s->host_memcpy_ns);
	ns_ms(c, BW_NS_MS(ROUNDTRIP), rt, s->roundtrip_ns);
	ns_ms(c, BW_NS_MS(GUEST_MEMCPY), g, s->guest.copy_ns);
	mbps(c, COL(BANDWIDTH, GUEST_MEMCPY_MBPS), g, f->size, s->guest.copy_ns);
	ns_ms(c, BW_NS_MS(GUEST_VERIFY), g, s->guest.verify_ns);
	ns_ms(c, BW_NS_MS(TOTAL), rt, total);
	mbps(c, COL(BANDWIDTH, TOTAL_MBPS), rt, f->size, total);
	ivb_csv_set_u64(c, COL(BANDWIDTH, SUCCESS), s->success);
	return ivb_csv_end_row(c);
}

/* A guest duration, or empty when the guest reported none. */
static void guest_ns(struct ivb_csv *c, size_t col, bool have, uint64_t ns)
{
	if (have)
		ivb_csv_set_u64(c, col, ns);
	else
		ivb_csv_set_empty(c, col);
}

static int reference_row(struct ivb_csv *c, uint64_t iteration, const struct ivb_frame *f, const struct ivb_sample *s)
{
	const bool g = s->have_guest;

	ivb_csv_set_u64(c, COL(REFERENCE, ITERATION), iteration);
	ivb_csv_set_str(c, COL(REFERENCE, FRAME_TYPE), f->name);
	ivb_csv_set_u64(c, COL(REFERENCE, SIZE_BYTES), f->size);
	ivb_csv_set_u64(c, COL(REFERENCE, HOST_MEMCPY_NS), s->host_reference_ns);
	guest_ns(c, COL(REFERENCE, GUEST_HOT_CACHE_NS), g, s->guest.hot_read_ns);
	guest_ns(c, COL(REFERENCE, GUEST_COLD_CACHE_NS), g, s->guest.cold_read_ns);
	guest_ns(c, COL(REFERENCE, GUEST_SECOND_PASS_NS), g, s->guest.copy_ns);
	guest_ns(c, COL(REFERENCE, GUEST_CACHED_VERIFY_NS), g, s->guest.verify_ns);
	ivb_csv_set_u64(c, COL(REFERENCE, SUCCESS), s->success);
	return ivb_csv_end_row(c);
}

static void counter(struct ivb_csv *c, size_t col, uint64_t v)
{
	if (v == IVB_CTR_NONE)
		ivb_csv_set_empty(c, col);
	else
		ivb_csv_set_u64(c, col, v);
}

static void derived(struct ivb_csv *c, size_t col, double v)
{
	if (v < 0)
		ivb_csv_set_empty(c, col);
	else
		ivb_csv_set_fixed(c, col, v, 4);
}

/* The columns of one side's seed counters in a performance table. */
struct side_columns {
	size_t l1_misses, l1_refs, l1_rate, llc_misses, llc_refs, llc_rate, tlb_misses, cycles, instructions, ipc,
		cycles_per_byte, context_switches, page_faults, task_clock_ns;
};

/* The counter columns of one performance table; frame_type only in the bandwidth one. */
struct perf_columns {
	size_t iteration;
	bool has_frame_type;
	size_t frame_type;
	struct side_columns host, guest;
};

#define SIDE_COLUMNS(T, S)                                                                                      \
	{ COL(T, S##_L1_CACHE_MISSES), COL(T, S##_L1_CACHE_REFERENCES), COL(T, S##_L1_MISS_RATE),              \
	  COL(T, S##_LLC_MISSES),      COL(T, S##_LLC_REFERENCES),      COL(T, S##_LLC_MISS_RATE),             \
	  COL(T, S##_TLB_MISSES),      COL(T, S##_CPU_CYCLES),          COL(T, S##_INSTRUCTIONS),              \
	  COL(T, S##_IPC),             COL(T, S##_CYCLES_PER_BYTE),     COL(T, S##_CONTEXT_SWITCHES),          \
	  COL(T, S##_PAGE_FAULTS),     COL(T, S##_TASK_CLOCK_NS) }

static const struct perf_columns latency_perf_columns = {
	COL(LATENCY_PERF, ITERATION), false, 0, SIDE_COLUMNS(LATENCY_PERF, HOST), SIDE_COLUMNS(LATENCY_PERF, GUEST),
};
static const struct perf_columns bandwidth_perf_columns = {
	COL(BANDWIDTH_PERF, ITERATION), true, COL(BANDWIDTH_PERF, FRAME_TYPE), SIDE_COLUMNS(BANDWIDTH_PERF, HOST),
	SIDE_COLUMNS(BANDWIDTH_PERF, GUEST),
};

static void side_counters(struct ivb_csv *c, const struct side_columns *col, const struct ivb_counts *k, uint64_t bytes)
{
	counter(c, col->l1_misses, k->v[IVB_CTR_L1D_MISSES]);
	counter(c, col->l1_refs, k->v[IVB_CTR_L1D_REFS]);
	derived(c, col->l1_rate, ivb_l1_miss_rate(k));
	counter(c, col->llc_misses, k->v[IVB_CTR_LLC_MISSES]);
	counter(c, col->llc_refs, k->v[IVB_CTR_LLC_REFS]);
	derived(c, col->llc_rate, ivb_llc_miss_rate(k));
	counter(c, col->tlb_misses, k->v[IVB_CTR_DTLB_MISSES]);
	counter(c, col->cycles, k->v[IVB_CTR_CYCLES]);
	counter(c, col->instructions, k->v[IVB_CTR_INSTRUCTIONS]);
	derived(c, col->ipc, ivb_ipc(k));
	derived(c, col->cycles_per_byte, ivb_cycles_per_byte(k, bytes));
	counter(c, col->context_switches, k->v[IVB_CTR_CONTEXT_SWITCHES]);
	counter(c, col->page_faults, k->v[IVB_CTR_PAGE_FAULTS]);
	counter(c, col->task_clock_ns, k->v[IVB_CTR_TASK_CLOCK_NS]);
}

/* The guest's counters over its four phases: a sum, not measured if any phase lacks it or it does not fit. */
static void guest_total_counts(const struct ivb_sample *s, struct ivb_counts *out)
{
	ivb_counts_none(out);
	if (!s->have_guest)
		return;
	for (unsigned i = 0; i < IVB_NCOUNTERS; i++) {
		uint64_t sum = 0;
		unsigned p;

		/* Saturates at UINT64_MAX, which is IVB_CTR_NONE: a sum that wraps is never written. */
		for (p = 0; p < IVB_NPHASES && s->report.counters[p].v[i] != IVB_CTR_NONE; p++)
			sum = ivb_add_sat(sum, s->report.counters[p].v[i]);
		if (p == IVB_NPHASES)
			out->v[i] = sum;
	}
}

static int perf_row(struct ivb_csv *c, const struct perf_columns *col, uint64_t iteration, const struct ivb_frame *f,
		    const struct ivb_sample *s)
{
	struct ivb_counts guest;

	guest_total_counts(s, &guest);
	ivb_csv_set_u64(c, col->iteration, iteration);
	if (col->has_frame_type)
		ivb_csv_set_str(c, col->frame_type, f->name);
	side_counters(c, &col->host, &s->host_counts, f->size);
	side_counters(c, &col->guest, &guest, f->size);
	return ivb_csv_end_row(c);
}

/* phase_performance.csv's counter columns, in enum ivb_counter order. */
static const size_t phase_counter_columns[IVB_NCOUNTERS] = {
	[IVB_CTR_L1D_MISSES] = COL(PHASE_PERF, L1_CACHE_MISSES),
	[IVB_CTR_L1D_REFS] = COL(PHASE_PERF, L1_CACHE_REFERENCES),
	[IVB_CTR_LLC_MISSES] = COL(PHASE_PERF, LLC_MISSES),
	[IVB_CTR_LLC_REFS] = COL(PHASE_PERF, LLC_REFERENCES),
	[IVB_CTR_DTLB_MISSES] = COL(PHASE_PERF, TLB_MISSES),
	[IVB_CTR_CYCLES] = COL(PHASE_PERF, CPU_CYCLES),
	[IVB_CTR_INSTRUCTIONS] = COL(PHASE_PERF, INSTRUCTIONS),
	[IVB_CTR_CONTEXT_SWITCHES] = COL(PHASE_PERF, CONTEXT_SWITCHES),
	[IVB_CTR_PAGE_FAULTS] = COL(PHASE_PERF, PAGE_FAULTS),
	[IVB_CTR_TASK_CLOCK_NS] = COL(PHASE_PERF, TASK_CLOCK_NS),
};

static int phase_rows(struct ivb_csv *c, const struct ivb_row_key *k, const struct ivb_sample *s)
{
	int ret = 0;

	for (unsigned p = 0; p < IVB_NPHASES && s->have_guest && ret == 0; p++) {
		ivb_csv_set_str(c, COL(PHASE_PERF, TEST), k->test);
		ivb_csv_set_u64(c, COL(PHASE_PERF, ITERATION), k->iteration);
		ivb_csv_set_str(c, COL(PHASE_PERF, FRAME_TYPE), k->frame->name);
		ivb_csv_set_u64(c, COL(PHASE_PERF, SIZE_BYTES), k->frame->size);
		ivb_csv_set_str(c, COL(PHASE_PERF, PHASE), ivb_phase_names[p]);
		for (unsigned i = 0; i < IVB_NCOUNTERS; i++)
			counter(c, phase_counter_columns[i], s->report.counters[p].v[i]);
		ret = ivb_csv_end_row(c);
	}
	return ret;
}

static int study_row(struct ivb_csv *c, const struct ivb_row_key *k, const char *variant, uint64_t ns, bool have_faults,
		     uint64_t faults, bool success)
{
	ivb_csv_set_str(c, COL(WRITE_STUDY, TEST), k->test);
	ivb_csv_set_u64(c, COL(WRITE_STUDY, ITERATION), k->iteration);
	ivb_csv_set_str(c, COL(WRITE_STUDY, FRAME_TYPE), k->frame->name);
	ivb_csv_set_u64(c, COL(WRITE_STUDY, SIZE_BYTES), k->frame->size);
	ivb_csv_set_str(c, COL(WRITE_STUDY, VARIANT), variant);
	guest_ns(c, COL(WRITE_STUDY, COPY_NS), ns != 0, ns);
	if (have_faults)
		ivb_csv_set_u64(c, COL(WRITE_STUDY, PAGE_FAULTS), faults);
	else
		ivb_csv_set_empty(c, COL(WRITE_STUDY, PAGE_FAULTS));
	ivb_csv_set_u64(c, COL(WRITE_STUDY, SUCCESS), success);
	return ivb_csv_end_row(c);
}

static const char *huge_variant(uint32_t kind)
{
	switch ((enum ivb_huge_kind)kind) {
	case IVB_HUGE_HUGETLB: return "memcpy_hugetlb";
	case IVB_HUGE_THP: return "memcpy_thp";
	case IVB_HUGE_NONE: break;
	}
	return "memcpy_hugepages";
}

/* The write-path variants of one message; the plain pre-faulted memcpy is phase C itself. */
static int study_rows(struct ivb_csv *c, const struct ivb_row_key *k, const struct ivb_sample *s)
{
	const struct ivb_guest_study *st = &s->report.study;
	int ret;

	if (!s->have_guest)
		return 0;
	ret = study_row(c, k, "memcpy_prefaulted", s->guest.copy_ns, false, 0, s->success);
	if (ret == 0)
		ret = study_row(c, k, "memcpy_fresh_pages", st->fresh_ns, st->fresh_faults != IVB_FAULTS_UNKNOWN,
				st->fresh_faults, s->success);
	if (ret == 0)
		ret = study_row(c, k, "nt_store", st->nt_ns, false, 0, s->success);
	if (ret == 0 && st->huge_kind != IVB_HUGE_NONE)
		ret = study_row(c, k, huge_variant(st->huge_kind), st->huge_ns, false, 0, s->success);
	return ret;
}

static int map_row(struct ivb_csv *c, const struct ivb_row_key *k, const struct ivb_map_study *m, unsigned order,
		   bool success)
{
	ivb_csv_set_str(c, COL(MAP_STUDY, TEST), k->test);
	ivb_csv_set_u64(c, COL(MAP_STUDY, ITERATION), k->iteration);
	ivb_csv_set_str(c, COL(MAP_STUDY, FRAME_TYPE), k->frame->name);
	ivb_csv_set_u64(c, COL(MAP_STUDY, SIZE_BYTES), k->frame->size);
	ivb_csv_set_str(c, COL(MAP_STUDY, MAPPING), ivb_map_kind_name((enum ivb_map_kind)m->map_kind));
	ivb_csv_set_str(c, COL(MAP_STUDY, MEMORY_TYPE), m->memtype[0] ? m->memtype : "unknown");
	ivb_csv_set_u64(c, COL(MAP_STUDY, HOT_READ_NS), m->hot_read_ns);
	ivb_csv_set_u64(c, COL(MAP_STUDY, COLD_READ_NS), m->cold_read_ns);
	ivb_csv_set_u64(c, COL(MAP_STUDY, COPY_NS), m->copy_ns);
	ivb_csv_set_u64(c, COL(MAP_STUDY, WRITE_NS), m->write_ns);
	ivb_csv_set_u64(c, COL(MAP_STUDY, ORDER), order);
	ivb_csv_set_u64(c, COL(MAP_STUDY, SUCCESS), success);
	return ivb_csv_end_row(c);
}

/* Phases A-C and W through each mapping the guest measured, in the order it ran them; run.json has the missing ones. */
static int map_rows(struct ivb_csv *c, const struct ivb_row_key *k, const struct ivb_sample *s)
{
	int ret = 0;

	if (!s->have_guest)
		return 0;
	for (unsigned i = 0; i < IVB_MAP_STUDY_MAX && ret == 0; i++) {
		const struct ivb_map_study *m = &s->report.map_study[i];

		if (m->map_kind != IVB_MAP_NONE && m->error == 0)
			ret = map_row(c, k, m, i, s->success);
	}
	return ret;
}

int ivb_rows_write(struct ivb_outputs *o, const struct ivb_row_key *k, const struct ivb_sample *s)
{
	struct ivb_csv *csv = o->csv;
	int ret = 0;

	switch (k->kind) {
	case IVB_MSG_LATENCY:
		ret = latency_row(&csv[IVB_TABLE_LATENCY], k->iteration, s);
		if (ret == 0 && o->open[IVB_TABLE_LATENCY_PERF])
			ret = perf_row(&csv[IVB_TABLE_LATENCY_PERF], &latency_perf_columns, k->iteration, k->frame, s);
		break;
	case IVB_MSG_BANDWIDTH:
		ret = bandwidth_row(&csv[IVB_TABLE_BANDWIDTH], k->iteration, k->frame, s);
		if (ret == 0 && o->open[IVB_TABLE_BANDWIDTH_PERF])
			ret = perf_row(&csv[IVB_TABLE_BANDWIDTH_PERF], &bandwidth_perf_columns, k->iteration, k->frame, s);
		break;
	case IVB_MSG_REFERENCE:
		ret = reference_row(&csv[IVB_TABLE_REFERENCE], k->iteration, k->frame, s);
		break;
	case IVB_MSG_STREAM: /* a stream's rows are its frames: ivb_rows_write_stream */
	case IVB_MSG_TRANSPORT: /* and a transport test's: ivb_rows_write_transport */
		return -EINVAL;
	}
	if (ret == 0 && o->open[IVB_TABLE_PHASE_PERF])
		ret = phase_rows(&csv[IVB_TABLE_PHASE_PERF], k, s);
	if (ret == 0 && o->open[IVB_TABLE_WRITE_STUDY])
		ret = study_rows(&csv[IVB_TABLE_WRITE_STUDY], k, s);
	if (ret == 0 && o->open[IVB_TABLE_MAP_STUDY])
		ret = map_rows(&csv[IVB_TABLE_MAP_STUDY], k, s);
	return ret;
}

static const char *frame_status(const struct ivb_stream_frame *f)
{
	if (f->dropped)
		return "dropped";
	if (f->error != NULL) /* the host's verdict on a report it cannot believe */
		return f->error;
	switch ((enum ivb_ring_status)f->status) {
	case IVB_FRAME_OK: return "ok";
	case IVB_FRAME_UNVERIFIED: return "unverified";
	case IVB_FRAME_BAD_CHECKSUM: return "bad_checksum";
	case IVB_FRAME_BAD_STAMP: return "bad_stamp";
	}
	return "unknown"; /* the ring checked the status: not reached */
}

bool ivb_stream_frame_failed(const struct ivb_stream_frame *f)
{
	return !f->dropped && f->failed;
}

int ivb_rows_write_stream(struct ivb_outputs *o, const struct ivb_stream_key *k, const struct ivb_stream_frame *f)
{
	struct ivb_csv *c = &o->csv[IVB_TABLE_STREAM];
	const bool consumed = !f->dropped;

	if (!o->open[IVB_TABLE_STREAM])
		return 0;
	ivb_csv_set_str(c, COL(STREAM, FRAME_TYPE), k->frame->name);
	ivb_csv_set_u64(c, COL(STREAM, SIZE_BYTES), k->frame->size);
	ivb_csv_set_str(c, COL(STREAM, POLICY), k->policy);
	ivb_csv_set_str(c, COL(STREAM, VERIFY), k->verify);
	ivb_csv_set_str(c, COL(STREAM, CONSUME), ivb_consume_name(k->consume));
	ivb_csv_set_str(c, COL(STREAM, DIRECTION), ivb_direction_name(k->direction));
	ivb_csv_set_u64(c, COL(STREAM, CONSUMER), f->consumer);
	ivb_csv_set_u64(c, COL(STREAM, DUPLEX), k->duplex);
	ivb_csv_set_u64(c, COL(STREAM, FRAME), f->seq);
	if (f->slot == UINT32_MAX)
		ivb_csv_set_empty(c, COL(STREAM, SLOT));
	else
		ivb_csv_set_u64(c, COL(STREAM, SLOT), f->slot);
	ivb_csv_set_u64(c, COL(STREAM, PUBLISH_NS), f->publish_ns);
	if (k->direction == IVB_DIR_GUEST_TO_HOST) { /* the guest wrote it: nothing the host measured */
		ivb_csv_set_empty(c, COL(STREAM, HOST_WRITE_NS));
		ivb_csv_set_empty(c, COL(STREAM, SLOT_WAIT_NS));
	} else {
		ivb_csv_set_u64(c, COL(STREAM, HOST_WRITE_NS), f->write_ns);
		ivb_csv_set_u64(c, COL(STREAM, SLOT_WAIT_NS), f->slot_wait_ns);
	}
	if (consumed) {
		ivb_csv_set_u64(c, COL(STREAM, LATENCY_NS), f->latency_ns);
		/* In place the consumer made no copy: nothing measured, whatever the guest wrote. */
		if (k->consume == IVB_CONSUME_INPLACE)
			ivb_csv_set_empty(c, COL(STREAM, GUEST_COPY_NS));
		else
			ivb_csv_set_u64(c, COL(STREAM, GUEST_COPY_NS), f->guest_copy_ns);
		ivb_csv_set_u64(c, COL(STREAM, GUEST_VERIFY_NS), f->guest_verify_ns);
	} else {
		ivb_csv_set_empty(c, COL(STREAM, LATENCY_NS));
		ivb_csv_set_empty(c, COL(STREAM, GUEST_COPY_NS));
		ivb_csv_set_empty(c, COL(STREAM, GUEST_VERIFY_NS));
	}
	ivb_csv_set_u64(c, COL(STREAM, RINGS), f->rings);
	ivb_csv_set_str(c, COL(STREAM, STATUS), frame_status(f));
	ivb_csv_set_u64(c, COL(STREAM, DROPPED), f->dropped);
	ivb_csv_set_u64(c, COL(STREAM, SUCCESS), !ivb_stream_frame_failed(f));
	return ivb_csv_end_row_unflushed(c); /* flushed once a second by the stream (host_stream.c) */
}

int ivb_rows_write_transport(struct ivb_outputs *o, const struct ivb_transport_key *k, const struct ivb_stream_frame *f)
{
	struct ivb_csv *c = &o->csv[IVB_TABLE_TRANSPORT];

	if (!o->open[IVB_TABLE_TRANSPORT])
		return 0;
	ivb_csv_set_str(c, COL(TRANSPORT, TRANSPORT), k->transport);
	ivb_csv_set_str(c, COL(TRANSPORT, TEST), k->test);
	ivb_csv_set_u64(c, COL(TRANSPORT, SIZE_BYTES), k->size);
	ivb_csv_set_str(c, COL(TRANSPORT, VERIFY), k->verify);
	ivb_csv_set_u64(c, COL(TRANSPORT, WINDOW), k->window);
	ivb_csv_set_u64(c, COL(TRANSPORT, FRAME), f->seq);
	ivb_csv_set_u64(c, COL(TRANSPORT, SEND_NS), f->publish_ns);
	ivb_csv_set_u64(c, COL(TRANSPORT, HOST_SEND_NS), f->write_ns);
	ivb_csv_set_u64(c, COL(TRANSPORT, LATENCY_NS), f->latency_ns);
	ivb_csv_set_u64(c, COL(TRANSPORT, GUEST_COPY_NS), f->guest_copy_ns);
	ivb_csv_set_u64(c, COL(TRANSPORT, GUEST_VERIFY_NS), f->guest_verify_ns);
	ivb_csv_set_str(c, COL(TRANSPORT, STATUS), frame_status(f));
	ivb_csv_set_u64(c, COL(TRANSPORT, SUCCESS), !ivb_stream_frame_failed(f));
	return ivb_csv_end_row_unflushed(c); /* flushed once a second by the test (host_transport.c) */
}

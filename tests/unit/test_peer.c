/* Unit tests: peer_check.c, the bounds the host puts on what the guest reports. */
#include <stdio.h>
#include <string.h>

#include "check.h"
#include "clock.h"
#include "peer_check.h"

static void test_safe_set_keeps_real_values(void)
{
	static const char *const real[] = { "write-back", "uncached-minus", "write-combining", "6.1.0-28-amd64",
					    "5.15.0-rc4+", "6.5.0-0.deb12.4-amd64", "0000:00:03.0", "ivshmem_region",
					    "unknown", "" };
	char out[64];

	for (size_t i = 0; i < sizeof(real) / sizeof(real[0]); i++) {
		CHECK(ivb_text_sanitize(out, real[i], sizeof(out)) == 0);
		CHECK(strcmp(out, real[i]) == 0);
	}
}

static void test_safe_set_replaces_everything_else(void)
{
	char out[64], unterminated[8];

	/* Exactly letters, digits and the listed punctuation, whatever the locale. */
	for (int c = 1; c < 256; c++) {
		bool expected = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
				c == '_' || c == '-' || c == '.' || c == ':' || c == '/' || c == '+';

		CHECK(ivb_text_safe_char(c) == expected);
	}
	CHECK(!ivb_text_safe_char('\0'));
	CHECK(ivb_text_safe_char(IVB_TEXT_REPLACEMENT));
	CHECK(ivb_text_sanitize(out, "a,b\"c\n", sizeof(out)) == 3 && strcmp(out, "a_b_c_") == 0);
	CHECK(ivb_text_sanitize(out, "x\r\\ 'y'=\x7f\xff", sizeof(out)) == 8 && strcmp(out, "x____y____") == 0);
	/* In place, as the host does on its copy. */
	strcpy(out, "\"},{");
	CHECK(ivb_text_sanitize(out, out, sizeof(out)) == 4 && strcmp(out, "____") == 0);
	/* A field the guest filled to the end without a NUL: cut, terminated, never read past. */
	memset(unterminated, 'k', sizeof(unterminated));
	CHECK(ivb_text_sanitize(out, unterminated, sizeof(unterminated)) == 0 && strcmp(out, "kkkkkkk") == 0);
	CHECK(ivb_text_sanitize(out, "abc", 0) == 0);
	CHECK(strcmp(ivb_guest_text_name(IVB_TEXT_MEMTYPE), "memory_type") == 0);
}

/* The most a real machine could count in a phase of phase_ns over bytes: each bound must admit it. */
static void check_true_maximum_admitted(uint64_t phase_ns, uint64_t bytes)
{
	const uint64_t cycles = phase_ns * 6 + 100000; /* a 6 GHz core, and the ioctls around the phase */
	const uint64_t most[IVB_CTR_COUNT] = {
		[IVB_CTR_L1D_MISSES] = cycles * 2,   [IVB_CTR_L1D_REFS] = cycles * 3, [IVB_CTR_LLC_MISSES] = cycles,
		[IVB_CTR_LLC_REFS] = cycles,         [IVB_CTR_DTLB_MISSES] = cycles,  [IVB_CTR_CYCLES] = cycles,
		[IVB_CTR_INSTRUCTIONS] = cycles * 8, /* the widest cores retire 8 per cycle */
		[IVB_CTR_CONTEXT_SWITCHES] = phase_ns / 1000 + 2,
		[IVB_CTR_PAGE_FAULTS] = 2 * (bytes / 4096 + 1) * 3 + 2000,
		[IVB_CTR_TASK_CLOCK_NS] = phase_ns + 50000,
	};

	for (unsigned c = 0; c < IVB_CTR_COUNT; c++) {
		uint64_t bound = ivb_counter_bound((enum ivb_counter)c, phase_ns, bytes);

		CHECK(most[c] <= bound);
		/* Four phases of bounded counters cannot wrap when summed. */
		CHECK(bound < (1ull << 62));
	}
}

static void test_counter_bounds_admit_true_values(void)
{
	check_true_maximum_admitted(0, 1);
	check_true_maximum_admitted(77000, 64);
	check_true_maximum_admitted(IVB_NS_PER_SEC, 24883200);
	check_true_maximum_admitted(IVB_MAX_DURATION_NS, 1ull << 40);
}

static void test_counters_above_their_bound_are_not_measured(void)
{
	struct ivb_guest_report rep;
	char note[128] = "";

	memset(&rep, 0, sizeof(rep));
	rep.timing.copy_ns = 1000000; /* phase C: 1 ms */
	rep.counters[2].v[IVB_CTR_CYCLES] = 10 * (1000000 + IVB_CTR_WINDOW_SLACK_NS); /* the bound itself */
	rep.counters[2].v[IVB_CTR_INSTRUCTIONS] = UINT64_MAX - 1;
	rep.counters[0].v[IVB_CTR_CONTEXT_SWITCHES] = IVB_CTR_WINDOW_SLACK_NS; /* one per ns */
	rep.counters[3].v[IVB_CTR_PAGE_FAULTS] = IVB_CTR_NONE;                 /* not measured: left alone */
	rep.counters[1].v[IVB_CTR_TASK_CLOCK_NS] = 2 * IVB_CTR_WINDOW_SLACK_NS; /* more CPU time than wall time */
	rep.study.fresh_faults = 4000000000u;
	CHECK(ivb_counters_bound(&rep, 4096, note, sizeof(note)) == 4);
	CHECK(rep.counters[2].v[IVB_CTR_CYCLES] == 10 * (1000000 + IVB_CTR_WINDOW_SLACK_NS));
	CHECK(rep.counters[2].v[IVB_CTR_INSTRUCTIONS] == IVB_CTR_NONE);
	CHECK(rep.counters[0].v[IVB_CTR_CONTEXT_SWITCHES] == IVB_CTR_NONE);
	CHECK(rep.counters[3].v[IVB_CTR_PAGE_FAULTS] == IVB_CTR_NONE);
	CHECK(rep.counters[1].v[IVB_CTR_TASK_CLOCK_NS] == IVB_CTR_NONE);
	CHECK(rep.study.fresh_faults == IVB_FAULTS_UNKNOWN);
	/* The first one found is named, with its value and bound; a later call keeps it. */
	CHECK(strcmp(note, "phase A_hot_read context_switches 1000000000 above its bound 10000001") == 0);
	rep.counters[0].v[IVB_CTR_CYCLES] = UINT64_MAX - 1;
	CHECK(ivb_counters_bound(&rep, 4096, note, sizeof(note)) == 1);
	CHECK(strstr(note, "context_switches") != NULL);
}

static void test_timing_must_fit_the_round_trip(void)
{
	const uint64_t rt = 77000, limit = rt * IVB_GUEST_CLOCK_FACTOR + IVB_GUEST_CLOCK_SLACK_NS;
	struct ivb_guest_report rep;

	memset(&rep, 0, sizeof(rep));
	rep.timing.total_ns = rt;
	CHECK(ivb_timing_fits(&rep, rt));
	rep.timing.total_ns = limit;
	CHECK(ivb_timing_fits(&rep, rt));
	rep.timing.total_ns = limit + 1;
	CHECK(!ivb_timing_fits(&rep, rt));
	/* Seconds of guest work in a 77 us round trip. */
	rep.timing.total_ns = 3 * IVB_NS_PER_SEC;
	CHECK(!ivb_timing_fits(&rep, rt));
	/* A study time counts too: it ran inside the same window. */
	rep.timing.total_ns = rt;
	rep.map_study[2].copy_ns = IVB_NS_PER_SEC;
	CHECK(!ivb_timing_fits(&rep, rt));
	rep.map_study[2].copy_ns = 0;
	rep.map_study[1].write_ns = IVB_NS_PER_SEC;
	CHECK(!ivb_timing_fits(&rep, rt));
	rep.map_study[1].write_ns = 0;
	rep.study.fresh_ns = IVB_NS_PER_SEC;
	CHECK(!ivb_timing_fits(&rep, rt));
	/* A huge round trip does not overflow the limit into a small one. */
	CHECK(ivb_timing_fits(&rep, UINT64_MAX / 2 + 1));
	CHECK(ivb_timing_fits(&rep, UINT64_MAX));
}

static void test_saturating_add(void)
{
	CHECK(ivb_add_sat(1, 2) == 3);
	CHECK(ivb_add_sat(UINT64_MAX - 1, 1) == UINT64_MAX);
	CHECK(ivb_add_sat(1ull << 63, 1ull << 63) == UINT64_MAX);
	CHECK(ivb_add_sat(UINT64_MAX, UINT64_MAX) == IVB_CTR_NONE);
}

int main(void)
{
	RUN_TEST(test_safe_set_keeps_real_values);
	RUN_TEST(test_safe_set_replaces_everything_else);
	RUN_TEST(test_counter_bounds_admit_true_values);
	RUN_TEST(test_counters_above_their_bound_are_not_measured);
	RUN_TEST(test_timing_must_fit_the_round_trip);
	RUN_TEST(test_saturating_add);
	return CHECK_SUMMARY("unit peer");
}

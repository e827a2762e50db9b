/* peer_check.c: safe text, counter bounds and timing plausibility of what the guest reports. */
#include "peer_check.h"

#include <stdio.h>
#include <string.h>

bool ivb_text_safe_char(int c)
{
	/* Not isalnum: it depends on the locale. */
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	       (c != '\0' && strchr(IVB_TEXT_SAFE_PUNCT, c) != NULL);
}

size_t ivb_text_sanitize(char *dst, const char *src, size_t n)
{
	size_t i, replaced = 0;

	if (n == 0)
		return 0;
	for (i = 0; i + 1 < n && src[i] != '\0'; i++) {
		if (ivb_text_safe_char((unsigned char)src[i])) {
			dst[i] = src[i];
		} else {
			dst[i] = IVB_TEXT_REPLACEMENT;
			replaced++;
		}
	}
	dst[i] = '\0';
	return replaced;
}

const char *ivb_guest_text_name(enum ivb_guest_text field)
{
	switch (field) {
	case IVB_TEXT_DEVICE: return "device";
	case IVB_TEXT_KERNEL: return "kernel";
	case IVB_TEXT_MEMTYPE: return "memory_type";
	case IVB_TEXT_MAP_MEMTYPE: return "map_study_memory_type";
	}
	return "invalid";
}

uint64_t ivb_counter_bound(enum ivb_counter c, uint64_t phase_ns, uint64_t bytes)
{
	/* phase_ns <= IVB_MAX_DURATION_NS (3.6e12): every product below stays under 2^63. */
	const uint64_t window_ns = phase_ns + IVB_CTR_WINDOW_SLACK_NS;
	const uint64_t cycles = window_ns * IVB_CTR_MAX_CYCLES_PER_NS;
	const uint64_t pages = bytes / 4096 + 1;

	switch (c) {
	case IVB_CTR_CYCLES: return cycles;
	case IVB_CTR_INSTRUCTIONS:
	case IVB_CTR_L1D_MISSES:
	case IVB_CTR_L1D_REFS:
	case IVB_CTR_LLC_MISSES:
	case IVB_CTR_LLC_REFS:
	case IVB_CTR_DTLB_MISSES: return cycles * IVB_CTR_MAX_EVENTS_PER_CYCLE;
	case IVB_CTR_CONTEXT_SWITCHES: return window_ns / IVB_CTR_MIN_SWITCH_NS + 1;
	case IVB_CTR_PAGE_FAULTS: return 2 * pages * IVB_CTR_FAULTS_PER_PAGE + IVB_CTR_FAULTS_EXTRA;
	case IVB_CTR_TASK_CLOCK_NS: return window_ns;
	case IVB_CTR_COUNT: break;
	}
	return 0;
}

const char *const ivb_phase_names[IVB_NPHASES] = { "A_hot_read", "B_cold_read", "C_copy", "D_verify" };

unsigned ivb_counters_bound(struct ivb_guest_report *rep, uint64_t bytes, char *note, size_t len)
{
	const uint64_t phase_ns[IVB_NPHASES] = { rep->timing.hot_read_ns, rep->timing.cold_read_ns,
						 rep->timing.copy_ns, rep->timing.verify_ns };
	/* The fresh-pages copy touches the message and one fresh page per page of it. */
	const uint64_t fresh_bound = ivb_counter_bound(IVB_CTR_PAGE_FAULTS, 0, bytes);
	unsigned replaced = 0;

	for (unsigned p = 0; p < IVB_NPHASES; p++) {
		for (unsigned i = 0; i < IVB_NCOUNTERS; i++) {
			uint64_t *v = &rep->counters[p].v[i];
			uint64_t bound = ivb_counter_bound((enum ivb_counter)i, phase_ns[p], bytes);

			if (*v == IVB_CTR_NONE || *v <= bound)
				continue;
			if (len > 0 && note[0] == '\0')
				snprintf(note, len, "phase %s %s %llu above its bound %llu", ivb_phase_names[p],
					 ivb_counter_name((enum ivb_counter)i), (unsigned long long)*v,
					 (unsigned long long)bound);
			*v = IVB_CTR_NONE;
			replaced++;
		}
	}
	if (rep->study.fresh_faults != IVB_FAULTS_UNKNOWN && rep->study.fresh_faults > fresh_bound) {
		if (len > 0 && note[0] == '\0')
			snprintf(note, len, "write study page_faults %u above its bound %llu", rep->study.fresh_faults,
				 (unsigned long long)fresh_bound);
		rep->study.fresh_faults = IVB_FAULTS_UNKNOWN;
		replaced++;
	}
	return replaced;
}

bool ivb_timing_fits(const struct ivb_guest_report *rep, uint64_t roundtrip_ns)
{
	const uint64_t limit = ivb_add_sat(roundtrip_ns > UINT64_MAX / IVB_GUEST_CLOCK_FACTOR
						   ? UINT64_MAX
						   : roundtrip_ns * IVB_GUEST_CLOCK_FACTOR,
					   IVB_GUEST_CLOCK_SLACK_NS);
	const uint64_t durations[] = { rep->timing.total_ns, rep->study.fresh_ns, rep->study.nt_ns, rep->study.huge_ns };

	for (size_t i = 0; i < sizeof(durations) / sizeof(durations[0]); i++)
		if (durations[i] > limit)
			return false;
	for (size_t i = 0; i < IVB_MAP_STUDY_MAX; i++)
		if (rep->map_study[i].hot_read_ns > limit || rep->map_study[i].cold_read_ns > limit ||
		    rep->map_study[i].copy_ns > limit || rep->map_study[i].write_ns > limit)
			return false;
	return true;
}

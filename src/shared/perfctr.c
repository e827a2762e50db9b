/* perfctr.c: performance counters with perf_event_open(2). */
#include "perfctr.h"

#include <errno.h>
#include <linux/perf_event.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/syscall.h>
#include <unistd.h>

struct counter_spec {
	const char *name;
	uint32_t type;
	uint64_t config;
};

#define CACHE(id, op, result) ((id) | ((op) << 8) | ((result) << 16))

static const struct counter_spec specs[IVB_CTR_COUNT] = {
	[IVB_CTR_L1D_MISSES] = { "l1_cache_misses", PERF_TYPE_HW_CACHE,
				 CACHE(PERF_COUNT_HW_CACHE_L1D, PERF_COUNT_HW_CACHE_OP_READ, PERF_COUNT_HW_CACHE_RESULT_MISS) },
	[IVB_CTR_L1D_REFS] = { "l1_cache_references", PERF_TYPE_HW_CACHE,
			       CACHE(PERF_COUNT_HW_CACHE_L1D, PERF_COUNT_HW_CACHE_OP_READ, PERF_COUNT_HW_CACHE_RESULT_ACCESS) },
	[IVB_CTR_LLC_MISSES] = { "llc_misses", PERF_TYPE_HARDWARE, PERF_COUNT_HW_CACHE_MISSES },
	[IVB_CTR_LLC_REFS] = { "llc_references", PERF_TYPE_HARDWARE, PERF_COUNT_HW_CACHE_REFERENCES },
	[IVB_CTR_DTLB_MISSES] = { "tlb_misses", PERF_TYPE_HW_CACHE,
				  CACHE(PERF_COUNT_HW_CACHE_DTLB, PERF_COUNT_HW_CACHE_OP_READ, PERF_COUNT_HW_CACHE_RESULT_MISS) },
	[IVB_CTR_CYCLES] = { "cpu_cycles", PERF_TYPE_HARDWARE, PERF_COUNT_HW_CPU_CYCLES },
	[IVB_CTR_INSTRUCTIONS] = { "instructions", PERF_TYPE_HARDWARE, PERF_COUNT_HW_INSTRUCTIONS },
	[IVB_CTR_CONTEXT_SWITCHES] = { "context_switches", PERF_TYPE_SOFTWARE, PERF_COUNT_SW_CONTEXT_SWITCHES },
	[IVB_CTR_PAGE_FAULTS] = { "page_faults", PERF_TYPE_SOFTWARE, PERF_COUNT_SW_PAGE_FAULTS },
	[IVB_CTR_TASK_CLOCK_NS] = { "task_clock_ns", PERF_TYPE_SOFTWARE, PERF_COUNT_SW_TASK_CLOCK },
};

const char *ivb_counter_name(enum ivb_counter c)
{
	return c < IVB_CTR_COUNT ? specs[c].name : "invalid";
}

static int open_counter(const struct counter_spec *s, int exclude_kernel)
{
	struct perf_event_attr attr;

	memset(&attr, 0, sizeof(attr));
	attr.size = sizeof(attr);
	attr.type = s->type;
	attr.config = s->config;
	attr.disabled = 1;
	attr.exclude_kernel = exclude_kernel;
	attr.exclude_hv = 1;
	return (int)syscall(SYS_perf_event_open, &attr, 0, -1, -1, PERF_FLAG_FD_CLOEXEC);
}

int ivb_perf_open(struct ivb_perf *p)
{
	int opened = 0;

	for (int i = 0; i < IVB_CTR_COUNT; i++) {
		int fd = open_counter(&specs[i], 0);

		/* Without privilege, kernel-side counting is refused: count user space alone. */
		if (fd < 0 && (errno == EACCES || errno == EPERM))
			fd = open_counter(&specs[i], 1);
		p->fd[i] = fd;
		p->err[i] = fd < 0 ? errno : 0;
		opened += fd >= 0;
	}
	return opened;
}

void ivb_perf_start(struct ivb_perf *p)
{
	for (int i = 0; i < IVB_CTR_COUNT; i++) {
		if (p->fd[i] >= 0) {
			ioctl(p->fd[i], PERF_EVENT_IOC_RESET, 0);
			ioctl(p->fd[i], PERF_EVENT_IOC_ENABLE, 0);
		}
	}
}

void ivb_perf_stop(struct ivb_perf *p, struct ivb_counts *out)
{
	for (int i = 0; i < IVB_CTR_COUNT; i++) {
		if (p->fd[i] >= 0)
			ioctl(p->fd[i], PERF_EVENT_IOC_DISABLE, 0);
	}
	for (int i = 0; i < IVB_CTR_COUNT; i++) {
		uint64_t v;

		out->v[i] = IVB_CTR_NONE;
		if (p->fd[i] >= 0 && read(p->fd[i], &v, sizeof(v)) == (ssize_t)sizeof(v) && v != IVB_CTR_NONE)
			out->v[i] = v;
	}
}

void ivb_perf_close(struct ivb_perf *p)
{
	for (int i = 0; i < IVB_CTR_COUNT; i++) {
		if (p->fd[i] >= 0)
			close(p->fd[i]);
		p->fd[i] = -1;
	}
}

static const char *why(int err)
{
	switch (err) {
	case ENOENT: return "ENOENT: no such event here (no hardware PMU, e.g. a VM or TCG)";
	case EOPNOTSUPP: return "EOPNOTSUPP: not supported by this PMU";
	case EACCES:
	case EPERM: return "EACCES: not permitted (see /proc/sys/kernel/perf_event_paranoid)";
	case ENOSYS: return "ENOSYS: the kernel has no perf_event_open";
	default: return strerror(err);
	}
}

void ivb_perf_describe_missing(const struct ivb_perf *p, char *buf, size_t len)
{
	size_t used = 0;
	int first_err = 0;

	buf[0] = '\0';
	for (int i = 0; i < IVB_CTR_COUNT; i++) {
		if (p->fd[i] >= 0)
			continue;
		if (first_err == 0)
			first_err = p->err[i];
		used += (size_t)snprintf(buf + used, used < len ? len - used : 0, "%s%s", used ? ", " : "not measured: ",
					 specs[i].name);
		if (used >= len)
			return;
	}
	if (first_err != 0)
		snprintf(buf + used, len - used, " (%s)", why(first_err));
}

void ivb_counts_none(struct ivb_counts *c)
{
	for (int i = 0; i < IVB_CTR_COUNT; i++)
		c->v[i] = IVB_CTR_NONE;
}

double ivb_ratio(uint64_t numerator, uint64_t denominator)
{
	if (numerator == IVB_CTR_NONE || denominator == IVB_CTR_NONE || denominator == 0)
		return -1.0;
	return (double)numerator / (double)denominator;
}

double ivb_ipc(const struct ivb_counts *c)
{
	return ivb_ratio(c->v[IVB_CTR_INSTRUCTIONS], c->v[IVB_CTR_CYCLES]);
}

double ivb_cycles_per_byte(const struct ivb_counts *c, uint64_t bytes)
{
	return ivb_ratio(c->v[IVB_CTR_CYCLES], bytes);
}

double ivb_l1_miss_rate(const struct ivb_counts *c)
{
	return ivb_ratio(c->v[IVB_CTR_L1D_MISSES], c->v[IVB_CTR_L1D_REFS]);
}

double ivb_llc_miss_rate(const struct ivb_counts *c)
{
	return ivb_ratio(c->v[IVB_CTR_LLC_MISSES], c->v[IVB_CTR_LLC_REFS]);
}

/* csv.c: the result files. */
#include "csv.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <string.h>
#include <unistd.h>

const char *const ivb_latency_columns[] = {
	"iteration",
	"host_memcpy_ns", "host_memcpy_us",
	"roundtrip_ns", "roundtrip_us",
	"guest_memcpy_ns", "guest_memcpy_us",
	"guest_verify_ns", "guest_verify_us",
	"guest_hot_cache_ns", "guest_hot_cache_us",
	"guest_cold_cache_ns", "guest_cold_cache_us",
	"guest_second_pass_ns", "guest_second_pass_us",
	"guest_cached_verify_ns", "guest_cached_verify_us",
	"notification_est_ns", "notification_est_us",
	"total_ns", "total_us",
	"success",
};
const size_t ivb_latency_ncolumns = sizeof(ivb_latency_columns) / sizeof(ivb_latency_columns[0]);

const char *const ivb_bandwidth_columns[] = {
	"iteration", "frame_type", "width", "height", "bpp", "size_bytes", "size_mb",
	"host_memcpy_ns", "host_memcpy_ms", "host_memcpy_mbps",
	"roundtrip_ns", "roundtrip_ms",
	"guest_memcpy_ns", "guest_memcpy_ms", "guest_memcpy_mbps",
	"guest_verify_ns", "guest_verify_ms",
	"total_ns", "total_ms", "total_mbps",
	"success",
};
const size_t ivb_bandwidth_ncolumns = sizeof(ivb_bandwidth_columns) / sizeof(ivb_bandwidth_columns[0]);

const char *const ivb_reference_columns[] = {
	"iteration", "frame_type", "size_bytes", "host_memcpy_ns",
	"guest_hot_cache_ns", "guest_cold_cache_ns", "guest_second_pass_ns", "guest_cached_verify_ns",
	"success",
};
const size_t ivb_reference_ncolumns = sizeof(ivb_reference_columns) / sizeof(ivb_reference_columns[0]);

#define SIDE_COUNTERS(side)                                                                               \
	side "_l1_cache_misses", side "_l1_cache_references", side "_l1_miss_rate", side "_llc_misses",     \
		side "_llc_references", side "_llc_miss_rate", side "_tlb_misses", side "_cpu_cycles",    \
		side "_instructions", side "_ipc", side "_cycles_per_byte", side "_context_switches"
#define SOFTWARE_COUNTERS "host_page_faults", "host_task_clock_ns", "guest_page_faults", "guest_task_clock_ns"

const char *const ivb_latency_perf_columns[] = {
	"iteration", SIDE_COUNTERS("host"), SIDE_COUNTERS("guest"), SOFTWARE_COUNTERS,
};
const size_t ivb_latency_perf_ncolumns = sizeof(ivb_latency_perf_columns) / sizeof(ivb_latency_perf_columns[0]);

const char *const ivb_bandwidth_perf_columns[] = {
	"iteration", "frame_type", SIDE_COUNTERS("host"), SIDE_COUNTERS("guest"), SOFTWARE_COUNTERS,
};
const size_t ivb_bandwidth_perf_ncolumns = sizeof(ivb_bandwidth_perf_columns) / sizeof(ivb_bandwidth_perf_columns[0]);

const char *const ivb_phase_perf_columns[] = {
	"test", "iteration", "frame_type", "size_bytes", "phase",
	"l1_cache_misses", "l1_cache_references", "llc_misses", "llc_references", "tlb_misses",
	"cpu_cycles", "instructions", "context_switches", "page_faults", "task_clock_ns",
};
const size_t ivb_phase_perf_ncolumns = sizeof(ivb_phase_perf_columns) / sizeof(ivb_phase_perf_columns[0]);

const char *const ivb_write_study_columns[] = {
	"test", "iteration", "frame_type", "size_bytes", "variant", "copy_ns", "copy_mbps", "page_faults", "success",
};
const size_t ivb_write_study_ncolumns = sizeof(ivb_write_study_columns) / sizeof(ivb_write_study_columns[0]);

const char *const ivb_map_study_columns[] = {
	"test", "iteration", "frame_type", "size_bytes", "mapping", "memory_type",
	"hot_read_ns", "cold_read_ns", "copy_ns", "copy_mbps", "success",
};
const size_t ivb_map_study_ncolumns = sizeof(ivb_map_study_columns) / sizeof(ivb_map_study_columns[0]);

int ivb_csv_open(struct ivb_csv *c, const char *path, const char *const *columns, size_t ncolumns)
{
	int fd;

	memset(c, 0, sizeof(*c));
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0644);
	if (fd < 0)
		return -errno;
	c->f = fdopen(fd, "w");
	if (c->f == NULL) {
		int err = -errno;

		close(fd);
		return err;
	}
	c->ncolumns = ncolumns;
	for (size_t i = 0; i < ncolumns; i++)
		ivb_csv_str(c, columns[i]);
	return ivb_csv_end_row(c);
}

static void append(struct ivb_csv *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void append(struct ivb_csv *c, const char *fmt, ...)
{
	va_list ap;
	size_t room;
	int n;

	if (c->nfields > 0 && c->len + 1 < sizeof(c->line))
		c->line[c->len++] = ',';
	room = sizeof(c->line) - c->len;
	va_start(ap, fmt);
	n = vsnprintf(c->line + c->len, room, fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= room)
		c->overflow = 1;
	else
		c->len += (size_t)n;
	c->nfields++;
}

void ivb_csv_str(struct ivb_csv *c, const char *s) { append(c, "%s", s); }
void ivb_csv_u64(struct ivb_csv *c, uint64_t v) { append(c, "%" PRIu64, v); }
void ivb_csv_i64(struct ivb_csv *c, int64_t v) { append(c, "%" PRId64, v); }
void ivb_csv_fixed(struct ivb_csv *c, double v, int decimals) { append(c, "%.*f", decimals, v); }
void ivb_csv_empty(struct ivb_csv *c) { append(c, "%s", ""); }

int ivb_csv_end_row(struct ivb_csv *c)
{
	int ret = 0;

	if (c->overflow)
		ret = -ENOSPC;
	else if (c->nfields != c->ncolumns)
		ret = -EINVAL;
	else if (fprintf(c->f, "%.*s\n", (int)c->len, c->line) < 0 || fflush(c->f) != 0)
		ret = -(errno ? errno : EIO);
	c->len = 0;
	c->nfields = 0;
	c->overflow = 0;
	return ret;
}

int ivb_csv_close(struct ivb_csv *c)
{
	int ret = 0;

	if (c->f != NULL && fclose(c->f) != 0)
		ret = -errno;
	c->f = NULL;
	return ret;
}

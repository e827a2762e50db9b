/* lying_consumer.c: an LD_PRELOAD library for tests/integration/consumers.sh. In host_writer's consumer processes it
 * changes one row record on its way into the pipe to the parent, as a consumer gone wrong would send it, so that
 * the test sees the parent refuse it without a hook in host_writer. IVB_LIE=KIND:CONSUMER:FRAME picks the record
 * (consumer CONSUMER's row of frame FRAME) and the lie:
 *   consumer  a row for another consumer        back     a frame going back (FRAME >= 2)
 *   slot      a slot out of range               time     a time later than the consumer has run
 *   garbage   every byte of the record 0xa5     short    the pipe closes inside the record (the process exits)
 * Only writes of whole records to a pipe are looked at: the CSV files, stdout and stderr are files or terminals.
 */
#include <dlfcn.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "consumer_rows.h"

typedef ssize_t (*write_fn)(int, const void *, size_t);

/* The record of this batch to change, or -1. */
static long target(const struct ivb_consumer_row *rows, size_t n, uint32_t consumer, uint64_t frame)
{
	for (size_t i = 0; i < n; i++)
		if (rows[i].consumer == consumer && rows[i].seq == frame)
			return (long)i;
	return -1;
}

ssize_t write(int fd, const void *buf, size_t len)
{
	static write_fn real;
	const char *lie = getenv("IVB_LIE");
	struct ivb_consumer_row rows[IVB_CONSUMER_ROWS_BATCH];
	char kind[16];
	unsigned consumer;
	unsigned long long frame;
	struct stat st;
	long i;

	if (real == NULL)
		real = (write_fn)dlsym(RTLD_NEXT, "write");
	if (lie == NULL || len == 0 || len % sizeof(rows[0]) != 0 || len > sizeof(rows) || fstat(fd, &st) < 0 ||
	    !S_ISFIFO(st.st_mode) || sscanf(lie, "%15[a-z]:%u:%llu", kind, &consumer, &frame) != 3)
		return real(fd, buf, len);
	memcpy(rows, buf, len);
	i = target(rows, len / sizeof(rows[0]), consumer, frame);
	if (i < 0)
		return real(fd, buf, len);
	if (strcmp(kind, "consumer") == 0) {
		rows[i].consumer ^= 1;
	} else if (strcmp(kind, "back") == 0) {
		rows[i].seq -= 2;
	} else if (strcmp(kind, "slot") == 0) {
		rows[i].slot = 99;
	} else if (strcmp(kind, "time") == 0) {
		rows[i].publish_ns = 1ull << 62;
	} else if (strcmp(kind, "garbage") == 0) {
		memset(&rows[i], 0xa5, sizeof(rows[i]));
	} else if (strcmp(kind, "short") == 0) {
		(void)real(fd, rows, (size_t)i * sizeof(rows[0]) + sizeof(rows[0]) / 2);
		_exit(0);
	}
	return real(fd, rows, len) == (ssize_t)len ? (ssize_t)len : -1;
}

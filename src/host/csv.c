/* csv.c: the result files. */
#include "csv.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <string.h>
#include <unistd.h>

int ivb_csv_open(struct ivb_csv *c, const char *path, const char *const *columns, size_t ncolumns)
{
	int fd;

	memset(c, 0, sizeof(*c));
	if (ncolumns == 0 || ncolumns > IVB_COLUMNS_MAX)
		return -EINVAL;
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
		ivb_csv_set_str(c, i, columns[i]);
	return ivb_csv_end_row(c);
}

int ivb_csv_open_table(struct ivb_csv *c, const char *path, enum ivb_table table)
{
	return ivb_csv_open(c, path, ivb_tables[table].columns, ivb_tables[table].ncolumns);
}

static void set(struct ivb_csv *c, size_t col, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

static void set(struct ivb_csv *c, size_t col, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (col >= c->ncolumns || (c->filled & (1ull << col))) {
		c->bad = -EINVAL;
		return;
	}
	c->filled |= 1ull << col;
	va_start(ap, fmt);
	n = vsnprintf(c->field[col], IVB_CSV_FIELD_MAX, fmt, ap);
	va_end(ap);
	if ((n < 0 || (size_t)n >= IVB_CSV_FIELD_MAX) && c->bad == 0)
		c->bad = -ENOSPC;
}

void ivb_csv_set_str(struct ivb_csv *c, size_t col, const char *s) { set(c, col, "%s", s); }
void ivb_csv_set_u64(struct ivb_csv *c, size_t col, uint64_t v) { set(c, col, "%" PRIu64, v); }
void ivb_csv_set_i64(struct ivb_csv *c, size_t col, int64_t v) { set(c, col, "%" PRId64, v); }
void ivb_csv_set_fixed(struct ivb_csv *c, size_t col, double v, int decimals) { set(c, col, "%.*f", decimals, v); }
void ivb_csv_set_empty(struct ivb_csv *c, size_t col) { set(c, col, "%s", ""); }

/*
 * One field as RFC 4180 has it: as it is, or between double quotes (each quote doubled) when it holds
 * a separator, a quote or a line break, so that no value can ever become CSV structure.
 * Returns: 0, or -1 with errno set by the write.
 */
static int write_field(FILE *f, const char *s)
{
	if (s[strcspn(s, ",\"\r\n")] == '\0')
		return fputs(s, f) < 0 ? -1 : 0;
	if (fputc('"', f) == EOF)
		return -1;
	for (; *s; s++)
		if ((*s == '"' && fputc('"', f) == EOF) || fputc(*s, f) == EOF)
			return -1;
	return fputc('"', f) == EOF ? -1 : 0;
}

int ivb_csv_end_row(struct ivb_csv *c)
{
	int ret = ivb_csv_end_row_unflushed(c);

	return ret == 0 ? ivb_csv_flush(c) : ret;
}

int ivb_csv_flush(struct ivb_csv *c)
{
	return c->f != NULL && fflush(c->f) != 0 ? -(errno ? errno : EIO) : 0;
}

int ivb_csv_end_row_unflushed(struct ivb_csv *c)
{
	const uint64_t all = c->ncolumns == 64 ? UINT64_MAX : (1ull << c->ncolumns) - 1;
	int ret = c->bad;

	if (ret == 0 && c->filled != all)
		ret = -EINVAL;
	for (size_t i = 0; ret == 0 && i < c->ncolumns; i++)
		if ((i > 0 && fputc(',', c->f) == EOF) || write_field(c->f, c->field[i]) < 0)
			ret = -(errno ? errno : EIO);
	if (ret == 0 && fputc('\n', c->f) == EOF)
		ret = -(errno ? errno : EIO);
	c->filled = 0;
	c->bad = 0;
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

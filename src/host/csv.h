/* csv.h: CSV files written one row at a time and flushed, so a crash keeps every finished row (the
 * stream test's rows are flushed once a second: a system call per frame would sit in the loop it times).
 *
 * The column lists come from schema/columns.txt (build/gen/columns.h). A row is filled by column
 * index, in any order; ivb_csv_end_row refuses a row in which a column was left unfilled or filled
 * twice, so a column added to the schema and not to its writer fails the first row written.
 */
#ifndef IVB_CSV_H
#define IVB_CSV_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "columns.h"

#define IVB_CSV_FIELD_MAX 64u /* bytes of one field, NUL included */
_Static_assert(IVB_COLUMNS_MAX <= 64, "one bit per column of a row in struct ivb_csv.filled");

struct ivb_csv {
	FILE *f;
	size_t ncolumns;
	uint64_t filled; /* bit per column filled in the row being built */
	int bad;         /* -EINVAL (a column out of range or filled twice) or -ENOSPC (a field too long) */
	char field[IVB_COLUMNS_MAX][IVB_CSV_FIELD_MAX];
};

/*
 * Create path (mode 0644, truncating) and write the header line: the columns joined by commas.
 * Returns: 0 on success, -EINVAL for more than IVB_COLUMNS_MAX columns, or a negative errno.
 */
int ivb_csv_open(struct ivb_csv *c, const char *path, const char *const *columns, size_t ncolumns);

/* The same for one table of the schema. */
int ivb_csv_open_table(struct ivb_csv *c, const char *path, enum ivb_table table);

/*
 * Fill column col of the current row. A string holding a comma, a double quote or a line break is
 * written quoted (RFC 4180): it stays one field whatever it holds.
 */
void ivb_csv_set_str(struct ivb_csv *c, size_t col, const char *s);
void ivb_csv_set_u64(struct ivb_csv *c, size_t col, uint64_t v);
void ivb_csv_set_i64(struct ivb_csv *c, size_t col, int64_t v);
void ivb_csv_set_fixed(struct ivb_csv *c, size_t col, double v, int decimals);
void ivb_csv_set_empty(struct ivb_csv *c, size_t col); /* not measured */

/*
 * Finish the row: write it and flush it to the file.
 * Returns: 0 on success, -EINVAL if a column was left unfilled, filled twice or out of range
 * (nothing is written), -ENOSPC if a field did not fit, or a negative errno from the write.
 */
int ivb_csv_end_row(struct ivb_csv *c);

/* The same, left in the file's buffer until ivb_csv_flush (or the close). Returns: as ivb_csv_end_row. */
int ivb_csv_end_row_unflushed(struct ivb_csv *c);

/* Write the buffered rows to the file. Returns: 0 on success, or a negative errno. */
int ivb_csv_flush(struct ivb_csv *c);

/* Close the file. Returns: 0 on success, or a negative errno. */
int ivb_csv_close(struct ivb_csv *c);

#endif /* IVB_CSV_H */

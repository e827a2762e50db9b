/* csv.h: CSV files written one row at a time and flushed, so a crash keeps every finished row. */
#ifndef IVB_CSV_H
#define IVB_CSV_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#define IVB_CSV_LINE_MAX 2048u

struct ivb_csv {
	FILE *f;
	size_t ncolumns;
	size_t nfields; /* fields in the row being built */
	size_t len;     /* bytes in line */
	int overflow;   /* the row did not fit in line */
	char line[IVB_CSV_LINE_MAX];
};

/* The seed's column lists; the analysis relies on these names and this order. */
extern const char *const ivb_latency_columns[];
extern const size_t ivb_latency_ncolumns;
extern const char *const ivb_bandwidth_columns[];
extern const size_t ivb_bandwidth_ncolumns;
extern const char *const ivb_reference_columns[];
extern const size_t ivb_reference_ncolumns;
/* The seed's counter columns, then the software counters it lacks. */
extern const char *const ivb_latency_perf_columns[];
extern const size_t ivb_latency_perf_ncolumns;
extern const char *const ivb_bandwidth_perf_columns[];
extern const size_t ivb_bandwidth_perf_ncolumns;
/* Per-phase guest counters and the write-path study. */
extern const char *const ivb_phase_perf_columns[];
extern const size_t ivb_phase_perf_ncolumns;
extern const char *const ivb_write_study_columns[];
extern const size_t ivb_write_study_ncolumns;
extern const char *const ivb_map_study_columns[];
extern const size_t ivb_map_study_ncolumns;

/*
 * Create path (mode 0644, truncating) and write the header line.
 * Returns: 0 on success, or a negative errno.
 */
int ivb_csv_open(struct ivb_csv *c, const char *path, const char *const *columns, size_t ncolumns);

/* Append one field to the current row. Strings must not contain commas, quotes or newlines. */
void ivb_csv_str(struct ivb_csv *c, const char *s);
void ivb_csv_u64(struct ivb_csv *c, uint64_t v);
void ivb_csv_i64(struct ivb_csv *c, int64_t v);
void ivb_csv_fixed(struct ivb_csv *c, double v, int decimals);
void ivb_csv_empty(struct ivb_csv *c);

/*
 * Finish the row: write it and flush it to the file.
 * Returns: 0 on success, -EINVAL if the row does not have one field per column (nothing is
 * written), -ENOSPC if it overflowed the line buffer, or a negative errno from the write.
 */
int ivb_csv_end_row(struct ivb_csv *c);

/* Close the file. Returns: 0 on success, or a negative errno. */
int ivb_csv_close(struct ivb_csv *c);

#endif /* IVB_CSV_H */

/* host_rows.h: the rows host_writer writes for each message, one table of schema/columns.txt each. */
#ifndef IVB_HOST_ROWS_H
#define IVB_HOST_ROWS_H

#include <stdbool.h>
#include <stdint.h>

#include "columns.h"
#include "common.h"
#include "csv.h"
#include "opts.h"
#include "perfctr.h"
#include "protocol.h"
#include "stream.h"

/* What one message measured. */
struct ivb_sample {
	uint64_t host_memcpy_ns;
	uint64_t host_reference_ns;
	bool have_roundtrip;
	uint64_t roundtrip_ns;
	bool have_guest;
	struct ivb_guest_timing guest;
	struct ivb_counts host_counts;
	struct ivb_guest_report report; /* valid with have_guest */
	bool success;
	const char *error; /* short token for run.json, NULL on success */
};

/* The CSV files of a run, by table; a table that is not open gets no rows. */
struct ivb_outputs {
	struct ivb_csv csv[IVB_NTABLES];
	bool open[IVB_NTABLES];
};

/* Which message a sample belongs to. */
struct ivb_row_key {
	const char *test;          /* "latency", "bandwidth", "reference" */
	enum ivb_msg_kind kind;
	uint64_t iteration;        /* from 1 within the test and frame */
	const struct ivb_frame *frame;
	const struct ivb_guest_info *guest; /* the guest's usual mapping, for the map study */
};

/*
 * Write the rows of one message: its row in the test's own file, then its rows in every open
 * counter and study file.
 * Returns: 0, or the first error of ivb_csv_end_row (-EINVAL: a writer left a column unfilled).
 */
int ivb_rows_write(struct ivb_outputs *o, const struct ivb_row_key *k, const struct ivb_sample *s);

/* Which stream a frame belongs to. */
struct ivb_stream_key {
	const struct ivb_frame *frame;
	const char *policy; /* "block" or "latest" */
	const char *verify; /* "sha256", "xxh3" or "none" */
	uint32_t consume;   /* enum ivb_consume */
	uint32_t direction; /* enum ivb_stream_direction: IVB_DIR_HOST_TO_GUEST or IVB_DIR_GUEST_TO_HOST */
	bool duplex;        /* it runs at the same time as the other direction's stream (--stream-direction both) */
};

/* Whether a stream frame failed: the host's verdict (ivb_stream_produce); a dropped frame did not. */
bool ivb_stream_frame_failed(const struct ivb_stream_frame *f);

/*
 * Write one stream frame's row (stream_results.csv), if that file is open, into the file's buffer: the
 * caller flushes it (ivb_csv_flush), not every frame.
 * Returns: 0, or the error of ivb_csv_end_row.
 */
int ivb_rows_write_stream(struct ivb_outputs *o, const struct ivb_stream_key *k, const struct ivb_stream_frame *f);

/* Which transport test a frame belongs to. */
struct ivb_transport_key {
	const char *transport; /* "unix", "tcp", "pipe" */
	const char *test;      /* "frames", "messages", "pingpong" */
	uint64_t size;
	const char *verify;
	uint32_t window;
};

/*
 * Write one acknowledged frame of a connection transport (transport_results.csv), if that file is open,
 * into the file's buffer (publish_ns: the start of its send; write_ns: the send). Returns: as ivb_rows_write_stream.
 */
int ivb_rows_write_transport(struct ivb_outputs *o, const struct ivb_transport_key *k, const struct ivb_stream_frame *f);

#endif /* IVB_HOST_ROWS_H */

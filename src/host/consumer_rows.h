/* consumer_rows.h: the row records a host consumer process sends its parent through its pipe (host_consumers.c),
 * and the parent's reader, which checks every record before it becomes a row of stream_results.csv. A consumer
 * process is ours, but a bug, a crash or memory gone bad must not write a lying row: a record that consumer i
 * cannot have sent ends what the parent takes from it (the rows before it are kept).
 */
#ifndef IVB_CONSUMER_ROWS_H
#define IVB_CONSUMER_ROWS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "stream.h"

/* One row as a consumer process sends it: 64 bytes, every field checked by the parent. */
struct ivb_consumer_row {
	uint32_t consumer;
	uint32_t slot;       /* UINT32_MAX: dropped */
	uint64_t seq;
	uint32_t status;     /* enum ivb_ring_status when consumed; 0 when dropped */
	uint8_t dropped, failed;
	uint8_t pad[2];      /* 0 */
	uint64_t publish_ns; /* consumer clock, from its start: it took the frame (dropped: learnt it was) */
	uint64_t latency_ns; /* taken to released; 0 when dropped */
	uint64_t copy_ns, verify_ns; /* inside that span; 0 when dropped */
	uint64_t reserved;   /* 0 */
};
_Static_assert(sizeof(struct ivb_consumer_row) == 64, "a row record is 64 bytes");

/* Records a consumer buffers before writing them to its pipe: one write of at most PIPE_BUF bytes. */
#define IVB_CONSUMER_ROWS_BATCH 64u
_Static_assert(IVB_CONSUMER_ROWS_BATCH * sizeof(struct ivb_consumer_row) <= 4096, "a batch is one atomic pipe write");

/* The record of frame f, as a consumer sends it. */
void ivb_consumer_row_of(const struct ivb_stream_frame *f, struct ivb_consumer_row *r);

/* What the parent knows of one consumer's pipe, and the next record it may accept. */
struct ivb_row_reader {
	uint32_t consumer;     /* whose pipe it is */
	uint32_t nslots;       /* the ring's slots */
	uint32_t verify;       /* enum ivb_ring_verify: what decides a consumed frame's `failed` */
	uint64_t next;         /* the frame the next record must be for */
	uint64_t last_publish_ns;
	uint8_t buf[IVB_CONSUMER_ROWS_BATCH * sizeof(struct ivb_consumer_row)];
	size_t have;           /* bytes of a record not yet complete */
	uint64_t rows;         /* records accepted */
	bool lost;             /* a record was refused (why): nothing after it is taken */
	char why[200];
};

/* A reader for consumer `consumer` of a ring of nslots slots verified with `verify`, expecting frame 0 first. */
void ivb_row_reader_init(struct ivb_row_reader *rd, uint32_t consumer, uint32_t nslots, uint32_t verify);

/*
 * Whether r is a record consumer rd->consumer can have sent next, elapsed_ns after it started (no time in a
 * record lies later): its consumer, the next frame in order, a slot in range (none when dropped), a status and
 * `failed` that agree with the verification, times that fit in its span, padding zero.
 * Returns: 0, or -EPROTO with why (n bytes) saying what is wrong.
 */
int ivb_consumer_row_check(const struct ivb_row_reader *rd, const struct ivb_consumer_row *r, uint64_t elapsed_ns,
			   char *why, size_t n);

typedef int (*ivb_row_fn)(void *arg, const struct ivb_stream_frame *f);

/*
 * Bytes read from the pipe (len at most sizeof(rd->buf) - rd->have), elapsed_ns after the consumer started: each
 * complete record is checked and its frame passed to emit, in order. The first record refused makes the reader
 * lost (rd->why); what follows it is dropped.
 * Returns: 0; -EPROTO when the reader is lost (now or before); -EINVAL for too many bytes; emit's error.
 */
int ivb_row_reader_feed(struct ivb_row_reader *rd, const void *bytes, size_t len, uint64_t elapsed_ns, ivb_row_fn emit,
			void *arg);

/* The pipe's end of file: a record cut short is a loss. Returns: 0, or -EPROTO (rd->why). */
int ivb_row_reader_end(struct ivb_row_reader *rd);

#endif /* IVB_CONSUMER_ROWS_H */

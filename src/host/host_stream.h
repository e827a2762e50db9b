/* host_stream.h: what the host's two stream roles share: producer (host_stream.c) and consumer (host_consume.c). */
#ifndef IVB_HOST_STREAM_H
#define IVB_HOST_STREAM_H

#include "host.h"

/* What one stream needs besides the ring, so that every exit path frees it. */
struct stream_state {
	struct ivb_run *run;
	struct ivb_stream_record *rec; /* guest-to-host: one per consumer, rec[0] to rec[nconsumers - 1] */
	struct ivb_stream_key key;
	struct ivb_sources src;
	uint32_t policy;  /* enum ivb_ring_policy: --stream-policy, or block for messages */
	uint32_t window;  /* frames in flight at most; 0: as many as the ring holds */
	const struct ivb_transport_key *tkey; /* a message test: its rows go to transport_results.csv */
	uint64_t size;
	uint64_t flushed_window; /* the stream's rows are flushed when a new second begins */
};

/* A frame's fate is known: its row, and the second it was released in (arg: struct stream_state). Returns: 0, or -errno. */
int ivb_stream_row(void *arg, const struct ivb_stream_frame *f);

/* While the stream runs: a guest that aborted is noticed at once, not at the time limit (arg: struct ivb_run). */
int ivb_stream_guest_alive(void *arg, char *why, size_t whylen);

/* How a host consumer of a guest-to-host stream ended (run.json's streams[].consumer_end). */
enum ivb_consumer_end {
	IVB_CONSUMER_FINISHED = 1, /* it took frames to the end of the stream */
	IVB_CONSUMER_DROPPED = 2,  /* the guest producer dropped it after --consumer-timeout */
	IVB_CONSUMER_LOST = 3,     /* its process died, or sent what a consumer cannot have sent */
	IVB_CONSUMER_FAILED = 4,   /* the stream's error (why) */
};
const char *ivb_consumer_end_name(uint32_t end);

/* What one host consumer did; plain data: a consumer process writes it into memory it shares with the parent. */
struct ivb_consumer_result {
	int32_t ret;         /* 0, or its negative errno */
	uint32_t end;        /* enum ivb_consumer_end */
	uint64_t next;       /* the frame after the last it has a row for */
	struct ivb_stream_host_totals totals; /* its consumed, dropped, failed and unverified frames */
	uint64_t rings_sent;
	uint64_t rings_received; /* doorbell mode: its waits that a ring ended */
	struct ivb_cpu_record cpu;
	uint64_t start_ns, end_ns; /* host clock: it started taking frames, it stopped (0: it never started) */
	char why[256];
};

/*
 * Be consumer `index` of the guest's ring (need bytes, geometry g): take, verify and release every frame, each
 * row through emit, until the guest ends the stream; rep is the report for the producer.
 * Returns: 0 (finished, or dropped by the guest: res->end says which), or a negative errno with res->why.
 */
int ivb_stream_consume_as(struct ivb_run *run, struct stream_state *st, uint32_t index, uint64_t need,
			  const struct ivb_ring_geometry *g, const struct ivb_ring_guest_report *rep,
			  ivb_stream_frame_fn emit, void *emit_arg, struct ivb_consumer_result *res);

/*
 * host_consumers.c: cfg->nconsumers consumer processes (forked, each ivb_stream_consume_as), their rows read
 * from a pipe each, checked, and written here; res[i] what consumer i did.
 * Returns: 0 when every consumer finished or was dropped by the guest; -ECHILD when one was lost (the others
 * went on; run->host.why says which); another negative errno with run->host.why.
 */
int ivb_consumers_run(struct ivb_run *run, struct stream_state *st, uint64_t need, const struct ivb_ring_geometry *g,
		      const struct ivb_ring_guest_report *rep, struct ivb_consumer_result *res);

/*
 * Doorbell mode with several consumers: whether each consumer process waits on an interrupt vector of its own
 * (the guest rings our vector i for consumer i), when the ivshmem server gave us one per consumer; otherwise
 * they share vector 0, which one line on stderr says (once a run). Returns: 1 or 0, as the stream spec's
 * consumer_vectors (0 when polling or with one consumer).
 */
uint32_t ivb_consumers_vectors(struct ivb_run *run);

/*
 * A guest-to-host stream: send the stream message with its spec, wait for the guest's ring, consume and check
 * every frame against the frames the host expanded from the seed, a row each; then the guest's totals.
 * Returns: 0, or a negative errno with run->host.why set (every row taken so far written).
 */
int ivb_stream_from_guest(struct ivb_run *run, struct stream_state *st);

#endif /* IVB_HOST_STREAM_H */

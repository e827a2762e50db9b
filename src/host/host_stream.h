/* host_stream.h: what the host's two stream roles share: producer (host_stream.c) and consumer (host_consume.c). */
#ifndef IVB_HOST_STREAM_H
#define IVB_HOST_STREAM_H

#include "host.h"

/* What one stream needs besides the ring, so that every exit path frees it. */
struct stream_state {
	struct ivb_run *run;
	struct ivb_stream_record *rec;
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

/*
 * A guest-to-host stream: send the stream message with its spec, wait for the guest's ring, consume and check
 * every frame against the frames the host expanded from the seed, a row each; then the guest's totals.
 * Returns: 0, or a negative errno with run->host.why set (every row taken so far written).
 */
int ivb_stream_from_guest(struct ivb_run *run, struct stream_state *st);

#endif /* IVB_HOST_STREAM_H */

/* sources.h: the distinct frames a stream producer cycles through, made before any clock starts: random
 * (the host's own frames), or expanded from a seed, so that the consumer of a peer's frames can compute every
 * frame's checksum itself and trust none the producer wrote.
 */
#ifndef IVB_SOURCES_H
#define IVB_SOURCES_H

#include <stdint.h>

#include "common.h"
#include "ring.h"

/* Distinct frames of one size and the checksum of each payload (after the stamp). */
struct ivb_sources {
	uint8_t *frame[IVB_RING_MAX_SLOTS + 1];
	uint8_t checksum[IVB_RING_MAX_SLOTS + 1][IVB_RING_CHECKSUM_LEN];
	uint32_t n;
	uint64_t size;
};

/*
 * n pre-faulted frames of size bytes (n at most IVB_RING_MAX_SLOTS + 1), then their data and the payloads'
 * checksums for verify (enum ivb_ring_verify): random, or frame k the ChaCha20 keystream of `seed` with
 * nonce k (the same bytes on every machine). Returns: 0, or -EINVAL / -ENOMEM / -EIO (ivb_sources_free
 * frees what was made).
 */
int ivb_sources_alloc(struct ivb_sources *s, uint32_t n, uint64_t size);
int ivb_sources_fill(struct ivb_sources *s, uint32_t verify);
int ivb_sources_expand(struct ivb_sources *s, uint32_t verify, const uint8_t seed[IVB_STREAM_SEED_LEN]);
void ivb_sources_free(struct ivb_sources *s);

/*
 * Frame k of `seed` (see above) into out, len bytes.
 * Returns: 0, or -EIO when the library failed.
 */
int ivb_seed_expand(const uint8_t seed[IVB_STREAM_SEED_LEN], uint32_t k, uint8_t *out, uint64_t len);

#endif /* IVB_SOURCES_H */

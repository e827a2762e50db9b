/* sources.c: a stream producer's frames, random or from a seed (sources.h). */
#include "sources.h"

#include <errno.h>
#include <limits.h>
#include <string.h>

#include <openssl/evp.h>

#include "phases.h" /* ivb_alloc_prefaulted */
#include "sha256.h" /* ivb_random_bytes */
#include "stream.h" /* ivb_checksum */

int ivb_sources_alloc(struct ivb_sources *s, uint32_t n, uint64_t size)
{
	memset(s, 0, sizeof(*s));
	if (n == 0 || n > IVB_RING_MAX_SLOTS + 1 || size < IVB_RING_STAMP_LEN)
		return -EINVAL;
	s->n = n;
	s->size = size;
	for (uint32_t k = 0; k < n; k++) {
		s->frame[k] = ivb_alloc_prefaulted(size);
		if (s->frame[k] == NULL)
			return -ENOMEM;
	}
	return 0;
}

static int checksums(struct ivb_sources *s, uint32_t verify)
{
	for (uint32_t k = 0; k < s->n; k++)
		if (ivb_checksum(verify, s->frame[k] + IVB_RING_STAMP_LEN, s->size - IVB_RING_STAMP_LEN, s->checksum[k]) < 0)
			return -EIO;
	return 0;
}

int ivb_sources_fill(struct ivb_sources *s, uint32_t verify)
{
	for (uint32_t k = 0; k < s->n; k++)
		if (ivb_random_bytes(s->frame[k], s->size) < 0)
			return -EIO;
	return checksums(s, verify);
}

int ivb_seed_expand(const uint8_t seed[IVB_STREAM_SEED_LEN], uint32_t k, uint8_t *out, uint64_t len)
{
	/* OpenSSL's ChaCha20 IV: a 32-bit block counter (0), then a 96-bit nonce: the frame's index. */
	uint8_t iv[16] = { 0 };
	EVP_CIPHER_CTX *ctx = EVP_CIPHER_CTX_new();
	int ret = ctx != NULL ? 0 : -EIO;

	for (unsigned i = 0; i < 4; i++)
		iv[4 + i] = (uint8_t)(k >> (8 * i));
	if (ret == 0 && EVP_EncryptInit_ex(ctx, EVP_chacha20(), NULL, seed, iv) != 1)
		ret = -EIO;
	/* The keystream: ChaCha20 of zeros, in place, in pieces an int counts. */
	if (ret == 0)
		memset(out, 0, len);
	for (uint64_t done = 0; ret == 0 && done < len;) {
		int piece = len - done > (uint64_t)INT_MAX / 2 ? INT_MAX / 2 : (int)(len - done), got = 0;

		if (EVP_EncryptUpdate(ctx, out + done, &got, out + done, piece) != 1 || got != piece)
			ret = -EIO;
		done += (uint64_t)piece;
	}
	EVP_CIPHER_CTX_free(ctx);
	return ret;
}

int ivb_sources_expand(struct ivb_sources *s, uint32_t verify, const uint8_t seed[IVB_STREAM_SEED_LEN])
{
	for (uint32_t k = 0; k < s->n; k++)
		if (ivb_seed_expand(seed, k, s->frame[k], s->size) < 0)
			return -EIO;
	return checksums(s, verify);
}

void ivb_sources_free(struct ivb_sources *s)
{
	for (uint32_t k = 0; k < s->n; k++)
		ivb_free_buffer(s->frame[k], s->size);
	s->n = 0;
}

/* sha256.c: SHA-256 and random bytes from OpenSSL. */
#include "sha256.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>

#include <openssl/evp.h>
#include <openssl/rand.h>

int ivb_sha256(const void *data, size_t len, uint8_t digest[IVB_SHA256_LEN])
{
	unsigned int out_len = 0;

	if (EVP_Digest(data, len, digest, &out_len, EVP_sha256(), NULL) != 1 || out_len != IVB_SHA256_LEN)
		return -EIO;
	return 0;
}

void ivb_sha256_hex(const uint8_t digest[IVB_SHA256_LEN], char out[2 * IVB_SHA256_LEN + 1])
{
	for (unsigned i = 0; i < IVB_SHA256_LEN; i++)
		snprintf(out + 2 * i, 3, "%02x", digest[i]);
}

int ivb_random_bytes(void *buf, size_t len)
{
	unsigned char *p = buf;

	/* RAND_bytes takes an int length. */
	while (len > 0) {
		int chunk = len > (size_t)INT_MAX ? INT_MAX : (int)len;

		if (RAND_bytes(p, chunk) != 1)
			return -EIO;
		p += chunk;
		len -= (size_t)chunk;
	}
	return 0;
}

/* sha256.h: SHA-256 through OpenSSL's EVP interface. */
#ifndef IVB_SHA256_H
#define IVB_SHA256_H

#include <stddef.h>
#include <stdint.h>

#include "common.h"

/*
 * Hash len bytes at data into digest.
 * Returns: 0 on success, or -EIO if OpenSSL failed.
 */
int ivb_sha256(const void *data, size_t len, uint8_t digest[IVB_SHA256_LEN]);

/* Format a digest as 64 lowercase hex digits and a NUL into out. */
void ivb_sha256_hex(const uint8_t digest[IVB_SHA256_LEN], char out[2 * IVB_SHA256_LEN + 1]);

/*
 * Fill len bytes at buf with cryptographically random bytes (OpenSSL RAND_bytes).
 * Returns: 0 on success, or -EIO.
 */
int ivb_random_bytes(void *buf, size_t len);

#endif /* IVB_SHA256_H */

/* Signing and identifiers for webhook requests (OpenSSL). */
#ifndef TOCSIN_CRYPTO_H
#define TOCSIN_CRYPTO_H

#include <stddef.h>

/* Lowercase hex HMAC-SHA256(key, data) into OUT (65 bytes).  0 or -EIO. */
int tocsin_hmac_sha256_hex(const char *key, size_t key_len, const void *data, size_t len,
                           char out[65]);

/* A random RFC 4122 version 4 UUID from RAND_bytes into OUT (37 bytes).  0 or -EIO. */
int tocsin_uuid4(char out[37]);

#endif

/* Signing and identifiers for webhook requests (OpenSSL). */
#ifndef TOCSIN_CRYPTO_H
#define TOCSIN_CRYPTO_H

#include <stddef.h>
#include <stdint.h>

/* Lowercase hex HMAC-SHA256(key, data) into OUT (65 bytes).  0 or -EIO. */
int tocsin_hmac_sha256_hex(const char *key, size_t key_len, const void *data, size_t len,
                           char out[65]);

/* Raw HMAC-SHA256(key, data) into OUT.  0, -EINVAL or -EIO. */
int tocsin_hmac_sha256(const void *key, size_t key_len, const void *data, size_t len,
                       unsigned char out[32]);

/* Bytes tocsin_base64_encode writes for N input bytes, NUL included. */
#define TOCSIN_BASE64_SIZE(n) (((n) + 2) / 3 * 4 + 1)

/* Standard padded base64 (RFC 4648 section 4) of IN into OUT
 * (TOCSIN_BASE64_SIZE(n) bytes); returns the length without the NUL. */
size_t tocsin_base64_encode(const unsigned char *in, size_t n, char *out);

/* Decodes strict padded base64 (whole quads, '=' only at the end) into OUT
 * (SIZE bytes).  Returns the decoded length, -EINVAL on bad input, -ENOBUFS. */
long tocsin_base64_decode(const char *in, unsigned char *out, size_t size);

/* One Standard Webhooks signature, "v1,<base64 HMAC-SHA256(key, ID.TIMESTAMP.BODY)>",
 * into OUT (TOCSIN_STANDARD_SIG_SIZE bytes).  The key is the base64-decoded part
 * after "whsec_" when SECRET starts with it, else SECRET's raw bytes.
 * 0, -EINVAL (bad whsec_ base64), -ENOMEM or -EIO. */
#define TOCSIN_STANDARD_SIG_SIZE (3 + TOCSIN_BASE64_SIZE(32))
int tocsin_standard_webhooks_sign(const char *secret, const char *id, int64_t timestamp,
                                  const void *body, size_t len, char *out);

/* A random RFC 4122 version 4 UUID from RAND_bytes into OUT (37 bytes).  0 or -EIO. */
int tocsin_uuid4(char out[37]);

#endif

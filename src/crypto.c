/* Signing and identifiers for webhook requests, on OpenSSL 3. */
#include "tocsin/crypto.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>

#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>

static void hex_encode(const unsigned char *in, size_t n, char *out)
{
    static const char digits[] = "0123456789abcdef";
    size_t i;

    for (i = 0; i < n; i++) {
        out[2 * i] = digits[in[i] >> 4];
        out[2 * i + 1] = digits[in[i] & 0x0f];
    }
    out[2 * n] = '\0';
}

int tocsin_hmac_sha256_hex(const char *key, size_t key_len, const void *data, size_t len,
                           char out[65])
{
    /* OpenSSL 3 refuses a NULL key even when its length is 0; an empty key is valid. */
    static const unsigned char empty[1];
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int md_len = 0;

    out[0] = '\0';
    if (key_len > INT_MAX)
        return -EINVAL;
    if (data == NULL && len > 0)
        return -EINVAL;
    if (HMAC(EVP_sha256(), key_len ? (const void *)key : empty, (int)key_len,
             data ? data : empty, len, md, &md_len) == NULL || md_len != 32)
        return -EIO;
    hex_encode(md, md_len, out);
    return 0;
}

int tocsin_uuid4(char out[37])
{
    unsigned char b[16];

    out[0] = '\0';
    if (RAND_bytes(b, (int)sizeof(b)) != 1)
        return -EIO;
    b[6] = (unsigned char)((b[6] & 0x0f) | 0x40); /* version 4 */
    b[8] = (unsigned char)((b[8] & 0x3f) | 0x80); /* RFC 4122 variant 10xx */
    snprintf(out, 37,
             "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x",
             b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7], b[8], b[9], b[10], b[11],
             b[12], b[13], b[14], b[15]);
    return 0;
}

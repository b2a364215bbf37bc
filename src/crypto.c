/* Signing and identifiers for webhook requests, on OpenSSL 3. */
#include "tocsin/crypto.h"

#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
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

int tocsin_hmac_sha256(const void *key, size_t key_len, const void *data, size_t len,
                       unsigned char out[32])
{
    /* OpenSSL 3 refuses a NULL key even when its length is 0; an empty key is valid. */
    static const unsigned char empty[1];
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int md_len = 0;

    if (key_len > INT_MAX || (key == NULL && key_len > 0) || (data == NULL && len > 0))
        return -EINVAL;
    if (HMAC(EVP_sha256(), key_len ? key : empty, (int)key_len, data ? data : empty, len, md,
             &md_len) == NULL ||
        md_len != 32)
        return -EIO;
    memcpy(out, md, 32);
    return 0;
}

int tocsin_hmac_sha256_hex(const char *key, size_t key_len, const void *data, size_t len,
                           char out[65])
{
    unsigned char md[32];
    int rc = tocsin_hmac_sha256(key, key_len, data, len, md);

    out[0] = '\0';
    if (rc == 0)
        hex_encode(md, sizeof(md), out);
    return rc;
}

static const char b64_digits[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

size_t tocsin_base64_encode(const unsigned char *in, size_t n, char *out)
{
    size_t i, o = 0;

    for (i = 0; i + 2 < n; i += 3) {
        unsigned long v = (unsigned long)in[i] << 16 | (unsigned long)in[i + 1] << 8 | in[i + 2];
        out[o++] = b64_digits[v >> 18];
        out[o++] = b64_digits[(v >> 12) & 63];
        out[o++] = b64_digits[(v >> 6) & 63];
        out[o++] = b64_digits[v & 63];
    }
    if (i < n) {
        unsigned long v = (unsigned long)in[i] << 16;
        if (i + 1 < n)
            v |= (unsigned long)in[i + 1] << 8;
        out[o++] = b64_digits[v >> 18];
        out[o++] = b64_digits[(v >> 12) & 63];
        out[o++] = i + 1 < n ? b64_digits[(v >> 6) & 63] : '=';
        out[o++] = '=';
    }
    out[o] = '\0';
    return o;
}

static int b64_value(char c)
{
    const char *p = c ? strchr(b64_digits, c) : NULL;

    return p ? (int)(p - b64_digits) : -1;
}

/* Strict like the config check (src/config/values.c): the secret the config
 * accepted is exactly the one decoded here. */
long tocsin_base64_decode(const char *in, unsigned char *out, size_t size)
{
    size_t len = strlen(in), pad = 0, o = 0;
    unsigned long v = 0;

    if (len == 0 || len % 4 != 0 || len > LONG_MAX)
        return -EINVAL;
    if (in[len - 1] == '=')
        pad = in[len - 2] == '=' ? 2 : 1;
    if (len / 4 * 3 - pad > size)
        return -ENOBUFS;
    for (size_t i = 0; i < len; i++) {
        int d = i < len - pad ? b64_value(in[i]) : 0;
        if (d < 0)
            return -EINVAL;
        v = v << 6 | (unsigned long)d;
        if (i % 4 == 3) {
            unsigned char quad[3] = {(unsigned char)(v >> 16), (unsigned char)(v >> 8),
                                     (unsigned char)v};
            size_t take = i == len - 1 ? 3 - pad : 3;
            memcpy(out + o, quad, take);
            o += take;
            v = 0;
        }
    }
    return (long)o;
}

/* The key: "whsec_" + base64 is decoded (the spec's form), anything else is used
 * as raw bytes so that plain shared secrets work too.  *KEY is malloc'd. */
static long standard_key(const char *secret, unsigned char **key)
{
    size_t n = strlen(secret);
    long len;

    *key = malloc(n + 1);
    if (*key == NULL)
        return -ENOMEM;
    if (strncmp(secret, "whsec_", 6) != 0) {
        memcpy(*key, secret, n);
        return (long)n;
    }
    len = tocsin_base64_decode(secret + 6, *key, n);
    if (len < 0) {
        free(*key);
        *key = NULL;
    }
    return len;
}

int tocsin_standard_webhooks_sign(const char *secret, const char *id, int64_t timestamp,
                                  const void *body, size_t len, char *out)
{
    char prefix[64 + 32];
    size_t id_len = strlen(id), plen, total;
    unsigned char md[32], *key = NULL, *msg = NULL;
    long key_len;
    int rc = -ENOMEM;

    out[0] = '\0';
    plen = (size_t)snprintf(prefix, sizeof(prefix), ".%" PRId64 ".", timestamp);
    if (len > SIZE_MAX - id_len - plen)
        return -EINVAL;
    /* The spec signs "id.timestamp.body" as one message: build it once. */
    total = id_len + plen + len;
    key_len = standard_key(secret, &key);
    if (key_len < 0)
        return (int)key_len;
    msg = malloc(total ? total : 1);
    if (msg != NULL) {
        memcpy(msg, id, id_len);
        memcpy(msg + id_len, prefix, plen);
        if (len)
            memcpy(msg + id_len + plen, body, len);
        rc = tocsin_hmac_sha256(key, (size_t)key_len, msg, total, md);
    }
    if (rc == 0) {
        memcpy(out, "v1,", 3);
        tocsin_base64_encode(md, sizeof(md), out + 3);
    }
    OPENSSL_cleanse(key, (size_t)key_len);
    free(key);
    free(msg);
    return rc;
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

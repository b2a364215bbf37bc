/* A loopback webhook receiver for tests: libmicrohttpd on its own thread.  It
 * verifies X-StatusPageOne-Signature with its own OpenSSL HMAC code (not the
 * sender's), over the raw body and the way the seed's Node.js validator does
 * (over JSON.stringify(JSON.parse(body)), reproduced here as a re-serialisation
 * check that the body is already in that canonical form). */
#ifndef TEST_RECEIVER_H
#define TEST_RECEIVER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct test_delivery {
    char method[16];
    char path[256];
    char *body;            /* NUL-terminated copy of the raw body */
    size_t body_len;
    char signature[128];   /* X-StatusPageOne-Signature */
    char request_id[64];   /* X-Request-ID */
    char user_agent[64];
    char content_type[64];
    bool sig_ok_raw;       /* "sha256=" + hex HMAC over the raw bytes matches */
    bool sig_ok_seed;      /* matches over the canonical re-serialisation too */
};

struct test_receiver;

/* SECRET may be NULL (no verification). NULL on failure. */
struct test_receiver *test_receiver_start(const char *secret);
uint16_t test_receiver_port(const struct test_receiver *r);
void test_receiver_set_status(struct test_receiver *r, int status); /* default 200 */
size_t test_receiver_count(const struct test_receiver *r);
/* Copies delivery I into *OUT (body malloc'd; free with test_delivery_free). 0 or -1. */
int test_receiver_get(struct test_receiver *r, size_t i, struct test_delivery *out);
void test_delivery_free(struct test_delivery *d);
void test_receiver_stop(struct test_receiver *r);

/* Independent HMAC check used by the receiver and golden tests. */
bool test_verify_signature(const char *secret, const char *body, size_t len,
                           const char *header_value);

#endif
